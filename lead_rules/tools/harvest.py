"""What the policy compares each record field with, and the values worth trying for it (steps 1 and 2 of ``why-not``).

:func:`harvest` walks every expression of a policy and records, for each
record field, the parameter sets, literals, ACO and partner attributes and
definitions it is compared with; :func:`candidates` turns those hints into
values to try for one record and ACO, evaluating definitions with a
:class:`Probe`. The search that uses them is :mod:`lead_rules.tools.why_not`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ..engine.interpreter import Compiler
from ..engine.policy import Policy
from ..engine.runtime import Env
from ..language import ast
from ..language.records import Aco, Beneficiary, Claim, Market, MonthRecord, Voluntary
from ..language.values import Month

LIST_MODELS: dict[str, type[BaseModel]] = {"voluntary": Voluntary, "claims": Claim, "months": MonthRecord}
"""The list-valued fields of a record and the model of their elements."""

Path = tuple[str, ...]


@dataclass
class Hints:
    """What the policy compares one field with."""

    params: set[str] = field(default_factory=set)
    literals: list[Any] = field(default_factory=list)
    aco_attrs: set[str] = field(default_factory=set)
    partner_attrs: set[str] = field(default_factory=set)
    definitions: set[str] = field(default_factory=set)
    nullable: bool = False


# --- 1. what the policy compares each field with -------------------------------------------


class Harvester:
    """Walks the expressions of a policy and collects the :class:`Hints` of every record field they compare."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.named = policy.doc.named
        self.params = policy.doc.parameters
        self.hints: dict[tuple[str | None, Path], Hints] = {}

    def origin(self, e: ast.Expr, scope: Mapping[str, str], seen: frozenset[str] = frozenset()) -> str | None:
        """What a list expression ranges over: a record list, ``aco``, ``market.acos`` or ``partners``."""
        if isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name):
            if e.obj.name == "bene" and e.name in LIST_MODELS:
                return e.name
            if e.obj.name == "market" and e.name == "acos":
                return "aco"
            if scope.get(e.obj.name) == "aco" or e.obj.name == "aco":
                return "partner" if e.name == "medicaid_partners" else None
        if isinstance(e, ast.Name) and e.name in self.named and e.name not in seen:
            return self.origin(self.named[e.name].expr, {}, seen | {e.name})
        if isinstance(e, ast.Comprehension) and e.func in ("list", "distinct"):
            return self.origin(e.source, scope, seen)
        if isinstance(e, ast.Cond):
            return self.origin(e.then_, scope, seen) or self.origin(e.else_, scope, seen)
        return None

    def path(self, e: ast.Expr, scope: Mapping[str, str]) -> tuple[str | None, Path] | None:
        """``(list or None, field path)`` of a record field expression."""
        parts: list[str] = []
        while isinstance(e, ast.Attr):
            parts.append(e.name)
            e = e.obj
        if isinstance(e, ast.Name) and not parts and e.name in self.named:
            return self.chosen(e.name)
        if not isinstance(e, ast.Name) or not parts:
            return None
        parts.reverse()
        if e.name == "bene":
            return None if parts[0] in LIST_MODELS else (None, tuple(parts))
        where = scope.get(e.name)
        if where in LIST_MODELS:
            return where, tuple(parts)
        return None

    def chosen(self, name: str) -> tuple[str | None, Path] | None:
        """The field a definition picks from a record list (``argmax(v.tin for v in L ...)``), if it does."""
        expr = self.named[name].expr
        if isinstance(expr, ast.Comprehension) and expr.func in ("argmax", "min", "max"):
            where = self.origin(expr.source, {})
            if where in LIST_MODELS:
                return self.path(expr.element, {expr.var: where})
        return None

    def other(self, e: ast.Expr, scope: Mapping[str, str], h: Hints) -> None:
        """Record what the other side of a comparison offers as values."""
        if isinstance(e, ast.Literal):
            if e.value not in h.literals:
                h.literals.append(e.value)
        elif isinstance(e, ast.Collection):
            for item in e.items:
                self.other(item, scope, h)
        elif isinstance(e, ast.Name):
            if e.name in self.params:
                h.params.add(e.name)
            elif e.name in self.named:
                h.definitions.add(e.name)
        elif isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name):
            kind = "aco" if e.obj.name == "aco" else scope.get(e.obj.name)
            if kind == "aco":
                h.aco_attrs.add(e.name)
            elif kind == "partner":
                h.partner_attrs.add(e.name)
        elif isinstance(e, ast.Call) and e.func in ("add_days", "add_months") and e.args:
            self.other(e.args[0], scope, h)

    def visit(self, e: ast.Expr, scope: Mapping[str, str]) -> None:
        if isinstance(e, ast.Comprehension):
            where = self.origin(e.source, scope)
            self.visit(e.source, scope)
            inner = {**scope, e.var: where} if where else dict(scope)
            for child in e.children():
                if child is not e.source:
                    self.visit(child, inner)
            return
        if isinstance(e, ast.Compare):
            for a, b in ((e.left, e.right), (e.right, e.left)):
                p = self.path(a, scope)
                if p is not None:
                    self.other(b, scope, self.hints.setdefault(p, Hints()))
        elif isinstance(e, ast.IsNull):
            p = self.path(e.operand, scope)
            if p is not None:
                self.hints.setdefault(p, Hints()).nullable = True
        elif isinstance(e, ast.Call) and e.func == "between" and len(e.args) == 3:
            p = self.path(e.args[0], scope)
            if p is not None:
                for bound in e.args[1:]:
                    self.other(bound, scope, self.hints.setdefault(p, Hints()))
        for child in e.children():
            self.visit(child, scope)

    def run(self) -> dict[tuple[str | None, Path], Hints]:
        for item in self.named.values():
            self.visit(item.expr, {})
        return self.hints


