"""Compact, bounded JSON for decision traces: every value stored once, then referred to.

Rendering only: the interpreter records a :class:`~lead_rules.engine.trace.TraceNode`
tree as before; this module turns the JSON form of that tree
(:meth:`TraceNode.to_dict`) into a compact one and back. A batch shares one
:class:`TraceEncoder`, so a value (an ACO object of the market, the market's
ACO list, a month row, an expression text, a whole unchanged subtree) is
written once in the whole output, in the ``trace_values`` of the first line
that needs it, and every later occurrence is ``{"$": id}``. Node fields that
come from the policy (kind, label, text, place, source, description) travel
together as one value; comprehension rows are stored column-wise; the
per-node ``reads`` summary is left out because it is computed from the rest
(:meth:`TraceNode.reads`). :func:`decode_trace` expands a line's trace with
the values of that line and the lines before it.

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
_MIN_SIZE = 16  # values whose JSON is shorter stay inline (a reference would not be smaller)


class TraceEncoder:
    """Encodes the traces of one output; remembers which values it has written."""

    def __init__(self, max_depth: int | None = None, max_rows: int | None = None) -> None:
        self.max_depth = max_depth
        self.max_rows = max_rows
        self._ids: dict[str, int] = {}

    def encode(self, node: TraceNode) -> tuple[Any, dict[str, Any]]:
        """(the compact trace, the values first written with it)."""
        new: dict[str, Any] = {}
        return self._node(node.to_dict(), 1, new), new

    def _intern(self, value: Any, new: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            value = {k: self._intern(v, new) for k, v in value.items()}
        elif isinstance(value, list):
            value = [self._intern(v, new) for v in value]
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_typed)
        if len(text) < _MIN_SIZE:
            return value
        found = self._ids.get(text)
        if found is None:
            found = self._ids[text] = len(self._ids)
            new[str(found)] = value
        return {"$": found}

    def _node(self, d: Mapping[str, Any], depth: int, new: dict[str, Any]) -> Any:
        out: dict[str, Any] = {"s": self._intern({k: d[k] for k in _STATIC if k in d}, new)}
        for key, value in d.items():
            if key in _STATIC or key == "reads":
                continue
            if key == "children":
                if self.max_depth is not None and depth >= self.max_depth:
                    out["omitted_children"] = len(value)
                else:
                    out["children"] = [self._node(c, depth + 1, new) for c in value]
            elif key == "rows":
                rows = list(value)
                if self.max_rows is not None and len(rows) > self.max_rows:
                    out["rows_omitted"] = len(rows) - self.max_rows
                    rows = rows[: self.max_rows]
                out["rows"] = self._intern(_columns(rows), new)
            elif key == "candidates":
                cands = list(value)
                if self.max_rows is not None and len(cands) > self.max_rows:
                    out["candidates_omitted"] = len(cands) - self.max_rows
                    cands = cands[: self.max_rows]
                out["candidates"] = self._intern(cands, new)
            else:
                out[key] = self._intern(value, new)
        return self._intern(out, new)


def _typed(value: Any) -> Any:
    """The identity of a non-JSON value (a Decimal, a date) for interning: its type and text."""
    return {"$type": type(value).__name__, "text": str(value)}


def _columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows stored column-wise: ``{"n", "index"?, "cols": {key: [...]}, "has": {key: [...]}}``.

    ``index`` is left out when it is 0..n-1; ``has`` is given only for keys that
    some rows lack; a ``reads`` mapping is split into ``reads.<field>`` columns.
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
    out["cols"] = {k: [f.get(k) for f in flat] for k in names}
    partial = {k: [k in f for f in flat] for k in names if not all(k in f for f in flat)}
    if partial:
        out["has"] = partial
    return out


def _rows(cols: Mapping[str, Any]) -> list[dict[str, Any]]:
    n = cols["n"]
    index = cols.get("index", list(range(n)))
    has = cols.get("has", {})
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"index": index[i]}
        for k, col in cols["cols"].items():
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


def _resolve(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$"}:
            return _resolve(values[str(value["$"])], values)
        return {k: _resolve(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, values) for v in value]
    return value


def decode_trace(trace: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of a trace (as :meth:`TraceNode.to_dict`, without ``reads``) from its compact form.

    ``values``: the ``trace_values`` of the line and of every line before it, merged.
    """
    node = _resolve(trace, values)
    out: dict[str, Any] = dict(node.pop("s"))
    for key, value in node.items():
        if key == "children":
            out["children"] = [decode_trace(c, values) for c in value]
        elif key == "rows":
            out["rows"] = _rows(value)
        else:
            out[key] = value
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
