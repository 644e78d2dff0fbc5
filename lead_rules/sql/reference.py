"""The interpreter's decisions in the batch-output shape of the SQL engine.

:func:`reference_rows` decides records with the reference interpreter
(:meth:`lead_rules.engine.policy.Policy.evaluate`) and evaluates every criterion (per
ACO where it depends on the ACO) and every tie rank with the interpreter's own
closures, giving rows with exactly the columns of the compiled query. It is
what the differential tests and ``--engine interpreter`` compare against, and
:func:`normalise_row` puts rows of any engine into one comparable form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from ..engine.decision import Decision
from ..engine.interpreter import Compiler, Env, Fn
from ..engine.policy import Policy, load_market
from ..language import ast
from ..language.records import Beneficiary, Market
from ..language.values import Month
from .compiler import criterion_column_name, definition_column_name, rank_column_name


class _Evaluators:
    """Closures for every criterion and tie rank of one policy (no trace)."""

    def __init__(self, policy: Policy) -> None:
        doc = policy.doc
        comp = Compiler(doc, policy.resolution, traced=False)
        self.criteria: list[tuple[str, bool, Fn]] = []
        self.definitions: list[tuple[str, bool, Fn]] = []
        for name, item in doc.named.items():
            per_aco = "aco" in policy.resolution.depends.get(name, frozenset())
            target = self.criteria if item.kind == "criterion" else self.definitions
            target.append((name, per_aco, comp.named(name)))
        self.ranks: list[tuple[str, Fn]] = []
        self.on_tie: list[tuple[str, Fn]] = []
        for pname, _ in doc.hierarchy:
            pw = doc.pathways[pname]
            if pw.tie_rank is not None:
                self.ranks.append((pname, comp.compile(pw.tie_rank, False)))
            if pw.on_tie is not None and _reads_record(policy, pw.on_tie):
                self.on_tie.append((pname, comp.compile(pw.on_tie, False)))


def _reads_record(policy: Policy, expr: ast.Expr) -> bool:
    """True when ``expr`` reads the beneficiary record (its value is then a column of the output)."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            kind, name = policy.resolution.names.get(id(node), ("", ""))
            if (kind == "root" and name == "bene") or (
                kind == "named" and "bene" in policy.resolution.depends.get(name, frozenset())
            ):
                return True
    return False


def _safe(fn: Fn, env: Env) -> Any:
    try:
        return fn(env)
    except Exception:
        return None


def reasons_of(decision: Decision) -> list[dict[str, Any]]:
    """The reasons of ``decision`` as the SQL engine writes them."""
    return [
        {
            "pathway": r.pathway,
            "criterion": r.criterion,
            "value": r.value,
            "acos": list(r.acos) if r.acos is not None else None,
        }
        for r in decision.reasons
    ]


class Reference:
    """Decides single records with the interpreter, as rows shaped like the SQL output."""

    def __init__(self, policy: Policy, market: Market | Mapping[str, Any] | str) -> None:
        self.policy = policy
        self.market = load_market(market) if not isinstance(market, Market) else market
        self.ev = _Evaluators(policy)
        self.market_cache: dict[str, Any] = {}

    def row(
        self, record: Mapping[str, Any] | Beneficiary, criteria: bool = True, definitions: bool = False
    ) -> dict[str, Any]:
        """The output row of ``record`` (criterion and rank columns when ``criteria``, ``d:`` columns too)."""
        mk = self.market
        d = self.policy.evaluate(record, mk, trace=False)
        row: dict[str, Any] = {
            "bene_id": d.bene_id,
            "outcome": d.outcome,
            "aco_id": d.aco_id,
            "pathway": d.pathway,
            "reasons": reasons_of(d) if d.outcome != "error" else [],
            "cause": "; ".join(f"{e.get('field') or 'record'}: {e['message']}" for e in d.errors) or None,
        }
        if d.outcome == "error" or not criteria:
            return row
        bene = record if isinstance(record, Beneficiary) else _validated(self.policy, record)
        if bene is None:  # pragma: no cover - evaluate() validated it
            return row
        env = Env(bene, mk, self.market_cache, None)
        for name, per_aco, fn in self.ev.criteria:
            if not per_aco:
                row[criterion_column_name(name, None)] = _safe(fn, env)
            else:
                for aco in mk.acos:
                    env.set_aco(aco)
                    row[criterion_column_name(name, aco.id)] = _safe(fn, env)
        if definitions:
            for name, per_aco, fn in self.ev.definitions:
                if not per_aco:
                    env.set_aco(None)
                    row[definition_column_name(name, None)] = _safe(fn, env)
                else:
                    for aco in mk.acos:
                        env.set_aco(aco)
                        row[definition_column_name(name, aco.id)] = _safe(fn, env)
        env.set_aco(None)
        for pname, fn in self.ev.on_tie:
            row[f"on_tie:{pname}"] = _safe(fn, env)
        for pname, fn in self.ev.ranks:
            for aco in mk.acos:
                env.set_aco(aco)
                row[rank_column_name(pname, aco.id)] = _safe(fn, env)
        return row


def reference_rows(
    policy: Policy, market: Market | Mapping[str, Any] | str, records: Iterable[Mapping[str, Any] | Beneficiary]
) -> list[dict[str, Any]]:
    """Decide ``records`` with the interpreter; rows shaped like the SQL output."""
    ref = Reference(policy, market)
    return [ref.row(r) for r in records]


def _validated(policy: Policy, record: Mapping[str, Any]) -> Any:
    try:
        return policy.validate_record(record)  # the policy's record schema
    except ValidationError:
        return None


COMPARE_PLACES = 15
"""Decimal places compared: SQL quotients have 18 places, the interpreter's 28 significant digits."""


def _decimal(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-COMPARE_PLACES), rounding=ROUND_HALF_EVEN).normalize()


def normalise_value(value: Any) -> Any:
    """A comparable form of a value of either engine (numbers as normalised decimals, lists as tuples, ...)."""
    if value is None or isinstance(value, (bool, str, dt.date)):
        return value
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, float):
        return _decimal(Decimal(str(value)))
    if isinstance(value, int):
        return _decimal(Decimal(value))
    if isinstance(value, Month):
        return str(value)
    if isinstance(value, BaseModel):
        return normalise_value(value.model_dump(mode="python", by_alias=True))
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return normalise_value(value._asdict())
    if isinstance(value, (frozenset, set)):
        return tuple(sorted((normalise_value(v) for v in value), key=lambda v: (v is None, str(type(v)), v)))
    if isinstance(value, (list, tuple)):
        return tuple(normalise_value(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), normalise_value(v)) for k, v in value.items()))
    return value


def normalise_row(row: Mapping[str, Any], columns: Iterable[str] | None = None) -> dict[str, Any]:
    """``row`` with reasons as tuples and numbers as normalised decimals (``columns``: keep only these)."""
    keys = list(columns) if columns is not None else list(row)
    out: dict[str, Any] = {}
    for k in keys:
        v = row.get(k)
        if k == "reasons":
            out[k] = tuple(
                (r["pathway"], r["criterion"], r["value"], tuple(r["acos"]) if r.get("acos") is not None else None)
                for r in (v or [])
            )
        elif k == "cause":
            out[k] = v is not None
        else:
            out[k] = normalise_value(v)
    return out
