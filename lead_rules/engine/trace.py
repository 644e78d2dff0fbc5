"""The decision trace: a tree of everything the interpreter evaluated.

Each :class:`TraceNode` records what was evaluated (a pathway, an ACO, a
criterion, a definition, an expression), its value, where it is written
(file:line:column), its citation, the record fields it read, and whether it
was skipped by short-circuit or hierarchy order. Comprehensions carry a row
per element, and ``argmax``/``argmin`` the ranked candidate table. The tree is
rendered to JSON by :meth:`TraceNode.to_dict` and to English by
:mod:`lead_rules.engine.explain`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from ..language.errors import Span
from ..language.values import Month, to_json

_ACO_VALUED = ("decision", "pathway")
_LEAVES = frozenset({str, bool, int, type(None)})
"""The types :class:`_Json` returns as they are (exact types: a subclass takes the general path)."""


class TraceNode:
    """One evaluated (or skipped) item of a decision trace."""

    __slots__ = (
        "cached",
        "candidates",
        "children",
        "description",
        "expr",
        "kind",
        "label",
        "note",
        "rows",
        "skipped",
        "source",
        "span",
        "text",
        "value",
    )

    def __init__(
        self,
        kind: str,
        label: str,
        span: Span | None = None,
        text: str = "",
        expr: object = None,
    ) -> None:
        self.kind = kind
        self.label = label
        self.text = text
        self.span = span
        self.value: Any = None
        self.children: list[TraceNode] = []
        self.skipped = False
        self.cached = False
        self.source: str | None = None
        self.description: str | None = None
        self.rows: list[dict[str, Any]] | None = None
        self.candidates: list[dict[str, Any]] | None = None
        self.note: str | None = None
        self.expr = expr

    def reads(self) -> list[tuple[str, Any]]:
        """The record/context fields read by this node and its descendants (in order, unique)."""
        out: dict[str, Any] = {}
        stack = [self]
        while stack:
            node = stack.pop()
            if node.kind == "field" and not node.skipped:
                out.setdefault(node.text, node.value)
            if node.rows:
                for row in node.rows:
                    for k in row.get("reads", {}):
                        out.setdefault(k + "[*]", "...")
            if node.kind in ("criterion", "definition", "parameter") and node is not self:
                if node.kind != "criterion":
                    out.setdefault(node.label, node.value)
                continue
            stack.extend(reversed(node.children))
        return list(out.items())

    def find(self, kind: str, label: str) -> TraceNode | None:
        """The first descendant (pre-order) of ``kind`` named ``label``."""
        stack = [self]
        while stack:
            node = stack.pop()
            if node.kind == kind and node.label == label:
                return node
            stack.extend(reversed(node.children))
        return None

    def find_evaluated(self, kind: str, label: str) -> TraceNode | None:
        """The first descendant of ``kind`` named ``label`` that was evaluated (not cached, not skipped)."""
        stack = [self]
        while stack:
            node = stack.pop()
            if node.kind == kind and node.label == label and not node.cached and not node.skipped:
                return node
            stack.extend(reversed(node.children))
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of this node and its subtree."""
        return self._to_dict(_Json())

    def _to_dict(self, conv: _Json) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "label": self.label}
        if self.text and self.text != self.label:
            d["text"] = self.text
        if self.skipped:
            d["skipped"] = True
        else:
            # a decision's or pathway's value is an ACO id (null: none); others may be unknown
            three_valued = isinstance(self.value, bool) or (self.value is None and self.kind not in _ACO_VALUED)
            d["value"] = truth(self.value) if three_valued else conv(self.value)
        if self.cached:
            d["cached"] = True
        if self.span is not None and self.span.line > 0:
            d["at"] = str(self.span)
        if self.source:
            d["source"] = self.source
        if self.description:
            d["description"] = self.description
        if self.note:
            d["note"] = self.note
        if self.kind in ("criterion", "definition") and not self.cached and not self.skipped:
            reads = self.reads()
            if reads:
                d["reads"] = [{"field": k, "value": conv(v)} for k, v in reads]
        if self.rows is not None:
            d["rows"] = conv(self.rows)  # rows keep raw values; converted only when rendered
        if self.candidates is not None:
            d["candidates"] = self.candidates
        if self.children:
            d["children"] = [c._to_dict(conv) for c in self.children]
        return d


class _Json:
    """:func:`~lead_rules.language.values.to_json` for one rendering, each record or market object converted once.

    A trace refers to the same objects (a claim line, a month row, an ACO) from many nodes
    and rows; their JSON is computed the first time and reused (the objects are frozen).
    """

    __slots__ = ("memo",)

    def __init__(self) -> None:
        self.memo: dict[int, tuple[Any, Any]] = {}

    def __call__(self, value: Any) -> Any:
        t = type(value)
        if t is str or t is bool or t is int or value is None:  # the common leaves, without a call
            return value
        if t is dict:  # a comprehension row: its scalar entries converted in place
            return {str(k): v if type(v) in _LEAVES else self(v) for k, v in value.items()}
        if t is list or t is tuple:
            return [v if type(v) in _LEAVES else self(v) for v in value]
        if t is Decimal:  # as to_json, without its chain of isinstance tests
            return float(value)
        if t is dt.date or t is Month:
            return str(value)
        found = self.memo.get(id(value))  # a record or market object rendered before (a claim, a month row)
        if found is not None and found[0] is value:
            return found[1]
        if isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {str(k): self(v) for k, v in value.items()}
        if isinstance(value, BaseModel):  # frozen: not changed while a trace is rendered
            out = to_json(value)
            self.memo[id(value)] = (value, out)
            return out
        if isinstance(value, (set, frozenset)):
            return sorted((self(v) for v in value), key=lambda x: (str(type(x)), str(x)))
        return to_json(value)


def truth(value: Any) -> str:
    """``true`` / ``false`` / ``unknown`` for a three-valued result."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "unknown"


class Tracer:
    """The stack of open trace nodes during one traced evaluation."""

    __slots__ = ("root", "row", "stack")

    def __init__(self, root: TraceNode) -> None:
        self.root = root
        self.stack = [root]
        self.row: dict[str, Any] | None = None

    def open(self, node: TraceNode) -> None:
        """Attach ``node`` to the current node and make it current."""
        self.stack[-1].children.append(node)
        self.stack.append(node)

    def close(self) -> None:
        """Return to the parent node."""
        self.stack.pop()

    def add(self, node: TraceNode) -> None:
        """Attach a finished leaf to the current node."""
        self.stack[-1].children.append(node)
