"""Deprecated: this module moved to :mod:`lead_rules.engine.trace`; the alias goes in the next release.

Every name of the new module is reachable here (public ones by ``import *``,
the rest through ``__getattr__``), with a :class:`DeprecationWarning` on import.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from .engine.trace import *  # noqa: F403

warnings.warn(
    "lead_rules.trace moved to lead_rules.engine.trace; the old path goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(importlib.import_module("lead_rules.engine.trace"), name)
