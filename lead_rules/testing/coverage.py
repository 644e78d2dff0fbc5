"""Coverage of policy tests: criteria, pathways, tie branches and definitions the cases reached.

:class:`CaseResult` is the outcome of one case; :class:`Coverage` collects,
from the trace and decision of every decided case, the values each criterion
took (per pathway, :func:`criterion_values`), the pathways that decided, the
tie branches taken and the definitions evaluated, and reports what is not yet
reached. A criterion must be seen unknown too when a static, conservative
nullability analysis (:func:`unknowable_criteria`) says it can be unknown.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from ..engine.decision import Decision
from ..engine.policy import Policy
from ..engine.trace import TraceNode, truth
from ..language import ast, records
from ..language.schema import fields_of, nullable
from ..language.types import ListT, StructT

__all__ = ["TIE_CHOSEN", "TIE_NONE", "TIE_RANK", "CaseResult", "Coverage", "criterion_values", "unknowable_criteria"]

#: The tie branches of a pathway that coverage counts.
TIE_RANK = "the rank decides"
TIE_CHOSEN = "on_tie chooses an ACO"
TIE_NONE = "on_tie aligns to none"

# --------------------------------------------------------------------------
# results and coverage


@dataclass
class CaseResult:
    """The outcome of one test case."""

    file: Path
    line: int
    name: str
    rule: str | None
    problems: list[str]
    decision: Decision | None = None

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.problems


@dataclass
class Coverage:
    """What the tests of one policy exercised.

    Four kinds of item count: every **criterion** must be seen true and false,
    and unknown too when it can be unknown (:func:`unknowable_criteria`);
    every **pathway** of the hierarchy must decide at least one case; every
    **tie branch** of a pathway with a ``tie:`` rule must be taken (the rank
    decides; ``on_tie`` chooses an ACO; ``on_tie`` aligns to none); every
    **definition** must be evaluated in at least one case.
    """

    policy_id: str
    folder: Path
    criteria: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    cases: int = 0
    unknowable: set[str] = field(default_factory=set)
    pathways: list[str] = field(default_factory=list)
    tie_branches: list[tuple[str, str]] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    pathway_counts: dict[str, int] = field(default_factory=dict)
    tie_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    definition_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, policy: Policy, folder: Path) -> Coverage:
        """The (empty) coverage of ``policy``, with every item it must reach."""
        branches: list[tuple[str, str]] = []
        for name in policy.pathway_names:
            pw = policy.doc.pathways[name]
            if pw.tie_rank is not None:
                branches.append((name, TIE_RANK))
            if pw.on_tie is not None:
                branches += [(name, TIE_CHOSEN), (name, TIE_NONE)]
        definitions = sorted(n for n, i in policy.doc.named.items() if i.kind == "definition")
        return cls(
            policy.id, folder, sorted(policy.criteria()), unknowable=unknowable_criteria(policy),
            pathways=policy.pathway_names, tie_branches=branches, definitions=definitions,
        )

    def add(self, trace: TraceNode | None, decision: Decision | None = None) -> None:
        """Count what one case's trace (and decision) reached (each item once per case)."""
        self.cases += 1
        if decision is not None:
            if decision.pathway is not None:
                self.pathway_counts[decision.pathway] = self.pathway_counts.get(decision.pathway, 0) + 1
            branches: set[tuple[str, str]] = set()
            for result in decision.pathways:
                for r in result.reasons:
                    if r.criterion == "tie.rank" and r.value == "true":
                        branches.add((result.pathway, TIE_RANK))
                    elif r.criterion == "tie.on_tie":
                        branches.add((result.pathway, TIE_CHOSEN if r.value == "true" else TIE_NONE))
            for b in branches:
                self.tie_counts[b] = self.tie_counts.get(b, 0) + 1
        if trace is None:
            return
        seen: set[tuple[str, str]] = set()
        for (name, _aco), values in criterion_values(trace).items():
            for value in values:
                seen.add((name, value))
        for name, value in seen:
            row = self.counts.setdefault(name, {"true": 0, "false": 0, "unknown": 0})
            row[value] = row.get(value, 0) + 1
        for name in _evaluated(trace, "definition"):
            self.definition_counts[name] = self.definition_counts.get(name, 0) + 1

    def missing(self, name: str) -> list[str]:
        """The values criterion ``name`` must still be seen with."""
        row = self.counts.get(name, {})
        wanted = ("true", "false", "unknown") if name in self.unknowable else ("true", "false")
        return [v for v in wanted if not row.get(v, 0)]

    def covered(self, name: str) -> bool:
        """True when ``name`` was seen true and false (and unknown, when it can be unknown)."""
        return not self.missing(name)

    def _items(self) -> list[bool]:
        return (
            [self.covered(c) for c in self.criteria]
            + [self.pathway_counts.get(p, 0) > 0 for p in self.pathways]
            + [self.tie_counts.get(b, 0) > 0 for b in self.tie_branches]
            + [self.definition_counts.get(d, 0) > 0 for d in self.definitions]
        )

    @property
    def percent(self) -> float:
        """Share of all items (criteria, pathways, tie branches, definitions) covered, in percent."""
        items = self._items()
        if not items:
            return 100.0
        return 100.0 * sum(items) / len(items)

    def render(self) -> str:
        """The coverage tables."""
        labels = [f"{p}: {b}" for p, b in self.tie_branches]
        width = max([len(c) for c in self.criteria] + [len(p) for p in self.pathways] + [len(x) for x in labels] + [10])
        lines = [
            f"Criterion coverage of policy {self.policy_id} ({self.folder}), {self.cases} case(s):",
            f"    {'criterion':<{width}}  {'true':>5}  {'false':>5}  {'unknown':>7}",
        ]
        for name in self.criteria:
            row = self.counts.get(name, {})

            def cell(value: str, w: int, row: dict[str, int] = row) -> str:
                n = row.get(value, 0)
                return f"{n if n else '-':>{w}}"

            missing = self.missing(name)
            flag = "! " if missing else "  "
            note = f"   never {' nor '.join(missing)}" if missing else ""
            can = "" if name in self.unknowable else "   (cannot be unknown)"
            lines.append(
                f"  {flag}{name:<{width}}  {cell('true', 5)}  {cell('false', 5)}  {cell('unknown', 7)}{note}{can}"
            )
        if self.pathways:  # a decision kind (verdict, ranking, computation) has none
            lines.append(f"    {'pathway':<{width}}  decided")
        for name in self.pathways:
            n = self.pathway_counts.get(name, 0)
            note = "" if n else "   never decided"
            lines.append(f"  {'  ' if n else '! '}{name:<{width}}  {n if n else '-':>7}{note}")
        if self.tie_branches:
            lines.append(f"    {'tie branch':<{width}}  taken")
            for pw, branch in self.tie_branches:
                n = self.tie_counts.get((pw, branch), 0)
                label = f"{pw}: {branch}"
                note = "" if n else "   never taken"
                lines.append(f"  {'  ' if n else '! '}{label:<{width}}  {n if n else '-':>5}{note}")
        unused = [d for d in self.definitions if not self.definition_counts.get(d, 0)]
        if unused:
            lines.append("  ! definitions never evaluated: " + ", ".join(unused))
        criteria = sum(1 for c in self.criteria if self.covered(c))
        pathways = sum(1 for p in self.pathways if self.pathway_counts.get(p, 0))
        ties = sum(1 for b in self.tie_branches if self.tie_counts.get(b, 0))
        defs = len(self.definitions) - len(unused)
        items = self._items()
        lines += [
            f"  criteria covered true, false and (where possible) unknown: {criteria}/{len(self.criteria)}",
            f"  pathways that decided a case: {pathways}/{len(self.pathways)}",
            f"  tie branches taken: {ties}/{len(self.tie_branches)}",
            f"  definitions evaluated: {defs}/{len(self.definitions)}",
            f"  coverage: {sum(items)}/{len(items)} items ({self.percent:.1f}%)",
        ]
        return "\n".join(lines)


