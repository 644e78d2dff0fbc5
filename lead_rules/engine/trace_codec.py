"""Compact, bounded JSON for decision traces: every value stored once, then referred to.

Rendering only: the interpreter records a :class:`~lead_rules.engine.trace.TraceNode`
tree as before; this module turns the JSON form of that tree
(:meth:`TraceNode.to_dict`) into a compact one and back. A batch shares one
:class:`TraceEncoder`, so a value (an ACO object of the market, the market's
ACO list, a month row, an expression text, a whole unchanged subtree) is
stored once in the whole output, in the ``trace_values`` of a line that needs
it, and every later occurrence is the string ``"$<id>"`` (ids are short: base
90 in printable ASCII). A value a line refers to only once is written in
place the first time (a reference would cost more); if it comes again it is
stored then. Escapes: a string value that starts with ``$`` gets one more
``$``; ``"$!tfn"`` is a list of truth values (true, false, null); a list that
starts with ``"$~<id>"`` is a dict whose keys are the list ``<id>`` (its
"shape", stored once) and whose values follow. A node is ``[static, value]``
or ``[static, value, [children]]`` (a true/false value as JSON true/false),
or a shaped dict of its keys (``s`` static, ``v`` value, ``c`` children,
``rows``, ``candidates``, ...). Node fields that come from the policy (kind,
label, text, place, source, description) travel together as one value;
comprehension rows are stored column-wise, and a column that is a field of
the comprehension's elements (``reads.c.tin``) is given by its path, checked
to give back exactly the column; the per-node ``reads`` summary is left out
because it is computed from the rest (:meth:`TraceNode.reads`).
:func:`decode_trace` expands a line's trace with the values of that line and
the lines before it.

Limits: ``max_depth`` cuts the tree below that depth (``{"omitted_children":
n}`` stands for what was cut) and ``max_rows`` keeps the first rows of each
comprehension and the first candidates of each ranking (``rows_omitted`` /
``candidates_omitted`` say how many were dropped).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .trace import TraceNode

_STATIC = ("kind", "label", "text", "at", "source", "description", "note", "cached", "skipped")
_MIN_SIZE = 9  # values whose JSON is shorter stay inline (a reference would not be smaller)
_SHAPE_MIN = 12  # a dict whose keys take more is written as its shape (the keys, interned) and its values
_SHORT = {"value": "v", "children": "c"}
_BOOL = {True: "t", False: "f", None: "n"}
_UNBOOL = {"t": True, "f": False, "n": None}
_LONG = {v: k for k, v in _SHORT.items()}


class TraceEncoder:
    """Encodes the traces of one output; remembers which values it has written."""

    def __init__(self, max_depth: int | None = None, max_rows: int | None = None) -> None:
        self.max_depth = max_depth
        self.max_rows = max_rows
        self._ids: dict[str, str] = {}
        self._next = 0
        self._texts: dict[str, str] = {}  # id -> text of the values made by the current encode
        self._inlined: set[str] = set()  # texts of values once written inline

    def encode(self, node: TraceNode) -> tuple[Any, dict[str, Any]]:
        """(the compact trace, the values first written with it)."""
        new: dict[str, Any] = {}
        self._texts = {}
        return self._inline(self._node(node.to_dict(), 1, new), new)

    def _inline(self, root: Any, new: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """A new value this line refers to once is written in place, not in ``trace_values``.

        Its id is forgotten; if the same value comes again (in a later line), it gets an id
        then and is written once in that line's ``trace_values``, and referred to from then on.
        """
        counts: dict[str, int] = dict.fromkeys(new, 0)
        stack = [root, *new.values()]
        while stack:
            v = stack.pop()
            if isinstance(v, str):
                if v.startswith("$") and v[1:] in counts:
                    counts[v[1:]] += 1
            elif isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
        once = {i for i, n in counts.items() if n == 1 and self._texts[i] not in self._inlined}
        for i in once:
            text = self._texts[i]
            self._inlined.add(text)
            del self._ids[text]

        def sub(v: Any) -> Any:
            if isinstance(v, str):
                return sub(new[v[1:]]) if v.startswith("$") and v[1:] in once else v
            if isinstance(v, dict):
                return {k: sub(x) for k, x in v.items()}
            if isinstance(v, list):
                return [sub(x) for x in v]
            return v

        kept = {i: sub(v) for i, v in new.items() if i not in once}
        return sub(root), kept

    def _intern(self, value: Any, new: dict[str, Any]) -> Any:
        """``value`` (plain JSON) encoded: its parts interned, then itself."""
        if isinstance(value, dict):
            keys = list(value)
            enc = [self._intern(v, new) for v in value.values()]
            if sum(len(k) + 4 for k in keys) > _SHAPE_MIN:
                # the keys once (a shape), the values as a list: ["$~<id of the keys>", v1, v2, ...]
                value = [self._shape(keys, new), *enc]
            else:
                value = dict(zip(keys, enc, strict=True))
        elif isinstance(value, list):
            if len(value) > 3 and all(v is True or v is False or v is None for v in value):
                return "$!" + "".join(_BOOL[v] for v in value)  # a column of truth values, one letter each
            value = [self._intern(v, new) for v in value]
        elif isinstance(value, str) and value.startswith("$"):
            value = "$" + value  # a string, not a reference
        return self._ref(value, new)

    def _shape(self, keys: list[str], new: dict[str, Any]) -> str:
        return "$~" + self._id_of(json.dumps(keys, separators=(",", ":")), keys, new)

    def _ref(self, encoded: Any, new: dict[str, Any]) -> Any:
        """A reference to ``encoded`` (whose parts are encoded already), or itself when shorter."""
        text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), default=_typed)
        if len(text) < _MIN_SIZE:
            return encoded
        return "$" + self._id_of(text, encoded, new)

    def _id_of(self, text: str, encoded: Any, new: dict[str, Any]) -> str:
        """The id of the value whose JSON is ``text``; a new one is stored with this line."""
        found = self._ids.get(text)
        if found is None:
            found = self._ids[text] = _id(self._next)
            self._next += 1
            self._texts[found] = text
            new[found] = encoded
        return found

    def _node(self, d: Mapping[str, Any], depth: int, new: dict[str, Any]) -> Any:
        out: dict[str, Any] = {"s": self._intern({k: d[k] for k in _STATIC if k in d}, new)}
        for key, value in d.items():
            if key in _STATIC or key == "reads":
                continue
            if key == "children":
                if self.max_depth is not None and depth >= self.max_depth:
                    out["omitted_children"] = len(value)
                else:
                    out["c"] = self._ref([self._node(c, depth + 1, new) for c in value], new)
            elif key == "rows":
                rows = list(value)
                if self.max_rows is not None and len(rows) > self.max_rows:
                    out["rows_omitted"] = len(rows) - self.max_rows
                    rows = rows[: self.max_rows]
                children = d.get("children") if self.max_depth is None or depth < self.max_depth else None
                source = children[0].get("value") if children else None
                out["rows"] = self._intern(_columns(rows, source if isinstance(source, list) else None), new)
            elif key == "candidates":
                cands = list(value)
                if self.max_rows is not None and len(cands) > self.max_rows:
                    out["candidates_omitted"] = len(cands) - self.max_rows
                    cands = cands[: self.max_rows]
                out["candidates"] = self._intern(cands, new)
            else:
                out[_SHORT.get(key, key)] = self._intern(value, new)
        if "v" in out and out["v"] in ("true", "false"):  # a node's value is never JSON true or false
            out["v"] = out["v"] == "true"
        keys = list(out)
        if keys in (["s", "v"], ["s", "v", "c"]):  # the common nodes, positionally: [static, value, children?]
            return self._ref(list(out.values()), new)
        return self._ref([self._shape(keys, new), *out.values()], new)


_DIGITS = "".join(c for c in map(chr, range(33, 127)) if c not in '"\\$!~')
"""The digits of ids: printable ASCII that JSON writes as itself, without ``$``, ``!`` and ``~`` (the escapes)."""


def _id(n: int) -> str:
    base = len(_DIGITS)
    out = _DIGITS[n % base]
    while n >= base:
        n //= base
        out = _DIGITS[n % base] + out
    return out


def _typed(value: Any) -> Any:
    """The identity of a non-JSON value (a Decimal, a date) for interning: its type and text."""
    return {"$type": type(value).__name__, "text": str(value)}


def _columns(rows: list[dict[str, Any]], source: list[Any] | None = None) -> dict[str, Any]:
    """Rows stored column-wise: ``{"n", "index"?, "cols": {key: [...]}, "has"?, "derive"?}``.

    ``index`` is left out when it is 0..n-1; ``has`` is given only for keys that
    some rows lack; a ``reads`` mapping is split into ``reads.<field>`` columns.
    ``source`` is the list the comprehension went through (the value of the
    node's first child, which the decoder has too): a column that equals, row
    by row, a field path of the row's element (``reads.c.tin`` is the ``tin``
    of element ``index``; ``value`` may be the element itself) is not written,
    only its path, in ``derive`` -- after checking that the path gives exactly
    the column's JSON, so nothing is lost.
    """
    flat: list[dict[str, Any]] = []
    for r in rows:
        f = {k: v for k, v in r.items() if k not in ("index", "reads")}
        for k, v in r.get("reads", {}).items():
            f["reads." + k] = v
        if "reads" in r and not r["reads"]:
            f["reads"] = {}
        flat.append(f)
    out: dict[str, Any] = {"n": len(rows)}
    index = [r.get("index") for r in rows]
    if index != list(range(len(rows))):
        out["index"] = index
    names = sorted({k for f in flat for k in f})
    cols = {k: [f.get(k) for f in flat] for k in names}
    partial = {k: [k in f for f in flat] for k in names if not all(k in f for f in flat)}
    if source is not None and rows:
        derive: dict[str, list[str]] = {}
        for k in names:
            if k in partial or not (k == "value" or k.startswith("reads.")):
                continue
            path = [] if k == "value" else k.split(".")[2:]
            if k != "value" and not path:
                continue
            derived = [_follow(source, i, path) for i in index]
            if _same(derived, cols[k]):
                derive[k] = path
                del cols[k]
        if derive:
            out["derive"] = derive
    out["cols"] = cols
    if partial:
        out["has"] = partial
    return out


_NO = object()


def _follow(source: list[Any], i: Any, path: list[str]) -> Any:
    """Field ``path`` of ``source[i]`` in JSON form (null through a null), or a marker when there is none."""
    if not isinstance(i, int) or not 0 <= i < len(source):
        return _NO
    v = source[i]
    for step in path:
        if v is None:
            return None
        if not isinstance(v, dict) or step not in v:
            return _NO
        v = v[step]
    return v


def _same(a: list[Any], b: list[Any]) -> bool:
    if any(x is _NO for x in a):
        return False
    return json.dumps(a, sort_keys=True, default=_typed) == json.dumps(b, sort_keys=True, default=_typed)


def _rows(cols: Mapping[str, Any], source: list[Any] | None = None) -> list[dict[str, Any]]:
    n = cols["n"]
    index = cols.get("index", list(range(n)))
    has = cols.get("has", {})
    columns = dict(cols["cols"])
    for k, path in cols.get("derive", {}).items():
        assert source is not None, "a derived column needs the comprehension's source"
        columns[k] = [_follow(source, i, path) for i in index]
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"index": index[i]}
        for k in sorted(columns):
            col = columns[k]
            if k in has and not has[k][i]:
                continue
            if k.startswith("reads."):
                row.setdefault("reads", {})[k[len("reads."):]] = col[i]
            else:
                row[k] = col[i]
        rows.append(_row_order(row))
    return rows


def _row_order(row: dict[str, Any]) -> dict[str, Any]:
    first = [k for k in ("index", "reads") if k in row]
    return {**{k: row[k] for k in first}, **{k: v for k, v in row.items() if k not in first}}


def _deref(value: Any, values: Mapping[str, Any]) -> Any:
    """The encoded value a reference stands for (``value`` itself when it is not one)."""
    while isinstance(value, str) and value.startswith("$") and not value.startswith(("$$", "$!", "$~")):
        value = values[value[1:]]
    return value


def _resolve(value: Any, values: Mapping[str, Any]) -> Any:
    """The plain JSON value of an encoded one."""
    value = _deref(value, values)
    if isinstance(value, str):
        if value.startswith("$!"):
            return [_UNBOOL[c] for c in value[2:]]
        return value[1:] if value.startswith("$$") else value
    if isinstance(value, dict):
        return {k: _resolve(v, values) for k, v in value.items()}
    if isinstance(value, list):
        if value and isinstance(value[0], str) and value[0].startswith("$~"):
            keys = values[value[0][2:]]
            return {k: _resolve(v, values) for k, v in zip(keys, value[1:], strict=True)}
        return [_resolve(v, values) for v in value]
    return value


def decode_value(value: Any, values: Mapping[str, Any]) -> Any:
    """The plain JSON of one encoded value (an entry of ``trace_values``, a reference, a shaped dict)."""
    return _resolve(value, values)


def decode_trace(trace: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of a trace (as :meth:`TraceNode.to_dict`, without ``reads``) from its compact form.

    ``values``: the ``trace_values`` of the line and of every line before it, merged.
    """
    encoded = _deref(trace, values)
    node: dict[str, Any]
    if encoded and isinstance(encoded[0], str) and encoded[0].startswith("$~"):
        node = dict(zip(values[encoded[0][2:]], encoded[1:], strict=True))
    else:  # [static, value] or [static, value, children]
        node = dict(zip(("s", "v", "c"), encoded, strict=False))
    if isinstance(node.get("v"), bool):
        node["v"] = "true" if node["v"] else "false"
    out: dict[str, Any] = dict(_resolve(node["s"], values))
    if "c" in node:  # first: a comprehension's rows may be derived from its first child's value
        out["children"] = [decode_trace(c, values) for c in _deref(node["c"], values)]
    for short, value in node.items():
        key = _LONG.get(short, short)
        if key in ("s", "children"):
            continue
        if key == "rows":
            kids = out.get("children")
            source = kids[0].get("value") if kids else None
            out["rows"] = _rows(_resolve(value, values), source if isinstance(source, list) else None)
        else:
            out[key] = _resolve(value, values)
    return _ordered(out)


_ORDER = ("kind", "label", "text", "skipped", "value", "cached", "at", "source", "description", "note", "reads")


def _ordered(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in sorted(d, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER)))}


def without_reads(d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` (a trace in JSON form) without the derived ``reads`` summaries."""
    out = {k: v for k, v in d.items() if k != "reads"}
    if "children" in out:
        out["children"] = [without_reads(c) for c in out["children"]]
    return out
