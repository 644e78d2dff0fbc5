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

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Diagnostics, Span
from .limits import (
    INT_MAX_DIGITS,
    YAML_MAX_ALIAS_NODES,
    YAML_MAX_BYTES,
    YAML_MAX_DEPTH,
    YAML_MAX_NODES,
    YAML_MAX_SCALAR_CHARS,
)


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

    def key_at(self, path: tuple[Any, ...]) -> Span:
        """The span of the key at the end of ``path`` (for an unknown key), else as :meth:`at`."""
        node: YNode = self
        for part in path[:-1]:
            if node.kind == "map" and isinstance(part, str) and part in node.entries:
                node = node.entries[part][1]
            elif node.kind == "seq" and isinstance(part, int) and 0 <= part < len(node.items):
                node = node.items[part]
            else:
                return self.at(path)[0]
        if path and node.kind == "map" and str(path[-1]) in node.entries:
            return node.entries[str(path[-1])][0]
        return self.at(path)[0]

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


class _Limit(yaml.MarkedYAMLError):
    """A document beyond a documented limit (:mod:`lead_rules.language.limits`)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(None, None, problem, mark)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with nesting and node-count limits while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # the scanner looks ahead for simple keys: stop deep flow nesting before it does
        if self.flow_level >= YAML_MAX_DEPTH:
            raise _Limit(f"nested deeper than {YAML_MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.ScalarEvent):
            _check_scalar(event)
        self.nodes += 1
        if self.nodes > YAML_MAX_NODES:
            raise _Limit(f"more than {YAML_MAX_NODES:,} nodes", event.start_mark)
        self.depth += 1
        try:
            if self.depth > YAML_MAX_DEPTH:
                raise _Limit(f"nested deeper than {YAML_MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_INT_RE = re.compile(r"[-+]?(0|[1-9][0-9_]*|0o?[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)")


def _check_scalar(event: yaml.ScalarEvent) -> None:
    value = event.value
    if len(value) > YAML_MAX_SCALAR_CHARS:
        raise _Limit(f"a scalar longer than {YAML_MAX_SCALAR_CHARS:,} characters", event.start_mark)
    if event.implicit[0] and event.style is None and _INT_RE.fullmatch(value):
        digits = len(value.lstrip("+-").replace("_", ""))
        if digits > INT_MAX_DIGITS:
            raise _Limit(f"an integer of more than {INT_MAX_DIGITS} digits (the 64-bit range)", event.start_mark)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse recursive aliases and documents that aliases expand beyond the limits.

    Sizes and depths are computed once per distinct node (iteratively), so an
    alias bomb is measured without being expanded.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    distinct = 0

    def children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return []

    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_.discard(key)
            if depth[key] > YAML_MAX_DEPTH:
                raise _Limit(f"nested deeper than {YAML_MAX_DEPTH} levels once aliases are expanded", node.start_mark)
            if size[key] > YAML_MAX_NODES or size[key] - distinct > YAML_MAX_ALIAS_NODES:
                raise _Limit(
                    f"aliases expand the document beyond the limits ({YAML_MAX_ALIAS_NODES:,} nodes added by aliases)",
                    node.start_mark,
                )
            continue
        if key in size:
            continue
        if key in open_:
            raise _Limit("a recursive alias (an anchor used inside itself)", node.start_mark)
        open_.add(key)
        distinct += 1
        stack.append((node, True))
        stack.extend((k, False) for k in children(node) if id(k) not in size)


def _decode(data: bytes, file: str, diags: Diagnostics) -> str | None:
    """``data`` as UTF-8 text; an undecodable byte (E002) or a NUL (E001) is an error at its place."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _place(data, exc.start)
        message = f"cannot read file: byte 0x{data[exc.start]:02x} is not UTF-8"
        diags.error("E002", message, Span(file, line, col, line, col + 1))
        return None
    for bad in ("\0", "\ufffe", "\uffff"):
        at = text.find(bad)
        if at >= 0:
            line, col = _place(text, at)
            message = f"invalid YAML: character U+{ord(bad):04X} is not allowed"
            diags.error("E001", message, Span(file, line, col, line, col + 1))
            return None
    return text


def _place(data: bytes | str, index: int) -> tuple[int, int]:
    head = data[:index]
    newline = b"\n" if isinstance(head, bytes) else "\n"
    line = head.count(newline) + 1  # type: ignore[arg-type]
    start = head.rfind(newline) + 1  # type: ignore[arg-type]
    return line, index - start + 1


def _yaml_hint(text: str, line: int, message: str) -> str | None:
    """A hint for the usual YAML slips: a tab, an unquoted expression starting with [ or {, over-indentation."""
    lines = text.splitlines()
    here = lines[line - 1] if 1 <= line <= len(lines) else ""
    if "'\\t'" in message or "\t" in here[: len(here) - len(here.lstrip())]:
        return "indent with spaces: YAML does not allow tabs in indentation"
    stripped = here.split(":", 1)[1].strip() if ":" in here else ""
    if stripped[:1] in ("[", "{") and "block end" in message:
        return "an expression that starts with '[' or '{' must be quoted: expr: '[...] == ...'"
    if "mapping values are not allowed" in message:
        return "check the indentation of this line against the entries above it, and quote values that contain ': '"
    return None


def load_yaml_text(text: str, file: str, diags: Diagnostics) -> YNode | None:
    """Parse ``text`` safely within the limits; on a YAML error or a limit record E001 and return None."""
    try:
        loader = _BoundedLoader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        mark = getattr(exc, "position", None)
        line, col = _place(text, mark) if isinstance(mark, int) else (1, 1)
        diags.error("E001", f"invalid YAML: {getattr(exc, 'reason', exc)}", Span(file, line, col, line, col + 1))
        return None
    try:
        root = loader.get_single_node()
        if root is None:
            return YNode("map", Span(file, 1, 1, 1, 1))
        _check_expansion(root)
        return _Converter(file, text, loader, diags).convert(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        diags.error("E001", message, Span(file, line, col, line, col + 1), _yaml_hint(text, line, message))
        return None
    except yaml.YAMLError as exc:
        diags.error("E001", f"invalid YAML: {exc}", Span(file, 1, 1, 1, 2))
        return None
    finally:
        loader.dispose()


def load_yaml_file(path: Path, diags: Diagnostics) -> YNode | None:
    """Read and parse one YAML file; unreadable or oversized files become E002."""
    try:
        # opened without blocking, so a FIFO with no writer is refused here instead of hanging the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                diags.error("E002", "not a regular file (a FIFO, device or folder)", Span(str(path), 1, 1, 1, 2))
                return None
            data = fh.read(YAML_MAX_BYTES + 1)
    except OSError as exc:
        diags.error("E002", f"cannot read file: {exc.strerror or exc}", Span(str(path), 1, 1, 1, 2))
        return None
    if len(data) > YAML_MAX_BYTES:
        diags.error("E002", f"file larger than {YAML_MAX_BYTES:,} bytes", Span(str(path), 1, 1, 1, 2))
        return None
    text = _decode(data, str(path), diags)
    return None if text is None else load_yaml_text(text, str(path), diags)
