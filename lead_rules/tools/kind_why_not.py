"""Why not? The smallest verified changes to a subject's record that change a decision-kind outcome.

``lead-rules why-not --policy P --input R --id ID [--context C] [--want W]``
for a verdict (make an arrangement ``valid``), a ranking (make a state
``selected``) or a computation (make a criterion of its ``notes`` hold, such
as the savings quality gate, which changes the amounts). Nothing here knows a
policy; the changes come from its structure:

1. the goal: ``--want OUTCOME`` for a verdict or ranking (default: the
   outcome the subject does not have), ``--want CRITERION`` or
   ``CRITERION=false`` for a computation (default: the first of its notes
   that does not hold);
2. for the wanted pass outcome, the first requirement that does not hold is
   repaired with the first single change that makes it hold
   (:mod:`lead_rules.tools.kind_fields`: set a field to what the policy
   compares it with, one step either side, a value of its type; add,
   change or remove one element of a list or one entry of a map), or with two
   such changes when none alone does, or (a numeric threshold) the change that
   moves it most, in turn; and so on, depth first, until every
   requirement holds. A ranking then needs the subject ranked within the
   limit: the change that raises its score most is taken, until it is
   selected (a ranking's changed record is decided together with the other
   subjects of the input). For a fail outcome, each requirement that can be
   made false gives its own suggestion;
3. every suggestion is verified by deciding the changed record again
   (:func:`lead_rules.engine.kinds.decide_all`), the way ``evaluate`` would.

When no change works, :attr:`KindWhyNot.impossible` says which requirement
no change to the record could make hold, and why (it reads only the context
or the parameters, or no change found within the limits).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..engine.kinds import SubjectResult, decide_all, output_json
from ..engine.policy import Policy, requirement_label
from ..language import ast
from .kind_fields import Change, FieldHarvest, plain, single_changes
from .kind_probe import KindProbe
from .why_not import Suggestion

Document = tuple[int, Any, "dict[str, Any] | None"]


@dataclass
class KindWhyNot:
    """The answer for one subject."""

    subject: dict[str, Any]
    current: dict[str, Any]
    goal: str
    suggestions: list[Suggestion]
    impossible: list[str]
    reached: bool = False
    after: list[dict[str, Any]] = field(default_factory=list)
    """Per suggestion, the decision of the changed record (outcome, the goal's criterion, outputs, rank)."""


@dataclass
class _Goal:
    """What the changed record must give, and how to check it (by deciding it again)."""

    text: str
    outcome: str | None = None  # a verdict's or ranking's wanted outcome
    criterion: str | None = None  # a computation's criterion ...
    target: bool = True  # ... and its wanted value


class _Search:
    def __init__(self, policy: Policy, docs: Sequence[Document], index: int, context: Any, goal: _Goal) -> None:
        self.policy = policy
        self.probe = KindProbe(policy)
        self.d = self.probe.decision
        self.docs = list(docs)
        self.index = index
        self.context = context
        self.goal = goal
        self.budget = 0

    # deciding --------------------------------------------------------------------
    def decide(self, record: dict[str, Any]) -> SubjectResult:
        if self.d.kind == "ranking":  # ranked together with the other subjects of the input
            docs = list(self.docs)
            line = docs[self.index][0]
            docs[self.index] = (line, record, None)
            return decide_all(self.policy, docs, self.context)[self.index]
        return decide_all(self.policy, [(self.docs[self.index][0], record, None)], self.context)[0]

    def reached(self, record: dict[str, Any]) -> bool:
        """The verification: the changed record, decided again, gives the goal."""
        r = self.decide(record)
        if r.outcome == "error":
            return False
        if self.goal.outcome is not None:
            return r.outcome == self.goal.outcome
        env = self.probe.env(record, self.context)
        assert self.goal.criterion is not None
        return env is not None and self.probe.value(self.goal.criterion, env) is self.goal.target

    def holds(self, expr: ast.Expr, target: bool, record: dict[str, Any]) -> bool:
        env = self.probe.env(record, self.context)
        return env is not None and self.probe.expr_value(expr, env) is target

    # repairs ---------------------------------------------------------------------
    def singles(self, expr: ast.Expr, record: dict[str, Any], limit: int = 400) -> list[Change]:
        env = self.probe.env(record, self.context)
        if env is None:
            return []
        harvest = FieldHarvest(self.probe)
        harvest.run(expr)
        out: list[Change] = []
        for change in single_changes(harvest, record, env):
            out.append(change)
            if len(out) >= limit:
                break
        return out

    def repairs(self, expr: ast.Expr, target: bool, record: dict[str, Any]) -> Iterator[Change]:
        """Changes that make ``expr`` evaluate to ``target``: single ones first, then pairs."""
        singles = self.singles(expr, record)
        for c in singles:
            self.budget -= 1
            if self.holds(expr, target, c.record):
                yield c
        pairs = 0
        for a in singles[:30]:
            for b in self.singles(expr, a.record, 60):
                pairs += 1
                if pairs > 900:
                    break
                if self.holds(expr, target, b.record):
                    yield Change(f"{a.step}; {b.step}", b.record)
            if pairs > 900:
                break
        climbed = self.towards(expr, target, record)
        if climbed is not None:
            yield climbed

    def towards(self, expr: ast.Expr, target: bool, record: dict[str, Any]) -> Change | None:
        """A numeric threshold (``x >= y``, possibly through a criterion): the changes that move x most, in turn."""
        cmp = expr
        if isinstance(cmp, ast.Name) and cmp.name in self.policy.doc.named:
            cmp = self.policy.doc.named[cmp.name].expr
        if not isinstance(cmp, ast.Compare) or cmp.op not in (">=", ">", "<=", "<"):
            return None
        up = (cmp.op in (">=", ">")) == target

        reads = FieldHarvest(self.probe).closure(expr)

        def gap(rec: dict[str, Any]) -> Any:
            """How far from the threshold: first how many of the items it reads are known, then the difference."""
            env = self.probe.env(rec, self.context)
            if env is None:
                return None
            known = sum(self.probe.value(n, env) is not None for n in reads)
            left, right = self.probe.expr_value(cmp.left, env), self.probe.expr_value(cmp.right, env)
            if not all(isinstance(v, (int, Decimal)) and not isinstance(v, bool) for v in (left, right)):
                return (known, Decimal("-Infinity"))
            return (known, left - right if up else right - left)

        steps: list[str] = []
        now = gap(record)
        for _ in range(24):
            best: tuple[Any, Change] | None = None
            singles = self.singles(expr, record, 200)
            for c in singles:
                g = gap(c.record)
                if g is not None and (now is None or g > now) and (best is None or g > best[0]):
                    best = (g, c)
            for a in singles[:80] if best is None else []:  # no single change moves it: two together
                for b in self.singles(expr, a.record, 80):
                    g = gap(b.record)
                    if g is not None and (now is None or g > now) and (best is None or g > best[0]):
                        best = (g, Change(f"{a.step}; {b.step}", b.record))
            if best is None:
                return None
            now, record = best[0], best[1].record
            steps.append(best[1].step)
            if self.holds(expr, target, record):
                return Change("; ".join(steps), record)
        return None

    def failing(self, record: dict[str, Any]) -> ast.Expr | None:
        for r in self.d.requires:
            if not self.holds(r, True, record):
                return r
        return None

    def reads_record(self, expr: ast.Expr) -> bool:
        harvest = FieldHarvest(self.probe)
        return bool(harvest.run(expr))

    def why_stuck(self, expr: ast.Expr) -> str:
        label = requirement_label(expr)
        if not self.reads_record(expr):
            return f"'{label}' cannot be changed by the record: it reads only the context and the parameters"
        return f"'{label}': no change to the record found makes it hold"

    # the search ------------------------------------------------------------------
    def pass_search(self, record: dict[str, Any], steps: list[str], depth: int
                    ) -> tuple[dict[str, Any] | None, list[str], str | None]:
        if self.reached(record):
            return record, steps, None
        if self.goal.criterion is not None:
            goal_expr = self.policy.doc.named[self.goal.criterion].expr
            target = self.goal.target
        else:
            failing = self.failing(record)
            if failing is None:
                return self.climb(record, steps)
            goal_expr, target = failing, True
        if depth <= 0 or self.budget <= 0:
            return None, steps, "no verified change within the search limits"
        reason: str | None = None
        tried = False
        for change in self.repairs(goal_expr, target, record):
            tried = True
            found, new_steps, why = self.pass_search(change.record, [*steps, change.step], depth - 1)
            if found is not None:
                return found, new_steps, None
            reason = reason or why
            if self.budget <= 0:
                break
        return None, steps, reason if tried else self.why_stuck(goal_expr)

    def climb(self, record: dict[str, Any], steps: list[str]) -> tuple[dict[str, Any] | None, list[str], str | None]:
        """A ranking with every requirement holding: raise the score until the subject is selected."""
        if self.d.kind != "ranking":
            r = self.decide(record)
            return None, steps, f"every requirement holds, but the outcome is {r.outcome}"
        current = self.decide(record)
        for _ in range(6):
            raising: list[tuple[Any, Change]] = []
            for expr in self.d.score:
                for c in self.singles(expr, record, 200):
                    r = self.decide(c.record)
                    if r.outcome == self.goal.outcome:
                        return c.record, [*steps, c.step], None
                    if r.eligible and r.score is not None and (current.score is None or r.score > current.score):
                        raising.append((r.score, c))
            if not raising:
                break
            raising.sort(key=lambda sc: -sc[0])
            for _score, a in raising[:8]:  # two raises together, before committing to the largest one
                for expr in self.d.score:
                    for b in self.singles(expr, a.record, 40):
                        if self.decide(b.record).outcome == self.goal.outcome:
                            return b.record, [*steps, a.step, b.step], None
            record, steps = raising[0][1].record, [*steps, raising[0][1].step]
            current = self.decide(record)
        why = "; ".join(f"{x.criterion}: {x.explanation}" for x in current.reasons if x.explanation)
        return None, steps, f"every requirement holds but it is not {self.goal.outcome}, and no raise of the score " \
                            f"found makes it so ({why})"

    def fail_search(
        self, record: dict[str, Any], limit: int
    ) -> tuple[list[tuple[dict[str, Any], list[str]]], list[str]]:
        """A fail outcome: one suggestion per requirement that a change can make false."""
        found: list[tuple[dict[str, Any], list[str]]] = []
        impossible: list[str] = []
        for r in self.d.requires:
            for change in self.repairs(r, False, record):
                if self.reached(change.record):
                    found.append((change.record, [change.step]))
                    break
            else:
                impossible.append(f"'{requirement_label(r)}': no change to the record found makes it fail")
            if len(found) >= limit:
                break
        return found, impossible


def _goal(policy: Policy, result: SubjectResult, want: str | None) -> _Goal:
    d = policy.doc.decision
    assert d is not None
    if d.kind in ("verdict", "ranking"):
        outcome = want or (d.outcomes[1] if result.outcome == d.outcomes[0] else d.outcomes[0])
        if outcome not in d.outcomes:
            raise ValueError(f"--want: a {d.kind} gives {' or '.join(d.outcomes)}, not {outcome!r}")
        return _Goal(f"outcome {outcome}", outcome=outcome)
    criteria = [n for n, item in policy.doc.named.items() if item.kind == "criterion"]
    if want is None:
        note = next((r.criterion for r in result.reasons if r.value != "true"), None)
        if note is None:
            raise ValueError("every note of the computation holds: say what to change with --want CRITERION[=false]")
        return _Goal(f"{note} true", criterion=note)
    name, _, value = want.partition("=")
    name = name.strip()
    if name not in criteria:
        raise ValueError(f"--want: {name!r} is not a criterion of {policy.id} (criteria: {', '.join(criteria)})")
    if value.strip().lower() not in ("", "true", "false"):
        raise ValueError(f"--want {want}: a criterion is made true or false")
    target = value.strip().lower() != "false"
    return _Goal(f"{name} {'true' if target else 'false'}", criterion=name, target=target)


def find_subject(results: Sequence[SubjectResult], subject_id: str) -> int:
    """The index of the subject one of whose subject fields is ``subject_id``.

    Raises:
        ValueError: no such subject, or several (name a more specific field's value).
    """
    hits = [i for i, r in enumerate(results) if subject_id in [str(v) for v in r.subject.values()]]
    if not hits:
        raise ValueError(f"no subject {subject_id!r} in the input")
    if len(hits) > 1:
        others = ", ".join(str(list(results[i].subject.values())) for i in hits[:5])
        raise ValueError(f"{len(hits)} subjects have {subject_id!r} ({others}): give a value that names one")
    return hits[0]


def _describe(r: SubjectResult, goal: _Goal, probe: KindProbe, record: dict[str, Any], context: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"outcome": r.outcome}
    if goal.criterion is not None:
        env = probe.env(record, context)
        out[goal.criterion] = output_json(probe.value(goal.criterion, env)) if env is not None else None
    for k, v in r.outputs.items():
        out[k] = output_json(v)
    if r.rank is not None:
        out["rank"] = r.rank
    return out


def why_not_kind(
    policy: Policy, docs: Sequence[Document], index: int, context: Any, want: str | None = None,
    max_steps: int = 6, max_nodes: int = 600, max_suggestions: int = 3,
) -> KindWhyNot:
    """The verified record changes that give subject ``docs[index]`` the goal ``want``, smallest first.

    Raises:
        ValueError: the record cannot be decided, or ``want`` is not an outcome or criterion of the policy.
    """
    results = decide_all(policy, docs, context)
    now = results[index]
    if now.outcome == "error":
        raise ValueError(f"the record cannot be decided: {now.errors}")
    goal = _goal(policy, now, want)
    search = _Search(policy, docs, index, context, goal)
    record = plain(copy.deepcopy(docs[index][1]))
    current = _describe(now, goal, search.probe, record, context)
    if search.reached(record):
        return KindWhyNot(dict(now.subject), current, goal.text, [], [], reached=True)
    found: list[tuple[dict[str, Any], list[str]]] = []
    impossible: list[str] = []
    if goal.outcome is not None and goal.outcome == search.d.outcomes[1]:
        found, impossible = search.fail_search(record, max_suggestions)
    else:
        search.budget = max_nodes
        rec, steps, reason = search.pass_search(record, [], max_steps)
        if rec is not None:
            found.append((rec, steps))
        elif reason:
            impossible.append(reason)
    suggestions: list[Suggestion] = []
    for rec, steps in found:
        if search.reached(rec) and all(rec != s.record for s in suggestions):  # verified
            suggestions.append(Suggestion(goal.text, steps, rec))
    suggestions.sort(key=lambda s: len(s.steps))
    after = [_describe(search.decide(s.record), goal, search.probe, s.record, context) for s in suggestions]
    return KindWhyNot(dict(now.subject), current, goal.text, suggestions, impossible, after=after)
