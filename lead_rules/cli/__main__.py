"""``python -m lead_rules.cli``: the same as ``lead-rules`` and ``python -m lead_rules``."""

import sys

from .main import main

sys.exit(main())