def _evaluated(trace: TraceNode, kind: str) -> set[str]:
    """Labels of the nodes of ``kind`` in ``trace`` that were evaluated (cached re-uses count, skipped do not)."""
    out: set[str] = set()
    stack = [trace]
    while stack:
        node = stack.pop()
        if node.skipped:
            continue
        if node.kind == kind:
            out.add(node.label)
        stack.extend(node.children)
    return out


# --------------------------------------------------------------------------
# which criteria can be unknown (a static, conservative nullability analysis)

_NEVER_NULL_CALLS = frozenset({"coalesce"})
_NULLABLE_AGGREGATES = frozenset({"min", "max", "argmax", "argmin"})
_ALWAYS_NULLABLE_ROWS = {"total"}  # group_sum rows: key is never null, total may be


def _nullable_fields(policy: Policy) -> dict[str, bool]:
    """Field name -> may be null (True when any struct declares it optional), over what ``policy`` reads.

    The fields are those of the policy's record and context schemas (for
    alignment: the bundled beneficiary record and market, which equal
    :mod:`lead_rules.language.records`); without schemas, the record models.
    """
    out: dict[str, bool] = {"key": False, "total": True}
    schemas = [s for s in (policy.record_schema, policy.context_schema) if s is not None]
    if not schemas:
        models: list[type[BaseModel]] = [
            records.Beneficiary, records.Residence, records.MonthRecord, records.Medicaid, records.Integrated,
            records.Voluntary, records.Claim, records.Market, records.Aco, records.MedicaidPartner, records.Effective,
        ]
        for model in models:
            for name, info in model.model_fields.items():
                optional = type(None) in typing.get_args(info.annotation)
                key = info.alias or name
                out[key] = out.get(key, False) or optional
        return out
    stack: list[StructT] = [s.struct for s in schemas]
    seen: set[StructT] = set()
    while stack:
        struct = stack.pop()
        if struct in seen:
            continue
        seen.add(struct)
        for f in fields_of(struct):
            out[f.name] = out.get(f.name, False) or nullable(f)
            inner = f.type.elem if isinstance(f.type, ListT) else f.type
            if isinstance(inner, StructT):
                stack.append(inner)
    return out


