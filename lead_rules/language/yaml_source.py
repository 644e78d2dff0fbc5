"""YAML with positions: the first arrow of the pipeline.

Policy, parameter, market and test files are read only through PyYAML's safe
loader. We compose the node graph (which keeps start/end marks) and turn it
into :class:`YNode` values that carry both the plain Python value and the
:class:`~lead_rules.language.errors.Span` of every mapping key, item and scalar, so
later stages can point diagnostics at file:line:column. Expression strings
also get an offset map, so a position inside an expression maps to its place
in the file whatever the YAML scalar style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Diagnostics, Span


@dataclass
class YNode:
    """A YAML node with its span; ``value`` is the plain Python value."""

    kind: str  # "map" | "seq" | "scalar"
    span: Span
    value: Any = None
    items: list[YNode] = field(default_factory=list)
    entries: dict[str, tuple[Span, YNode]] = field(default_factory=dict)
    offsets: tuple[tuple[int, int], ...] | None = None  # per char of a str scalar: (line, col)
    raw: str | None = None  # a scalar's text as written, before YAML typed it

    def plain(self) -> Any:
        """The node as plain Python data (dicts, lists, scalars)."""
        if self.kind == "map":
            return {k: v.plain() for k, (_, v) in self.entries.items()}
        if self.kind == "seq":
            return [i.plain() for i in self.items]
        return self.value

    def get(self, key: str) -> YNode | None:
        """The child node at ``key`` of a mapping, or None."""
        found = self.entries.get(key)
        return found[1] if found else None

    def key_span(self, key: str) -> Span:
        """The span of the key ``key`` (or of the node itself)."""
        found = self.entries.get(key)
        return found[0] if found else self.span

    def at(self, path: tuple[Any, ...]) -> tuple[Span, bool]:
        """Follow a pydantic error location; return the best span and whether it is a key."""
        node = self
        for part in path:
            if node.kind == "map" and isinstance(part, str) and part in node.entries:
                key_span, child = node.entries[part]
                if child is None:
                    return key_span, True
                node = child
            elif node.kind == "seq" and isinstance(part, int) and 0 <= part < len(node.items):
                node = node.items[part]
            elif node.kind == "map" and isinstance(part, str):
                return node.span, False
            else:
                continue
        return node.span, False

    def expr_span(self, start: int, end: int) -> Span:
        """The file span of characters ``start:end`` of this string scalar."""
        if not self.offsets:
            return self.span
        n = len(self.offsets)
        s = self.offsets[min(max(start, 0), n - 1)]
        e_index = min(max(end - 1, 0), n - 1)
        e = self.offsets[e_index]
        return Span(self.span.file, s[0], s[1], e[0], e[1] + 1)


def _span(file: str, node: yaml.Node) -> Span:
    sm, em = node.start_mark, node.end_mark
    return Span(file, sm.line + 1, sm.column + 1, em.line + 1, em.column + 1)


def _offsets(text: str, node: yaml.ScalarNode, value: str) -> tuple[tuple[int, int], ...]:
    """Map each character of ``value`` to (line, col) in ``text``."""
    start = node.start_mark.index
    end = node.end_mark.index
    line = node.start_mark.line + 1
    col = node.start_mark.column + 1
    # (line, col) for every raw index from start to end
    raw_pos: list[tuple[int, int, str]] = []
    for i in range(start, min(end, len(text))):
        ch = text[i]
        raw_pos.append((line, col, ch))
        if ch == "\n":
            line += 1
            col = 1
        else:
            col += 1
    out: list[tuple[int, int]] = []
    j = 0
    last = (node.start_mark.line + 1, node.start_mark.column + 1)
    for ch in value:
        if ch.isspace():
            out.append(last)
            continue
        k = j
        while k < len(raw_pos) and raw_pos[k][2] != ch:
            k += 1
        if k < len(raw_pos):
            last = (raw_pos[k][0], raw_pos[k][1])
            j = k + 1
        # else: written as an escape (\u00e9, \x41): keep the place, so later characters still map
        out.append(last)
    return tuple(out)


class _Converter:
    def __init__(self, file: str, text: str, loader: yaml.SafeLoader, diags: Diagnostics):
        self.file = file
        self.text = text
        self.loader = loader
        self.diags = diags

    def _construct(self, node: yaml.Node) -> Any:
        # A resolved scalar that does not construct (2027-02-30, `!!int x`)
        # raises plain ValueError & co. from PyYAML; keep its text instead,
        # so the stage that expects a date/int reports it with its place.
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, AttributeError, OverflowError):
            if isinstance(node, yaml.ScalarNode):
                return node.value
            raise

    def convert(self, node: yaml.Node) -> YNode:
        span = _span(self.file, node)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in self.loader.yaml_constructors:
            # collections are walked here, not constructed: refuse tags the safe loader refuses
            raise yaml.constructor.ConstructorError(
                None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark
            )
        if isinstance(node, yaml.MappingNode):
            out = YNode("map", span)
            for key_node, value_node in node.value:
                key_span = _span(self.file, key_node)
                key = self._construct(key_node)
                if not isinstance(key, str):
                    key = str(key)
                if key in out.entries:
                    self.diags.error("E003", f"duplicate key '{key}'", key_span)
                out.entries[key] = (key_span, self.convert(value_node))
            return out
        if isinstance(node, yaml.SequenceNode):
            return YNode("seq", span, items=[self.convert(n) for n in node.value])
        assert isinstance(node, yaml.ScalarNode)
        value = self._construct(node)
        offsets = _offsets(self.text, node, value) if isinstance(value, str) else None
        return YNode("scalar", span, value=value, offsets=offsets, raw=node.value)


def load_yaml_text(text: str, file: str, diags: Diagnostics) -> YNode | None:
    """Parse ``text`` safely; on a YAML syntax error record E001 and return None."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return YNode("map", Span(file, 1, 1, 1, 1))
        return _Converter(file, text, loader, diags).convert(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        diags.error("E001", message, Span(file, line, col, line, col + 1))
        return None
    except yaml.YAMLError as exc:
        diags.error("E001", f"invalid YAML: {exc}", Span(file, 1, 1, 1, 2))
        return None
    finally:
        loader.dispose()


def load_yaml_file(path: Path, diags: Diagnostics) -> YNode | None:
    """Read and parse one YAML file; unreadable files become E002."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diags.error("E002", f"cannot read file: {exc}", Span(str(path), 1, 1, 1, 2))
        return None
    return load_yaml_text(text, str(path), diags)
