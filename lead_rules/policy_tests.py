"""Deprecated: this module moved to :mod:`lead_rules.testing.policy_tests`; the alias goes in the next release.

Every name of the new module is reachable here (public ones by ``import *``,
the rest through ``__getattr__``), with a :class:`DeprecationWarning` on import.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from .testing.policy_tests import *  # noqa: F403

warnings.warn(
    "lead_rules.policy_tests moved to lead_rules.testing.policy_tests; the old path goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(importlib.import_module("lead_rules.testing.policy_tests"), name)


if __name__ == "__main__":  # pragma: no cover - python -m lead_rules.policy_tests, as before the move
    from .testing.policy_tests import main

    raise SystemExit(main())