def harvest(policy: Policy) -> dict[tuple[str | None, Path], Hints]:
    """For every record field the policy compares, what it is compared with."""
    return Harvester(policy).run()


# --- 2. candidate values ------------------------------------------------------------------


class Probe:
    """Evaluates criteria and definitions of one policy for one record and ACO."""

    def __init__(self, policy: Policy, market: Market) -> None:
        self.policy = policy
        self.market = market
        self.comp = Compiler(policy.doc, policy.resolution, False)

    def value(self, name: str, record: Mapping[str, Any], aco: Aco | None) -> Any:
        """The value of the named item ``name``."""
        return self.run(self.comp.named(name), record, aco)

    def run(self, fn: Any, record: Mapping[str, Any], aco: Aco | None) -> Any:
        """The value of a compiled expression for ``record`` and ``aco`` (None when it fails)."""
        try:
            bene = Beneficiary.model_validate(record)
        except ValidationError:
            return None
        env = Env(bene, self.market, {}, None)
        env.set_aco(aco)
        try:
            return fn(env)
        except Exception:
            return None


def first_values(values: Any, n: int = 3) -> list[Any]:
    items = sorted(values, key=str) if isinstance(values, (set, frozenset)) else list(values)
    return items[:n]


def candidates(
    hints: Hints, policy: Policy, probe: Probe, record: Mapping[str, Any], aco: Aco, n: int = 3
) -> list[Any]:
    """Values worth trying for a field, from what the policy compares it with."""
    out: list[Any] = []

    def add(v: Any) -> None:
        if v not in out:
            out.append(v)

    for attr in sorted(hints.aco_attrs):
        for v in first_values(getattr(aco, attr, ()) or (), n):
            add(v)
    for attr in sorted(hints.partner_attrs):
        for p in aco.medicaid_partners:
            value = getattr(p, attr, None)
            for v in first_values(value, n) if isinstance(value, (set, frozenset, list, tuple)) else [value]:
                if v is not None:
                    add(v)
    for name in sorted(hints.params):
        value = policy.doc.parameters[name].value
        for v in first_values(value, n) if isinstance(value, (set, frozenset, list, tuple)) else [value]:
            add(v)
    for v in hints.literals:
        if v is not None:
            add(v)
    for name in sorted(hints.definitions):
        v = probe.value(name, record, aco)
        if isinstance(v, (dt.date, Month)):
            add(v)
    if hints.nullable:
        add(None)
    return out
