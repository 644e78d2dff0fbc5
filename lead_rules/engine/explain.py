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
from pathlib import Path
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


# --------------------------------------------------------------------------
# the auditor's view: one deciding reason first, the failing month or claim
# line, the plurality table, citations expanded; the view above is --detail


class AuditContext:
    """What an auditor's explanation needs from the policy: citations and pathway descriptions.

    ``sources`` maps a source id (as written in ``source:``) to its title and
    link; ``pathways`` maps a pathway name to its description.
    """

    def __init__(
        self,
        sources: Mapping[str, tuple[str | None, str | None]] | None = None,
        pathways: Mapping[str, str | None] | None = None,
    ) -> None:
        self.sources = dict(sources or {})
        self.pathways = dict(pathways or {})


_MAX_TABLE = 8


def _plain(value: Any) -> str:
    from decimal import Decimal

    if isinstance(value, (Decimal, float)) and not isinstance(value, bool):
        return f"{value:,.2f}"
    v = to_json(value)
    if v is None:
        return "missing"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def _element_label(element: Any) -> str:
    """``in 2027-03`` for a month row, ``the claim line of 2026-05-02 (TIN ..., HCPCS ...)`` for a claim."""
    v = to_json(element)
    if isinstance(v, dict):
        if "month" in v:
            return f"in {v['month']}"
        if "from_date" in v or "hcpcs" in v:
            parts = [f"{k} {v[k]}" for k in ("tin", "hcpcs", "allowed") if v.get(k) is not None]
            return f"on the claim line of {v.get('from_date') or 'an unknown date'}" + (
                f" ({', '.join(parts)})" if parts else ""
            )
        if "date" in v:
            return f"in the entry of {v['date']}"
    return f"in item {_plain(v)}"


def failing_element(node: TraceNode | None) -> str | None:
    """The first month or claim line that made an ``all(...)`` fail in ``node``'s subtree, as text.

    ``in 2027-11 (hmo = "1")``: the element, then the fields the test read of it.
    """
    if node is None:
        return None
    stack = [node]
    while stack:
        n = stack.pop()
        if n.skipped:
            continue
        func = getattr(n.expr, "func", None)
        if n.rows and func == "all" and n.value is not True:
            row = next((r for r in n.rows if r.get("value") is False), None)
            if row is None:
                row = next((r for r in n.rows if r.get("value") is None), None)
            if row is None:
                stack.extend(reversed(n.children))
                continue
            source = next((c for c in n.children if c.kind in ("definition", "field", "expr")), None)
            items = source.value if source is not None else None
            index = row.get("index", 0)
            label = (
                _element_label(items[index])
                if isinstance(items, (list, tuple)) and 0 <= index < len(items)
                else f"in item {index + 1}"
            )
            shown = [(k, v) for k, v in row.get("reads", {}).items() if not isinstance(v, (list, tuple, dict))]
            reads = ", ".join(
                f"{k.split('.', 1)[-1]} = {'missing' if v is None else format_value(v)}" for k, v in shown[:3]
            )
            unknown = " (unknown)" if row.get("value") is None else ""
            return f"{label}{unknown}" + (f" ({reads})" if reads else "")
        stack.extend(reversed(n.children))
    return None


def _candidate_table(trace: TraceNode | None) -> list[str]:
    """The ranked candidates of every ranking (``argmax``/``argmin``) evaluated in ``trace``."""
    if trace is None:
        return []
    out: list[str] = []
    stack = [trace]
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if n.candidates and id(n.expr) not in seen:
            seen.add(id(n.expr))
            by = [getattr(b, "text", "") or f"score {i + 1}" for i, b in enumerate(getattr(n.expr, "by", ()))]
            # the policy file by name, not by its absolute path: the same text wherever the policy lives
            where = ""
            if n.span is not None and n.span.line > 0:
                where = f" ({Path(n.span.file).name}:{n.span.line}:{n.span.column})"
            out.append(f"Ranking behind the decision{where}: highest first")
            heads = ["rank", "candidate"] + [
                "score" if i == 0 else "tie-break" + ("" if len(by) == 2 else f" {i}") for i in range(len(by))
            ]
            rows = [
                [str(c.get("rank", "")), str(c.get("value"))] + [_plain(s) for s in c.get("scores", [])]
                for c in n.candidates[:_MAX_TABLE]
            ]
            widths = [max(len(r[i]) if i < len(r) else 0 for r in [heads, *rows]) for i in range(len(heads))]
            for r in [heads, *rows]:
                out.append("    " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())
            if len(n.candidates) > _MAX_TABLE:
                out.append(f"    ... and {len(n.candidates) - _MAX_TABLE} more candidates")
            for i, text in enumerate(by):
                label = "score" if i == 0 else "tie-break"
                out.append(f"    {label}: {' '.join(text.split())}")
            scores = [c.get("scores", []) for c in n.candidates[:2]]
            if len(scores) == 2 and scores[0][:1] == scores[1][:1] and len(scores[0]) > 1:
                out.append("    The first two candidates have the same score; the tie-break decides.")
        stack.extend(reversed(n.children))
    return out


def _reason_text(r: ReasonView) -> str:
    text = r.explanation or r.description or f"'{r.criterion}' {_verdict(r.value)}"
    return " ".join(text.split()).rstrip(".")


def _ranking_under(trace: TraceNode | None, node: TraceNode | None, depth: int = 3) -> TraceNode | None:
    """The first ranking node (``argmax``/``argmin`` with candidates) that ``node`` was computed from."""
    if trace is None or node is None or depth < 0:
        return None
    stack = [node]
    while stack:
        n = stack.pop()
        if n.candidates:
            return n
        if n.kind == "definition" and n.cached and n is not node:
            found = _ranking_under(trace, trace.find_evaluated("definition", n.label), depth - 1)
            if found is not None:
                return found
            continue
        stack.extend(reversed(n.children))
    return None


