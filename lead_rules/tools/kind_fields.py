"""The record fields a decision-kind policy reads, what it compares them with, and the changes worth trying.

Step 1 and 2 of ``why-not`` for a verdict, ranking or computation (the
search is :mod:`lead_rules.tools.kind_why_not`). Nothing here knows a policy:
:class:`FieldHarvest` walks the expressions a goal reads (through its
definitions and criteria) and records each field of the record (``state.interested``,
``arrangement.roles.aco``, the elements of ``settlement.quality``) with
the expressions it is compared with; :func:`single_changes` turns them,
with the field's schema type (booleans, enums, nullable fields, numbers,
lists and maps), into whole changed records, one change each. Stage 3.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..engine.runtime import Env
from ..language import ast
from ..language.schema import SchemaField, fields_of
from ..language.types import BOOL, DATE, DECIMAL, INT, STRING, ListT, StructT
from ..language.values import Month
from .kind_probe import KindProbe

FieldKey = tuple[tuple[str, ...] | None, tuple[str, ...]]
"""``(None, path)`` for a field of the record, ``(list path, path in an element)`` for a field of list elements."""


@dataclass
class Hints:
    """What the policy compares one field with (expressions that do not read the record)."""

    others: list[ast.Expr] = field(default_factory=list)
    nullable: bool = False


@dataclass
class Change:
    """One change to a record: what it says and the whole changed record."""

    step: str
    record: dict[str, Any]


def plain(v: Any) -> Any:
    """A value as it is written in a JSON record."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (dt.date, Month)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return sorted((plain(x) for x in v), key=str)
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    return v


