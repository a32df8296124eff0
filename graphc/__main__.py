"""`python -m graphc COMMAND ...`: the graphc command (what `graphc train --nproc N` runs)."""

import sys

from graphc.cli import main

sys.exit(main())
