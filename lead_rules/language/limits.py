"""Documented budgets and character sets: the limits every stage enforces.

Policy and market files are semi-trusted, records untrusted (docs/security.md).
Every limit the loader, checker, interpreter and writers enforce is a named
constant here, so the documentation, the checks and the tests read one value.
This module sits below every stage of the pipeline and imports nothing of it.
"""

from __future__ import annotations

import re
from decimal import Decimal

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


# --- YAML documents: policy, parameter, market and test files ------------------------

YAML_MAX_BYTES = 8 * 1024 * 1024
"""The largest YAML or JSON file read (8 MiB); checked before the file is read."""

YAML_MAX_DEPTH = 64
"""The deepest nesting of collections, counted after alias expansion."""

YAML_MAX_NODES = 1_000_000
"""The most nodes a document may hold after alias expansion."""

YAML_MAX_ALIAS_NODES = 10_000
"""The most nodes aliases may add to a document (an anchor reused N times counts N times
its size): YAML's aliases are a compression scheme an alias bomb abuses."""

YAML_MAX_SCALAR_CHARS = 65_536
"""The longest scalar (string) in a YAML file."""

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
"""Integers are 64-bit on every engine: a literal, parameter or result outside is an error."""

INT_MAX_DIGITS = 19
"""The most digits of an integer literal (the 64-bit range)."""

DECIMAL_MAX_DIGITS = 38
"""The most significant digits of a decimal literal or parameter (DECIMAL(38, s))."""


def decimal_fits(value: Decimal) -> bool:
    """True when ``value`` is finite and written out needs at most :data:`DECIMAL_MAX_DIGITS` digits.

    Digits as DECIMAL(38, s) holds them: before the point and after it, with the exponent
    spelt out (``1e400`` needs 401 digits, ``1e-400`` 400), so a parameter or record value
    that passes fits every engine.
    """
    if not value.is_finite():
        return False
    if not value:
        return True
    _, digits, exponent = value.as_tuple()  # not normalize(): it rounds to the context's 28 digits
    assert isinstance(exponent, int)
    while len(digits) > 1 and digits[-1] == 0:  # 1500000.00 has 7 digits, 1.0E+2 one
        digits, exponent = digits[:-1], exponent + 1
    before = max(len(digits) + exponent, 0)
    after = max(-exponent, 0)
    return max(before + after, len(digits)) <= DECIMAL_MAX_DIGITS

TYPE_MAX_DEPTH = 8
"""The deepest nesting of a type name such as ``list<set<string>>``."""


# --- cost budgets: the checker (static) and the interpreter (per record) --------------

VALUE_DEGREE_BUDGET = 16
"""The most factors a number may multiply together (``a * b`` has degree 2, a chain
``d_i = d_{i-1} * d_{i-1}`` doubles it each step): beyond it the value outgrows 64 bits."""

COMPREHENSION_NESTING_BUDGET = 2
"""The deepest nesting of comprehensions in one expression: n elements nested k deep
take n**k steps (three levels over a 2,000-claim record: 8e9)."""

SQL_WEIGHT_BUDGET = 20_000
"""The static estimate of the SQL size of one expression (nodes, with the growth factor
of each construct that repeats its argument, such as ``add_months`` about 16x)."""

SQL_MAX_NODES = 200_000
"""The most SQL expression nodes one compiled column may expand to (measured exactly)."""

STEP_BUDGET = 20_000_000
"""The most list elements the interpreter visits for one record (over all comprehensions)."""

RECORD_SECONDS = 10.0
"""The longest the interpreter spends on one record before it is an error row."""

STRING_MAX_CHARS = 1_000_000
"""The longest string a computation may produce."""


# --- records: the untrusted input ------------------------------------------------------

JSON_MAX_DEPTH = 32
"""The deepest nesting of arrays and objects in one input record (records.md needs 3)."""
