"""The ``decision:`` section of a policy file: its model, loading and type checking (stage 0).

A policy either has ``pathways:`` and a ``hierarchy:`` (alignment) or a
``decision:`` section of one of three general kinds -- ``verdict``,
``ranking``, ``computation`` -- built from the same criteria and definitions.
This module is what the loader and the checker need of that section: the
pydantic model of the file (:class:`DecisionSpec`), the loaded form with
parsed expressions (:class:`DecisionDoc`, :func:`load_decision`, called by the
loader) and its typing (:func:`check_decision`, called by the checker).
Evaluating a decision is :mod:`lead_rules.engine.kinds`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from . import ast
from .errors import Diagnostics, Span
from .policy_model import validate_section
from .types import BOOL, ERR, INT, NULL, STRING, ListT, StructT, Type, is_numeric
from .yaml_source import YNode

ExprReader = Callable[[YNode], "ast.Expr | None"]
"""Reads one expression (or requirement) node of the section, reporting its errors."""


class NamedItem(Protocol):
    """What the checks read of a named definition or criterion."""

    @property
    def kind(self) -> str: ...


class NamedItems(Protocol):
    """What the checks read of the policy document: its named items."""

    @property
    def named(self) -> Mapping[str, NamedItem]: ...


class DecisionChecker(Protocol):
    """What :func:`check_decision` uses of the checker."""

    @property
    def diags(self) -> Diagnostics: ...

    @property
    def doc(self) -> NamedItems: ...

    @property
    def last_deps(self) -> frozenset[str]: ...

    def typed_top(self, expr: ast.Expr) -> Type: ...

    def check_requirement(self, req: ast.Expr) -> None: ...


KINDS = ("verdict", "ranking", "computation")
DEFAULT_OUTCOMES = {
    "verdict": ("valid", "invalid"),
    "ranking": ("selected", "not_selected"),
    "computation": ("computed", "error"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContextLookupSpec(_Strict):
    """How a subject names its context document: ``match`` (on the subject) equals the context's ``key``."""

    key: str
    match: Any
    field: str


class DecisionSpec(_Strict):
    """The ``decision:`` section."""

    kind: Literal["verdict", "ranking", "computation"]
    subject: dict[str, Any]
    description: str | None = None
    source: str | None = None
    requires: list[Any] = []
    outcomes: dict[Literal["pass", "fail"], str] = {}
    score: list[str] = []
    limit: Any = None
    one_per: Any = None
    outputs: dict[str, Any] = {}
    notes: list[str] = []
    context: ContextLookupSpec | None = None


@dataclass
class DecisionDoc:
    """A loaded (unchecked) ``decision:`` section; every entry is a parsed expression."""

    kind: str
    span: Span
    subject: list[tuple[str, ast.Expr]]
    requires: list[ast.Expr]
    outcomes: tuple[str, str]
    score: list[ast.Expr]
    limit: ast.Expr | None
    one_per: ast.Expr | None
    outputs: list[tuple[str, ast.Expr]]
    notes: list[ast.Expr]
    lookup: tuple[str, ast.Expr, str] | None
    description: str | None = None
    source: str | None = None

    def exprs(self) -> list[ast.Expr]:
        """Every expression of the section (what keeps named items in use)."""
        out = [e for _, e in self.subject] + self.requires + self.score + self.notes + [e for _, e in self.outputs]
        out += [e for e in (self.limit, self.one_per) if e is not None]
        if self.lookup is not None:
            out.append(self.lookup[1])
        return out


