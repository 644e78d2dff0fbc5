"""Explaining one beneficiary from the batch output of a SQL engine.

A batch output row holds the decision and, per criterion (per ACO where it
depends on the ACO), its value, plus the tie ranks: enough to rebuild the
:class:`~lead_rules.engine.decision.Decision` of that beneficiary without the
record. :func:`decision_from_row` walks the pathways as
:meth:`lead_rules.engine.policy.Policy.evaluate` does, over those values instead of
expressions, and checks that it reaches the decision the engine wrote;
:func:`explain_from_output` renders it with :mod:`lead_rules.engine.explain`, the
same text as the interpreter's explanation without a trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ..engine.decision import Decision, PathwayResult, Reason
from ..engine.interpreter import Env
from ..engine.policy import CompiledPathway, Policy, load_market, load_policy
from ..engine.trace import truth
from ..language import ast
from ..language.records import Market
from .compiler import criterion_column_name, rank_column_name
from .quoting import scan


def _bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "false": False}.get(text)


def _number(value: Any) -> Any:
    if value is None or isinstance(value, (int, Decimal)):
        return value
    return Decimal(str(value))


def _requirement(expr: ast.Expr, row: Mapping[str, Any], aco_id: str, policy: Policy) -> bool | None:
    """The Kleene value of a requirement tree from criterion columns."""
    if isinstance(expr, ast.Name):
        per_aco = "aco" in policy.resolution.depends.get(expr.name, frozenset())
        return _bool(row.get(criterion_column_name(expr.name, aco_id if per_aco else None)))
    if isinstance(expr, ast.Not):
        v = _requirement(expr.operand, row, aco_id, policy)
        return None if v is None else not v
    assert isinstance(expr, ast.BoolOp)
    values = [_requirement(i, row, aco_id, policy) for i in expr.items]
    stop = expr.op == "or"
    if stop in values:
        return stop
    return None if None in values else not stop


def decision_from_row(policy: Policy, market: Market, row: Mapping[str, Any]) -> Decision:
    """The decision (reasons, pathway results) rebuilt from one batch output row."""
    if row.get("outcome") == "error":
        return policy.make_decision(
            row.get("bene_id"),
            "error",
            errors=[{"field": None, "message": str(row.get("cause"))}],
            performance_year=market.performance_year,
        )
    results: list[PathwayResult] = []
    winner: tuple[str, str] | None = None
    for pw in policy.pathways:
        if winner is not None:
            results.append(PathwayResult(pw.name, "skipped", None, (), ()))
            continue
        qualifying: list[str] = []
        failed: dict[tuple[int, str], list[str]] = {}
        for aco in market.acos:
            values = [_requirement(req.expr, row, aco.id, policy) for req in pw.requirements]
            if all(v is True for v in values):
                qualifying.append(aco.id)
            else:
                for i, v in enumerate(values):
                    if v is not True:
                        failed.setdefault((i, truth(v)), []).append(aco.id)
        chosen, tie_reason = _choose(policy, market, pw, row, qualifying)
        results.append(policy.pathway_result(pw, qualifying, failed, chosen, tie_reason, len(market.acos)))
        if chosen is not None:
            winner = (pw.name, chosen)
    outcome, aco_id, pathway, final = policy.conclude(results, market)
    if (outcome, aco_id, pathway) != (row.get("outcome"), row.get("aco_id"), row.get("pathway")):
        raise ValueError(
            f"the criterion columns of {row.get('bene_id')} give {outcome}/{aco_id}/{pathway}, but the row says "
            f"{row.get('outcome')}/{row.get('aco_id')}/{row.get('pathway')}"
        )
    return policy.make_decision(
        row.get("bene_id"),
        outcome,
        aco_id=aco_id,
        pathway=pathway,
        reasons=final,
        performance_year=market.performance_year,
        pathways=results,
    )


def _choose(
    policy: Policy, market: Market, pw: CompiledPathway, row: Mapping[str, Any], qualifying: list[str]
) -> tuple[str | None, Reason | None]:
    """The tie rule of :meth:`Policy.evaluate` over the rank columns of the row."""
    if len(qualifying) <= 1:
        return (qualifying[0] if qualifying else None), None
    top = sorted(qualifying)
    if pw.rank_fast is not None:
        ranks = {a: _number(row.get(rank_column_name(pw.name, a))) for a in top}
        known = [r for r in ranks.values() if r is not None]
        if known:
            best = max(known)
            top = [a for a in top if ranks[a] == best]
    if len(top) == 1:
        return top[0], Reason(
            pw.name,
            "tie.rank",
            "true",
            tuple(qualifying),
            pw.source,
            f"Several ACOs qualified; {top[0]} has the highest rank.",
        )
    rule: Any = "not_aligned"
    if f"on_tie:{pw.name}" in row:
        rule = row[f"on_tie:{pw.name}"]
    elif pw.on_tie_fast is not None:
        rule = pw.on_tie_fast(Env(None, market, {}, None))
    if rule == "lowest_aco_id":
        return top[0], Reason(
            pw.name,
            "tie.on_tie",
            "true",
            tuple(top),
            pw.source,
            f"Tied ACOs {', '.join(top)}; the rule 'lowest_aco_id' chose {top[0]}.",
        )
    return None, Reason(
        pw.name,
        "tie.on_tie",
        "tie",
        tuple(top),
        pw.source,
        f"Tied ACOs {', '.join(top)}; the rule 'not_aligned' aligns to none of them.",
    )


def duckdb_message(exc: BaseException) -> str:
    """The first line of a DuckDB error, without its ``Invalid Input Error:`` style prefix."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    head, sep, rest = line.partition(" Error: ")
    return rest.strip() if sep and len(head) < 30 else line


def read_output_row(output_path: str | Path, bene_id: str) -> dict[str, Any] | None:
    """The batch output row of ``bene_id`` (Parquet, CSV or JSON Lines), or None."""
    path = str(output_path)
    suffix = Path(output_path).suffix.lower()
    readers = {
        ".parquet": scan("read_parquet", path),
        ".csv": scan("read_csv", path, {"header": True, "all_varchar": True}),
    }
    json_reader = scan("read_json", path, {"format": "newline_delimited"})
    readers.update({s: json_reader for s in (".jsonl", ".json", ".ndjson")})
    if suffix not in readers:
        raise ValueError(
            f"cannot read {path}: unknown output format {suffix or '(no extension)'!r} "
            "(explain --from-output reads .parquet, .csv or .jsonl)"
        )
    try:
        rel = duckdb.connect().sql(f"SELECT * FROM {readers[suffix]} WHERE bene_id = $id", params={"id": bene_id})
        rows = rel.fetchall()
    except duckdb.Error as exc:
        raise ValueError(f"cannot read {path}: {duckdb_message(exc)}") from None
    if not rows:
        return None
    return dict(zip(rel.columns, rows[0], strict=True))


def explain_from_output(policy_path: str | Path, market_path: str | Path, output_path: str | Path, bene_id: str) -> str:
    """The plain-English explanation of ``bene_id`` from a batch output file."""
    policy = load_policy(policy_path)
    market = load_market(market_path)
    row = read_output_row(output_path, bene_id)
    if row is None:
        raise KeyError(f"{bene_id} is not in {output_path}")
    return decision_from_row(policy, market, row).explain()
