"""Checker diagnostics as golden files.

Each policy under tests/fixtures/checker/ (a file, or a folder of files) marks
every line that must get a diagnostic with a YAML comment:

    expr: bene.death_dat is null  # expect: E201@16 unknown field 'death_dat' | hint: did you mean 'death_date'?

``@16`` (the column) and ``| hint: ...`` are optional. A comment line
``# ^ expect: ...`` is about the nearest line above it that is not a comment.
The test loads the policy, collects every diagnostic (errors and warnings)
and requires a one-to-one match with the annotations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lead_rules.engine.policy import check_policy
from lead_rules.language.errors import Diagnostic

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "checker"
CASES = sorted(p for p in FIXTURES.iterdir() if p.suffix == ".yaml" or p.is_dir())

_EXPECT = re.compile(r"#\s*(\^\s*)?expect:\s*(?P<code>[EW]\d{3})(?:@(?P<col>\d+))?\s+(?P<rest>.*)$")


@dataclass(frozen=True)
class Expectation:
    file: str
    line: int
    code: str
    message: str
    column: int | None
    hint: str | None

    def matches(self, d: Diagnostic) -> bool:
        return (
            d.span.file == self.file
            and d.span.line == self.line
            and d.code == self.code
            and self.message in d.message
            and (self.column is None or d.span.column == self.column)
            and (self.hint is None or (d.hint is not None and self.hint in d.hint))
        )

    def __str__(self) -> str:
        col = f"@{self.column}" if self.column else ""
        return f"{Path(self.file).name}:{self.line} {self.code}{col} {self.message!r}"


def expectations(path: Path) -> list[Expectation]:
    """The ``# expect:`` annotations of one fixture file."""
    out: list[Expectation] = []
    last_code_line = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        is_comment = line.lstrip().startswith("#")
        if not is_comment and line.strip():
            last_code_line = number
        m = _EXPECT.search(line)
        if m is None:
            continue
        below = m.group(1) is not None
        assert below == is_comment, f"{path.name}:{number}: use '# ^ expect:' on a comment line, '# expect:' beside"
        message, _, hint = m.group("rest").partition(" | hint: ")
        out.append(
            Expectation(
                str(path),
                last_code_line if below else number,
                m.group("code"),
                message.strip(),
                int(m.group("col")) if m.group("col") else None,
                hint.strip() or None,
            )
        )
    return out


def fixture_files(case: Path) -> list[Path]:
    return sorted(case.glob("*.yaml")) if case.is_dir() else [case]


def match(expected: list[Expectation], found: list[Diagnostic]) -> tuple[list[Expectation], list[Diagnostic]]:
    """Pair annotations with diagnostics one-to-one; return what is left on each side."""
    left = list(found)
    missing = []
    for exp in expected:
        hit = next((d for d in left if exp.matches(d)), None)
        if hit is None:
            missing.append(exp)
        else:
            left.remove(hit)
    return missing, left


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_checker_fixture(case: Path) -> None:
    expected = [e for f in fixture_files(case) for e in expectations(f)]
    assert expected, f"{case.name} has no annotations"
    policy, diags = check_policy(case)
    missing, unexpected = match(expected, diags)
    report = [f"missing: {m}" for m in missing] + [f"unexpected: {d.render()}" for d in unexpected]
    assert not report, "\n".join(report)
    has_errors = any(d.severity == "error" for d in diags)
    assert (policy is None) == has_errors
    for d in diags:
        # every diagnostic renders file:line:col, the source line and a caret under it
        head, source, caret, *_ = d.render().splitlines()
        assert head.startswith(f"{d.span.file}:{d.span.line}:{d.span.column}: {d.severity}[{d.code}]: ")
        assert source.endswith(Path(d.span.file).read_text(encoding="utf-8").splitlines()[d.span.line - 1])
        assert re.fullmatch(r" +\| +\^+", caret)
        assert caret.index("^") - caret.index("|") - 2 == d.span.column - 1
        if d.hint:
            assert d.render().endswith(f"= {d.hint}")


