"""The ``market_checks:`` section: policy-dependent checks of the market, as data (stage 0).

A market file is validated against its schema (``policies/schemas/market.yaml``)
wherever it is loaded. Some rules about a market belong to a policy, not to the
data contract: under LEAD's whole-TIN participation a TIN that two ACOs list is
an error, under the MSSP precedent it is not (its services are dropped), and the
policy's ``shared_tin_rule`` parameter says which. Such a rule is a market check:
nested loops over list fields of the market (``each``), a boolean that must hold
for every element (``require``), the code and message template of the error and
the element it points at (``at``). This module is what the loader and the
checker need: the pydantic model of the section, the loaded form with parsed
expressions (:func:`load_market_checks`) and its typing against the market
schema (:func:`check_market_checks`). Evaluating the checks against a market,
with errors at the market file's line, is :mod:`lead_rules.engine.market_checks`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from . import ast
from .errors import Diagnostics, Span
from .limits import valid_name
from .policy_model import validate_section
from .types import BOOL, ERR, NULL, ListT, StructT, Type
from .yaml_source import YNode

ExprReader = Callable[[YNode], "ast.Expr | None"]
"""Reads one expression node of the section, reporting its errors."""

CODE_PATTERN = re.compile(r"E4[0-9][0-9]")
"""The codes a market check may give: the market codes E400-E499 (docs/language.md §5)."""
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarketCheckSpec(_Strict):
    """One entry of ``market_checks:``."""

    each: dict[str, Any]
    require: Any
    code: str
    message: str
    when: Any = None
    at: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Loop:
    """One ``each`` binding: ``var`` runs over the elements of the list field ``source``."""

    var: str
    source: ast.Expr
    span: Span


@dataclass(frozen=True)
class MarketCheck:
    """A loaded (unchecked) market check; every entry is a parsed expression."""

    name: str
    span: Span
    loops: tuple[Loop, ...]
    require: ast.Expr
    code: str
    message: str
    at: str
    when: ast.Expr | None = None
    values: tuple[tuple[str, ast.Expr], ...] = ()
    description: str | None = None
    source: str | None = None

    def exprs(self) -> list[ast.Expr]:
        """Every expression of the check (what keeps named items in use)."""
        out = [loop.source for loop in self.loops] + [self.require] + [e for _, e in self.values]
        return out + ([self.when] if self.when is not None else [])


def load_market_checks(node: YNode, diags: Diagnostics, parse_expr: ExprReader) -> dict[str, MarketCheck]:
    """The checks of a ``market_checks:`` section (called by the loader with its expression reader)."""
    if node.kind != "map":
        diags.error("E240", "'market_checks' must be a mapping of names to checks", node.span)
        return {}
    out: dict[str, MarketCheck] = {}
    for name, (key_span, child) in node.entries.items():
        check = _load_one(name, key_span, child, diags, parse_expr)
        if check is not None:
            out[name] = check
    return out


def _load_one(
    name: str, key_span: Span, node: YNode, diags: Diagnostics, parse_expr: ExprReader
) -> MarketCheck | None:
    spec = validate_section(MarketCheckSpec, node, diags, code="E240", where=f"market_checks.{name}")
    if spec is None:
        return None
    ok = True
    if not valid_name(name):
        diags.error("E240", f"invalid market check name {name[:40]!r}", key_span)
        ok = False
    if not CODE_PATTERN.fullmatch(spec.code):
        diags.error("E240", f"a market check's code is E400-E499, not {spec.code!r}", (node.get("code") or node).span)
        ok = False

    def expr(child: YNode | None) -> ast.Expr | None:
        nonlocal ok
        if child is None:
            return None
        e = parse_expr(child)
        ok = ok and e is not None
        return e

    loops: list[Loop] = []
    each = node.get("each")
    assert each is not None
    if each.kind != "map" or not each.entries:
        diags.error("E240", "'each' maps loop variables to list fields: {aco_entry: market.acos}", each.span)
        return None
    for var, (vspan, vnode) in each.entries.items():
        source = expr(vnode)
        if source is not None:
            loops.append(Loop(var, source, vspan))
    values = []
    vals = node.get("values")
    for vname, (_, vnode) in (vals.entries.items() if vals is not None and vals.kind == "map" else ()):
        e = expr(vnode)
        if e is not None:
            values.append((vname, e))
    require = expr(node.get("require"))
    when = expr(node.get("when"))
    at = spec.at if spec.at is not None else (loops[-1].var if loops else "")
    if not ok or require is None:
        return None
    return MarketCheck(
        name, key_span, tuple(loops), require, spec.code, spec.message, at, when, tuple(values),
        spec.description, spec.source,
    )


class MarketCheckChecker(Protocol):
    """What :func:`check_market_checks` uses of the checker."""

    @property
    def diags(self) -> Diagnostics: ...

    @property
    def root_roles(self) -> Mapping[str, str]: ...

    @property
    def roots(self) -> Mapping[str, Type]: ...

    def typed_in(self, expr: ast.Expr, scope: dict[str, Type]) -> tuple[Type, frozenset[str]]: ...

    def hidden_name(self, name: str, scope: Mapping[str, Type]) -> str | None: ...


def field_path(e: ast.Expr) -> tuple[str, list[str]] | None:
    """``market.acos`` as ``("market", ["acos"])``: the root name and the field names of an attribute path."""
    steps: list[str] = []
    while isinstance(e, ast.Attr):
        steps.append(e.name)
        e = e.obj
    if isinstance(e, ast.Name) and steps:
        return e.name, list(reversed(steps))
    return None


def check_market_checks(ck: MarketCheckChecker, checks: Mapping[str, MarketCheck]) -> None:
    """Type every market check against the market schema (called by the checker)."""
    market_root = next((n for n, role in ck.root_roles.items() if role == "market"), None)
    for check in checks.values():
        if market_root is None:
            ck.diags.error("E241", "the policy reads no market (no context schema), so it has no market checks",
                           check.span)
            continue
        _check_one(ck, market_root, check)


def _market_level(ck: MarketCheckChecker, e: ast.Expr, deps: frozenset[str], what: str) -> None:
    if deps & {"bene", "aco"}:
        reads = "the record" if "bene" in deps else "the ACO under consideration"
        ck.diags.error("E243", f"{what} of a market check reads {reads}; it sees the market and the parameters only",
                       e.span)


def _check_one(ck: MarketCheckChecker, market_root: str, check: MarketCheck) -> None:
    scope: dict[str, Type] = {}
    for loop in check.loops:
        hidden = ck.hidden_name(loop.var, scope)
        if not valid_name(loop.var) or hidden is not None:
            why = f"hides {hidden}" if hidden else "is not a valid name"
            ck.diags.error("E241", f"loop variable '{loop.var}' {why}", loop.span, "rename the variable")
        path = field_path(loop.source)
        t, deps = ck.typed_in(loop.source, scope)
        if path is None or (path[0] != market_root and path[0] not in scope):
            ck.diags.error("E241", f"'each' runs over a list field of the market ({market_root}.acos) or of an "
                           "earlier loop variable", loop.source.span)
            t = ERR
        elif t != ERR and not isinstance(t, ListT):
            ck.diags.error("E241", f"'each' runs over a list or set, and {loop.source.text} is {t}", loop.source.span)
            t = ERR
        _market_level(ck, loop.source, deps, "'each'")
        scope[loop.var] = t.elem if isinstance(t, ListT) else ERR
    for what, e in (("'require'", check.require), ("'when'", check.when)):
        if e is None:
            continue
        t, deps = ck.typed_in(e, scope if what == "'require'" else {})
        if t not in (BOOL, NULL, ERR):
            ck.diags.error("E242", f"{what} of a market check must be a boolean, got {t}", e.span)
        _market_level(ck, e, deps, what)
    value_types: dict[str, Type] = dict(scope)
    for vname, e in check.values:
        if vname in scope:
            ck.diags.error("E244", f"value '{vname}' has the name of a loop variable", e.span)
        t, deps = ck.typed_in(e, scope)
        if isinstance(t, StructT) or (isinstance(t, ListT) and isinstance(t.elem, (ListT, StructT))):
            ck.diags.error("E242", f"value '{vname}' of a market check must be a plain value or list, got {t}", e.span)
        _market_level(ck, e, deps, f"value '{vname}'")
        value_types[vname] = t
    if check.at not in scope:
        ck.diags.error("E244", f"'at' names a loop variable ({', '.join(scope) or 'none'}), not '{check.at}'",
                       check.span)
    for placeholder in PLACEHOLDER.findall(check.message):
        shown = value_types.get(placeholder)
        if shown is None:
            known = ", ".join(value_types) or "none"
            ck.diags.error("E244", f"the message names '{{{placeholder}}}', which is no loop variable or value "
                           f"(known: {known})", check.span)
        elif isinstance(shown, StructT):
            ck.diags.error("E244", f"the message shows '{{{placeholder}}}', a {shown}: show one of its fields through "
                           "'values'", check.span)


def render(message: str, values: Mapping[str, Any], fmt: Callable[[Any], str]) -> str:
    """``message`` with each ``{name}`` replaced by ``fmt(values[name])``."""
    return PLACEHOLDER.sub(lambda m: fmt(values.get(m.group(1))), message)