def load_decision(
    node: YNode, span: Span, diags: Diagnostics, parse_expr: ExprReader, requirement: ExprReader
) -> DecisionDoc | None:
    """The ``decision:`` section of a policy file (called by the loader with its expression and requirement readers)."""
    spec = validate_section(DecisionSpec, node, diags, where="decision")
    if spec is None:
        return None
    ok = True

    def expr(child: YNode | None) -> ast.Expr | None:
        nonlocal ok
        if child is None:
            return None
        e = parse_expr(child)
        ok = ok and e is not None
        return e

    def names(key: str) -> list[ast.Expr]:
        seq = node.get(key)
        if seq is None:
            return []
        if seq.kind != "seq":
            diags.error("E010", f"decision.{key} must be a list of names", seq.span)
            return []
        return [e for e in (expr(i) for i in seq.items) if e is not None]

    def mapping(key: str) -> list[tuple[str, ast.Expr]]:
        m = node.get(key)
        if m is None or m.kind != "map":
            return []
        out = []
        for name, (_, child) in m.entries.items():
            e = expr(child)
            if e is not None:
                out.append((str(name), e))
        return out

    subject = mapping("subject")
    if not spec.subject:
        diags.error("E230", "decision.subject names at least one output field", node.span)
        ok = False
    requires = []
    req_node = node.get("requires")
    if req_node is not None and req_node.kind == "seq":
        for item in req_node.items:
            r = requirement(item)
            ok = ok and r is not None
            if r is not None:
                requires.append(r)
    lookup = None
    if spec.context is not None:
        ctx_node = node.get("context")
        assert ctx_node is not None
        m = expr(ctx_node.get("match"))
        if m is not None:
            lookup = (spec.context.key, m, spec.context.field)
    default_pass, default_fail = DEFAULT_OUTCOMES[spec.kind]
    doc = DecisionDoc(
        kind=spec.kind,
        span=span,
        subject=subject,
        requires=requires,
        outcomes=(spec.outcomes.get("pass", default_pass), spec.outcomes.get("fail", default_fail)),
        score=names("score"),
        limit=expr(node.get("limit")),
        one_per=expr(node.get("one_per")),
        outputs=mapping("outputs"),
        notes=names("notes"),
        lookup=lookup,
        description=spec.description,
        source=spec.source,
    )
    if spec.kind == "ranking" and (not doc.score or doc.limit is None):
        diags.error("E230", "a ranking needs 'score' (definitions) and 'limit'", span)
        ok = False
    if spec.kind != "ranking" and (doc.score or doc.limit is not None or doc.one_per is not None):
        diags.error("E230", "'score', 'limit' and 'one_per' belong to a ranking", span)
        ok = False
    if spec.kind == "computation" and not doc.outputs:
        diags.error("E230", "a computation needs 'outputs'", span)
        ok = False
    if spec.kind != "computation" and doc.outputs:
        diags.error("E230", "'outputs' belong to a computation", span)
        ok = False
    return doc if ok else None


def check_decision(ck: DecisionChecker, d: DecisionDoc) -> None:
    """Type the ``decision:`` section (called by the checker)."""
    for name, e in d.subject:
        t = ck.typed_top(e)
        if t not in (ERR, STRING, INT, NULL):
            ck.diags.error("E231", f"subject field '{name}' must be a string or an int, got {t}", e.span)
    for r in d.requires:
        ck.check_requirement(r)
    for e in d.notes:
        if not isinstance(e, ast.Name) or ck.doc.named.get(e.name) is None or ck.doc.named[e.name].kind != "criterion":
            ck.diags.error("E232", "a note names a criterion", e.span)
            continue
        ck.typed_top(e)
    for e in d.score:
        if not isinstance(e, ast.Name) or e.name not in ck.doc.named:
            ck.diags.error("E232", "a score component names a definition", e.span)
            continue
        t = ck.typed_top(e)
        if t != ERR and not is_numeric(t):
            ck.diags.error("E233", f"score component '{e.name}' must be a number, got {t}", e.span)
    if d.limit is not None:
        t = ck.typed_top(d.limit)
        if t not in (ERR, INT):
            ck.diags.error("E233", f"'limit' must be an int, got {t}", d.limit.span)
        if "bene" in ck.last_deps:
            message = "'limit' is one number for the whole input: it cannot read the subject"
            ck.diags.error("E234", message, d.limit.span)
    if d.one_per is not None:
        t = ck.typed_top(d.one_per)
        if isinstance(t, (ListT, StructT)) or t == BOOL:
            ck.diags.error("E233", f"'one_per' must be a plain value, got {t}", d.one_per.span)
    for name, e in d.outputs:
        t = ck.typed_top(e)
        if isinstance(t, StructT) and t.name == "Group":  # pragma: no cover - group_sum gives a list
            ck.diags.error("E233", f"output '{name}' cannot be a struct", e.span)
    if d.lookup is not None:
        t = ck.typed_top(d.lookup[1])
        if t not in (ERR, STRING, INT, NULL):
            ck.diags.error("E233", f"context 'match' must be a string or an int, got {t}", d.lookup[1].span)
        if "market" in ck.last_deps:
            ck.diags.error("E234", "context 'match' reads the subject, not the context it looks up", d.lookup[1].span)
