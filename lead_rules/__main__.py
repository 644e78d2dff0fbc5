"""``python -m lead_rules``: the command line."""

import sys

from .cli.main import main

sys.exit(main())
