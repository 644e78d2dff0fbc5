"""Policy loading: files -> one unchecked :class:`PolicyDoc` (first arrows).

Reads a policy file or every ``*.yaml`` file of a policy folder (tests
excluded), validates each against :mod:`lead_rules.language.policy_model`, merges the
sections (a name defined twice is an error naming both places), reads
parameter data files, converts parameter values to their declared types, and
parses and lowers every expression to the AST. All problems are collected as
diagnostics; nothing here raises on bad input.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from . import ast
from .confine import allowed_roots, confine, escaping_links, policy_root
from .decisions import DecisionDoc, load_decision
from .errors import Diagnostics, Span, did_you_mean
from .limits import DECIMAL_MAX_DIGITS, INT_MAX, INT_MIN, NAME_PATTERN, decimal_fits, valid_name
from .lower import lower_tree
from .market_checks import MarketCheck, load_market_checks
from .parser import parse_node
from .policy_model import (
    NamedSpec,
    ParameterFileSpec,
    ParameterSpec,
    PathwaySpec,
    PolicyMetaSpec,
    validate_section,
)
from .schema import Schema, declared_schemas
from .types import BOOL, DATE, DECIMAL, INT, MONTH, STRING, ListT, Type, parse_type
from .values import Month
from .yaml_source import YNode, load_yaml_file


@dataclass
class Parameter:
    """A typed constant of the policy."""

    name: str
    type: Type
    value: Any
    description: str | None
    source: str | None
    span: Span
    data_file: str | None = None
    data_version: str | None = None


@dataclass
class Named:
    """A definition (any value) or criterion (a boolean), with its expression."""

    name: str
    kind: str  # "definition" | "criterion"
    expr: ast.Expr
    description: str | None
    source: str | None
    reason: str | None
    span: Span
    declared: Type | None = None


@dataclass
class Pathway:
    """A pathway: its requirement tree (criteria combined with all/any/not) and tie rule."""

    name: str
    requires: tuple[ast.Expr, ...]
    description: str | None
    source: str | None
    span: Span
    tie_rank: ast.Expr | None = None
    on_tie: ast.Expr | None = None


@dataclass
class PolicyDoc:
    """A loaded, merged, parsed (but unchecked) policy."""

    meta: PolicyMetaSpec | None
    meta_span: Span
    parameters: dict[str, Parameter] = field(default_factory=dict)
    named: dict[str, Named] = field(default_factory=dict)
    pathways: dict[str, Pathway] = field(default_factory=dict)
    hierarchy: list[tuple[str, Span]] = field(default_factory=list)
    hierarchy_span: Span | None = None
    files: list[str] = field(default_factory=list)
    content_hash: str = ""
    broken: set[str] = field(default_factory=set)  # names whose entry did not load (its error is reported)
    failed_files: list[str] = field(default_factory=list)  # files that are not valid YAML (one E001 each)
    schemas: dict[str, Schema] = field(default_factory=dict)  # role -> schema declared in policy.schemas
    decision: DecisionDoc | None = None  # a decision kind other than alignment (lead_rules.language.decisions)
    decision_span: Span | None = None
    market_checks: dict[str, MarketCheck] = field(default_factory=dict)  # lead_rules.language.market_checks


FILE_SECTIONS = (
    "policy", "parameters", "definitions", "criteria", "pathways", "hierarchy", "decision", "market_checks",
)
SECTION_MODELS: dict[str, type[ParameterSpec | NamedSpec | PathwaySpec]] = {
    "parameters": ParameterSpec,
    "definitions": NamedSpec,
    "criteria": NamedSpec,
    "pathways": PathwaySpec,
}
SECTION_KINDS = {"parameters": "parameter", "definitions": "definition", "criteria": "criterion", "pathways": "pathway"}


def policy_files(path: Path) -> list[Path]:
    """The policy files of ``path`` (a file, or the ``*.yaml`` files of a folder)."""
    if path.is_dir():
        # a FIFO or device among them is kept, so that reading it refuses it (never skipped silently)
        found = [p for p in sorted(path.iterdir()) if p.suffix in (".yaml", ".yml") and p.exists() and not p.is_dir()]
        return [p for p in found if not p.name.endswith((".test.yaml", ".test.yml"))]
    return [path]


_KEY_LINE = re.compile(r"^[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*:")


def recover_names(path: Path) -> set[str]:
    """The indented mapping keys of a file that is not valid YAML (a best guess at the names it defines)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {m.group(1) for m in map(_KEY_LINE.match, text.splitlines()) if m}


