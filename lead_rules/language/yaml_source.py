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
    # where a str scalar was written (text, start index, end index, line, column), for
    # ``offsets`` computed on first use: most scalars are never pointed into
    source: tuple[str, int, int, int, int] | None = field(default=None, repr=False, compare=False)

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
        offsets = self.offsets
        if offsets is None and self.source is not None and isinstance(self.value, str):
            offsets = self.offsets = _offsets(*self.source, self.value)
        if not offsets:
            return self.span
        n = len(offsets)
        s = offsets[min(max(start, 0), n - 1)]
        e_index = min(max(end - 1, 0), n - 1)
        e = offsets[e_index]
        return Span(self.span.file, s[0], s[1], e[0], e[1] + 1)


def _span(file: str, node: yaml.Node) -> Span:
    sm, em = node.start_mark, node.end_mark
    return Span(file, sm.line + 1, sm.column + 1, em.line + 1, em.column + 1)


def _offsets(text: str, start: int, end: int, line: int, col: int, value: str) -> tuple[tuple[int, int], ...]:
    """Map each character of ``value``, written at ``text[start:end]`` from (line, col), to (line, col) in ``text``."""
    first = (line, col)
    written = text[start:end]
    shift = 0 if written == value else 1 if written[:1] in ("'", '"') and written[1:-1] == value else -1
    if shift >= 0 and "\n" not in written:
        # written as is on one line (plain, or quoted without escapes): character i is at column col + shift + i
        quick: list[tuple[int, int]] = []
        last = first
        for i, ch in enumerate(value):
            if not ch.isspace():
                last = (line, col + shift + i)
            quick.append(last)
        return tuple(quick)
    # every other character: the next place at or after the last match where it is written
    # (str.find, in C); a character not found was written as an escape (\u00e9, \x41): it keeps
    # the last place, so later characters still map
    stop = min(end, len(text))
    out: list[tuple[int, int]] = []
    j = start  # where the search for the next character starts
    counted, at_line = start, line  # text[start:counted] has (at_line - line) line breaks
    last = first
    for ch in value:
        if not ch.isspace():
            k = text.find(ch, j, stop)
            if k >= 0:
                at_line += text.count("\n", counted, k)
                counted = k
                brk = text.rfind("\n", start, k)
                last = (at_line, k - brk if brk >= 0 else col + k - start)
                j = k + 1
        out.append(last)
    return tuple(out)


_STR_TAG = "tag:yaml.org,2002:str"


class _Converter:
    def __init__(self, file: str, text: str, loader: Any, diags: Diagnostics):
        self.file = file
        self.text = text
        self.loader = loader
        self.diags = diags

    def _construct(self, node: yaml.Node) -> Any:
        # A resolved scalar that does not construct (2027-02-30, `!!int x`)
        # raises plain ValueError & co. from PyYAML; keep its text instead,
        # so the stage that expects a date/int reports it with its place.
        if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
            return node.value  # what SafeConstructor.construct_yaml_str returns, without its calls
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError):  # `!!float ` empty: IndexError
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
        if not isinstance(value, str):
            return YNode("scalar", span, value=value, raw=node.value)
        sm = node.start_mark
        source = (self.text, sm.index, node.end_mark.index, sm.line + 1, sm.column + 1)
        return YNode("scalar", span, value=value, raw=node.value, source=source)


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


# --- the fast path: LibYAML's parser, our composer ------------------------------------
#
# LibYAML (PyYAML's C extension, when installed) parses about 20x faster than the
# pure-Python scanner. Its events carry the same marks (character index, line,
# column), so we compose the node graph from them here, with the same limit
# checks as _BoundedLoader.compose_node. Where the two parsers could disagree we
# do not use it: text with a tab, a byte-order mark, a NEL/LS/PS line break or a
# character the pure-Python reader refuses goes the pure-Python way. And any
# error on the fast path (a YAML error, a limit) re-reads the text the
# pure-Python way, so every error message and its place are the pure-Python
# loader's. tests/test_yaml_fast.py checks events and nodes equal on every YAML
# file of the repository and on mutated ones.

_CLoader: Any = getattr(yaml, "CSafeLoader", None) if getattr(yaml, "__with_libyaml__", False) else None
_SLOW_TEXT = re.compile("[\t\ufeff\x85\u2028\u2029]|" + yaml.reader.Reader.NON_PRINTABLE.pattern)


_FLOW_PLAIN_DIFFERS = re.compile(r"[,?\[\]{}]|:$")


class _Fallback(Exception):
    """The fast path declines: compose the pure-Python way instead."""