def test_annotations_are_parsed(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "a: 1  # expect: E201@7 unknown field 'x' | hint: did you mean 'y'?\n"
        "# a comment\n"
        "b:\n"
        "  # ^ expect: W301 never used\n",
        encoding="utf-8",
    )
    assert expectations(path) == [
        Expectation(str(path), 1, "E201", "unknown field 'x'", 7, "did you mean 'y'?"),
        Expectation(str(path), 3, "W301", "never used", None, None),
    ]


def test_done_when_four_errors_at_once() -> None:
    """A typo in a field name, a type error, an unknown reference and a cycle: all four, located."""
    path = FIXTURES / "done_when.yaml"
    policy, diags = check_policy(path)
    assert policy is None
    assert [d.severity for d in diags] == ["error"] * 4
    lines = path.read_text(encoding="utf-8").splitlines()
    where = {d.code: (d.span.line, d.span.column) for d in diags}
    assert set(where) == {"E201", "E203", "E202", "E220"}
    # each points at the offending text in the YAML file
    for code, token in [("E201", "death_dat"), ("E203", "bene.birth_date +"), ("E202", "home_states")]:
        line, column = where[code]
        assert lines[line - 1][column - 1 :].startswith(token), code
    line, column = where["E220"]
    assert lines[line - 1].strip().startswith("expr: first_year + 1")
    assert lines[line - 1][column - 1 :].startswith("first_year")


def test_duplicate_names_both_places() -> None:
    case = FIXTURES / "duplicates"
    _, diags = check_policy(case)
    shared = [d for d in diags if "'shared'" in d.message]
    assert len(shared) == 1
    assert shared[0].span.file == str(case / "b.yaml")
    assert shared[0].message.endswith(f"already defined at {case / 'a.yaml'}:5:3")


def test_errors_in_one_file_do_not_hide_the_other_files(make_policy: Callable[..., Path]) -> None:
    folder = make_policy(criteria={"c": "bene.bene_idd == 'x'"}).parent
    (folder / "more.yaml").write_text("definitions:\n  extra:\n    expr: 1 +\n", encoding="utf-8")
    _, diags = check_policy(folder)
    assert sorted((Path(d.span.file).name, d.code) for d in diags) == [("more.yaml", "E101"), ("policy.yaml", "E201")]


def test_missing_policy_and_hierarchy_sections(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("criteria:\n  c: {expr: 'true'}\n", encoding="utf-8")
    _, diags = check_policy(path)
    errors = [d for d in diags if d.severity == "error"]
    assert [(d.code, d.span.line) for d in errors] == [("E014", 1)]
    assert "no 'policy:' section" in errors[0].message
    path.write_text("policy: {id: a, title: b, version: '1'}\ncriteria:\n  c: {expr: 'true'}\n", encoding="utf-8")
    _, diags = check_policy(path)
    errors = [d for d in diags if d.severity == "error"]
    assert [(d.code, d.message) for d in errors] == [("E014", "the policy has no 'hierarchy:' of pathways")]


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("- a\n- b\n", "E010", 1),  # not a mapping
        ("policy: {id: a, title: b, version: '1'}\nhierarchy: p\n", "E010", 2),
        (
            "policy: {id: a, title: b, version: '1'}\ncriteria: {c: {expr: 'true'}}\n"
            "pathways: {p: {requires: [c]}}\nhierarchy: [p, [q]]\n",
            "E010",
            4,
        ),
        ("policy: {id: a, title: b, version: '1'}\ncriteria: [a, b]\nhierarchy: []\n", "E010", 2),
        ("policy: {id: a, title: b}\nhierarchy: []\n", "E010", 1),
    ],
)
def test_malformed_sections(tmp_path: Path, text: str, code: str, line: int) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    policy, diags = check_policy(path)
    assert policy is None
    assert [(d.code, d.span.line) for d in diags] == [(code, line)]


def test_no_such_policy(tmp_path: Path) -> None:
    _, diags = check_policy(tmp_path / "nope")
    assert [d.code for d in diags] == ["E002"]
    _, diags = check_policy(tmp_path)  # an empty folder
    assert [d.code for d in diags] == ["E002"]


def test_policy_tests_are_not_policy_files(make_policy: Callable[..., Path]) -> None:
    folder = make_policy().parent
    (folder / "cases.test.yaml").write_text("cases: [1, 2]\n", encoding="utf-8")
    (folder / "tests").mkdir()
    (folder / "tests" / "t.yaml").write_text("anything: 1\n", encoding="utf-8")
    policy, diags = check_policy(folder)
    assert policy is not None and not diags


