#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# 05-protocheck.t: scripts/protocheck on the guest's own kernel, which is
# the one tcpflow is built for and has BTF: every hooked function's
# prototype there is what module/hooks.c reads (the static ones
# compat.h cannot check among them), 'make protocheck' checks rather than
# skips, and a read moved in a copy of module/ fails naming the function.
repo=${TCPFLOW_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
kdir=/lib/modules/$(uname -r)/build
# scripts/matrix checks each series' kernel on the host, from the BTF in
# its image (protocheck --vmlinuz, seconds where this takes minutes under
# emulation), and says so here
if [ -n "${TCPFLOW_PROTOCHECKED:-}" ]; then
	echo "1..0 # SKIP checked on the host: $TCPFLOW_PROTOCHECKED"
	exit 4
fi
if [ ! -r /sys/kernel/btf/vmlinux ] || [ ! -d "$kdir" ]; then
	echo "1..0 # SKIP no /sys/kernel/btf/vmlinux or no $kdir"
	exit 4
fi
echo "1..3"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0

out=$(python3 "$repo/scripts/protocheck" --kdir "$kdir" -v 2>&1)
st=$?
missing=""
for fn in tw_timer_handler inet_twsk_kill tcp_v6_do_rcv tcp_v4_send_synack \
	tcp_v6_send_synack tcp_v4_send_reset tcp_v4_send_ack \
	tcp_v6_send_response; do
	echo "$out" | grep -q "^protocheck: ok: $fn: " || missing="$missing $fn"
done
if [ "$st" = 0 ] && [ -z "$missing" ] &&
	echo "$out" | grep -q "hooked functions read as $(uname -r)'s BTF has them"; then
	echo "ok 1 - hooks.c reads what $(uname -r)'s BTF has, static functions included"
else
	echo "not ok 1 - hooks.c reads what $(uname -r)'s BTF has, static functions included"
	echo "# exit $st, not checked:${missing:- none}"
	echo "$out" | sed 's/^/# /'
	rc=1
fi

out=$(make -s -C "$repo" protocheck KDIR="$kdir" 2>&1)
if echo "$out" | grep -q "hooked functions read as"; then
	echo "ok 2 - make protocheck checks for the running kernel"
else
	echo "not ok 2 - make protocheck checks for the running kernel"
	echo "$out" | sed 's/^/# /'
	rc=1
fi

cp -r "$repo/module" "$tmp/"
sed -i 's/(struct request_sock \*)arg(regs, 3)/(struct request_sock *)arg(regs, 2)/' \
	"$tmp/module/hooks.c"
out=$(python3 "$repo/scripts/protocheck" --kdir "$kdir" --src "$tmp/module" 2>&1)
st=$?
if [ "$st" = 1 ] &&
	echo "$out" | grep -q "^protocheck: tcp_v4_send_synack: handler send_synack_pre reads arg 2 as struct request_sock \*, the kernel has: int tcp_v4_send_synack(.*struct flowi \*fl, struct request_sock \*req"; then
	echo "ok 3 - a read moved in a copy of hooks.c fails, naming the function"
else
	echo "not ok 3 - a read moved in a copy of hooks.c fails, naming the function"
	echo "# exit $st"
	echo "$out" | sed 's/^/# /'
	rc=1
fi
exit $rc
