#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# 00-module.t: the module under test is loaded and /proc/tcpflow is there,
# readable by root only, and starts with the format header (docs/format.md).
echo "1..3"

if grep -q '^tcpflow ' /proc/modules; then
	echo "ok 1 - tcpflow is loaded"
else
	echo "not ok 1 - tcpflow is loaded"
	echo "# /proc/modules:"; sed 's/^/#   /' /proc/modules
fi

mode=$(stat -c %a /proc/tcpflow 2>&1)
if [ "$mode" = 600 ]; then
	echo "ok 2 - /proc/tcpflow exists with mode 0600"
else
	echo "not ok 2 - /proc/tcpflow exists with mode 0600"
	echo "# got: $mode"
fi

first=$(head -n 1 /proc/tcpflow 2>&1)
case "$first" in
"# tcpflow 1."*) echo "ok 3 - first line is the '# tcpflow 1.x' header" ;;
*)
	echo "not ok 3 - first line is the '# tcpflow 1.x' header"
	echo "# got: $first"
	;;
esac