def parse_expr(node: YNode, diags: Diagnostics) -> ast.Expr | None:
    """Parse and lower the expression held by a YAML scalar."""
    if node.kind != "scalar":
        diags.error("E103", "an expression must be a string, not a YAML list or mapping", node.span)
        return None
    if not _plain_expression(node, diags):
        return None
    tree = parse_node(node, diags)
    if tree is None:
        return None
    source = node.value if isinstance(node.value, str) else str(node.value).lower()
    return lower_tree(tree, source, node, diags)


def _plain_expression(node: YNode, diags: Diagnostics) -> bool:
    """False (with E104) when YAML typed an unquoted scalar in a way that changes the expression.

    ``expr: no`` is the YAML boolean false, ``expr: 2027-01-01`` a date (which
    would read as 2027 - 1 - 1), ``expr:`` and ``expr: ~`` null: none of them is
    what the text says in the expression language. Numbers and ``true``/``false``
    mean the same in both and pass.
    """
    value, raw = node.value, node.raw if node.raw is not None else str(node.value)
    if value is None and raw.strip() == "":
        message = "the expression is empty: write it (quote 'null' for the null literal)"
    elif value is None:
        message = f"YAML reads `{raw}` as null, not as an expression: quote it, or write the expression"
    elif isinstance(value, bool) and raw.lower() not in ("true", "false"):
        message = (
            f"YAML reads `{raw}` as the boolean {str(value).lower()}, not as an expression: "
            "write true or false, or quote the text"
        )
    elif isinstance(value, (dt.date, dt.datetime)):
        message = (
            f"YAML reads `{raw}` as a date, not as an expression: write @{raw} for a date literal, "
            "or quote the expression"
        )
    else:
        return True
    diags.error("E104", message, node.span)
    return False


def coerce(value: Any, typ: Type, node: YNode, diags: Diagnostics) -> tuple[bool, Any]:
    """Convert a YAML value to a value of ``typ``; record E301 when impossible."""

    def fail(what: str) -> tuple[bool, Any]:
        article = "an" if what[0] in "aeiou" else "a"
        diags.error("E301", f"value {value!r} is not {article} {what}", node.span)
        return False, None

    if value is None:
        return True, None
    if isinstance(typ, ListT):
        if not isinstance(value, list):
            return fail(str(typ))
        out = []
        ok = True
        for i, item in enumerate(value):
            child = node.items[i] if node.kind == "seq" and i < len(node.items) else node
            good, v = coerce(item, typ.elem, child, diags)
            ok = ok and good
            out.append(v)
        return ok, (frozenset(out) if typ.is_set else tuple(out))
    if typ == BOOL:
        return (True, value) if isinstance(value, bool) else fail("bool")
    if typ == INT:
        ok = isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= INT_MAX
        return (True, value) if ok else fail("int (64-bit)")
    if typ == DECIMAL:
        if isinstance(value, bool):
            return fail("decimal")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return fail("decimal")
        written = number
        if isinstance(value, float) and node.kind == "scalar" and node.raw is not None:
            try:  # the digits as written: the float of 11111111111111111111111111111111111111.5 hides them
                written = Decimal(node.raw.replace("_", ""))
            except InvalidOperation:
                written = number
        if not (decimal_fits(number) and decimal_fits(written)):
            return fail(f"finite decimal of at most {DECIMAL_MAX_DIGITS} digits")
        return True, number
    if typ == STRING:
        return (True, value) if isinstance(value, str) else fail("string (quote codes such as \"02\")")
    if typ == DATE:
        if isinstance(value, dt.datetime):  # `2027-01-01 10:00` is a timestamp, not a date
            return fail("date (YYYY-MM-DD)")
        if isinstance(value, dt.date):
            return True, value
        try:
            return True, dt.date.fromisoformat(str(value))
        except ValueError:
            return fail("date (YYYY-MM-DD)")
    if typ == MONTH:
        try:
            return True, Month.parse(str(value))
        except ValueError:
            return fail("month (YYYY-MM)")
    return fail(str(typ))  # pragma: no cover


