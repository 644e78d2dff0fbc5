"""The SQL compiler: a checked policy and a market -> one SQLGlot query.

:func:`compile_policy` turns the checked AST of a :class:`~lead_rules.engine.policy.Policy`
into a SQLGlot expression tree (built with SQLGlot's builders, never from SQL
text) that decides a whole population read from the relation
:data:`~lead_rules.sql.sqltypes.POPULATION_TABLE`. The market is small and
known at compile time, so it is folded in: every part of an expression that
reads no beneficiary data (parameters, market- and ACO-level definitions, the
fields of ``aco``) is evaluated once by the reference interpreter and inlined as
a typed literal, and each ACO-dependent criterion becomes one column per ACO of
the market. Named items become columns of a chain of CTEs ordered by
dependency depth; comprehensions become higher-order list functions
(``filter``/``transform``/``aggregate``); the pathway, tie and hierarchy rules of
:meth:`lead_rules.engine.policy.Policy.evaluate` and its reasons become CASE and
ARRAY expressions. The result has one row per beneficiary: ``bene_id``,
``outcome``, ``aco_id``, ``pathway``, ``reasons`` and one column per criterion
(per ACO where it depends on the ACO) and per tie rank. Constructs a dialect
cannot express are reported as :class:`SqlIssue` values with the policy
location; nothing is approximated silently.

The work is split by construct: :mod:`.builders` (small SQLGlot builders),
:mod:`.expressions` (one AST expression -> one SQLGlot expression),
:mod:`.query` (pathways, ties, hierarchy and reasons), :mod:`.compiled` (the
result types and column names, re-exported here); this module ties them
together and checks the result against the target dialect.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from ..engine.policy import Policy
from ..language.errors import NO_SPAN
from ..language.limits import SQL_MAX_NODES
from ..language.records import Market
from .compiled import (
    DIALECTS,
    NO_STRUCT_LITERALS,
    REASON_TYPE,
    CompiledSQL,
    OutputColumn,
    SqlIssue,
    criterion_column_name,
    definition_column_name,
    rank_column_name,
)
from .expressions import SqlCompiler
from .query import QueryBuilder

__all__ = [  # the compiled types and column names are re-exported: lead_rules.sql.compiler is where users find them
    "DIALECTS",
    "REASON_TYPE",
    "CompiledSQL",
    "OutputColumn",
    "SqlCompiler",
    "SqlIssue",
    "check_sql",
    "compile_policy",
    "criterion_column_name",
    "definition_column_name",
    "prune",
    "rank_column_name",
]


def _dialect_check(compiled: CompiledSQL, sc: SqlCompiler) -> None:
    """Render each column in the target dialect; SQLGlot's unsupported constructs become issues."""
    if compiled.dialect == "duckdb":
        return
    spans = {it.column: it.span for it in sc.item_columns.values()}
    for select in compiled.query.find_all(exp.Select):
        for proj in select.expressions:
            if isinstance(proj, exp.Star):
                continue
            try:
                proj.sql(dialect=compiled.dialect, unsupported_level=ErrorLevel.RAISE)
            except UnsupportedError as err:
                span = spans.get(proj.alias_or_name, NO_SPAN)
                sc.issue("error", "S100", f"column {proj.alias_or_name}: {err}", span)
    if compiled.dialect in NO_STRUCT_LITERALS and any(True for _ in compiled.query.find_all(exp.Struct)):
        span = sc.doc.hierarchy_span or NO_SPAN
        sc.issue(
            "error", "S108", f"{compiled.dialect} has no struct values (the reasons column, group_sum, argmax)", span
        )


def expanded_size(node: exp.Expr, limit: int) -> int:
    """The number of nodes the SQL text of ``node`` holds, shared sub-expressions counted each time.

    Memoized per node object, so a tree that shares one argument many times
    (nested ``add_months``) is measured without being rendered; stops above ``limit``.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[exp.Expr, bool]] = [(node, False)]
    while stack:
        n, done = stack.pop()
        if done:
            sizes[id(n)] = min(limit + 1, 1 + sum(sizes[id(k)] for k in n.iter_expressions()))
            continue
        if id(n) in sizes:
            continue
        stack.append((n, True))
        stack.extend((k, False) for k in n.iter_expressions() if id(k) not in sizes)
    return sizes[id(node)]


def _size_check(sc: SqlCompiler) -> None:
    """Each compiled column within :data:`~lead_rules.language.limits.SQL_MAX_NODES` (S109 at its place)."""
    for item in sc.item_columns.values():
        if item.expr is not None and expanded_size(item.expr, SQL_MAX_NODES) > SQL_MAX_NODES:
            sc.issue("error", "S109", f"the SQL of {item.column} exceeds {SQL_MAX_NODES:,} nodes", item.span)


def prune(query: exp.Select, keep: set[str]) -> exp.Select:
    """``query`` (a compiled query, changed in place) with only the output columns ``keep`` and what they read.

    Every CTE column no kept column reads, directly or through other CTE
    columns, is dropped: the decisions alone need none of the reasons and
    failure columns, which DuckDB would otherwise parse and bind on every run.
    """
    query.set("expressions", [p for p in query.expressions if p.alias_or_name in keep])
    needed = {c.name for p in query.expressions for c in p.find_all(exp.Column)}
    with_ = query.args.get("with_")
    for cte in reversed(with_.expressions if with_ is not None else []):
        select = cte.this
        while True:  # a column may read another of the same CTE (a lateral alias)
            kept = [p for p in select.expressions if isinstance(p, exp.Star) or p.alias_or_name in needed]
            more = {c.name for p in kept for c in p.find_all(exp.Column)} - needed
            needed |= more
            if not more:
                break
        select.set("expressions", kept)
    return query


def compile_policy(policy: Policy, market: Market, dialect: str = "duckdb", definitions: bool = False) -> CompiledSQL:
    """Compile ``policy`` for ``market`` to one query in ``dialect``.

    The query reads :data:`~lead_rules.sql.sqltypes.POPULATION_TABLE` (the nested,
    validated record form, months as ``YYYY-MM`` text) and returns one row per
    beneficiary; with ``definitions`` it also returns every definition (``d:``
    columns). Check :attr:`CompiledSQL.errors` before running it.
    """
    policy.check_market(market)  # a market the policy's market checks refuse is refused here too (PolicyError)
    sc = SqlCompiler(policy, market, dialect)
    decision = policy.doc.decision
    if decision is not None:  # verdicts, rankings and computations run on the interpreter (lead_rules.engine.kinds)
        sc.issue(
            "error", "S120",
            f"a '{decision.kind}' decision is not compilable to SQL; evaluate it with 'lead-rules evaluate'",
            decision.span,
        )
    qb = QueryBuilder(sc, definitions)
    query = qb.build()
    prune(query, {p.alias_or_name for p in query.expressions})  # columns no output reads (a test folded away)
    texts = {key: frozenset(values) for key, values in qb.reason_texts.items()}
    compiled = CompiledSQL(dialect, query, qb.columns, sc.issues, policy, market, reason_texts=texts)
    _size_check(sc)
    if not any(i.code == "S109" for i in sc.issues):  # rendering an over-size column would not end
        _dialect_check(compiled, sc)
    compiled.issues = sorted(sc.issues, key=lambda i: (i.span.file, i.span.line, i.span.column, i.code, i.message))
    return compiled


def check_sql(policy: Policy, market: Market, dialect: str) -> list[SqlIssue]:
    """The issues of compiling ``policy`` to ``dialect`` (errors: what the dialect cannot express)."""
    return compile_policy(policy, market, dialect).issues
