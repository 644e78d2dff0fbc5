"""The population-scale engine: a checked policy compiled to SQL (SQLGlot), run on DuckDB or Spark.

:func:`compile_policy` builds the query for a policy and a market in a
dialect; :func:`align` runs a whole population file through it and writes the
decisions; :func:`check_sql` lists what a dialect cannot express. See
``docs/sql.md``.
"""

from __future__ import annotations

from .compiler import DIALECTS, CompiledSQL, OutputColumn, SqlIssue, check_sql, compile_policy
from .run import align, decide

__all__ = ["DIALECTS", "CompiledSQL", "OutputColumn", "SqlIssue", "align", "check_sql", "compile_policy", "decide"]