class _Loader:
    def __init__(self, diags: Diagnostics) -> None:
        self.diags = diags
        self.doc = PolicyDoc(meta=None, meta_span=Span("<policy>", 1, 1, 1, 1))
        self.defined: dict[str, Span] = {}
        self.hasher = hashlib.sha256()
        self.roots: list[Path] = []
        self.schema_decl: tuple[dict[str, str], YNode | None, Path] | None = None

    def claim(self, name: str, span: Span, what: str) -> bool:
        if not valid_name(name):
            self.diags.error("E015", f"invalid {what} name {name[:40]!r}", span, f"a name matches {NAME_PATTERN}")
            return False
        if name in self.defined:
            self.diags.error(
                "E011", f"{what} '{name}' is already defined at {self.defined[name]}", span
            )
            return False
        self.defined[name] = span
        return True

    def add_file(self, path: Path) -> None:
        root = load_yaml_file(path, self.diags)
        self.doc.files.append(str(path))
        regular = path.is_file()  # a FIFO was refused by load_yaml_file: reading it again would hang
        with contextlib.suppress(OSError):
            if regular:
                self.hasher.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        if root is None:
            # The file stops at its one YAML error. The names it would have
            # defined are recovered from its text, so references to them from
            # the other files (and the unused-item warnings) do not cascade.
            self.doc.failed_files.append(str(path))
            if regular:
                self.doc.broken.update(recover_names(path))
            return
        if root.kind != "map":
            self.diags.error("E010", "a policy file must be a YAML mapping", root.span)
            return
        # Each section and each named entry is validated on its own, so one bad
        # key costs only its entry, and every other problem of the file is still found.
        for key, (key_span, _) in root.entries.items():
            if key not in FILE_SECTIONS:
                hint = did_you_mean(key, FILE_SECTIONS) or f"allowed keys: {', '.join(FILE_SECTIONS)}"
                self.diags.error("E010", f"unknown key '{key}'", key_span, hint)
        meta_node = root.get("policy")
        if meta_node is not None:
            meta = validate_section(PolicyMetaSpec, meta_node, self.diags, where="policy")
            if self.doc.meta_span.file != "<policy>":
                self.diags.error("E011", f"'policy:' is already given at {self.doc.meta_span}", root.key_span("policy"))
            else:
                self.doc.meta = meta
                self.doc.meta_span = root.key_span("policy")
                if meta is not None and meta.schemas is not None:
                    self.schema_decl = (meta.schemas, meta_node.get("schemas"), path)
        hierarchy_node = root.get("hierarchy")
        if hierarchy_node is not None:
            if self.doc.hierarchy_span is not None:
                self.diags.error(
                    "E011", f"'hierarchy:' is already given at {self.doc.hierarchy_span}", root.key_span("hierarchy")
                )
            else:
                self.doc.hierarchy_span = root.key_span("hierarchy")
                self.doc.hierarchy = self.hierarchy(hierarchy_node)
        decision_node = root.get("decision")
        if decision_node is not None:
            if self.doc.decision_span is not None:
                self.diags.error(
                    "E011", f"'decision:' is already given at {self.doc.decision_span}", root.key_span("decision")
                )
            else:
                self.doc.decision_span = root.key_span("decision")
                self.doc.decision = load_decision(
                    decision_node, root.key_span("decision"), self.diags,
                    lambda n: parse_expr(n, self.diags), self.requirement,
                )
        checks_node = root.get("market_checks")
        if checks_node is not None and not (checks_node.kind == "scalar" and checks_node.value is None):
            for name, check in load_market_checks(checks_node, self.diags, lambda n: parse_expr(n, self.diags)).items():
                if name in self.doc.market_checks:
                    where = self.doc.market_checks[name].span
                    self.diags.error("E011", f"market check '{name}' is already defined at {where}", check.span)
                else:
                    self.doc.market_checks[name] = check
        for section, model in SECTION_MODELS.items():
            snode = root.get(section)
            if snode is None or (snode.kind == "scalar" and snode.value is None):
                continue  # an empty section
            if snode.kind != "map":
                self.diags.error("E010", f"'{section}' must be a mapping of names to entries", snode.span)
                continue
            for name, (key_span, node) in snode.entries.items():
                spec = validate_section(model, node, self.diags, where=f"{section}.{name}")
                if spec is None:
                    # claim the name (duplicates are still found) but keep it out of checking:
                    # references to it must not cascade into "unknown name" errors
                    self.claim(name, key_span, SECTION_KINDS[section])
                    self.doc.broken.add(name)
                elif isinstance(spec, ParameterSpec):
                    self.add_parameter(name, spec, key_span, node, path)
                elif isinstance(spec, PathwaySpec):
                    self.add_pathway(name, spec, key_span, node)
                else:
                    assert isinstance(spec, NamedSpec)
                    kind = "definition" if section == "definitions" else "criterion"
                    self.add_named(name, kind, spec, key_span, node)

    def hierarchy(self, node: YNode) -> list[tuple[str, Span]]:
        """The pathway names of ``hierarchy:`` (a list of names)."""
        if node.kind != "seq":
            self.diags.error("E010", "'hierarchy' must be a list of pathway names", node.span)
            return []
        out: list[tuple[str, Span]] = []
        for item in node.items:
            if item.kind != "scalar" or not isinstance(item.value, str):
                self.diags.error("E010", "'hierarchy' must be a list of pathway names", item.span)
            else:
                out.append((item.value, item.span))
        return out

    def add_parameter(self, name: str, spec: ParameterSpec, key_span: Span, node: YNode, path: Path) -> None:
        if not self.claim(name, key_span, "parameter"):
            return
        param = self.parameter(name, spec, key_span, node, path)
        if param is None:
            self.doc.broken.add(name)  # its error is reported; references to it must not cascade
        else:
            self.doc.parameters[name] = param

    def parameter(self, name: str, spec: ParameterSpec, key_span: Span, node: YNode, path: Path) -> Parameter | None:
        """The typed parameter of entry ``name``, or None (with diagnostics)."""
        typ = parse_type(spec.type)
        type_node = node.get("type") or node
        if typ is None:
            self.diags.error(
                "E302",
                f"unknown type '{spec.type}'",
                type_node.span,
                "types: bool, int, decimal, string, date, month, list<T>, set<T>",
            )
            return None
        value_node = node.get("value")
        data_file = None
        version = None
        if spec.file is not None:
            if value_node is not None:
                self.diags.error("E303", "give either 'value' or 'file', not both", node.key_span("file"))
                return None
            file_node = node.get("file")
            confined, why = confine(spec.file, path.parent, self.roots or allowed_roots(policy_root(path)))
            if confined is None:
                where = (file_node or node).span
                self.diags.error("E305", f"parameter file refused: {why}", where, "keep data in the policy folder")
                return None
            file_path = confined
            data_file = str(file_path)
            if not file_path.is_file():
                self.diags.error(
                    "E304", f"cannot load parameter file '{spec.file}': no such file", (file_node or node).span
                )
                return None
            fnode = load_yaml_file(file_path, self.diags)
            with contextlib.suppress(OSError):
                self.hasher.update(spec.file.encode() + b"\0" + file_path.read_bytes() + b"\0")
            if fnode is None:
                self.diags.error(
                    "E304", f"cannot load parameter file '{spec.file}'", file_node.span if file_node else key_span
                )
                return None
            fspec = validate_section(ParameterFileSpec, fnode, self.diags)
            if fspec is None:
                return None
            value_node = fnode.get("values")
            version = fspec.version
            raw = fspec.values
        elif value_node is None:
            self.diags.error("E303", f"parameter '{name}' needs a 'value' or a 'file'", key_span)
            return None
        else:
            raw = spec.value
        assert value_node is not None
        ok, value = coerce(raw, typ, value_node, self.diags)
        if not ok:
            return None
        return Parameter(name, typ, value, spec.description, spec.source, key_span, data_file, version)

    def add_named(self, name: str, kind: str, spec: NamedSpec, key_span: Span, node: YNode) -> None:
        if not self.claim(name, key_span, kind):
            return
        expr_node = node.get("expr")
        assert expr_node is not None
        expr = parse_expr(expr_node, self.diags)
        declared = None
        if spec.type is not None:
            declared = parse_type(spec.type)
            if declared is None:
                self.diags.error("E302", f"unknown type '{spec.type}'", (node.get("type") or node).span)
        if expr is None:
            self.doc.broken.add(name)
        else:
            self.doc.named[name] = Named(
                name, kind, expr, spec.description, spec.source, spec.reason, key_span, declared
            )

    def requirement(self, node: YNode) -> ast.Expr | None:
        if node.kind == "scalar":
            expr = parse_expr(node, self.diags)
            if expr is not None and not isinstance(expr, ast.Name):
                self.diags.error(
                    "E012",
                    "a requirement names a criterion; write other conditions as criteria",
                    node.span,
                )
                return None
            return expr
        if node.kind == "map" and len(node.entries) == 1:
            (key, (kspan, child)), = node.entries.items()
            if key == "not":
                inner = self.requirement(child)
                return ast.Not(inner, span=kspan, text="not") if inner is not None else None
            if key in ("all", "any") and child.kind == "seq" and child.items:
                items = [self.requirement(c) for c in child.items]
                if any(i is None for i in items):
                    return None
                op = "and" if key == "all" else "or"
                return ast.BoolOp(op, tuple(i for i in items if i is not None), span=kspan, text=key)
        self.diags.error(
            "E012", "a requirement is a criterion name, {all: [...]}, {any: [...]} or {not: ...}", node.span
        )
        return None

    def add_pathway(self, name: str, spec: PathwaySpec, key_span: Span, node: YNode) -> None:
        if not self.claim(name, key_span, "pathway"):
            return
        req_node = node.get("requires")
        assert req_node is not None
        reqs = [self.requirement(c) for c in req_node.items]
        if not reqs:
            self.diags.error("E012", "a pathway needs at least one requirement", node.key_span("requires"))
        tie_rank = on_tie = None
        tie_node = node.get("tie")
        if tie_node is not None and spec.tie is not None:
            rank_node, on_tie_node = tie_node.get("rank"), tie_node.get("on_tie")
            tie_rank = parse_expr(rank_node, self.diags) if rank_node is not None else None
            on_tie = parse_expr(on_tie_node, self.diags) if on_tie_node is not None else None
            if on_tie_node is None:
                self.diags.error("E013", "a tie rule needs 'on_tie'", tie_node.span)
        if all(r is not None for r in reqs):
            self.doc.pathways[name] = Pathway(
                name,
                tuple(r for r in reqs if r is not None),
                spec.description,
                spec.source,
                key_span,
                tie_rank,
                on_tie,
            )
        else:
            self.doc.broken.add(name)  # the hierarchy must not report it as unknown


