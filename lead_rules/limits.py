"""Documented budgets and character sets: the limits every stage enforces.

Policy and market files are semi-trusted, records untrusted (docs/security.md).
Every limit the loader, checker, interpreter and writers enforce is a named
constant here, so the documentation, the checks and the tests read one value.
This module sits below every stage of the pipeline and imports nothing of it.
"""

from __future__ import annotations

import re

# --- names and ids that become SQL identifiers -----------------------------------------

ACO_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
"""An ACO id: 1-64 characters, ASCII letters, digits, ``_``, ``.`` and ``-``, starting
with a letter or digit. ACO ids become parts of output column names."""

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
"""A policy name (parameter, definition, criterion, pathway): an ASCII identifier of
at most 128 characters. Names become parts of output column names."""

ACO_ID_RE = re.compile(ACO_ID_PATTERN)
NAME_RE = re.compile(NAME_PATTERN)


def valid_aco_id(text: str) -> bool:
    """Whether ``text`` is an ACO id of the documented character set."""
    return ACO_ID_RE.fullmatch(text) is not None


def valid_name(text: str) -> bool:
    """Whether ``text`` is a policy name of the documented character set."""
    return NAME_RE.fullmatch(text) is not None
