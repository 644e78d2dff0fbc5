"""Plain-English explanations of decisions, for auditors.

Renders a :class:`~lead_rules.engine.decision.Decision` (and its trace when it
has one) as text: the outcome, then each pathway of the hierarchy in order
with the requirements that held or failed, their descriptions, citations and
the record fields they read, ending with the pathways not evaluated.

It reads a decision through the read-only views below and does not import
:mod:`.decision`, which imports it for ``Decision.explain()``: the
dependency runs one way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..language.values import to_json
from .trace import TraceNode, truth


class ReasonView(Protocol):
    """What an explanation reads of a :class:`~lead_rules.engine.decision.Reason`."""

    @property
    def pathway(self) -> str: ...
    @property
    def criterion(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def acos(self) -> tuple[str, ...] | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def explanation(self) -> str | None: ...
    @property
    def at(self) -> str | None: ...


class PathwayView(Protocol):
    """What an explanation reads of a :class:`~lead_rules.engine.decision.PathwayResult`."""

    @property
    def pathway(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def aco_id(self) -> str | None: ...
    @property
    def qualifying(self) -> tuple[str, ...]: ...
    @property
    def reasons(self) -> Sequence[ReasonView]: ...


class DecisionView(Protocol):
    """What an explanation reads of a :class:`~lead_rules.engine.decision.Decision`."""

    @property
    def bene_id(self) -> str | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def aco_id(self) -> str | None: ...
    @property
    def pathway(self) -> str | None: ...
    @property
    def errors(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def policy_id(self) -> str: ...
    @property
    def policy_version(self) -> str: ...
    @property
    def policy_hash(self) -> str: ...
    @property
    def performance_year(self) -> int | None: ...
    @property
    def pathways(self) -> Sequence[PathwayView]: ...
    @property
    def trace(self) -> TraceNode | None: ...

_MAX_READS = 8


def format_value(value: Any) -> str:
    """A value as an explanation shows it (``unknown``, quoted strings, short lists and records)."""
    v = to_json(value)
    if v is None:
        return "unknown"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
        return f"({len(v)} records)"
    if isinstance(v, dict):
        shown = ", ".join(f"{k}: {format_value(x)}" for k, x in list(v.items())[:4])
        return "{" + shown + (", ..." if len(v) > 4 else "") + "}"
    if isinstance(v, list):
        shown = ", ".join(format_value(x) for x in v[:6])
        return "[" + shown + (f", ... ({len(v)} items)]" if len(v) > 6 else "]")
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _verdict(value: str) -> str:
    return {"true": "holds", "false": "does not hold", "unknown": "is unknown (missing data)", "tie": "is tied"}.get(
        value, value
    )


def _criterion_node(trace: TraceNode | None, name: str, pathway: str | None, aco: str | None) -> TraceNode | None:
    """The evaluated node of criterion ``name`` for ``pathway`` and ``aco``.

    A criterion that does not depend on the ACO is evaluated once and shows as
    cached afterwards; then its first evaluation anywhere in the trace is used.
    """
    if trace is None:
        return None
    scope: TraceNode | None = trace
    if pathway is not None:
        scope = trace.find("pathway", pathway)
        if scope is not None and aco is not None:
            scope = scope.find("aco", aco) or scope
    node = scope.find("criterion", name) if scope is not None else None
    if node is None or node.cached:
        node = trace.find_evaluated("criterion", name)
    return node


def read_lines(node: TraceNode | None) -> list[str]:
    """The record fields ``node`` read, one ``field = value`` line each (at most a few)."""
    if node is None:
        return []
    lines = []
    for field, value in node.reads()[:_MAX_READS]:
        lines.append(f"{field} = {format_value(value)}" if value != "..." else f"{field} (each element, see trace)")
    return lines


def _sub_criteria(trace: TraceNode | None, node: TraceNode | None) -> list[str]:
    """The criteria that ``node`` is built from, with their values."""
    if trace is None or node is None:
        return []
    out: list[str] = []
    stack = list(reversed(node.children))
    while stack:
        child = stack.pop()
        if child.kind == "criterion":
            if child.skipped:
                continue
            line = f"{child.label}: {truth(child.value)}"
            if child.value is not True:
                item_reason = child.note or child.description
                if item_reason:
                    line += f" ({item_reason})"
                evaluated = child if not child.cached else trace.find_evaluated("criterion", child.label)
                reads = read_lines(evaluated)
                if reads:
                    line += " [read " + "; ".join(reads) + "]"
            out.append(line)
            continue
        if child.kind in ("definition",):
            continue
        stack.extend(reversed(child.children))
    return out


def _reason_lines(r: ReasonView, trace: TraceNode | None, number: str) -> list[str]:
    scope = "" if r.acos is None else f" for {', '.join(r.acos)}"
    head = f"{number} '{r.criterion}' {_verdict(r.value)}{scope}"
    if r.source:
        head += f" [{r.source}]"
    lines = [head]
    if r.explanation:
        lines.append(f"      {r.explanation}")
    elif r.description:
        lines.append(f"      {r.description}")
    if r.at:
        lines.append(f"      defined at {r.at}")
    aco = r.acos[0] if r.acos else None
    node = _criterion_node(trace, r.criterion, r.pathway, aco)
    subs = _sub_criteria(trace, node)
    if subs:
        lines.append("      built from: " + "; ".join(subs))
    reads = read_lines(node)
    if reads:
        lines.append("      read: " + "; ".join(reads))
    return lines


def explain_decision(d: DecisionView) -> str:
    """The explanation of ``d`` in plain English."""
    out: list[str] = []
    who = f"Beneficiary {d.bene_id}" if d.bene_id else "This record"
    if d.outcome == "error":
        out.append(f"{who} could not be decided: the record is not valid.")
        for e in d.errors:
            where = f"field '{e['field']}'" if e.get("field") else "record"
            out.append(f"  - {where}: {e['message']}")
        return "\n".join(out)
    if d.outcome == "aligned":
        out.append(
            f"{who} is ALIGNED to {d.aco_id} through the '{d.pathway}' pathway"
            f" (performance year {d.performance_year})."
        )
    else:
        out.append(f"{who} is NOT ALIGNED to any ACO (performance year {d.performance_year}).")
    out.append(f"Policy {d.policy_id} version {d.policy_version} (content hash {d.policy_hash[:12]}).")
    out.append("")
    out.append("The pathways are tried in order; the first that yields an ACO decides.")
    for n, p in enumerate(d.pathways, start=1):
        if p.status == "skipped":
            out.append(f"{n}. {p.pathway}: not evaluated, because a pathway above it decided.")
            continue
        if p.status == "decided":
            out.append(f"{n}. {p.pathway}: applies, for {p.aco_id}. Every requirement holds:")
        elif p.status == "tie":
            qualifying = ", ".join(p.qualifying)
            out.append(f"{n}. {p.pathway}: several ACOs qualify ({qualifying}) and the tie rule aligns to none:")
        else:
            out.append(f"{n}. {p.pathway}: does not apply, because:")
        for k, r in enumerate(p.reasons, start=1):
            out.extend("   " + line for line in _reason_lines(r, d.trace, f"{n}.{k}"))
    if d.trace is None:
        out.append("")
        out.append("(Evaluated without a trace; re-run with the trace for the values read.)")
    return "\n".join(out)