def _compose_fast(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's root node (None for an empty stream) and the loader, via LibYAML; or raise _Fallback.

    A document with anchors is checked for alias expansion here; without any,
    no node is shared, so the composer's own depth and node limits are the
    expanded document's.
    """
    if _CLoader is None or _SLOW_TEXT.search(text) or (text and text[-1] != "\n"):
        raise _Fallback  # (LibYAML places the marks at the end of a last line without a break differently)
    loader = _CLoader(text)
    try:
        composer = _FastComposer(loader)
        root = composer.single_node()
        if root is not None and composer.anchors:
            _check_expansion(root)
        return root, loader
    except (yaml.YAMLError, _Limit, _Fallback):
        loader.dispose()
        raise _Fallback from None


class _FastComposer:
    """PyYAML's Composer over LibYAML's events, with _BoundedLoader's limits."""

    def __init__(self, loader: Any) -> None:
        self.get = loader.get_event
        self.resolve = loader.resolve
        self.anchors: dict[str, yaml.Node] = {}
        self.nodes = 0

    def single_node(self) -> yaml.Node | None:
        self.get()  # StreamStartEvent
        event = self.get()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        if not isinstance(event, yaml.DocumentStartEvent):
            raise _Fallback
        root, end = self.node(self.get(), 0, False)
        if not isinstance(end, yaml.DocumentEndEvent) or not isinstance(self.get(), yaml.StreamEndEvent):
            raise _Fallback  # more than one document: the pure-Python loader says so
        return root

    def node(self, event: Any, depth: int, flow: bool) -> tuple[yaml.Node, Any]:
        """The node that starts with ``event`` (inside a flow collection if ``flow``) and the event after it."""
        cls = type(event)
        if cls is yaml.AliasEvent:
            found = self.anchors.get(event.anchor)
            if found is None:
                raise _Fallback
            return found, self.get()
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            raise _Fallback
        self.nodes += 1
        if self.nodes > YAML_MAX_NODES or depth >= YAML_MAX_DEPTH:
            raise _Fallback
        tag = event.tag
        if tag == "!":
            raise _Fallback  # non-specific tag: LibYAML's implicit flags differ from PyYAML's ('a: !' is '' vs None)
        node: yaml.Node
        if cls is yaml.ScalarEvent:
            style = event.style or None  # LibYAML calls the plain style '', PyYAML None
            if flow and style is None and (not event.value or _FLOW_PLAIN_DIFFERS.search(event.value)):
                raise _Fallback  # where LibYAML is laxer than PyYAML ('?' in a flow scalar) or marks differ (empty)
            if len(event.value) > YAML_MAX_SCALAR_CHARS or (
                event.implicit[0] and style is None and _INT_RE.fullmatch(event.value)
            ):
                _check_scalar(yaml.ScalarEvent(anchor, tag, event.implicit, event.value, event.start_mark, style=style))
            if tag is None or tag == "!":
                tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=style)
            if anchor is not None:
                self.anchors[anchor] = node
            return node, self.get()
        if cls is yaml.SequenceStartEvent:
            if tag is None or tag == "!":
                tag = self.resolve(yaml.SequenceNode, None, event.implicit)
            seq = yaml.SequenceNode(tag, [], event.start_mark, None, flow_style=event.flow_style)
            if anchor is not None:
                self.anchors[anchor] = seq
            items = seq.value
            nxt = self.get()
            while type(nxt) is not yaml.SequenceEndEvent:
                item, nxt = self.node(nxt, depth + 1, flow or bool(event.flow_style))
                items.append(item)
            seq.end_mark = nxt.end_mark
            return seq, self.get()
        if cls is yaml.MappingStartEvent:
            if tag is None or tag == "!":
                tag = self.resolve(yaml.MappingNode, None, event.implicit)
            mapping = yaml.MappingNode(tag, [], event.start_mark, None, flow_style=event.flow_style)
            if anchor is not None:
                self.anchors[anchor] = mapping
            pairs = mapping.value
            nxt = self.get()
            while type(nxt) is not yaml.MappingEndEvent:
                inner = flow or bool(event.flow_style)
                key, nxt = self.node(nxt, depth + 1, inner)
                value, nxt = self.node(nxt, depth + 1, inner)
                pairs.append((key, value))
            mapping.end_mark = nxt.end_mark
            return mapping, self.get()
        raise _Fallback


def fast_nodes(text: str) -> tuple[bool, yaml.Node | None]:
    """Whether the LibYAML path takes ``text``, and the root node it composes (None if not taken or empty)."""
    try:
        root, loader = _compose_fast(text)
    except _Fallback:
        return False, None
    loader.dispose()
    return True, root


def reference_nodes(text: str) -> yaml.Node | None:
    """The root node as the pure-Python loader composes it, limits included; raises its ``yaml.YAMLError``."""
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_expansion(root)
        return root
    finally:
        loader.dispose()


def load_yaml_text(text: str, file: str, diags: Diagnostics, *, fast: bool = True) -> YNode | None:
    """Parse ``text`` safely within the limits; on a YAML error or a limit record E001 and return None.

    ``fast=False`` skips the LibYAML path (the result is the same; tests compare them).
    """
    try:
        if not fast:
            raise _Fallback
        root, fast_loader = _compose_fast(text)
    except _Fallback:
        pass
    else:
        recorded = len(diags.items)
        try:
            if root is None:
                return YNode("map", Span(file, 1, 1, 1, 1))
            return _Converter(file, text, fast_loader, diags).convert(root)
        except yaml.YAMLError:  # a refused tag: the pure-Python loader reports it
            del diags.items[recorded:]
        finally:
            fast_loader.dispose()
    return _load_slow(text, file, diags)


def _load_slow(text: str, file: str, diags: Diagnostics) -> YNode | None:
    """The pure-Python loader: the reference for every error message."""
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
