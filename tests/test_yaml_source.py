"""YAML with positions: spans of keys, items and scalars, and per-character offsets of expressions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lead_rules.engine.policy import check_policy
from lead_rules.language.errors import Diagnostics
from lead_rules.language.yaml_source import YNode, load_yaml_file, load_yaml_text


def load(text: str) -> tuple[YNode, Diagnostics]:
    diags = Diagnostics()
    node = load_yaml_text(text, "f.yaml", diags)
    assert node is not None, [d.render() for d in diags.items]
    return node, diags


def test_spans_of_keys_items_and_scalars() -> None:
    root, diags = load("a:\n  b: 1\n  c: [x, 'y']\nd: text\n")
    assert not diags.items
    assert root.plain() == {"a": {"b": 1, "c": ["x", "y"]}, "d": "text"}
    key_b = root.entries["a"][1].key_span("b")
    assert (key_b.line, key_b.column, key_b.end_column) == (2, 3, 4)
    seq = root.entries["a"][1].get("c")
    assert seq is not None and seq.kind == "seq"
    assert [(x.span.line, x.span.column) for x in seq.items] == [(3, 7), (3, 10)]
    d = root.get("d")
    assert d is not None and (d.span.line, d.span.column, d.span.end_column) == (4, 4, 8)
    assert root.get("missing") is None
    assert root.key_span("missing") == root.span


@pytest.mark.parametrize(
    ("text", "value", "char", "line", "column"),
    [
        # offsets map each character of the value to its place in the file
        ("e: a + b\n", "a + b", "b", 1, 8),
        ("e: 'it''s b'\n", "it's b", "b", 1, 11),
        ('e: "x \\"q\\" b"\n', 'x "q" b', "b", 1, 13),
        ("e: |\n  a\n  and b\n", "a\nand b\n", "b", 3, 7),
        ("e: >-\n  a\n  and b\n", "a and b", "b", 3, 7),
        ("e: a\n  and b\n", "a and b", "b", 2, 7),
        ('e: "\\t\\u00e9 b"\n', "\t\u00e9 b", "b", 1, 14),
    ],
)
def test_expression_offsets_for_every_scalar_style(text: str, value: str, char: str, line: int, column: int) -> None:
    root, _ = load(text)
    node = root.get("e")
    assert node is not None and node.value == value
    k = value.index(char)
    span = node.expr_span(k, k + 1)
    assert (span.line, span.column) == (line, column)
    assert text.splitlines()[line - 1][column - 1] == char


def test_expr_span_is_clamped_and_spans_several_characters() -> None:
    root, _ = load("e: abc + def\n")
    node = root.get("e")
    assert node is not None
    span = node.expr_span(6, 9)
    assert (span.line, span.column, span.end_line, span.end_column) == (1, 10, 1, 13)
    end = node.expr_span(len(node.value), len(node.value) + 1)
    assert (end.line, end.column) == (1, 12)  # past the end: the last character


def test_duplicate_key_is_e003_at_the_second_key() -> None:
    _, diags = load("a: 1\nb: 2\na: 3\n")
    assert [(d.code, d.span.line, d.span.column) for d in diags.items] == [("E003", 3, 1)]
    assert "duplicate key 'a'" in diags.items[0].message


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: [1, 2\nb: 3\n", 2), ("a: 'open\n", 2), ("a:\n\t- 1\n", 2), ("a: 1\n b: 2\n", 2)],
)
def test_yaml_syntax_error_is_e001_with_its_line(text: str, line: int) -> None:
    diags = Diagnostics()
    assert load_yaml_text(text, "f.yaml", diags) is None
    assert [d.code for d in diags.items] == ["E001"]
    assert diags.items[0].span.line == line
    assert diags.items[0].message.startswith("invalid YAML")


def test_unsafe_tags_are_rejected_not_constructed() -> None:
    diags = Diagnostics()
    assert load_yaml_text("a: !!python/object/apply:os.system ['true']\n", "f.yaml", diags) is None
    assert [d.code for d in diags.items] == ["E001"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 2027-02-30\n", "2027-02-30"),  # looks like a date, is not one
        ("a: 2027-01-01 25:00:00\n", "2027-01-01 25:00:00"),
        ("a: !!int x\n", "x"),
        ("a: !!float y\n", "y"),
        ("a: !!timestamp z\n", "z"),
        ("a: 2027-02-28\n", dt.date(2027, 2, 28)),
    ],
)
def test_scalars_that_do_not_construct_keep_their_text(text: str, expected: object) -> None:
    root, diags = load(text)
    assert not diags.items
    assert root.plain() == {"a": expected}


def test_empty_document_is_an_empty_mapping() -> None:
    root, diags = load("# nothing\n")
    assert root.kind == "map" and root.plain() == {} and not diags.items


def test_unreadable_file_is_e002(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("a: caf\xe9\n".encode("latin-1"))
    diags = Diagnostics()
    assert load_yaml_file(bad, diags) is None
    assert [d.code for d in diags.items] == ["E002"]
    diags = Diagnostics()
    assert load_yaml_file(tmp_path / "missing.yaml", diags) is None
    assert [d.code for d in diags.items] == ["E002"]


def test_at_follows_a_validation_location() -> None:
    root, _ = load("params:\n  x:\n    type: int\n    value: [1, 2]\n")
    span, is_key = root.at(("params", "x", "value", 1))
    assert (span.line, span.column, is_key) == (4, 16, False)
    span, _ = root.at(("params", "nope"))
    assert span.line == 2  # the mapping that lacks the key


def test_an_impossible_date_in_a_policy_is_reported_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "policy:\n"
        "  id: t\n"
        "  title: t\n"
        '  version: "1"\n'
        "  effective: {from: 2027-02-30}\n"
        "parameters:\n"
        "  start:\n"
        "    type: date\n"
        "    value: 2027-02-30\n"
        "criteria:\n"
        "  c: {expr: start is null}\n"
        "pathways:\n"
        "  p: {requires: [c]}\n"
        "hierarchy: [p]\n",
        encoding="utf-8",
    )
    policy, diags = check_policy(path)  # used to raise ValueError from PyYAML
    assert policy is None
    assert [(d.code, d.span.line) for d in diags] == [("E010", 5), ("E301", 9)]
    assert "policy.effective.from" in diags[0].message
    assert "is not a date" in diags[1].message


@pytest.mark.parametrize(
    "text",
    [
        "e: a + b  and c\n",
        "e: 'a + \"b\"  and c'\n",
        'e: "a + \'b\'  and c"\n',
        "e: 'it''s  b'\n",
        'e: "x \\"q\\" \\u00e9 b"\n',
        "e:   bene.x  in  [1, 2]   # comment\n",
        "e: >-\n  a +\n  b\n",
        "e: |\n  a\n    and  b\n",
        "e: a\n  and  b\n",
    ],
)
def test_every_character_of_an_expression_maps_to_where_it_is_written(text: str) -> None:
    root, _ = load(text)
    node = root.get("e")
    assert node is not None and isinstance(node.value, str)
    lines = text.splitlines()
    for k, ch in enumerate(node.value):
        span = node.expr_span(k, k + 1)
        written = lines[span.line - 1][span.column - 1]
        if ch.isspace():  # a space maps to the character before it (or the scalar's start)
            assert k == 0 or span == node.expr_span(k - 1, k) or node.value[k - 1].isspace()
        elif "\\" not in text:
            assert written == ch, (k, ch, span)
