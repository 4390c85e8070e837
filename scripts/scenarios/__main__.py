# SPDX-License-Identifier: GPL-2.0
"""python3 scripts/scenarios ARGS (or, with scripts/ on the path, python3
-m scenarios ARGS): the scenarios as a program, see cli.py."""

import os
import sys

if not __package__:
    # Run as a directory: Python put this folder first on the path, where
    # the package's modules would pass for top-level ones.  The folder
    # above it is where "scenarios" is found.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))

from scenarios.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