def get_path(obj: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` of a JSON record (None when a step is missing)."""
    for p in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(p)
    return obj


def set_path(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``path`` of a JSON record, creating the objects on the way."""
    for p in path[:-1]:
        child = obj.get(p)
        if not isinstance(child, dict):
            child = {}
            obj[p] = child
        obj = child
    obj[path[-1]] = plain(value)


class FieldHarvest:
    """The fields of the record a set of expressions reads, with their :class:`Hints`."""

    def __init__(self, probe: KindProbe) -> None:
        self.probe = probe
        schema = probe.policy.record_schema
        assert schema is not None
        self.root = schema.root
        self.struct = schema.struct
        self.named = probe.policy.doc.named
        self.hints: dict[FieldKey, Hints] = {}

    # -- the schema
    def field_at(self, path: tuple[str, ...], struct: StructT | None = None) -> SchemaField | None:
        """The declared field at ``path`` (from the record, or from ``struct``)."""
        s: Any = struct or self.struct
        found: SchemaField | None = None
        for p in path:
            if not isinstance(s, StructT):
                return None
            found = next((f for f in fields_of(s) if f.name == p), None)
            if found is None:
                return None
            s = found.type
        return found

    # -- paths
    def origin(self, e: ast.Expr, scope: Mapping[str, tuple[str, ...]], seen: frozenset[str] = frozenset()
               ) -> tuple[str, ...] | None:
        """The record list an expression ranges over (its path), if it is one."""
        if isinstance(e, ast.Name) and e.name in self.named and e.name not in seen:
            return self.origin(self.named[e.name].expr, {}, seen | {e.name})
        p = self.path(e, scope)
        if p is not None and p[0] is None:
            f = self.field_at(p[1])
            if f is not None and (isinstance(f.type, ListT) or f.is_map):
                return p[1]
        return None

    def path(self, e: ast.Expr, scope: Mapping[str, tuple[str, ...]]) -> FieldKey | None:
        """The field an expression reads (``state.taf_quality.enrollment``, ``q.value``), if it is one."""
        parts: list[str] = []
        while isinstance(e, ast.Attr):
            parts.append(e.name)
            e = e.obj
        if not isinstance(e, ast.Name):
            return None
        parts.reverse()
        if e.name == self.root and parts:
            return None, tuple(parts)
        if e.name in scope:
            return scope[e.name], tuple(parts)
        if not parts and e.name in self.named:
            return self.chosen(e.name)
        return None

    def chosen(self, name: str) -> FieldKey | None:
        """The element field a definition picks from a record list (``max(q.value for q in L ...)``)."""
        expr = self.named[name].expr
        if isinstance(expr, ast.Comprehension) and expr.func in ("argmax", "argmin", "min", "max", "sum"):
            where = self.origin(expr.source, {})
            if where is not None:
                return self.path(expr.element, {expr.var: where})
        if isinstance(expr, ast.Attr):
            return self.path(expr, {})
        return None

    def _reads_row(self, e: ast.Expr, scope: Mapping[str, tuple[str, ...]]) -> bool:
        for node in ast.walk(e):
            if isinstance(node, ast.Name) and (node.name == self.root or node.name in scope):
                return True
            depends = self.probe.policy.resolution.depends
            if isinstance(node, ast.Name) and node.name in self.named and "bene" in depends.get(node.name, ()):
                return True
        return False

    def _note(self, key: FieldKey, other: ast.Expr | None, scope: Mapping[str, tuple[str, ...]]) -> None:
        h = self.hints.setdefault(key, Hints())
        if other is not None and not self._reads_row(other, scope) and other not in h.others:
            h.others.append(other)

    def visit(self, e: ast.Expr, scope: Mapping[str, tuple[str, ...]]) -> None:
        """Record the fields ``e`` reads and what it compares them with."""
        if isinstance(e, ast.Comprehension):
            where = self.origin(e.source, scope)
            self.visit(e.source, scope)
            inner = {**scope, e.var: where} if where is not None else dict(scope)
            for child in e.children():
                if child is not e.source:
                    self.visit(child, inner)
            return
        if isinstance(e, ast.Compare):
            for a, b in ((e.left, e.right), (e.right, e.left)):
                p = self.path(a, scope)
                if p is not None:
                    self._note(p, b, scope)
            if e.op in ("in", "not_in"):
                lst = self.origin(e.right, scope)
                if lst is not None:
                    self._note((lst, ()), e.left, scope)
        elif isinstance(e, ast.IsNull):
            p = self.path(e.operand, scope)
            if p is not None:
                self._note(p, None, scope)
                self.hints[p].nullable = True
        elif isinstance(e, ast.Call) and e.func == "between" and len(e.args) == 3:
            p = self.path(e.args[0], scope)
            if p is not None:
                for bound in e.args[1:]:
                    self._note(p, bound, scope)
        p = self.path(e, scope) if isinstance(e, ast.Attr) else None
        if p is not None:
            self.hints.setdefault(p, Hints())
        lst = self.origin(e, scope) if isinstance(e, (ast.Attr, ast.Name)) else None
        if lst is not None:
            self.hints.setdefault((lst, ()), Hints())
        for child in e.children():
            self.visit(child, scope)

    def closure(self, goal: ast.Expr) -> list[str]:
        """The named items ``goal`` reads, transitively, in reading order."""
        out: list[str] = []
        stack = [n.name for n in ast.walk(goal) if isinstance(n, ast.Name)]
        while stack:
            n = stack.pop(0)
            if n in out or n not in self.named:
                continue
            out.append(n)
            stack += [m.name for m in ast.walk(self.named[n].expr) if isinstance(m, ast.Name)]
        return out

    def run(self, goal: ast.Expr) -> dict[FieldKey, Hints]:
        """The fields ``goal`` reads (through its named items) with their hints."""
        self.visit(goal, {})
        for n in self.closure(goal):
            self.visit(self.named[n].expr, {})
        return self.hints


# --- candidate values and single changes ------------------------------------------------------


def _step(v: Any) -> Any:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return 1
    if isinstance(v, Decimal):
        exp = v.as_tuple().exponent
        return Decimal(1).scaleb(min(int(exp), -2) if isinstance(exp, int) else -2)
    return None


def values_for(f: SchemaField | None, hints: Hints, probe: KindProbe, env: Env, current: Any) -> list[Any]:
    """Values worth trying for one field: what it is compared with (and one step either side), its type's values."""
    out: list[Any] = []

    def add(v: Any) -> None:
        v = plain(v)
        if v != current and v not in out:
            out.append(v)

    for other in hints.others:
        v = probe.expr_value(other, env)
        items = sorted(v, key=str)[:3] if isinstance(v, (set, frozenset)) else list(v)[:3] if isinstance(
            v, (list, tuple)) else [v]
        for item in items:
            if item is None or hasattr(item, "model_dump"):
                continue
            add(item)
            step = _step(item)
            if step is not None:
                add(item + step)
                add(item - step)
    t = f.type if f is not None else None
    if t == BOOL:
        add(True)
        add(False)
    if f is not None:
        for e in f.enum:
            add(e)
    if t in (INT, DECIMAL) and isinstance(current, (int, float)) and not isinstance(current, bool) and current:
        for factor in (2, 4, 0.5):
            add(round(current * factor, 6) if t == DECIMAL else int(current * factor))
        add(0)
    if t in (INT, DECIMAL) and current is None:  # an unknown number read in arithmetic: make it known
        add(1)
        add(0)
    if t == DATE and current is None:
        add(dt.date.today())
    if t == STRING and current is None and not out and f is not None:
        add(f"(a {f.name}, to be documented)")
    if (hints.nullable or (f is not None and not f.required)) and current is not None:
        out.append(None)
    return out


def _show(v: Any) -> str:
    if v is None:
        return "nothing (remove it)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v)
    return str(plain(v))


def single_changes(harvest: FieldHarvest, record: dict[str, Any], env: Env) -> Iterator[Change]:
    """Every single change worth trying to ``record`` for the harvested fields, smallest first."""
    root = harvest.root
    probe = harvest.probe
    scalars = sorted((k for k in harvest.hints if k[0] is None), key=str)
    lists = sorted({k[0] for k in harvest.hints if k[0] is not None}, key=str)
    for key in scalars:
        path = key[1]
        f = harvest.field_at(path)
        if f is None or isinstance(f.type, (ListT, StructT)) or f.is_map:
            continue
        current = get_path(record, path)
        for v in values_for(f, harvest.hints[key], probe, env, current):
            new = copy.deepcopy(record)
            set_path(new, path, v)
            yield Change(f"set {root}.{'.'.join(path)} to {_show(v)}", new)
    for lpath in lists:
        yield from _list_changes(harvest, record, env, lpath)


def _list_changes(harvest: FieldHarvest, record: dict[str, Any], env: Env, lpath: tuple[str, ...]) -> Iterator[Change]:
    f = harvest.field_at(lpath)
    if f is None:
        return
    name = f"{harvest.root}.{'.'.join(lpath)}"
    current = get_path(record, lpath)
    hints = {k[1]: h for k, h in harvest.hints.items() if k[0] == lpath}
    probe = harvest.probe
    if f.is_map:  # a mapping of free keys, read as {key, value} entries
        entries = dict(current) if isinstance(current, Mapping) else {}
        vtype = f.type.elem if isinstance(f.type, ListT) else f.type
        value_field = SchemaField("value", vtype.fields[1][1] if isinstance(vtype, StructT) else vtype, True, None,
                                  "value")
        keys = [k for k in values_for(None, hints.get(("key",), Hints()), probe, env, None) if isinstance(k, str)]
        for k in list(entries) + [k for k in keys if k not in entries]:
            for v in values_for(value_field, hints.get(("value",), Hints()), probe, env, entries.get(k)):
                if v is None:
                    continue
                new = copy.deepcopy(record)
                set_path(new, lpath, {**entries, k: v})
                yield Change(f"set {name}.{k} to {_show(v)}", new)
        for k in entries:
            new = copy.deepcopy(record)
            set_path(new, lpath, {x: y for x, y in entries.items() if x != k})
            yield Change(f"remove {k} from {name}", new)
        return
    items = list(current) if isinstance(current, list) else []
    elem = f.type.elem if isinstance(f.type, ListT) else None
    if isinstance(elem, StructT):
        for i, item in enumerate(items):  # one field of one element
            for sub, h in sorted(hints.items(), key=str):
                sf = harvest.field_at(sub, elem)
                if not sub or sf is None or isinstance(sf.type, (ListT, StructT)):
                    continue
                for v in values_for(sf, h, probe, env, get_path(item, sub)):
                    new = copy.deepcopy(record)
                    new_items = copy.deepcopy(items)
                    set_path(new_items[i], sub, v)
                    set_path(new, lpath, new_items)
                    yield Change(f"set {name}[{i}].{'.'.join(sub)} to {_show(v)}", new)
        entry: dict[str, Any] = {}
        for sf in fields_of(elem):  # one more element, built from what the policy compares its fields with
            vals = [v for v in values_for(sf, hints.get((sf.name,), Hints()), probe, env, None) if v is not None]
            if vals and (sf.required or (sf.name,) in hints):
                entry[sf.name] = vals[0]
        new = copy.deepcopy(record)
        set_path(new, lpath, [*items, entry])
        yield Change(f"add an entry {_show(entry)} to {name}", new)
    else:
        entry_field = SchemaField(f"{lpath[-1]} entry", elem or STRING, True, None, "entry")
        for v in values_for(entry_field, hints.get((), Hints()),
                            probe, env, None):
            if v is None or v in items:
                continue
            new = copy.deepcopy(record)
            set_path(new, lpath, [*items, v])
            yield Change(f"add {_show(v)} to {name}", new)
    for i, item in enumerate(items):
        new = copy.deepcopy(record)
        set_path(new, lpath, items[:i] + items[i + 1:])
        yield Change(f"remove {name}[{i}] ({_show(item)})", new)
