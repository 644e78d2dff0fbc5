"""The population-scale engine: a checked policy compiled to SQL (SQLGlot), run on DuckDB or Spark.

:func:`compile_policy` builds the query for a policy and a market in a
dialect; :func:`align` runs a whole population file through it and writes the
decisions; :func:`check_sql` lists what a dialect cannot express. See
``docs/sql.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compiler import DIALECTS, CompiledSQL, OutputColumn, SqlIssue, check_sql, compile_policy
    from .run import align, decide

_FROM = {"align": "run", "decide": "run"}


def __getattr__(name: str) -> Any:
    """The public names, imported when first used (``lead-rules align`` with a cached query needs no SQLGlot)."""
    if name in __all__:
        from importlib import import_module

        return getattr(import_module(f".{_FROM.get(name, 'compiler')}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DIALECTS", "CompiledSQL", "OutputColumn", "SqlIssue", "align", "check_sql", "compile_policy", "decide"]
