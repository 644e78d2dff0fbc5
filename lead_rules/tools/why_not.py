"""Why not? The smallest verified changes to a record that would align it to an ACO (``lead-rules why-not``).

Nothing here knows the LEAD rules. The candidate changes are derived from the
policy's structure:

1. :func:`~lead_rules.tools.harvest.harvest` walks every expression of the policy and records, for each
   record field (a scalar such as ``residence.county_fips``, or a field of
   the elements of a list such as ``claims[].tin`` or
   ``months[].medicaid.plan_id``), what it is compared with: parameter sets,
   literals, attributes of the ACO or of its Medicaid partners, and
   definitions (dates and months such as the voluntary cut-off or the
   alignment years).
2. For a target pathway, the driver evaluates its requirements (criteria,
   or ``all``/``any``/``not`` trees of them) for ACO ``A`` and repairs the
   first failing one with the first change that makes it hold: set a scalar field; set a field (or a nested object) of
   the monthly records over a range of months bounded by the policy's month
   definitions (shortest range first, missing months added); or add one
   element to a list (a designation, a claim line) built from the harvested
   values, with the smallest amount found by search when the element has a
   money field. It repeats until the record is aligned to ``A``.
3. Every suggestion is verified by deciding the changed record with
   :meth:`Policy.evaluate`; only those aligned to ``A`` are returned. When no
   pathway can be repaired, the reasons say which requirement no record change
   could make hold (for example one that reads only the market, such as an
   ACO without Medicaid partners or participant TINs).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from ..engine.policy import Policy, requirement_label
from ..language import ast
from ..language.records import Aco, Market
from ..language.values import Month, to_json
from .harvest import LIST_MODELS, Harvester, Path, Probe, candidates, harvest
from .kind_fields import get_path, set_path


@dataclass
class Suggestion:
    """A verified change: what to do, and the whole changed record."""

    pathway: str
    steps: list[str]
    record: dict[str, Any]

    @property
    def description(self) -> str:
        """The steps as one sentence."""
        return "; ".join(self.steps)

    def to_dict(self) -> dict[str, Any]:
        """One line of ``why-not --output S.jsonl``."""
        return {"description": self.description, "pathway": self.pathway, "steps": self.steps, "record": self.record}


@dataclass
class WhyNot:
    """The answer for one beneficiary and ACO."""

    bene_id: str | None
    aco_id: str
    current: dict[str, Any]
    suggestions: list[Suggestion]
    impossible: list[str]


# --- 3. changes to a record ---------------------------------------------------------------


def _months_between(lo: Month, hi: Month) -> list[Month]:
    out: list[Month] = []
    m = lo
    while m <= hi and len(out) < 240:
        out.append(m)
        m = Month.from_ordinal(m.ordinal + 1)
    return out


@dataclass
class _Change:
    steps: list[str]
    record: dict[str, Any]


class _Search:
    """The repairs for one record, policy and ACO."""

    def __init__(self, policy: Policy, market: Market, aco: Aco) -> None:
        self.policy = policy
        self.market = market
        self.aco = aco
        self.probe = Probe(policy, market)
        self.hints = harvest(policy)
        self._compiled: dict[int, Any] = {}

    def holds(self, goal: ast.Expr, record: Mapping[str, Any]) -> bool:
        """True when the requirement ``goal`` holds for the ACO on ``record``."""
        fn = self._compiled.get(id(goal))
        if fn is None:
            fn = self._compiled[id(goal)] = self.probe.comp.compile(goal, False)
        return self.probe.run(fn, record, self.aco) is True

    def cands(self, key: tuple[str | None, Path], record: Mapping[str, Any]) -> list[Any]:
        h = self.hints.get(key)
        return candidates(h, self.policy, self.probe, record, self.aco) if h else []

    def empty_aco_attrs(self, goal: ast.Expr) -> list[str]:
        """The attributes of the ACO that ``goal`` reads and that are empty for this ACO."""
        out: list[str] = []
        for n in self.closure(goal):
            for node in ast.walk(self.policy.doc.named[n].expr):
                if isinstance(node, ast.Attr) and isinstance(node.obj, ast.Name) and node.obj.name == "aco":
                    value = getattr(self.aco, node.name, None)
                    if isinstance(value, (list, set, frozenset, tuple)) and not value and node.name not in out:
                        out.append(node.name)
        return out

    def closure(self, goal: ast.Expr) -> set[str]:
        """The named items ``goal`` reads, transitively."""
        names: set[str] = set()
        stack = [n.name for n in ast.walk(goal) if isinstance(n, ast.Name)]
        while stack:
            n = stack.pop()
            if n in names or n not in self.policy.doc.named:
                continue
            names.add(n)
            for node in ast.walk(self.policy.doc.named[n].expr):
                if isinstance(node, ast.Name):
                    stack.append(node.name)
        return names

    def fields_read_by(self, goal: ast.Expr) -> set[tuple[str | None, Path]]:
        """The harvested fields that ``goal`` reads, through its definitions."""
        sub = Harvester(self.policy)
        for n in self.closure(goal):
            sub.visit(self.policy.doc.named[n].expr, {})
        return set(sub.hints)

    # -- repairs, smallest first
    def repairs(self, goal: ast.Expr, record: dict[str, Any]) -> Iterator[_Change]:
        fields = self.fields_read_by(goal)
        yield from self._scalar_repairs(goal, record, fields)
        yield from self._month_repairs(goal, record, fields)
        for name in ("voluntary", "claims"):
            if any(k[0] == name for k in fields):
                yield from self._add_element(goal, record, name, fields)

    def _scalar_repairs(
        self, goal: ast.Expr, record: dict[str, Any], fields: set[tuple[str | None, Path]]
    ) -> Iterator[_Change]:
        for key in sorted((k for k in fields if k[0] is None), key=str):
            path = key[1]
            for v in self.cands(key, record):
                if v == get_path(record, path):
                    continue
                new = copy.deepcopy(record)
                set_path(new, path, v)
                if self.holds(goal, new):
                    yield _Change([f"set {'.'.join(path)} to {_show(v)}"], new)

    def _month_ranges(self, record: Mapping[str, Any]) -> list[tuple[Month, Month]]:
        months: set[Month] = set()
        for name, item in self.policy.doc.named.items():
            if item.kind == "definition":
                v = self.probe.value(name, record, self.aco)
                if isinstance(v, Month):
                    months.add(v)
        ordered = sorted(months)
        ranges = [(a, b) for a, b in itertools.combinations_with_replacement(ordered, 2)]
        ranges.sort(key=lambda r: (len(_months_between(*r)), r[0]))
        return ranges

    def _month_values(self, record: Mapping[str, Any], fields: set[tuple[str | None, Path]]) -> list[tuple[Path, Any]]:
        """``(path, value)`` choices for the monthly records: scalar fields, and nested objects as a whole."""
        out: list[tuple[Path, Any]] = []
        nested: dict[str, list[tuple[str, list[Any]]]] = {}
        for key in sorted((k for k in fields if k[0] == "months"), key=str):
            path = key[1]
            values = self.cands(key, record)
            if path == ("month",):
                continue
            if len(path) == 1:
                out.extend((path, v) for v in values)
            else:
                nested.setdefault(path[0], []).append((path[1], values or [None]))
        for head, subs in nested.items():
            names = [s for s, _ in subs]
            for combo in itertools.islice(itertools.product(*[vals for _, vals in subs]), 64):
                out.append(((head,), {n: to_json(v) for n, v in zip(names, combo, strict=True)}))
        return out

    def _month_repairs(
        self, goal: ast.Expr, record: dict[str, Any], fields: set[tuple[str | None, Path]]
    ) -> Iterator[_Change]:
        if not any(k[0] == "months" for k in fields):
            return
        choices = self._month_values(record, fields)
        ranges = self._month_ranges(record)
        # 1. only the months missing from a range (copies of the nearest month)
        for lo, hi in ranges:
            new = _fill_months(record, lo, hi)
            if new != record and self.holds(goal, new):
                yield _Change([f"add the missing monthly records {lo}..{hi}"], new)
                return
        # 2. one field (or nested object) of every month of a range
        for lo, hi in ranges:
            base = _fill_months(record, lo, hi)
            for path, value in choices:
                new = copy.deepcopy(base)
                for m in new["months"]:
                    if lo <= Month.parse(str(m.get("month"))) <= hi:
                        set_path(m, path, value)
                if self.holds(goal, new):
                    yield _Change([f"set months {lo}..{hi} {'.'.join(path)} to {_show(value)}"], new)
                    return

    def _add_element(
        self, goal: ast.Expr, record: dict[str, Any], name: str, fields: set[tuple[str | None, Path]]
    ) -> Iterator[_Change]:
        model = LIST_MODELS[name]
        per_field: list[tuple[str, list[Any]]] = []
        money: str | None = None
        for fname, info in model.model_fields.items():
            ann = str(info.annotation)
            key = (name, (fname,))
            if "Decimal" in ann:
                money = fname
                continue
            values = [v for v in self.cands(key, record) if v is not None] if key in fields else []
            if "date" in ann:
                values = [v for v in values if isinstance(v, dt.date)]
            per_field.append((fname, values[:4] or [None]))
        names = [f for f, _ in per_field]
        for combo in itertools.islice(itertools.product(*[vals for _, vals in per_field]), 256):
            element = {n: to_json(v) for n, v in zip(names, combo, strict=True) if v is not None}
            if name == "claims":
                element.setdefault("claim_id", f"WHY-NOT-{len(record.get('claims') or []) + 1}")
                element.setdefault("line", 1)
            found = self._with_amount(goal, record, name, element, money)
            if found is not None:
                new, amount = found
                yield _Change([_describe_element(name, element, money, amount, self.aco)], new)
                return

    def _with_amount(
        self, goal: ast.Expr, record: dict[str, Any], name: str, element: dict[str, Any], money: str | None
    ) -> tuple[dict[str, Any], Decimal | None] | None:
        def build(amount: Decimal | None) -> dict[str, Any]:
            new = copy.deepcopy(record)
            el = dict(element)
            if money is not None and amount is not None:
                el[money] = float(amount) if amount != amount.to_integral() else int(amount)
            new[name] = [*list(new.get(name) or []), el]
            return new

        if money is None:
            new = build(None)
            return (new, None) if self.holds(goal, new) else None
        hi = Decimal(1)
        while not self.holds(goal, build(hi)):
            hi *= 4
            if hi > Decimal(10) ** 9:
                return None
        lo = hi / 4 if hi > 1 else Decimal(0)
        while hi - lo > 1:  # smallest whole-dollar amount that works
            mid = (lo + hi) // 2
            if self.holds(goal, build(mid)):
                hi = mid
            else:
                lo = mid
        return build(hi), hi


def _fill_months(record: Mapping[str, Any], lo: Month, hi: Month) -> dict[str, Any]:
    new = copy.deepcopy(dict(record))
    months = list(new.get("months") or [])
    have = {str(m.get("month")) for m in months if isinstance(m, Mapping)}
    for m in _months_between(lo, hi):
        if str(m) in have:
            continue
        template = _nearest(months, m)
        row = copy.deepcopy(template) if template is not None else {}
        row["month"] = str(m)
        months.append(row)
    months.sort(key=lambda r: str(r.get("month")))
    new["months"] = months
    return new


def _nearest(months: list[Any], m: Month) -> dict[str, Any] | None:
    best: tuple[int, dict[str, Any]] | None = None
    for row in months:
        try:
            other = Month.parse(str(row.get("month")))
        except (ValueError, AttributeError):
            continue
        gap = abs((other.year - m.year) * 12 + other.month - m.month)
        if best is None or gap < best[0]:
            best = (gap, row)
    return best[1] if best else None


def _show(v: Any) -> str:
    j = to_json(v)
    if isinstance(j, dict):
        return "{" + ", ".join(f"{k}: {x}" for k, x in j.items() if x is not None) + "}"
    return "nothing (remove it)" if j is None else str(j)


def _describe_element(name: str, el: Mapping[str, Any], money: str | None, amount: Decimal | None, aco: Aco) -> str:
    tin = el.get("tin")
    at = f" at TIN {tin}" + (f" (a participant TIN of {aco.id})" if tin in aco.participant_tins else "") if tin else ""
    if name == "voluntary":
        return f"add a voluntary designation{at} dated {el.get('date')} through channel {el.get('channel')}"
    if name == "claims":
        return (
            f"add one claim line (HCPCS {el.get('hcpcs')}, specialty {el.get('specialty')}) of ${amount}{at}"
            f" dated {el.get('from_date')}"
        )
    shown = ", ".join(f"{k} {v}" for k, v in el.items())
    return f"add a {name} entry ({shown}" + (f", {money} {amount}" if money else "") + ")"


# --- the driver ---------------------------------------------------------------------------


def _reads_bene(policy: Policy, goal: ast.Expr) -> bool:
    names = [n.name for n in ast.walk(goal) if isinstance(n, ast.Name)]
    return any("bene" in policy.resolution.depends.get(n, frozenset()) for n in names)


def _repair(
    policy: Policy,
    market: Market,
    search: _Search,
    pathway: str,
    rec: dict[str, Any],
    steps: list[str],
    depth: int,
    budget: list[int],
) -> tuple[dict[str, Any] | None, list[str], str | None]:
    """Depth-first: repair the first failing requirement of ``pathway``, try the next repair on a dead end."""
    aco_id = search.aco.id
    d = policy.evaluate(rec, market, trace=False)
    if d.aco_id == aco_id:
        return rec, steps, None
    failing = [r for r in policy.doc.pathways[pathway].requires if not search.holds(r, rec)]
    if not failing:
        got = f" to {d.aco_id} by {d.pathway}" if d.aco_id else ""
        return None, steps, f"{pathway}: every requirement holds for {aco_id}, but the decision is {d.outcome}{got}"
    if depth <= 0 or budget[0] <= 0:
        return None, steps, f"{pathway}: no verified change within the search limits"
    goal = failing[0]
    reason: str | None = None
    tried = False
    for change in search.repairs(goal, rec):
        tried = True
        budget[0] -= 1
        found, new_steps, why = _repair(
            policy, market, search, pathway, change.record, steps + change.steps, depth - 1, budget
        )
        if found is not None:
            return found, new_steps, None
        reason = reason or why
        if budget[0] <= 0:
            break
    if tried:
        return None, steps, reason
    empty = search.empty_aco_attrs(goal)
    if empty:
        why = f"{aco_id} has no {' and no '.join(empty)} (a fact of the market, not of the record)"
    elif not _reads_bene(policy, goal):
        why = "it reads only the market and the ACO, not the record"
    else:
        why = "no change to the record found makes it hold"
    return None, steps, f"{pathway}: '{requirement_label(goal)}' cannot be made to hold for {aco_id}: {why}"


def why_not(
    policy: Policy,
    market: Market,
    record: Mapping[str, Any],
    aco_id: str,
    max_steps: int = 8,
    max_nodes: int = 60,
) -> WhyNot:
    """The verified record changes that would align ``record`` to ``aco_id``, smallest first."""
    aco = next((a for a in market.acos if a.id == aco_id), None)
    if aco is None:
        raise ValueError(f"no ACO {aco_id!r} in the market (ACOs: {', '.join(a.id for a in market.acos)})")
    base = _plain(record)
    current = policy.evaluate(base, market, trace=False)
    now = {"outcome": current.outcome, "aco_id": current.aco_id, "pathway": current.pathway}
    if current.outcome == "error":
        causes = "; ".join(
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in current.errors[:3]
        )
        more = f" (and {len(current.errors) - 3} more)" if len(current.errors) > 3 else ""
        raise ValueError(f"the record is not valid, so no change can be verified: {causes}{more}")
    search = _Search(policy, market, aco)
    suggestions: list[Suggestion] = []
    impossible: list[str] = []
    if current.aco_id == aco_id:
        return WhyNot(current.bene_id, aco_id, now, [], [])
    for pathway in policy.pathway_names:
        budget = [max_nodes]
        rec, steps, reason = _repair(policy, market, search, pathway, base, [], max_steps, budget)
        if rec is not None and steps:
            final = policy.evaluate(rec, market, trace=False)
            if final.aco_id == aco_id and final.outcome == "aligned":  # verified
                suggestions.append(Suggestion(str(final.pathway), steps, rec))
                continue
        impossible.append(reason or f"{pathway}: no verified change found")
    suggestions.sort(key=lambda s: len(s.steps))
    unique: list[Suggestion] = []
    for s in suggestions:
        if all(s.record != u.record for u in unique):
            unique.append(s)
    return WhyNot(current.bene_id, aco_id, now, unique, impossible)


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-shaped copy of a record (dates and decimals as JSON values)."""
    if isinstance(record, BaseModel):
        out: dict[str, Any] = record.model_dump(mode="json", by_alias=True)
        return out
    return {k: _json(v) for k, v in record.items()}


def _json(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json(x) for x in v]
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral() else float(v)
    if isinstance(v, (dt.date, Month)):
        return str(v)
    return v