def test_an_empty_section_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "policy: {id: a, title: b, version: '1'}\nparameters:\ndefinitions:\n"
        "criteria:\n  c: {expr: 'true'}\npathways:\n  p: {requires: [c]}\nhierarchy: [p]\n",
        encoding="utf-8",
    )
    policy, diags = check_policy(path)
    assert policy is not None and diags == []


@pytest.mark.parametrize(
    ("n", "ok"),
    [(49, True), (50, False), (120, False)],
)
@pytest.mark.parametrize("order", ["forward", "backward"])
def test_reference_chains_have_a_depth_limit(make_policy: Callable[..., Path], n: int, ok: bool, order: str) -> None:
    """A chain c -> d{n-1} -> ... -> d0 of n+1 items: at most 50 are allowed, and never a crash."""
    defs = {"d0": "1", **{f"d{k}": f"d{k - 1} + 1" for k in range(1, n)}}
    if order == "backward":
        defs = dict(reversed(defs.items()))
    path = make_policy(definitions=defs, criteria={"c": f"d{n - 1} > 0"})
    policy, diags = check_policy(path)
    assert (policy is not None) == ok
    if ok:
        decision = policy.evaluate({"bene_id": "x"}, {"performance_year": 2028, "acos": [{"id": "A"}]})  # type: ignore[union-attr]
        assert decision.outcome == "aligned"
    else:
        assert [d.code for d in diags] == ["E221"]


def test_snippet_follows_an_edited_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    head = "policy: {id: a, title: b, version: '1'}\nhierarchy: [p]\npathways: {p: {requires: [c]}}\ncriteria:\n"
    path.write_text(head + "  c: {expr: bene.nope == 1}\n", encoding="utf-8")
    _, first = check_policy(path)
    assert "bene.nope" in first[0].render()
    path.write_text(head + "  c: {expr: bene.other == 22}\n", encoding="utf-8")
    _, second = check_policy(path)
    assert "bene.other == 22" in second[0].render() and "nope" not in second[0].render()


def test_several_cycles_are_each_reported_once(make_policy: Callable[..., Path]) -> None:
    path = make_policy(
        definitions={"a": "b + 1", "b": "a + 1", "x": "y", "y": "z", "z": "x", "me": "me"},
        criteria={"c": "a + x + me > 0"},
    )
    _, diags = check_policy(path)
    assert sorted(d.message for d in diags) == [
        "reference cycle: a -> b -> a",
        "reference cycle: me -> me",
        "reference cycle: x -> y -> z -> x",
    ]


# --- cascades: one root diagnostic, not its consequences (probe finding 16) -----------------------

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_a_schema_that_does_not_resolve_is_reported_alone(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "savings-sharing"  # ../schemas/ is not beside the copy
    shutil.copytree(REPO_ROOT / "policies" / "savings-sharing", copy)
    policy, diags = check_policy(copy)
    assert policy is None
    assert {d.code for d in diags if d.severity == "error"} == {"E504"}, [d.render() for d in diags]


def test_a_chain_of_products_gives_its_roots_not_one_diagnostic_per_step(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "example"
    shutil.copytree(REPO_ROOT / "policies" / "example", folder)
    policy_file = folder / "policy.yaml"
    defs = {"d0": "count(bene.claims) + 2"} | {f"d{i}": f"d{i - 1} * d{i - 1}" for i in range(1, 42)}
    text = policy_file.read_text(encoding="utf-8")
    block = "".join(f"  {name}:\n    expr: '{expr}'\n" for name, expr in defs.items())
    text = text.replace("definitions:\n", "definitions:\n" + block, 1).replace(
        "expr: bene.residence.county_fips in aco.service_area_counties",
        "expr: bene.residence.county_fips in aco.service_area_counties and (d41 > 0)",
    )
    policy_file.write_text(text, encoding="utf-8")
    policy, diags = check_policy(folder)
    assert policy is None
    errors = [d for d in diags if d.severity == "error"]
    assert "E601" in {d.code for d in errors}
    assert len(errors) <= 3, [d.render() for d in errors]  # was 78: every step of the chain again
