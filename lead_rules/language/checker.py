"""The checker: names, types, cycles and unused items (fourth arrow).

Resolves every name (root, parameter, definition, criterion, comprehension variable), types every
expression against the record and context types of the policy's schemas (:mod:`lead_rules.language.schema`),
finds reference cycles, checks the pathways and the hierarchy, warns on unused items, and works out on which
inputs (record, ACO) each named item depends. It collects every diagnostic before the loader fails, and it
never raises on a bad policy; a root error is reported once, not with its consequences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import ast
from .builtins import BUILTINS
from .cost import check_costs
from .decisions import check_decision
from .errors import Diagnostics, Span, did_you_mean
from .loader import PolicyDoc
from .lower import AGGREGATES
from .market_checks import check_market_checks
from .schema import roots_of
from .types import (
    BOOL,
    DATE,
    DECIMAL,
    ERR,
    INT,
    MONTH,
    NULL,
    STRING,
    ListT,
    StructT,
    Type,
    comparable,
    is_numeric,
    unify,
)

_LITERAL_TYPES = {
    "int": INT, "decimal": DECIMAL, "string": STRING, "bool": BOOL, "date": DATE, "month": MONTH, "null": NULL,
}
MAX_REFERENCE_DEPTH = 50
"""How long a chain of definitions referring to definitions may be (E221); the
checker, the compiler and the traced interpreter all recurse along it."""
TIE_RULES = ("none", "lowest", "highest")
ON_TIE_RULES = ("not_aligned", "lowest_aco_id")


def group_sum_type(key: Type, total: Type) -> StructT:
    """The element type of ``group_sum``: ``{key, total}``."""
    return StructT("Group", (("key", key), ("total", total)), (("key", "key"), ("total", "total")))


@dataclass
class Resolution:
    """What the checker learned: types and name bindings, keyed by node identity."""

    types: dict[int, Type] = field(default_factory=dict)
    names: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (kind, name)
    named_types: dict[str, Type] = field(default_factory=dict)
    depends: dict[str, frozenset[str]] = field(default_factory=dict)  # name -> {"bene", "aco", "market"}
    refs: dict[str, frozenset[str]] = field(default_factory=dict)  # name -> named items it references

    def type_of(self, node: ast.Expr) -> Type:
        """The type the checker gave ``node``."""
        return self.types.get(id(node), ERR)


class Checker:
    """Checks one :class:`PolicyDoc`; results in :attr:`res` and :attr:`diags`."""

    def __init__(self, doc: PolicyDoc, diags: Diagnostics) -> None:
        self.doc = doc
        self.diags = diags
        self.res = Resolution()
        self.in_progress: list[str] = []
        self.done: set[str] = set()
        self.cycle_reported: set[frozenset[str]] = set()
        self.current_refs: list[set[str]] = []
        self.current_deps: list[set[str]] = []
        self.used_params: set[str] = set()
        self.last_deps: frozenset[str] = frozenset()
        self.depth_reported = False
        self.roots, self.root_roles = roots_of(doc.schemas)
        self.schemas_broken = any(d.code.startswith("E50") and d.severity == "error" for d in diags.sorted())

    # --- entry point -------------------------------------------------
    def run(self) -> Resolution:
        """Check everything and return the resolution."""
        for name in self.doc.named:
            self.check_named(name)
        self.check_depth()
        for pathway in self.doc.pathways.values():
            for req in pathway.requires:
                self.check_requirement(req)
            if pathway.tie_rank is not None:
                t = self.typed_top(pathway.tie_rank)
                if t != ERR and not is_numeric(t):
                    self.diags.error("E214", f"a tie rank must be a number, got {t}", pathway.tie_rank.span)
            if pathway.on_tie is not None:
                t = self.typed_top(pathway.on_tie)
                if t not in (ERR, STRING, NULL):
                    self.diags.error("E214", f"'on_tie' must be a string, got {t}", pathway.on_tie.span)
                self.check_choice(pathway.on_tie, ON_TIE_RULES)
                if "aco" in self.last_deps:
                    self.diags.error(
                        "E217",
                        "'on_tie' chooses between ACOs, so it cannot depend on the ACO under consideration",
                        pathway.on_tie.span,
                    )
        if self.doc.decision is not None:
            check_decision(self, self.doc.decision)
        if self.doc.decision is not None and self.doc.market_checks:
            span = next(iter(self.doc.market_checks.values())).span
            self.diags.error("E241", "market checks run where an alignment policy loads its market; a decision "
                             "kind's context is not checked", span)
        else:
            check_market_checks(self, self.doc.market_checks)
        self.check_hierarchy()
        self.check_unused()
        if not self.diags.has_errors:
            check_costs(self.doc.named, self.res, self.diags, self.doc.parameters)  # the static cost model
        return self.res

    def typed_top(self, expr: ast.Expr) -> Type:
        """Type an expression outside named items; its dependencies go to ``last_deps``."""
        self.current_refs.append(set())
        self.current_deps.append(set())
        t = self.check(expr, {})
        self.current_refs.pop()
        deps = self.current_deps.pop()
        self.last_deps = frozenset(deps)
        return t

    def typed_in(self, expr: ast.Expr, scope: dict[str, Type]) -> tuple[Type, frozenset[str]]:
        """Type an expression outside named items in ``scope`` (loop variables); its type and dependencies."""
        self.current_refs.append(set())
        self.current_deps.append(set())
        t = self.check(expr, scope)
        self.current_refs.pop()
        return t, frozenset(self.current_deps.pop())

    def hidden_name(self, name: str, scope: Mapping[str, Type]) -> str | None:
        """What a new variable ``name`` would hide (``the parameter 'x'``), or None."""
        what = (
            "an enclosing comprehension variable" if name in scope
            else "the root" if name in self.roots
            else "the parameter" if name in self.doc.parameters
            else f"the {self.doc.named[name].kind}" if name in self.doc.named
            else None
        )
        return f"{what} '{name}'" if what is not None else None

    def check_choice(self, expr: ast.Expr, allowed: tuple[str, ...]) -> None:
        """A string that must be one of ``allowed`` (checked when it is a constant)."""
        value: object = None
        if isinstance(expr, ast.Literal):
            value = expr.value
        elif isinstance(expr, ast.Name) and expr.name in self.doc.parameters:
            value = self.doc.parameters[expr.name].value
        if isinstance(value, str) and value not in allowed:
            self.diags.error(
                "E215", f"'{value}' is not one of: {', '.join(allowed)}", expr.span, did_you_mean(value, allowed)
            )

    # --- named items, cycles, dependencies -----------------------------
    def check_named(self, name: str) -> Type:
        if name in self.done:
            return self.res.named_types.get(name, ERR)
        item = self.doc.named[name]
        self.in_progress.append(name)
        self.current_refs.append(set())
        self.current_deps.append(set())
        t = self.check(item.expr, {})
        refs = self.current_refs.pop()
        deps = self.current_deps.pop()
        self.in_progress.pop()
        for r in refs:
            deps |= self.res.depends.get(r, frozenset())
        self.res.refs[name] = frozenset(refs)
        self.res.depends[name] = frozenset(deps)
        if item.kind == "criterion" and t not in (BOOL, NULL, ERR):
            self.diags.error(
                "E210", f"criterion '{name}' must be a boolean, but its expression is {t}", item.expr.span
            )
        if item.declared is not None and t != ERR and unify(t, item.declared) != item.declared:
            self.diags.error("E211", f"'{name}' is declared {item.declared} but its expression is {t}", item.expr.span)
        if item.declared is not None and t != ERR:
            t = item.declared
        self.res.named_types[name] = t
        self.done.add(name)
        return t

    def reference(self, node: ast.Name) -> Type:
        name = node.name
        if name in self.in_progress:
            start = self.in_progress.index(name)
            cycle = [*self.in_progress[start:], name]
            key = frozenset(cycle)
            if key not in self.cycle_reported:
                self.cycle_reported.add(key)
                self.diags.error("E220", "reference cycle: " + " -> ".join(cycle), node.span)
            return ERR
        if self.current_refs:
            self.current_refs[-1].add(name)
        if name not in self.done and len(self.in_progress) + 1 > MAX_REFERENCE_DEPTH:
            self.too_deep(node.span, [*self.in_progress, name])
            return ERR
        t = self.check_named(name)
        if self.current_deps:
            self.current_deps[-1] |= self.res.depends.get(name, frozenset())
        return t

    def too_deep(self, span: Span, chain: list[str]) -> None:
        """Report (once) a chain of references longer than :data:`MAX_REFERENCE_DEPTH`."""
        if not self.depth_reported:
            self.depth_reported = True
            self.diags.error(
                "E221",
                f"definitions and criteria refer to each other more than {MAX_REFERENCE_DEPTH} levels deep",
                span,
                " -> ".join([*chain[:2], "...", *chain[-2:]]),
            )

    def check_depth(self) -> None:
        """Find reference chains that are too long, whatever order the names were checked in."""
        depth: dict[str, int] = {}  # the longest chain of named items starting at a name
        for start in self.doc.named:
            stack: list[tuple[str, bool]] = [(start, False)]
            while stack:
                name, ready = stack.pop()
                refs = [r for r in self.res.refs.get(name, ()) if r in self.doc.named]
                if ready:
                    depth[name] = 1 + max((depth.get(r, 0) for r in refs), default=0)
                elif name not in depth:
                    depth[name] = 0  # visiting (a cycle, reported elsewhere, stops here)
                    stack.append((name, True))
                    stack.extend((r, False) for r in refs if r not in depth)
        for name in self.doc.named:
            if depth[name] > MAX_REFERENCE_DEPTH:
                chain = [name]
                while True:
                    refs = [r for r in self.res.refs.get(chain[-1], ()) if r in self.doc.named]
                    if not refs or len(chain) > depth[name]:
                        break
                    chain.append(max(refs, key=lambda r: depth[r]))
                self.too_deep(self.doc.named[name].expr.span, chain)
                return

    # --- expressions ----------------------------------------------------
    def check(self, e: ast.Expr, scope: dict[str, Type]) -> Type:
        t = self._check(e, scope)
        self.res.types[id(e)] = t
        return t

    def _visible(self, scope: dict[str, Type]) -> list[str]:
        return sorted(set(scope) | set(self.roots) | set(self.doc.parameters) | set(self.doc.named))

    def _check(self, e: ast.Expr, scope: dict[str, Type]) -> Type:
        if isinstance(e, ast.Literal):
            return _LITERAL_TYPES[e.kind]
        if isinstance(e, ast.Collection):
            return self.check_collection(e, scope)
        if isinstance(e, ast.Name):
            return self.check_name(e, scope)
        if isinstance(e, ast.Attr):
            return self.check_attr(e, scope)
        if isinstance(e, ast.Neg):
            t = self.check(e.operand, scope)
            if t != ERR and not is_numeric(t):
                return self.type_error(e, f"cannot negate {t}")
            return t
        if isinstance(e, ast.Not):
            t = self.check(e.operand, scope)
            if t not in (BOOL, NULL, ERR):
                return self.type_error(e, f"'not' needs a bool, got {t}")
            return BOOL
        if isinstance(e, ast.Binary):
            return self.check_binary(e, scope)
        if isinstance(e, ast.Compare):
            return self.check_compare(e, scope)
        if isinstance(e, ast.IsNull):
            self.check(e.operand, scope)
            return BOOL
        if isinstance(e, ast.BoolOp):
            for item in e.items:
                t = self.check(item, scope)
                if t not in (BOOL, NULL, ERR):
                    self.type_error(item, f"'{e.op}' needs bool operands, got {t}")
            return BOOL
        if isinstance(e, ast.Cond):
            test = self.check(e.test, scope)
            if test not in (BOOL, NULL, ERR):
                self.type_error(e.test, f"the condition of 'if' must be a bool, got {test}")
            a, b = self.check(e.then_, scope), self.check(e.else_, scope)
            if ERR in (a, b):
                return ERR
            u = unify(a, b)
            if u is None:
                return self.type_error(e, f"'then' is {a} but 'else' is {b}")
            return u
        if isinstance(e, ast.Call):
            return self.check_call(e, scope)
        if isinstance(e, ast.Comprehension):
            return self.check_comprehension(e, scope)
        raise AssertionError(f"unknown node {e!r}")  # pragma: no cover

    def type_error(self, e: ast.Expr, message: str) -> Type:
        self.diags.error("E203", message, e.span)
        return ERR

    def check_collection(self, e: ast.Collection, scope: dict[str, Type]) -> Type:
        elem: Type | None = NULL
        for item in e.items:
            t = self.check(item, scope)
            if t == ERR:
                return ERR
            if isinstance(t, (ListT, StructT)):
                return self.type_error(item, f"a {e.kind} literal holds plain values, not {t}")
            u = unify(elem, t) if elem is not None else None
            if u is None:
                return self.type_error(item, f"{e.kind} items must have one type: {elem} and {t}")
            elem = u
        return ListT(elem or NULL, e.kind == "set")

    def check_name(self, e: ast.Name, scope: dict[str, Type]) -> Type:
        n = e.name
        if n in scope:
            self.res.names[id(e)] = ("var", n)
            return scope[n]
        if n in self.roots:
            role = self.root_roles[n]  # the interpreter binds roots by role: bene, market, aco
            self.res.names[id(e)] = ("root", role)
            if self.current_deps:
                self.current_deps[-1].add(role)
            return self.roots[n]
        if n in self.doc.parameters:
            self.res.names[id(e)] = ("param", n)
            self.used_params.add(n)
            return self.doc.parameters[n].type
        if n in self.doc.named:
            self.res.names[id(e)] = ("named", n)
            return self.reference(e)
        if n in self.doc.broken or self.schemas_broken:  # reported already: its syntax error, or a schema
            return ERR  # that did not load (E50x; its root names are unknown, so no cascade of E202)
        if n in BUILTINS or n in AGGREGATES:
            self.diags.error("E202", f"'{n}' is a function; call it as {n}(...)", e.span)
            return ERR
        hint = did_you_mean(n, self._visible(scope))
        if hint is None and n in TIE_RULES + ON_TIE_RULES:
            hint = f'a tie rule is a string: write "{n}"'
        self.diags.error("E202", f"unknown name '{n}'", e.span, hint)
        return ERR

    def check_attr(self, e: ast.Attr, scope: dict[str, Type]) -> Type:
        t = self.check(e.obj, scope)
        if t == ERR:
            return ERR
        if not isinstance(t, StructT):
            self.diags.error("E201", f"{t} has no field '{e.name}'", e.span)
            return ERR
        ft = t.field(e.name)
        if ft is None:
            self.diags.error(
                "E201",
                f"unknown field '{e.name}' of {t.name}",
                e.span,
                did_you_mean(e.name, t.field_names()) or f"fields: {', '.join(t.field_names())}",
            )
            return ERR
        return ft

    def check_binary(self, e: ast.Binary, scope: dict[str, Type]) -> Type:
        a, b = self.check(e.left, scope), self.check(e.right, scope)
        if ERR in (a, b):
            return ERR
        if e.op in "+-" and a in (DATE, MONTH) and b in (INT, NULL):
            return a
        if not (is_numeric(a) and is_numeric(b)):
            hint = " (use days_between or months_between)" if a == b and a in (DATE, MONTH) else ""
            return self.type_error(e, f"cannot apply '{e.op}' to {a} and {b}{hint}")
        if e.op == "/":
            return DECIMAL
        u = unify(a, b)
        return INT if u in (None, NULL) else u

    def check_compare(self, e: ast.Compare, scope: dict[str, Type]) -> Type:
        a, b = self.check(e.left, scope), self.check(e.right, scope)
        if ERR in (a, b):
            return BOOL
        if e.op in ("in", "not in"):
            if not isinstance(b, ListT):
                self.type_error(e.right, f"'{e.op}' needs a list or set on the right, got {b}")
            elif not comparable(a, b.elem):
                self.type_error(e, f"cannot look for {a} in {b}")
            return BOOL
        if not comparable(a, b):
            self.type_error(e, f"cannot compare {a} with {b}")
        elif e.op not in ("==", "!=") and (a == BOOL or isinstance(unify(a, b), ListT)):
            self.type_error(e, f"'{e.op}' does not order {a}")
        return BOOL

    def check_call(self, e: ast.Call, scope: dict[str, Type]) -> Type:
        fn = BUILTINS.get(e.func)
        arg_types = [self.check(a, scope) for a in e.args]
        for _, kv in e.kwargs:
            self.check(kv, scope)
        if fn is None and e.func in AGGREGATES:
            self.diags.error(
                "E204", f"{e.func}() takes a comprehension", e.span, f"usage: {e.func}(x for x in L where ...)"
            )
            return ERR
        if fn is None:
            self.diags.error(
                "E206",
                f"unknown function '{e.func}'",
                e.span,
                did_you_mean(e.func, sorted(set(BUILTINS) | AGGREGATES)),
            )
            return ERR
        if e.kwargs:
            self.diags.error("E207", f"{e.func}() takes no keyword arguments", e.kwargs[0][1].span)
            return ERR
        if ERR in arg_types:
            return ERR
        got = fn.check(arg_types)
        if isinstance(got, str):
            self.diags.error("E204", f"{e.func}(): {got}", e.span, f"usage: {fn.signature}")
            return ERR
        return got

    def check_comprehension(self, e: ast.Comprehension, scope: dict[str, Type]) -> Type:
        src = self.check(e.source, scope)
        hidden = self.hidden_name(e.var, scope)
        if hidden is not None:
            self.diags.error("E205", f"comprehension variable '{e.var}' hides {hidden}", e.span, "rename the variable")
        if src == ERR:
            elem: Type = ERR
        elif not isinstance(src, ListT):
            self.type_error(e.source, f"a comprehension needs a list after 'in', got {src}")
            elem = ERR
        else:
            elem = src.elem
        inner = dict(scope)
        inner[e.var] = elem
        if e.where is not None:
            wt = self.check(e.where, inner)
            if wt not in (BOOL, NULL, ERR):
                self.type_error(e.where, f"'where' needs a bool, got {wt}")
        et = self.check(e.element, inner)
        by_types = [self.check(b, inner) for b in e.by]
        kw = {k: (v, self.check(v, scope)) for k, v in e.kwargs}
        if elem == ERR or et == ERR or ERR in by_types:
            return ERR
        return self.aggregate_type(e, et, by_types, kw)

    def aggregate_type(
        self, e: ast.Comprehension, et: Type, by_types: list[Type], kw: dict[str, tuple[ast.Expr, Type]]
    ) -> Type:
        f = e.func
        allowed_kw = {"argmax": {"ties"}, "argmin": {"ties"}}.get(f, set())
        for k, (v, _) in kw.items():
            if k not in allowed_kw:
                self.diags.error("E207", f"{f}() has no keyword argument '{k}'", v.span)
                return ERR
        wants_by = f in ("group_sum", "argmax", "argmin")
        if by_types and not wants_by:
            self.diags.error("E204", f"{f}() takes no 'by' clause", e.by[0].span)
            return ERR
        if f == "count":
            return INT
        if f == "sum":
            if not is_numeric(et):
                return self.type_error(e.element, f"sum() needs numbers, got {et}")
            return INT if et == NULL else et
        if f in ("min", "max"):
            if not comparable(et, et) or et == BOOL:
                return self.type_error(e.element, f"{f}() cannot order {et}")
            return et
        if f in ("any", "all"):
            if et not in (BOOL, NULL):
                return self.type_error(e.element, f"{f}() needs a bool, got {et}")
            return BOOL
        if f == "list":
            return ListT(et)
        if f == "distinct":
            if isinstance(et, (ListT, StructT)):
                return self.type_error(e.element, f"distinct() needs plain values, got {et}")
            return ListT(et)
        if f == "group_sum":
            if len(by_types) != 1:
                self.diags.error("E204", "group_sum() needs exactly one 'by' key", e.span)
                return ERR
            if not is_numeric(et):
                return self.type_error(e.element, f"group_sum() sums numbers, got {et}")
            if not comparable(by_types[0], by_types[0]):
                return self.type_error(e.by[0], f"cannot group by {by_types[0]}")
            return ListT(group_sum_type(by_types[0], DECIMAL if et == DECIMAL else INT))
        # argmax / argmin
        if not by_types:
            self.diags.error("E204", f"{f}() needs 'by' scores", e.span, f"usage: {f}(x for x in L by score)")
            return ERR
        for b, bt in zip(e.by, by_types, strict=True):
            if not comparable(bt, bt) or bt == BOOL:
                return self.type_error(b, f"{f}() cannot rank by {bt}")
        if "ties" not in kw:
            self.diags.error(
                "E216", f"{f}() needs a declared tie rule: ties = \"none\" | \"lowest\" | \"highest\"", e.span
            )
            return ERR
        tie_expr, tie_type = kw["ties"]
        if tie_type == ERR:
            return ERR
        if tie_type not in (STRING, NULL):
            return self.type_error(tie_expr, f"'ties' must be a string, got {tie_type}")
        self.check_choice(tie_expr, TIE_RULES)
        if isinstance(et, (ListT, StructT)):
            return self.type_error(e.element, f"{f}() returns plain values, got {et}")
        return et

    # --- pathways, hierarchy, unused ---------------------------------
    def check_requirement(self, req: ast.Expr) -> None:
        if isinstance(req, ast.Name):
            item = self.doc.named.get(req.name)
            if item is None and req.name in self.doc.broken:
                return  # its own error is reported already
            if item is None or item.kind != "criterion":
                what = "a definition" if item is not None else "not defined"
                criteria = [n for n, i in self.doc.named.items() if i.kind == "criterion"]
                self.diags.error(
                    "E212", f"requirement '{req.name}' must name a criterion ({what})", req.span,
                    did_you_mean(req.name, criteria),
                )
                return
            self.res.names[id(req)] = ("named", req.name)
            self.res.types[id(req)] = self.check_named(req.name)
            return
        if isinstance(req, ast.Not):
            self.check_requirement(req.operand)
        elif isinstance(req, ast.BoolOp):
            for operand in req.items:
                self.check_requirement(operand)
        self.res.types[id(req)] = BOOL

    def check_hierarchy(self) -> None:
        seen: set[str] = set()
        for name, span in self.doc.hierarchy:
            if name in self.doc.broken:
                pass  # its own error is reported already
            elif name not in self.doc.pathways:
                self.diags.error(
                    "E213",
                    f"hierarchy names unknown pathway '{name}'",
                    span,
                    did_you_mean(name, list(self.doc.pathways)),
                )
            elif name in seen:
                self.diags.error("E213", f"pathway '{name}' appears twice in the hierarchy", span)
            seen.add(name)
        for name, pw in self.doc.pathways.items():
            if name not in seen and self.doc.hierarchy_span is not None:
                self.diags.warning("W302", f"pathway '{name}' is not in the hierarchy and never decides", pw.span)

    def check_unused(self) -> None:
        if self.doc.broken:
            return  # an entry that failed to load may be the user: the warnings would be guesses
        used: set[str] = set()
        stack: list[str] = []
        market_check_exprs = [e for check in self.doc.market_checks.values() for e in check.exprs()]
        for ex in [*(self.doc.decision.exprs() if self.doc.decision is not None else []), *market_check_exprs]:
            for node in ast.walk(ex):
                if isinstance(node, ast.Name) and node.name in self.doc.named:
                    stack.append(node.name)
        for pw in self.doc.pathways.values():
            exprs = list(pw.requires) + [x for x in (pw.tie_rank, pw.on_tie) if x is not None]
            for ex in exprs:
                for node in ast.walk(ex):
                    if isinstance(node, ast.Name) and node.name in self.doc.named:
                        stack.append(node.name)
        while stack:
            n = stack.pop()
            if n in used:
                continue
            used.add(n)
            stack.extend(self.res.refs.get(n, ()))
        for name, item in self.doc.named.items():
            if name not in used:
                self.diags.warning("W301", f"{item.kind} '{name}' is never used by a pathway", item.span)
        for name, p in self.doc.parameters.items():
            if name not in self.used_params:
                self.diags.warning("W303", f"parameter '{name}' is never used", p.span)


def check_doc(doc: PolicyDoc, diags: Diagnostics) -> Resolution:
    """Check a loaded policy; diagnostics go to ``diags``."""
    return Checker(doc, diags).run()