class _Nullability:
    """Whether an expression of a policy can evaluate to null (unknown).

    Conservative (it may say "can be null" for an expression that never is),
    with one refinement: in ``x is null or E`` / ``x is not null and E`` /
    ``if x is not null then E`` the name or field ``x`` is known not null in ``E``.
    """

    def __init__(self, policy: Policy) -> None:
        self.doc = policy.doc
        self.fields = _nullable_fields(policy)
        self.memo: dict[str, bool] = {}

    def named(self, name: str) -> bool:
        if name not in self.memo:
            self.memo[name] = True  # no cycles (checked), but be safe
            self.memo[name] = self.expr(self.doc.named[name].expr, frozenset())
        return self.memo[name]

    def expr(self, e: ast.Expr, guards: frozenset[ast.Expr]) -> bool:
        if e in guards:
            return False
        if isinstance(e, ast.Literal):
            return e.kind == "null"
        if isinstance(e, ast.Collection):
            return False
        if isinstance(e, ast.Name):
            if e.name in self.doc.named:
                return self.named(e.name)
            param = self.doc.parameters.get(e.name)
            if param is not None:
                return param.value is None
            return False  # a root (bene, market, aco) or a comprehension variable
        if isinstance(e, ast.Attr):
            return self.expr(e.obj, guards) or self.fields.get(e.name, True)
        if isinstance(e, (ast.Neg, ast.Not)):
            return self.expr(e.operand, guards)
        if isinstance(e, ast.Binary):
            return e.op == "/" or self.expr(e.left, guards) or self.expr(e.right, guards)
        if isinstance(e, ast.Compare):
            return self.expr(e.left, guards) or self.expr(e.right, guards)
        if isinstance(e, ast.IsNull):
            return False
        if isinstance(e, ast.BoolOp):
            known = guards
            for item in e.items:
                if self.expr(item, known):
                    return True
                if isinstance(item, ast.IsNull) and item.negated == (e.op == "and"):
                    known = known | {item.operand}
            return False
        if isinstance(e, ast.Cond):
            then_guards = guards
            if isinstance(e.test, ast.IsNull) and e.test.negated:
                then_guards = guards | {e.test.operand}
            return self.expr(e.then_, then_guards) or self.expr(e.else_, guards)
        if isinstance(e, ast.Call):
            if e.func in _NEVER_NULL_CALLS:
                return all(self.expr(a, guards) for a in e.args)
            return any(self.expr(a, guards) for a in e.args)
        if isinstance(e, ast.Comprehension):
            if e.func in _NULLABLE_AGGREGATES:
                return True
            if e.func in ("any", "all"):
                return self.expr(e.element, guards)
            if e.func == "count" and e.where is None and isinstance(e.element, ast.Name) and e.element.name == e.var:
                return self.expr(e.source, guards)
            return False  # count, sum, list, distinct, group_sum
        return True


def unknowable_criteria(policy: Policy) -> set[str]:
    """The criteria of ``policy`` that can be unknown (conservatively: when in doubt, yes)."""
    analysis = _Nullability(policy)
    return {name for name in policy.criteria() if analysis.named(name)}


def criterion_values(trace: TraceNode) -> dict[tuple[str, str | None], set[str]]:
    """The values each criterion took in ``trace``, keyed by (criterion, ACO or None).

    Cached re-uses count; skipped nodes do not. The ACO is that of the nearest
    enclosing ``aco`` node (None outside any, e.g. in a tie rank).
    """
    out: dict[tuple[str, str | None], set[str]] = {}
    stack: list[tuple[TraceNode, str | None]] = [(trace, None)]
    while stack:
        node, aco = stack.pop()
        if node.skipped:
            continue
        if node.kind == "aco":
            aco = node.label
        if node.kind == "criterion":
            out.setdefault((node.label, aco), set()).add(truth(node.value))
        stack.extend((child, aco) for child in node.children)
    return out


