"""`python -m digitedge VERB ...`: the same as the `digitedge` command."""

import sys

from .cli import main

sys.exit(main())
