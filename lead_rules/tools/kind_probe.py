"""The named values of one subject of a decision-kind policy (verdict, ranking, computation), for the tools.

``diff`` and ``why-not`` on a policy with a ``decision:`` section need more
than the decision row: the value of every criterion and definition the
decision reads, for one subject (a state profile, an arrangement, a
settlement) with its context document. :class:`KindProbe` evaluates them with
the interpreter's closures (:mod:`lead_rules.engine.kinds` decides; this
module only reads), and :func:`decision_parts` orders the named items by the
part of the ``decision:`` section that reads them (requirements first), which
is the order causes are reported in. Stage 3, beside :mod:`lead_rules.tools.diff`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..engine.kinds import evaluator, output_json
from ..engine.policy import Policy
from ..engine.runtime import Env
from ..language import ast

PARTS = ("requires", "score", "limit", "one_per", "outputs", "notes", "subject", "context")
"""The parts of a ``decision:`` section, in the order causes are listed."""


def part_exprs(policy: Policy) -> list[tuple[str, ast.Expr]]:
    """Every expression of the decision section with the part it belongs to, in :data:`PARTS` order."""
    d = policy.doc.decision
    assert d is not None
    out: list[tuple[str, ast.Expr]] = [("requires", e) for e in d.requires]
    out += [("score", e) for e in d.score]
    out += [("limit", e) for e in (d.limit,) if e is not None]
    out += [("one_per", e) for e in (d.one_per,) if e is not None]
    out += [("outputs", e) for _, e in d.outputs]
    out += [("notes", e) for e in d.notes]
    out += [("subject", e) for _, e in d.subject]
    if d.lookup is not None:
        out.append(("context", d.lookup[1]))
    return out


def names_in(e: ast.Expr, named: Mapping[str, Any]) -> list[str]:
    """The named items ``e`` reads directly, in reading order, without repeats."""
    out: list[str] = []
    for node in ast.walk(e):
        if isinstance(node, ast.Name) and node.name in named and node.name not in out:
            out.append(node.name)
    return out


def decision_parts(policy: Policy) -> dict[str, str]:
    """Each named item the decision reads (directly, then through other items) -> the first part that reads it.

    The order of the mapping is the order of causes: the items a part names
    directly, in the part's order, before the items they read.
    """
    named = policy.doc.named
    out: dict[str, str] = {}
    exprs = part_exprs(policy)
    for part in PARTS:
        frontier: list[str] = []
        for p, e in exprs:
            if p == part:
                frontier += [n for n in names_in(e, named) if n not in out and n not in frontier]
        for n in frontier:
            out[n] = part
        while frontier:  # breadth first within the part: the items read through others come after them
            nxt: list[str] = []
            for n in frontier:
                for m in names_in(named[n].expr, named):
                    if m not in out:
                        out[m] = part
                        nxt.append(m)
            frontier = nxt
    return out


class KindProbe:
    """Evaluates the named items of a decision-kind policy for one subject and its context."""

    def __init__(self, policy: Policy) -> None:
        if policy.doc.decision is None:
            raise ValueError(f"{policy.id} is an alignment policy, not a decision kind")
        self.policy = policy
        self.decision = policy.doc.decision
        self.compiler = evaluator(policy).fast.compiler
        self.parts = decision_parts(policy)

    def env(self, record: Any, context: Any) -> Env | None:
        """The evaluation state of ``record`` (validated) with its context document; None when it is invalid."""
        if not isinstance(record, BaseModel):
            try:
                record = self.policy.validate_record(record)
            except ValidationError:
                return None
        env = Env(record, None, {}, None)
        if self.decision.lookup is not None:
            key, match, _field = self.decision.lookup
            try:
                wanted = self.compiler.compile(match, False)(env)
            except Exception:
                return None
            docs: Iterable[Any] = context if isinstance(context, (list, tuple)) else [context]
            found = next((doc for doc in docs if wanted is not None and getattr(doc, key, None) == wanted), None)
            if found is None:
                return None
            context = found
        return Env(record, context, {}, None)

    def value(self, name: str, env: Env) -> Any:
        """The value of named item ``name`` (None, unknown, when its evaluation fails)."""
        try:
            return self.compiler.named(name)(env)
        except Exception:
            return None

    def expr_value(self, e: ast.Expr, env: Env) -> Any:
        """The value of an expression of the policy (None when it fails)."""
        try:
            return self.compiler.compile(e, False)(env)
        except Exception:
            return None

    def values(self, record: Any, context: Any) -> dict[str, Any] | None:
        """The JSON value of every named item the decision reads; None for an invalid record or lookup."""
        env = self.env(record, context)
        if env is None:
            return None
        return {n: output_json(self.value(n, env)) for n in self.parts}
