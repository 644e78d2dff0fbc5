"""Parser and lowering: expression text -> frozen AST, and syntax errors located in the YAML file.

The expected trees are written by hand from grammar/expr.lark and the
precedence table of docs/language.md; AST equality ignores spans and text, so
they are built directly from the node classes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from lead_rules.engine.policy import check_policy
from lead_rules.language import ast
from lead_rules.language.ast import (
    Attr,
    Binary,
    BoolOp,
    Call,
    Collection,
    Compare,
    Comprehension,
    Cond,
    Expr,
    IsNull,
    Literal,
    Name,
    Neg,
    Not,
)
from lead_rules.language.errors import Diagnostic, Diagnostics, Span
from lead_rules.language.loader import parse_expr
from lead_rules.language.parser import ExpressionSyntaxError, parse_text
from lead_rules.language.values import Month
from lead_rules.language.yaml_source import YNode


def parse(text: str) -> Expr:
    node = YNode("scalar", Span("<test>", 1, 1, 1, 1), value=text)
    diags = Diagnostics()
    expr = parse_expr(node, diags)
    assert expr is not None, [d.message for d in diags.items]
    assert not diags.items
    return expr


def parse_error(text: str) -> Diagnostic:
    node = YNode("scalar", Span("<test>", 1, 1, 1, 1), value=text)
    diags = Diagnostics()
    assert parse_expr(node, diags) is None
    assert len(diags.items) == 1, diags.items
    return diags.items[0]


def n(name: str) -> Name:
    return Name(name)


def i(v: int) -> Literal:
    return Literal(v, "int")


def s(v: str) -> Literal:
    return Literal(v, "string")


def a(obj: Expr | str, *fields: str) -> Expr:
    out: Expr = n(obj) if isinstance(obj, str) else obj
    for f in fields:
        out = Attr(out, f)
    return out


NULL = Literal(None, "null")
TRUE = Literal(True, "bool")
FALSE = Literal(False, "bool")

TABLE: list[tuple[str, Expr]] = [
    # arithmetic precedence and left associativity
    ("1 + 2 * 3", Binary("+", i(1), Binary("*", i(2), i(3)))),
    ("(1 + 2) * 3", Binary("*", Binary("+", i(1), i(2)), i(3))),
    ("10 - 2 - 3", Binary("-", Binary("-", i(10), i(2)), i(3))),
    ("10 - (2 - 3)", Binary("-", i(10), Binary("-", i(2), i(3)))),
    ("8 / 4 / 2", Binary("/", Binary("/", i(8), i(4)), i(2))),
    ("8 / 4 * 2", Binary("*", Binary("/", i(8), i(4)), i(2))),
    ("1 - 2 + 3", Binary("+", Binary("-", i(1), i(2)), i(3))),
    ("-2 * 3", Binary("*", Neg(i(2)), i(3))),
    ("- - 1", Neg(Neg(i(1)))),
    ("1 - -1", Binary("-", i(1), Neg(i(1)))),
    ("-a.b", Neg(a("a", "b"))),
    ("a.b * c.d + e", Binary("+", Binary("*", a("a", "b"), a("c", "d")), n("e"))),
    # comparison binds looser than arithmetic, tighter than not/and/or
    ("a + 1 > b * 2", Compare(">", Binary("+", n("a"), i(1)), Binary("*", n("b"), i(2)))),
    ("a == b", Compare("==", n("a"), n("b"))),
    ("a != b", Compare("!=", n("a"), n("b"))),
    ("a <= b", Compare("<=", n("a"), n("b"))),
    ("a >= b", Compare(">=", n("a"), n("b"))),
    ("a < b", Compare("<", n("a"), n("b"))),
    ("x in {1, 2}", Compare("in", n("x"), Collection("set", (i(1), i(2))))),
    ("x not in [1]", Compare("not in", n("x"), Collection("list", (i(1),)))),
    ("x + 1 in L", Compare("in", Binary("+", n("x"), i(1)), n("L"))),
    ("x is null", IsNull(n("x"), False)),
    ("x is not null", IsNull(n("x"), True)),
    ("a.b + 1 is null", IsNull(Binary("+", a("a", "b"), i(1)), False)),
    # not / and / or
    ("not a == b", Not(Compare("==", n("a"), n("b")))),
    ("not not a", Not(Not(n("a")))),
    ("not a and b", BoolOp("and", (Not(n("a")), n("b")))),
    ("not (a and b)", Not(BoolOp("and", (n("a"), n("b"))))),
    ("not a in b", Not(Compare("in", n("a"), n("b")))),
    ("a not in b and c", BoolOp("and", (Compare("not in", n("a"), n("b")), n("c")))),
    ("a or b and c", BoolOp("or", (n("a"), BoolOp("and", (n("b"), n("c")))))),
    ("a and b or c", BoolOp("or", (BoolOp("and", (n("a"), n("b"))), n("c")))),
    ("(a or b) and c", BoolOp("and", (BoolOp("or", (n("a"), n("b"))), n("c")))),
    ("a or b or c", BoolOp("or", (n("a"), n("b"), n("c")))),
    ("a and b and c and d", BoolOp("and", (n("a"), n("b"), n("c"), n("d")))),
    ("a == 1 and b in S", BoolOp("and", (Compare("==", n("a"), i(1)), Compare("in", n("b"), n("S"))))),
    ("a is null or a > 1", BoolOp("or", (IsNull(n("a"), False), Compare(">", n("a"), i(1))))),
    # if/then/else is the loosest and nests to the right
    ("if a then 1 else 2", Cond(n("a"), i(1), i(2))),
    ("if a then 1 else if b then 2 else 3", Cond(n("a"), i(1), Cond(n("b"), i(2), i(3)))),
    ("if a or b then c and d else e", Cond(BoolOp("or", (n("a"), n("b"))), BoolOp("and", (n("c"), n("d"))), n("e"))),
    ("(if a then 1 else 2) + 3", Binary("+", Cond(n("a"), i(1), i(2)), i(3))),
    ("if if a then b else c then 1 else 2", Cond(Cond(n("a"), n("b"), n("c")), i(1), i(2))),
    # field access and calls
    ("bene.residence.state", a("bene", "residence", "state")),
    ("f()", Call("f", (), ())),
    ("date(2027, 1, 1)", Call("date", (i(2027), i(1), i(1)), ())),
    ("f(x.y, g(1))", Call("f", (a("x", "y"), Call("g", (i(1),), ())), ())),
    ("f(1, k = 2)", Call("f", (i(1),), (("k", i(2)),))),
    ("f(x).y", Attr(Call("f", (n("x"),), ()), "y")),
    ("(a).b", a("a", "b")),
    # literals
    ("42", i(42)),
    ("0", i(0)),
    ("12.50", Literal(Decimal("12.50"), "decimal")),
    ("0.5", Literal(Decimal("0.5"), "decimal")),
    ("'text'", s("text")),
    ('"text"', s("text")),
    ("''", s("")),
    ("'it\\'s'", s("it's")),
    ('"say \\"hi\\""', s('say "hi"')),
    ("'say \"hi\"'", s('say "hi"')),
    ('"it\'s"', s("it's")),
    ("'a\\nb'", s("a\nb")),
    ("'a\\tb'", s("a\tb")),
    ("'back\\\\slash'", s("back\\slash")),
    ("'# not a comment'", s("# not a comment")),
    ("true", TRUE),
    ("false", FALSE),
    ("null", NULL),
    ("@2027-01-05", Literal(dt.date(2027, 1, 5), "date")),
    ("@2028-02-29", Literal(dt.date(2028, 2, 29), "date")),
    ("@2027-06", Literal(Month(2027, 6), "month")),
    ("@2027-12", Literal(Month(2027, 12), "month")),
    ("[1, 2]", Collection("list", (i(1), i(2)))),
    ("[]", Collection("list", ())),
    ("[1,]", Collection("list", (i(1),))),
    ("['a', null]", Collection("list", (s("a"), NULL))),
    ('{"02", "04"}', Collection("set", (s("02"), s("04")))),
    ("{}", Collection("set", ())),
    ("[@2027-01, @2027-02-03]", Collection(
        "list", (Literal(Month(2027, 1), "month"), Literal(dt.date(2027, 2, 3), "date"))
    )),
    ("[[1], []]", Collection("list", (Collection("list", (i(1),)), Collection("list", ())))),
    # comprehensions
    ("count(x for x in L)", Comprehension("count", n("x"), "x", n("L"), None, (), ())),
    (
        "sum(c.allowed for c in bene.claims where c.hcpcs in codes)",
        Comprehension(
            "sum", a("c", "allowed"), "c", a("bene", "claims"), Compare("in", a("c", "hcpcs"), n("codes")), (), ()
        ),
    ),
    (
        "list(x * 2 for x in [1, 2] where x > 1 and x < 5)",
        Comprehension(
            "list",
            Binary("*", n("x"), i(2)),
            "x",
            Collection("list", (i(1), i(2))),
            BoolOp("and", (Compare(">", n("x"), i(1)), Compare("<", n("x"), i(5)))),
            (),
            (),
        ),
    ),
    (
        "group_sum(c.allowed for c in claims by c.tin)",
        Comprehension("group_sum", a("c", "allowed"), "c", n("claims"), None, (a("c", "tin"),), ()),
    ),
    (
        'argmax(g.key for g in totals where g.total > 0 by g.total then g.n then -g.m, ties = "none")',
        Comprehension(
            "argmax",
            a("g", "key"),
            "g",
            n("totals"),
            Compare(">", a("g", "total"), i(0)),
            (a("g", "total"), a("g", "n"), Neg(a("g", "m"))),
            (("ties", s("none")),),
        ),
    ),
    (
        "argmin(v for v in L by v, ties = rule)",
        Comprehension("argmin", n("v"), "v", n("L"), None, (n("v"),), (("ties", n("rule")),)),
    ),
    (
        "any(all(m.ok for m in y.months) for y in years)",
        Comprehension(
            "any",
            Comprehension("all", a("m", "ok"), "m", a("y", "months"), None, (), ()),
            "y",
            n("years"),
            None,
            (),
            (),
        ),
    ),
    (
        "count(x for x in L where if x.a then x.b else false)",
        Comprehension("count", n("x"), "x", n("L"), Cond(a("x", "a"), a("x", "b"), FALSE), (), ()),
    ),
    ("count(L) > 0", Compare(">", Call("count", (n("L"),), ()), i(0))),
    (
        "list(if x then 1 else 2 for x in L)",
        Comprehension("list", Cond(n("x"), i(1), i(2)), "x", n("L"), None, (), ()),
    ),
    ("any(x in S for x in L)", Comprehension("any", Compare("in", n("x"), n("S")), "x", n("L"), None, (), ())),
    (
        "count(x for x in L where x not in S)",
        Comprehension("count", n("x"), "x", n("L"), Compare("not in", n("x"), n("S")), (), ()),
    ),
    # keywords are whole words only; comments and line breaks are ignored
    ("notes and index", BoolOp("and", (n("notes"), n("index")))),
    ("order or iffy", BoolOp("or", (n("order"), n("iffy")))),
    ("nullable is null", IsNull(n("nullable"), False)),
    ("true_value == false_value", Compare("==", n("true_value"), n("false_value"))),
    ("byline_count + formal", Binary("+", n("byline_count"), n("formal"))),
    ("thenx", n("thenx")),
    ("a # a comment", n("a")),
    ("a\n  and b # why\n  and c", BoolOp("and", (n("a"), n("b"), n("c")))),
]


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[t for t, _ in TABLE])
def test_parse_table(text: str, expected: Expr) -> None:
    assert parse(text) == expected


def test_equality_ignores_spans_and_text() -> None:
    assert parse("a+b*2") == parse("  a  +  b * 2  # note")
    assert hash(parse("a+b")) == hash(parse("a + b"))
    assert parse("a + b") != parse("a - b")
    assert parse("1") != parse("1.0")  # int and decimal literals differ in kind


def test_node_text_and_span_point_into_the_source() -> None:
    text = "x + f(y, 2) * z"
    node = YNode("scalar", Span("f.yaml", 3, 11, 3, 11 + len(text)), value=text)
    # one file position per character: column 11 + index on line 3
    node.offsets = tuple((3, 11 + k) for k in range(len(text)))
    diags = Diagnostics()
    expr = parse_expr(node, diags)
    assert isinstance(expr, Binary)
    assert expr.text == text
    product = expr.right
    assert isinstance(product, Binary) and product.text == "f(y, 2) * z"
    assert (product.span.line, product.span.column, product.span.end_column) == (3, 15, 26)
    call = product.left
    assert isinstance(call, Call) and call.text == "f(y, 2)"
    assert call.args[1].span.column == 11 + text.index("2")


def test_attr_span_is_the_field_name() -> None:
    text = "bene.death_dat"
    node = YNode("scalar", Span("f.yaml", 1, 1, 1, 15), value=text)
    node.offsets = tuple((1, 1 + k) for k in range(len(text)))
    expr = parse_expr(node, Diagnostics())
    assert isinstance(expr, Attr)
    assert (expr.span.column, expr.span.end_column) == (6, 15)
    assert expr.text == "bene.death_dat"


def test_walk_visits_every_node_in_pre_order() -> None:
    expr = parse("a and f(b, c.d)")
    kinds = [type(x).__name__ for x in ast.walk(expr)]
    assert kinds == ["BoolOp", "Name", "Call", "Name", "Attr", "Name"]


def test_comprehension_children_in_evaluation_order() -> None:
    expr = parse('argmax(x.v for x in L where x.ok by x.s, ties = "none")')
    assert isinstance(expr, Comprehension)
    assert [c.text for c in expr.children()] == ["L", "x.ok", "x.v", "x.s", '"none"']


@pytest.mark.parametrize(
    ("text", "message", "expected"),
    [
        ("", "unexpected end of expression", None),
        ("1 +", "unexpected end of expression", None),
        ("a b", "unexpected 'b'", None),
        ("1 < 2 < 3", "unexpected '<'", None),  # comparisons are not chained
        ("a in b in c", "unexpected 'in'", None),
        ("if a then b", "unexpected end of expression", "'else'"),
        ("x.", "unexpected end of expression", "a name"),
        ("f(1,", "unexpected end of expression", None),
        ("a $ b", "unexpected character '$'", None),
        ("'open", "unexpected character", None),
        ("@2027-1-1", "unexpected character '@'", None),
        ("a.b.c(1)", "unexpected '('", None),  # only names are called
        ("1..2", "unexpected '.'", None),
        ("x is", "unexpected end of expression", "'null'"),
        ("a =", "unexpected '='", None),
    ],
)
def test_syntax_errors(text: str, message: str, expected: str | None) -> None:
    diag = parse_error(text)
    assert diag.code == "E101"
    assert message in diag.message
    if expected is not None:
        assert diag.hint is not None and expected in diag.hint


def test_expected_tokens_are_named_readably() -> None:
    diag = parse_error("1 + ")
    assert diag.hint is not None
    assert "'-'" in diag.hint and "minus" not in diag.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@2027-02-30", "invalid date '2027-02-30'"),
        ("@2027-13", "invalid month '2027-13'"),
        ("'a\\qb'", "unknown escape '\\q'"),
        ("f(a = 1, 2)", "positional argument after keyword argument"),
        ('argmax(x for x in L by x, ties = "none", ties = "lowest")', "keyword argument 'ties' given twice"),
        ("coalesce(x for x in L)", "'coalesce' does not take a comprehension"),
        ("not " * 101 + "a", "nested too deeply"),
    ],
)
def test_invalid_constructs_are_e102(text: str, message: str) -> None:
    diag = parse_error(text)
    assert diag.code == "E102"
    assert message in diag.message


def test_nesting_at_the_limit_is_fine() -> None:
    expr = parse("not " * 99 + "a")
    depth = 0
    while isinstance(expr, Not):
        expr, depth = expr.operand, depth + 1
    assert depth == 99


def test_long_flat_chains_do_not_nest() -> None:
    parse(" or ".join(f"x{k}" for k in range(500)))
    parse("(" * 300 + "a" + ")" * 300)


@pytest.mark.parametrize("text", ["", "(((", ")", "\x00", "'\\", "@", "a." * 50, "#", "[" * 1000, "é", "a ; b"])
def test_parse_text_raises_only_our_error(text: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_text(text)
    assert 0 <= info.value.start <= len(text)
    assert info.value.end > info.value.start


# --- syntax errors located in the YAML file -------------------------------------

HEAD = 'policy: {id: t, title: t, version: "1"}\nhierarchy: [p]\npathways:\n  p: {requires: [c]}\ncriteria:\n  c:\n'
# the expression scalar starts on line 7; `    expr: ` is 10 characters, so a
# plain scalar starts at column 11 and a quoted one has its quote there.

YAML_CASES = [
    # (id, criteria text, line, column) -- columns counted by hand
    ("plain", "    expr: bene.bene_id == == 'x'\n", 7, 27),
    ("double-quoted", '    expr: "bene.bene_id ) 1"\n', 7, 25),
    ("double-quoted-escapes", '    expr: "bene.bene_id == \\"x\\" )"\n', 7, 34),
    ("double-quoted-unicode-escape", '    expr: "\'\\u00e9\' == )"\n', 7, 24),
    ("single-quoted", "    expr: 'bene.bene_id == ''a'' )'\n", 7, 34),
    ("block-literal", "    expr: |\n      bene.bene_id == 'x'\n        and bene.birth_date >) 1\n", 9, 30),
    ("block-folded", "    expr: >\n      bene.bene_id == 'x'\n      and bene.birth_date >) 1\n", 9, 28),
    ("plain-multiline", "    expr: bene.bene_id == 'x'\n      and bene.birth_date >) 1\n", 8, 28),
    ("unexpected-character", "    expr: bene.bene_id $ 1\n", 7, 24),
    ("end-of-expression", "    expr: 'bene.bene_id =='\n", 7, 26),  # the last character
]


def _one_error(path: Path) -> Diagnostic:
    policy, diags = check_policy(path)
    assert policy is None
    errors = [d for d in diags if d.severity == "error"]
    assert len(errors) == 1, [d.render() for d in errors]
    return errors[0]


@pytest.mark.parametrize(("name", "criterion", "line", "column"), YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_syntax_error_points_into_the_yaml_file(
    tmp_path: Path, name: str, criterion: str, line: int, column: int
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + criterion, encoding="utf-8")
    diag = _one_error(path)
    assert diag.code == "E101"
    assert (diag.span.file, diag.span.line, diag.span.column) == (str(path), line, column)
    rendered = diag.render()
    assert rendered.startswith(f"{path}:{line}:{column}: error[E101]: syntax error")
    # the snippet shows the file line, and the caret sits under the column
    lines = rendered.splitlines()
    file_line = path.read_text(encoding="utf-8").splitlines()[line - 1]
    assert lines[1] == f"{line:>5} | {file_line}"
    caret = lines[2]
    assert caret.index("^") - len(f"{line:>5} | ") == column - 1


def test_bad_literal_is_located_with_its_width(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + "    expr: bene.birth_date == @2027-02-30\n", encoding="utf-8")
    diag = _one_error(path)
    assert diag.code == "E102"
    assert (diag.span.line, diag.span.column, diag.span.end_column) == (7, 30, 41)
    assert diag.render().splitlines()[2].split("|", 1)[1].strip() == "^" * 11


def test_every_broken_expression_is_reported_without_cascades(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        'policy: {id: t, title: t, version: "1"}\n'
        "hierarchy: [p]\n"
        "pathways:\n"
        "  p: {requires: [a, b, c]}\n"
        "definitions:\n"
        "  d:\n"
        "    expr: (1 +\n"
        "criteria:\n"
        "  a:\n"
        "    expr: d > 1\n"
        "  b:\n"
        "    expr: 'x =  = y'\n"
        "  c:\n"
        "    expr: b and @2027-13 == @2027-01\n",
        encoding="utf-8",
    )
    policy, diags = check_policy(path)
    assert policy is None
    # one error per broken expression; references to broken names (d, b) add nothing
    assert [(d.code, d.span.line) for d in diags] == [("E101", 7), ("E101", 12), ("E102", 14)]


def test_non_string_expression_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + "    expr: [a, b]\n", encoding="utf-8")
    diag = _one_error(path)
    assert diag.code == "E103"
    assert diag.span.line == 7


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("no", "YAML reads `no` as the boolean false"),
        ("Yes", "YAML reads `Yes` as the boolean true"),
        ("off", "YAML reads `off` as the boolean false"),
        ("2027-01-01", "write @2027-01-01 for a date literal"),
        ("2027-01-01 10:00:00", "YAML reads `2027-01-01 10:00:00` as a date"),
        ("~", "YAML reads `~` as null"),
        ("null", "YAML reads `null` as null"),
        ("", "the expression is empty"),
    ],
)
def test_yaml_typed_expression_text_is_an_error(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + f"    expr: {yaml_text}\n", encoding="utf-8")
    diag = _one_error(path)
    assert (diag.code, diag.span.line) == ("E104", 7)
    assert message in diag.message


@pytest.mark.parametrize("quoted", ["'no'", "'2027-01-01'", "\"null\""])
def test_quoted_yaml_text_is_an_expression(tmp_path: Path, quoted: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + f"    expr: {quoted}\n", encoding="utf-8")
    _, diags = check_policy(path)
    assert "E104" not in [d.code for d in diags]


@pytest.mark.parametrize(("yaml_value", "expected"), [("true", TRUE), ("12.5", Literal(Decimal("12.5"), "decimal"))])
def test_yaml_scalars_that_are_not_strings_still_parse(tmp_path: Path, yaml_value: str, expected: Expr) -> None:
    node = YNode("scalar", Span("f", 1, 1, 1, 1), value={"true": True, "12.5": 12.5}[yaml_value])
    diags = Diagnostics()
    assert parse_expr(node, diags) == expected
    assert not diags.items


def test_no_lark_exception_escapes(tmp_path: Path) -> None:
    bad = ["((", "a b c", "if", "f(,)", "[1 2]", "x for x in y", "'\\'", "a.1", "{a: 1}", "sum(x for x in L where)"]
    for k, text in enumerate(bad):
        path = tmp_path / f"p{k}.yaml"
        path.write_text(HEAD + f"    expr: {json.dumps(text)}\n", encoding="utf-8")  # JSON strings are YAML
        policy, diags = check_policy(path)  # must not raise
        assert policy is None
        assert diags and all(re.fullmatch(r"E\d{3}", d.code) for d in diags)
        assert all(d.span.file == str(path) and d.span.line == 7 for d in diags if d.code.startswith("E1"))