def load_doc(path: Path, diags: Diagnostics) -> PolicyDoc:
    """Load every file of the policy at ``path`` into one :class:`PolicyDoc`."""
    loader = _Loader(diags)
    loader.roots = allowed_roots(policy_root(path))
    if not path.exists():
        diags.error("E002", "no such policy file or folder", Span(str(path), 1, 1, 1, 2))
        return loader.doc
    refused = escaping_links(path) if path.is_dir() else []
    for link in refused:  # E305 as for a parameter file: the target is never read, so never shown
        diags.error(  # located at the folder that holds the link: a snippet of the link would show the target
            "E305",
            f"policy file {link.name[:80]!r} refused: a symbolic link that leads outside the policy folder",
            Span(str(path), 1, 1, 1, 2),
            "keep the policy's files in its folder (copy the file, not a link)",
        )
    files = [f for f in policy_files(path) if f not in refused]
    if not files and not refused:
        diags.error("E002", "no policy files (*.yaml) in this folder", Span(str(path), 1, 1, 1, 2))
    for f in files:
        loader.add_file(f)
    if loader.doc.meta is None and files and not diags.has_errors:
        diags.error("E014", "the policy has no 'policy:' section (id, title, version)", Span(str(files[0]), 1, 1, 1, 2))
    if loader.doc.hierarchy_span is None and loader.doc.decision_span is None and files and not diags.has_errors:
        diags.error(
            "E014", "the policy has no 'hierarchy:' of pathways", Span(str(files[0]), 1, 1, 1, 2),
            "or a 'decision:' section of another kind (verdict, ranking, computation)",
        )
    if loader.doc.hierarchy_span is not None and loader.doc.decision_span is not None:
        diags.error("E014", "a policy has either a 'hierarchy:' of pathways or a 'decision:'", loader.doc.decision_span)
    if loader.schema_decl is not None:
        spec, node, file = loader.schema_decl
        loader.doc.schemas = declared_schemas(spec, node, file, path if path.is_dir() else path.parent, diags)
        for schema in loader.doc.schemas.values():
            with contextlib.suppress(OSError):
                loader.hasher.update(b"schema\0" + Path(schema.path).read_bytes() + b"\0")
    loader.doc.content_hash = loader.hasher.hexdigest()
    return loader.doc
