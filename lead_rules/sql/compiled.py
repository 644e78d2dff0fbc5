"""What the SQL compiler produces: the dialects, the compiled query and its output columns.

:class:`CompiledSQL` (the SQLGlot query for one policy, market and dialect, its
output columns and its :class:`SqlIssue` values), the names of the criterion,
definition and rank columns of the batch output, and the SQL type of one
reason. The lowest module of the compiler: :mod:`.builders`,
:mod:`.expressions`, :mod:`.query` and :mod:`.compiler` import it; the runners
and :mod:`.explain` read its column names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from ..engine.policy import Policy
from ..language.errors import Span
from ..language.records import Market
from ..language.types import STRING
from .sqltypes import (
    POPULATION_TABLE,
    array_type,
    sql_type,
    struct_type,
)

DIALECTS = ("duckdb", "spark", "snowflake", "bigquery", "postgres")
"""Dialects :func:`compile_policy` knows; DuckDB and Spark are the engines that run."""

NO_LAMBDAS = {"postgres", "bigquery"}
NO_STRUCT_LITERALS = {"postgres"}
ON_TIE_RULES = ("not_aligned", "lowest_aco_id")
UNROLL = ("count", "sum", "any", "all", "min", "max")
UNROLL_MAX = 64
TIE_RULES = ("none", "lowest", "highest")

MISSING = object()
"""A constant the reference interpreter could not compute at compile time (the expression is compiled)."""

REASON_TYPE = struct_type(
    [
        ("pathway", sql_type(STRING)),
        ("criterion", sql_type(STRING)),
        ("value", sql_type(STRING)),
        ("acos", array_type(sql_type(STRING))),
    ]
)
"""The SQL type of one element of the ``reasons`` column."""


@dataclass(frozen=True)
class Ctx:
    """Where an expression is compiled: for which ACO, with which comprehension variables."""

    aco: int | None = None
    vars: Mapping[str, exp.Expr] = field(default_factory=dict)
    scales: Mapping[str, int] = field(default_factory=dict)
    consts: Mapping[str, Any] = field(default_factory=dict)  # comprehension variables bound to constants

    def bind(self, var: str, value: exp.Expr, scale: int) -> Ctx:
        return Ctx(self.aco, {**self.vars, var: value}, {**self.scales, var: scale}, self.consts)

    def bind_const(self, var: str, value: Any, scale: int) -> Ctx:
        return Ctx(self.aco, self.vars, {**self.scales, var: scale}, {**self.consts, var: value})

    def key(self) -> tuple[Any, ...]:
        return (self.aco, tuple(sorted((k, id(v)) for k, v in self.consts.items())))


@dataclass(frozen=True)
class SqlIssue:
    """A construct the SQL target cannot express ("error") or expresses with a documented difference ("note")."""

    severity: str
    code: str
    message: str
    span: Span
    dialect: str

    def __str__(self) -> str:
        return f"{self.span}: {self.severity} {self.code} [{self.dialect}]: {self.message}"


@dataclass(frozen=True)
class OutputColumn:
    """A per-beneficiary column of the batch output beyond the decision itself."""

    column: str
    kind: str  # "criterion" | "rank" | "definition" | "on_tie"
    name: str  # the criterion, definition or pathway
    aco_id: str | None  # None: the value does not depend on the ACO


@dataclass
class CompiledSQL:
    """The compiled query for one policy, market and dialect."""

    dialect: str
    query: exp.Select
    columns: list[OutputColumn]
    issues: list[SqlIssue]
    policy: Policy
    market: Market
    input_table: str = POPULATION_TABLE
    reason_texts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Every ``pathway``, ``criterion`` and ``value`` text the ``reasons`` column can hold."""

    @property
    def errors(self) -> list[SqlIssue]:
        """The issues that make the query unusable on its dialect."""
        return [i for i in self.issues if i.severity == "error"]

    def sql(self, dialect: str | None = None, pretty: bool = True) -> str:
        """The query as SQL text in ``dialect`` (default: the dialect compiled for)."""
        return self.query.sql(dialect=dialect or self.dialect, pretty=pretty)

    def criterion_column(self, name: str, aco_id: str | None = None) -> str:
        """The output column of criterion ``name`` (for ``aco_id`` when it depends on the ACO)."""
        for c in self.columns:
            if c.kind == "criterion" and c.name == name and c.aco_id in (aco_id, None):
                return c.column
        raise KeyError(f"no column for criterion {name!r} ({aco_id})")


def criterion_column_name(name: str, aco_id: str | None) -> str:
    """``c:name`` or ``c:name@ACO``."""
    return f"c:{name}" if aco_id is None else f"c:{name}@{aco_id}"


def definition_column_name(name: str, aco_id: str | None) -> str:
    """``d:name`` or ``d:name@ACO``."""
    return f"d:{name}" if aco_id is None else f"d:{name}@{aco_id}"


def rank_column_name(pathway: str, aco_id: str) -> str:
    """``rank:pathway@ACO``."""
    return f"rank:{pathway}@{aco_id}"


