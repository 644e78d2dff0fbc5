"""Syntax hints for the usual slips, with the exact caret under the culprit (table-driven)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lead_rules.engine.policy import check_policy
from lead_rules.language.parser import ExpressionSyntaxError, parse_text

# expression, the caret line under it (columns matter), message fragment, hint fragment
SLIPS = [
    ("a = 1", "  ^", "unexpected '='", "'=='"),
    ("x == 1 && y", "       ^^", "'&&'", "write 'and'"),
    ("x || y", "  ^^", "'||'", "write 'or'"),
    ("! x", "^", "'!'", "write 'not'"),
    ("x AND y", "  ^^^", "'AND'", "write 'and'"),
    ("x OR y", "  ^^", "'OR'", "write 'or'"),
    ("NOT x", "^^^", "'NOT'", "write 'not'"),
    ("d < 2028-01-01", "    ^^^^^^^^^^", "bare date", "@2028-01-01"),
    ("m >= 2027-03", "     ^^^^^^^", "bare month", "@2027-03"),
    ("f(a, (b + c)", " ^", "'(' is never closed", "add ')'"),
    ("(a and (b or c)", "^", "'(' is never closed", "add ')'"),
    ("x in [1, 2", "     ^", "'[' is never closed", "add ']'"),
    ("x in {1, 2", "     ^", "'{' is never closed", "add '}'"),
]

# not slips: these parse (strings and comments are not scanned for dates; `=` names an argument)
FINE = ['x == "2028-01-01"', "d < @2028-01-01", "m >= @2027-03", "andy == 1", "x != y", "py - 2027 - 1"]


@pytest.mark.parametrize(("text", "caret", "message", "hint"), SLIPS, ids=[s[0] for s in SLIPS])
def test_slip_offsets(text: str, caret: str, message: str, hint: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_text(text)
    err = info.value
    assert " " * err.start + "^" * (err.end - err.start) == caret
    assert message in err.message
    assert err.hint is not None and hint in err.hint


@pytest.mark.parametrize("text", FINE)
def test_not_a_slip(text: str) -> None:
    parse_text(text)


@pytest.mark.parametrize(("text", "caret", "message", "hint"), SLIPS, ids=[s[0] for s in SLIPS])
def test_slip_in_a_policy_file(tmp_path: Path, text: str, caret: str, message: str, hint: str) -> None:
    """The same caret in the file's snippet, at file:line:column, with the hint."""
    prefix = "    expr: "
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "policy: {id: t, title: t, version: '1'}\n"
        "criteria:\n"
        "  c:\n"
        f"{prefix}'{text}'\n"
        "pathways:\n"
        "  p: {requires: [c]}\n"
        "hierarchy: [p]\n",
        encoding="utf-8",
    )
    _, diagnostics = check_policy(policy)
    (d,) = diagnostics
    assert d.code == "E101"
    assert (d.span.line, d.span.column) == (4, len(prefix) + 2 + caret.index("^"))
    head, source, under, note = d.render().splitlines()
    assert message in head
    gutter = "    4 | "
    assert source == gutter + prefix + f"'{text}'"
    assert under[len(gutter):] == " " * (len(prefix) + 1) + caret
    assert hint in note
