"""The LibYAML path of the YAML loader composes exactly what the pure-Python loader composes.

``load_yaml_text`` parses with LibYAML's events when PyYAML has it and falls back
to the pure-Python loader for any error (so every message is the reference
one). These tests hold the fast path to the reference: same nodes (tags,
values, styles, marks) on every YAML file of the repository and on mutated
copies of them, and the same YNodes and diagnostics from ``load_yaml_text``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from lead_rules.language.errors import Diagnostics
from lead_rules.language.yaml_source import YNode, fast_nodes, load_yaml_text, reference_nodes

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(p for d in ("policies", "schemas", "docs", "tests") for p in (ROOT / d).rglob("*.y*ml"))

pytestmark = pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML without LibYAML")


def shape(node: yaml.Node, seen: dict[int, int] | None = None) -> Any:
    """A comparable picture of a node graph: kind, tag, value, style and marks; shared nodes by first index."""
    seen = {} if seen is None else seen
    if id(node) in seen:
        return ("alias", seen[id(node)])
    seen[id(node)] = len(seen)
    sm, em = node.start_mark, node.end_mark
    marks = (sm.index, sm.line, sm.column, em.index, em.line, em.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    # flow_style: LibYAML says False (block) where PyYAML says None for an indentless sequence; nothing reads it
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, bool(node.flow_style), marks, [shape(n, seen) for n in node.value])
    return ("map", node.tag, bool(node.flow_style), marks, [(shape(k, seen), shape(v, seen)) for k, v in node.value])


def ynode_shape(node: YNode) -> Any:
    span = (node.span.line, node.span.column, node.span.end_line, node.span.end_column)
    if node.kind == "map":
        return (
            "map",
            span,
            [(k, (s.line, s.column, s.end_column), ynode_shape(v)) for k, (s, v) in node.entries.items()],
        )
    if node.kind == "seq":
        return ("seq", span, [ynode_shape(i) for i in node.items])
    offsets = [node.expr_span(i, i + 1) for i in range(len(node.value))] if isinstance(node.value, str) else []
    return ("scalar", span, repr(node.value), node.raw, [(o.line, o.column) for o in offsets])


def loaded(text: str, fast: bool) -> tuple[Any, list[str]]:
    diags = Diagnostics()
    node = load_yaml_text(text, "f.yaml", diags, fast=fast)
    return (None if node is None else ynode_shape(node)), [d.render() for d in diags.items]


def same_as_reference(text: str) -> bool:
    """Assert the fast path agrees with the reference on ``text``; return whether it took it."""
    taken, root = fast_nodes(text)
    if taken:
        reference = reference_nodes(text)  # the fast path only takes what the reference accepts
        assert (None if root is None else shape(root)) == (None if reference is None else shape(reference))
    assert loaded(text, fast=True) == loaded(text, fast=False)
    return taken


def test_the_repository_files_have_files_to_compare() -> None:
    assert len(FILES) > 40


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_of_the_repository_composes_the_same(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    taken = same_as_reference(text)
    if "\t" not in text and "\ufeff" not in text and "\ufffd" not in text:
        assert taken, "a plain YAML file should take the fast path"


SNIPPETS = [
    "",
    "---\n",
    "# only a comment\n",
    "a: " + "[" * 100_000 + "\n",  # LibYAML scans a deep flow nesting without trouble; the limit is the reference's
    "\n".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)).replace("*a0", "x") + "\n",
    "a: 1\n",
    "- a\n- b: [1, 2, {c: d}]\n",
    "a: &x [1, 2]\nb: *x\nc: *x\n",
    "a: &x {k: v}\nb: {<<: *x, j: w}\n",
    "a: *undefined\n",
    "a: &x 1\nb: &x 2\n",
    "a: 1\n---\nb: 2\n",
    "a: 'it''s'\nb: \"\\u00e9\\x41\\t\"\nc: |\n  x\n   y\nd: >-\n  p\n  q\n",
    "? complex\n: key\n",
    "a: !!int 12\nb: !!str 12\nc: !!python/object:os.system x\n",
    "a: !custom x\n",
    "!!set {a, b}\n",
    "a: 2027-02-30\nb: 0x1F\nc: 1_000\nd: .inf\ne: ~\nf: yes\n",
    "a: 123456789012345678901234567890\n",
    "a: b: c\n",
    "a:\n  - b\n - c\n",
    "a: [1, 2\n",
    "a: 'unterminated\n",
    'a: "\\q"\n',
    "%YAML 1.1\n---\na: 1\n",
    "%YAML 1.2\n---\na: 1\n",
    "%YAML 2.0\n---\na: 1\n",
    "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    "a: 1\r\nb:\r\n  - 2\r\n",
    "a: 1\rb: 2\r",
    "a: é ü — 😀\nb: [😀, x]\n",
    "a:\tb\n",
    "\ufeffa: 1\n",
    "a: x\x85b: y\n",
    "a: x\u2028b\n",
    "a: \x07\n",
    "[" * 70 + "]" * 70 + "\n",
    "a: " + "[" * 63 + "]" * 63 + "\n",
    "- " * 70 + "x\n",
    "a: 1 # comment\n# only comment\n",
    "a: - b\n",
    "a: {b: c, d}\n",
    "a: [b: c, d]\n",
    "- [a, b]: c\n",
    "a: `x`\n",
    "a: @x\n",
    "...\n",
    "a: 1\n...\n",
    "a: b\n  c\n  d\n",
    "a: 'x\n\n  y'\n",
    'a: "x\\\n  y"\n',
    "a: |2\n   x\n",
    "a: |+\n  x\n\n",
    "a: >\n  x\n\n  y\n",
    "a:\nb:\n  c:\n  d: [x, ]\n- \n",
    "a:\n  - \n  -\n  - x\n",
    "a: {b: , c: d}\n",
    "a: {b: ,[c]}\n",
    "a: {b: x?y}\n",
    "a: [x?y, z]\n",
    "a: {b:}\n",
    "a: {url: http://x.org/a?b=c}\n",
    "a: [b, c]",
    "a: |\n  x",
    "a: x?y\nb: ?z\n",
    "a: [b\n  c, d]\n",
    "a: {? b : c}\n",
    "[a, b]: c\n",
    "a: &anchor\n  b: 1\nc: *anchor\n",
    "a: !\n",  # the non-specific tag on an empty value: null on both paths (QA probe)
    "a: ! \nb: 1\n",
    "?: ! \r\n",
    "a: ! [1]\nb: ! {c: d}\n",
    "a: !!float ",  # an empty float at the end of the file: its text, not an IndexError
    "a: !!float \r",
    "a: !!str 1\nb: !!int &x",
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_edge_cases_compose_the_same_or_fall_back(text: str) -> None:
    same_as_reference(text)


def test_the_fast_path_is_taken_for_ordinary_yaml_and_declined_for_tabs() -> None:
    assert fast_nodes("a: [1, {b: c}]\n")[0]
    assert not fast_nodes("a:\tb\n")[0]
    assert not fast_nodes("a: [1\n")[0]  # an error: the reference loader reports it


MUTATIONS = [
    ":",
    "-",
    " ",
    "  ",
    "\n",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "#",
    "&a ",
    "*a",
    "!",
    "|",
    ">",
    "?",
    ",",
    "%",
    "\\",
    "\r\n",
    "\\u",
    "- ",
    ": ",
    "&a",
    "!!str ",
    "? ",
    " #",
    ", ",
    "[]",
    "{}",
    "...",
    "---",
    "\n  ",
    "|-",
    ">+",
    "\r",
    "é",
]


def mutants(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    small = [p for p in FILES if p.stat().st_size < 1500 and "\t" not in p.read_text(errors="replace")]
    out = []
    for _ in range(count):
        text = rng.choice(small).read_text(errors="replace")
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(text) + 1)
            op = rng.random()
            if op < 0.4:
                text = text[:i] + rng.choice(MUTATIONS) + text[i:]
            elif op < 0.7:
                text = text[:i] + text[i + rng.randint(1, 4) :]
            else:
                lines = text.splitlines(keepends=True)
                j = rng.randrange(len(lines))
                lines.insert(rng.randrange(len(lines) + 1), lines[j])
                text = "".join(lines)
        out.append(text)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_mutated_files_compose_the_same_or_fall_back(seed: int) -> None:
    texts = mutants(seed, 60)
    taken = sum(same_as_reference(text) for text in texts)
    assert 0 < taken < len(texts)  # both paths exercised
