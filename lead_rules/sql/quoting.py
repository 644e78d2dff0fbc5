"""The one quoting path for text that reaches SQL as a name or a literal.

Every identifier (output column names carry criterion names from the policy
and ACO ids from the market file) and every string literal (file paths,
settings) that a writer or runner splices into SQL text goes through
:func:`identifier` or :func:`literal`, which let SQLGlot quote and escape it
for the target dialect. Query bodies are built as SQLGlot expressions by the
compiler; this module serves the few places that assemble statement text
around them (``COPY ... TO``, ``read_parquet(...)``, Spark column references).
"""

from __future__ import annotations

from sqlglot import exp


def identifier(name: str, dialect: str = "duckdb") -> str:
    """``name`` as a quoted identifier of ``dialect`` (embedded quotes doubled)."""
    return exp.to_identifier(name, quoted=True).sql(dialect)


def literal(text: str, dialect: str = "duckdb") -> str:
    """``text`` as a string literal of ``dialect`` (embedded quotes escaped)."""
    return exp.Literal.string(text).sql(dialect)


def select_list(names: list[str], dialect: str = "duckdb", json_columns: frozenset[str] = frozenset()) -> str:
    """A projection of the columns ``names``; those in ``json_columns`` as ``to_json(...)`` text."""
    out = []
    for n in names:
        col = identifier(n, dialect)
        out.append(f"to_json({col}) AS {col}" if n in json_columns else col)
    return ", ".join(out)