def _deciding_reason(d: DecisionView) -> ReasonView | None:
    """The reason an auditor reads first.

    The criterion that failed in the most pathways for every ACO; among
    equals, one with evidence to show (a failing month or claim line, or a
    ranking such as the claims plurality); then the first in hierarchy order.
    """
    score: dict[str, list[int]] = {}
    first: dict[str, tuple[int, ReasonView]] = {}
    for p in d.pathways:
        if p.status == "skipped":
            continue
        for r in p.reasons:
            if r.value == "true":
                continue
            entry = score.setdefault(r.criterion, [0, 0, 0])
            entry[0] += 1 if r.acos is None else 0
            entry[1] += 1
            if r.criterion not in first:
                node = _criterion_node(d.trace, r.criterion, r.pathway, r.acos[0] if r.acos else None)
                has = failing_element(node) is not None or _ranking_under(d.trace, node) is not None
                entry[2] = 1 if has else 0
                first[r.criterion] = (len(first), r)
    if not score:
        return None
    best = max(score, key=lambda c: (score[c][0], score[c][2], score[c][1], -first[c][0]))
    return first[best][1]


def _cite(source: str | None, ctx: AuditContext, cited: dict[str, None]) -> str:
    if not source:
        return ""
    cited[source] = None
    return f" [{source}]"


def _detail(r: ReasonView, trace: TraceNode | None) -> str:
    node = _criterion_node(trace, r.criterion, r.pathway, r.acos[0] if r.acos else None)
    found = failing_element(node)
    if found:
        return f": {found}"
    ranking = _ranking_under(trace, node)
    if ranking is not None and ranking.candidates:
        ranked = "; ".join(
            f"{c.get('value')} ({_plain((c.get('scores') or [None])[0])})" for c in ranking.candidates[:3]
        )
        return f": ranked first {ranked}"
    return ""


def explain_for_auditor(d: DecisionView, ctx: AuditContext | None = None) -> str:
    """The decision in plain English for an auditor: the deciding reason first, then the evidence."""
    ctx = ctx or AuditContext()
    who = f"Beneficiary {d.bene_id}" if d.bene_id else "This record"
    out: list[str] = []
    cited: dict[str, None] = {}
    if d.outcome == "error":
        out.append(f"{who} could not be decided: the record is not valid.")
        for e in d.errors:
            where = f"field '{e['field']}'" if e.get("field") else "record"
            out.append(f"  - {where}: {e['message']}")
        return "\n".join(out)
    if d.outcome == "aligned":
        winner = next((p for p in d.pathways if p.status == "decided"), None)
        out.append(f"{who}: ALIGNED to {d.aco_id} (performance year {d.performance_year}).")
        what = ctx.pathways.get(d.pathway or "") or f"the '{d.pathway}' pathway"
        out.append(f"Deciding reason: aligned through {d.pathway}: {' '.join(what.split()).rstrip('.')}.")
        if winner is not None and winner.reasons:
            out.append("Every requirement holds for this ACO:")
            for r in winner.reasons:
                text = " ".join((r.description or r.criterion).split()).rstrip(".")
                out.append(f"  - {text}{_cite(r.source, ctx, cited)}")
    else:
        out.append(f"{who}: NOT ALIGNED to any ACO (performance year {d.performance_year}).")
        deciding = _deciding_reason(d)
        tie = next((p for p in d.pathways if p.status == "tie"), None)
        if tie is not None:
            out.append(
                f"Deciding reason: not aligned: several ACOs qualify through {tie.pathway} "
                f"({', '.join(tie.qualifying)}) and the tie rule aligns to none."
            )
        elif deciding is not None:
            out.append(
                f"Deciding reason: not aligned: {_reason_text(deciding)}{_detail(deciding, d.trace)}."
                f"{_cite(deciding.source, ctx, cited)}"
            )
        out.append("")
        out.append("Each way to be aligned, in order of priority:")
        for n, p in enumerate(d.pathways, start=1):
            title = p.pathway
            if p.status == "skipped":
                out.append(f"{n}. {title}: not considered, because a pathway above it decided.")
                continue
            if p.status == "tie":
                qualifying = ", ".join(p.qualifying)
                out.append(f"{n}. {title}: several ACOs qualify ({qualifying}); the tie rule aligns to none.")
                continue
            out.append(f"{n}. {title}: does not apply.")
            for r in p.reasons:
                if r.value == "true":
                    continue
                scope = "" if r.acos is None else f" (for {', '.join(r.acos)})"
                unknown = " (not known: data missing)" if r.value == "unknown" else ""
                out.append(
                    f"   - {_reason_text(r)}{scope}{unknown}{_detail(r, d.trace)}.{_cite(r.source, ctx, cited)}"
                )
    table = _candidate_table(d.trace)
    if table:
        out.append("")
        out.extend(table)
    if cited:
        out.append("")
        out.append("Sources:")
        for sid in cited:
            ref_title, url = ctx.sources.get(sid) or (None, None)
            line = f"  [{sid}]" + (f" {ref_title}" if ref_title else "")
            if url:
                line += f" <{url}>"
            out.append(line)
    out.append("")
    out.append(
        f"Policy {d.policy_id} version {d.policy_version} (content hash {d.policy_hash[:12]})."
        + (" Evaluated without a trace: the failing months and claim lines are not shown." if d.trace is None else "")
    )
    return "\n".join(out)
