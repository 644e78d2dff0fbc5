"""Deprecated: this module moved to :mod:`lead_rules.cli.demo`; the alias goes in the next release.

Every name of the new module is reachable here (public ones by ``import *``,
the rest through ``__getattr__``), with a :class:`DeprecationWarning` on import.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from .cli.demo import *  # noqa: F403

warnings.warn(
    "lead_rules.demo moved to lead_rules.cli.demo; the old path goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    return getattr(importlib.import_module("lead_rules.cli.demo"), name)
