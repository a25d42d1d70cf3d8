"""`python -m adamw_repro.units`: the command line (units/cli.py)."""

import sys

from adamw_repro.units.cli import main

sys.exit(main())
