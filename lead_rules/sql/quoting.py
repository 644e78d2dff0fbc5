"""The one quoting path for text that reaches SQL as a name or a literal.

Every identifier (output column names carry criterion names from the policy
and ACO ids from the market file) and every string literal (file paths,
settings) that a writer or runner splices into SQL text goes through
:func:`identifier` or :func:`literal`, which let SQLGlot quote and escape it
for the target dialect (``duckdb``, or ``spark``: backticks, and backslash
escapes in literals). Query bodies are built as SQLGlot expressions by the
compiler; this module serves the few places that assemble statement text
around them: :func:`scan` (``read_parquet(...)``/``read_csv(...)`` of a path),
:func:`copy_to` (``COPY ... TO`` a path), Spark's reader (column references,
``from_json`` schemas and patterns). What those places add themselves is only
fixed SQL keywords of this package, never text from a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import exp

_PLAIN = re.compile(r"[^\x00-\x1f\x7f]*")
"""Text without control characters, which DuckDB quotes by doubling the quote alone (as SQLGlot does);
SQLGlot itself, slow to import, is left for the rest (tests/test_sql_quoting.py compares them)."""
_FUNCTION = re.compile(r"[a-z_]+")


def identifier(name: str, dialect: str = "duckdb") -> str:
    """``name`` as a quoted identifier of ``dialect`` (embedded quotes doubled)."""
    if dialect == "duckdb" and _PLAIN.fullmatch(name):
        return '"' + name.replace('"', '""') + '"'
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True).sql(dialect)


def literal(text: str, dialect: str = "duckdb") -> str:
    """``text`` as a string literal of ``dialect`` (embedded quotes escaped)."""
    if dialect == "duckdb" and _PLAIN.fullmatch(text):
        return "'" + text.replace("'", "''") + "'"
    from sqlglot import exp

    return exp.Literal.string(text).sql(dialect)


def select_list(names: list[str], dialect: str = "duckdb", json_columns: frozenset[str] = frozenset()) -> str:
    """A projection of the columns ``names``; those in ``json_columns`` as ``to_json(...)`` text."""
    out = []
    for n in names:
        col = identifier(n, dialect)
        out.append(f"to_json({col}) AS {col}" if n in json_columns else col)
    return ", ".join(out)


ScanOption = bool | str | Mapping[str, str]


def scan(function: str, path: str, options: Mapping[str, ScanOption] | None = None, dialect: str = "duckdb") -> str:
    """``function('path', key = value, ...)``: a table function reading ``path``.

    An option is a bool, a text (a string literal) or a mapping of text (a struct
    literal such as the ``columns`` of ``read_json``).
    """

    if dialect == "duckdb" and not options and _FUNCTION.fullmatch(function) and _PLAIN.fullmatch(path):
        return f"{function.upper()}({literal(path)})"  # as SQLGlot writes it (tests/test_sql_quoting.py)
    from sqlglot import exp

    def value(v: ScanOption) -> exp.Expr:
        if isinstance(v, bool):
            return exp.true() if v else exp.false()
        if isinstance(v, str):
            return exp.Literal.string(v)
        pairs = [
            exp.PropertyEQ(this=exp.to_identifier(k, quoted=True), expression=exp.Literal.string(t))
            for k, t in v.items()
        ]
        return exp.Struct(expressions=pairs)

    named = [exp.EQ(this=exp.column(k), expression=value(v)) for k, v in (options or {}).items()]
    return exp.Anonymous(this=function, expressions=[exp.Literal.string(path), *named]).sql(dialect)


def copy_to(query: str, path: str, options: str) -> str:
    """``COPY (query) TO 'path' options`` (DuckDB): ``query`` and ``options`` are SQL this package built."""
    return f"COPY ({query}) TO {literal(path)} {options}"
