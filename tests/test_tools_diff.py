"""lead-rules diff: transitions equal two independent runs, every changed subject has a cause."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lead_rules.cli import main
from lead_rules.engine.policy import load_market, load_policy
from lead_rules.sql.run import decide
from lead_rules.synth.generate import write_population
from lead_rules.tools.diff import attribute, diff_policies

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"

# (parameter, new value as written in parameters.yaml) -- each changes some decisions of the population
CHANGES = [("pc_specialist_min_share", "0.5"), ("ay2_weight", "5"), ("eligibility_min_months_with_data", "6")]


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_population(tmp_path_factory.mktemp("pop"), 1000, 7)


def edited_policy(tmp_path: Path, name: str, value: str) -> Path:
    """A copy of the LEAD policy whose parameters.yaml says ``value`` for ``name`` (edited as text)."""
    folder = tmp_path / "lead-new"
    shutil.copytree(LEAD, folder)
    path = folder / "parameters.yaml"
    text = path.read_text()
    pattern = re.compile(rf"(\n  {name}:\n(?:    .*\n)*?    value: )(\S+)")
    new_text, n = pattern.subn(lambda m: m.group(1) + value, text, count=1)
    assert n == 1, name
    path.write_text(new_text)
    return folder


def keys(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["outcome"], r["aco_id"], r["pathway"]) for r in rows]


@pytest.mark.parametrize(("name", "value"), CHANGES)
def test_transitions_equal_the_difference_of_two_independent_runs(
    population: dict[str, Path], tmp_path: Path, name: str, value: str
) -> None:
    new_folder = edited_policy(tmp_path, name, value)
    market = load_market(population["market"])
    before = keys(decide(load_policy(LEAD), market, population["parquet"]))
    after = keys(decide(load_policy(new_folder), market, population["parquet"]))
    expected = Counter((a, b) for a, b in zip(before, after, strict=True) if a != b)
    assert expected, f"the change of {name} must move somebody in the test population"

    out = tmp_path / "d.json"
    args = ["diff", "--old", str(LEAD), "--new", str(new_folder), "--market", str(population["market"])]
    assert main([*args, "--input", str(population["parquet"]), "--output", str(out)]) == 0
    d = json.loads(out.read_text())
    got = Counter(
        {
            (
                (t["from"]["outcome"], t["from"]["aco_id"], t["from"]["pathway"]),
                (t["to"]["outcome"], t["to"]["aco_id"], t["to"]["pathway"]),
            ): t["count"]
            for t in d["transitions"]
        }
    )
    assert got == expected
    assert d["changed"] == sum(expected.values())
    assert d["total"] == len(before) == d["changed"] + sum(u["count"] for u in d["unchanged"])
    # every changed subject carries a cause, and the cause counts are counts of subjects
    assert len(d["subjects"]) == d["changed"]
    assert all(s["causes"] for s in d["subjects"])
    per_cause = Counter((c["criterion"], c["pathway"]) for s in d["subjects"] for c in s["causes"])
    assert {(c["criterion"], c["pathway"]): c["count"] for c in d["causes"]} == dict(per_cause)
    assert set(d["causes"][0]) == {"criterion", "pathway", "count"}


def test_set_on_one_policy_equals_an_edited_copy(population: dict[str, Path], tmp_path: Path) -> None:
    market = load_market(population["market"])
    policy = load_policy(LEAD)
    from lead_rules.tools.overrides import with_parameters

    by_set = diff_policies(policy, with_parameters(policy, ["ay2_weight=5"]), market, population["parquet"])
    by_copy = diff_policies(
        policy, load_policy(edited_policy(tmp_path, "ay2_weight", "5")), market, population["parquet"]
    )
    assert by_set.transitions == by_copy.transitions and by_set.changed > 0
    assert [(c, n) for c, n in by_set.causes] == [(c, n) for c, n in by_copy.causes]
    # the changed policy says it was changed
    assert "+set(ay2_weight=5)" in by_set.new["version"] and by_set.new["hash"] != by_set.old["hash"]
    assert by_set.causes[0][0].criterion == "claims_plurality_here"


def test_interpreter_engine_gives_the_same_diff(population: dict[str, Path]) -> None:
    from lead_rules.tools.overrides import with_parameters

    market = load_market(population["market"])
    policy = load_policy(LEAD)
    new = with_parameters(policy, ["pc_specialist_min_share=0.5"])
    duck = diff_policies(policy, new, market, population["parquet"])
    interp = diff_policies(policy, new, market, population["jsonl"], engine="interpreter")
    assert interp.engines == {"old": "interpreter", "new": "interpreter"}
    assert duck.transitions == interp.transitions
    assert [s.causes for s in duck.subjects] == [s.causes for s in interp.subjects]


def test_a_hierarchy_change_is_a_cause(population: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "swapped"
    shutil.copytree(LEAD, folder)
    pol = folder / "policy.yaml"
    pol.write_text(
        pol.read_text().replace("hierarchy: [voluntary, claims, medicaid]", "hierarchy: [voluntary, medicaid, claims]")
    )
    market = load_market(population["market"])
    result = diff_policies(load_policy(LEAD), load_policy(folder), market, population["parquet"])
    assert result.changed > 0
    assert all(s.causes for s in result.subjects)


def test_attribute_names_the_changed_criterion_of_an_evaluated_pathway() -> None:
    policy = load_policy(LEAD)
    old = {
        "outcome": "not_aligned",
        "aco_id": None,
        "pathway": None,
        "c:designated_here@A": False,
        "c:claims_plurality_here@A": False,
    }
    new = {
        "outcome": "aligned",
        "aco_id": "A",
        "pathway": "voluntary",
        "c:designated_here@A": True,
        "c:claims_plurality_here@A": True,
    }
    causes = attribute(policy, policy, old, new)
    assert [(c.criterion, c.pathway) for c in causes] == [
        ("designated_here", "voluntary"),
        ("claims_plurality_here", "claims"),
    ]
    # nothing changed in any column: the structure is named, never nothing
    same = {"outcome": "aligned", "aco_id": "A", "pathway": "claims"}
    assert attribute(policy, policy, {**same, "aco_id": "B"}, same)


def test_html_output_and_bad_usage(
    population: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.html"
    base = ["diff", "--old", str(LEAD), "--market", str(population["market"]), "--input", str(population["parquet"])]
    assert main([*base, "--set", "ay2_weight=5", "--output", str(out)]) == 0
    text = out.read_text()
    changed = int(re.search(r'<b id="changed">(\d+)</b>', text).group(1))  # type: ignore[union-attr]
    assert changed > 0 and "claims_plurality_here" in text
    assert main([*base, "--set", "ay2_wieght=5"]) == 2
    assert "did you mean 'ay2_weight'" in capsys.readouterr().err
    assert main([*base, "--set", "ay2_weight=heavy"]) == 2
    assert "not an int" in capsys.readouterr().err
    assert main([*base]) == 2
    assert main([*base, "--set", "ay2_weight=5", "--output", str(tmp_path / "d.txt")]) == 2


def test_a_policy_that_does_not_compile_falls_back_to_the_interpreter(
    population: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lead_rules.sql import compiler
    from lead_rules.tools.overrides import with_parameters

    market = load_market(population["market"])
    policy = load_policy(LEAD)
    new = with_parameters(policy, ["ay2_weight=5"])
    expected = diff_policies(policy, new, market, population["parquet"])
    real = compiler.compile_policy

    def refuse_new(p: Any, m: Any, dialect: str, **kw: Any) -> Any:
        compiled = real(p, m, dialect, **kw)
        if p is new:
            compiled.issues.append(compiler.SqlIssue("error", "S999", "not compilable", p.doc.meta_span, dialect))
        return compiled

    monkeypatch.setattr(compiler, "compile_policy", refuse_new)
    mixed = diff_policies(policy, new, market, population["parquet"])
    assert mixed.engines == {"old": "duckdb", "new": "interpreter"}
    assert mixed.transitions == expected.transitions
    assert [(s.row, s.causes) for s in mixed.subjects] == [(s.row, s.causes) for s in expected.subjects]


def test_context_is_the_market(population: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    args = ["diff", "--old", str(LEAD), "--set", "ay2_weight=5", "--context", str(population["market"])]
    assert main([*args, "--input", str(population["parquet"]), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["changed"] > 0


@pytest.mark.parametrize("side", ["old", "new"])
def test_a_side_that_is_an_error_has_its_evaluation_error_as_the_cause(side: str) -> None:
    policy = load_policy(LEAD)
    decided = {"outcome": "aligned", "aco_id": "A", "pathway": "claims", "c:claims_plurality_here@A": True}
    error = {"outcome": "error", "aco_id": None, "pathway": None, "cause": "months: Input should be a valid list"}
    old, new = (error, decided) if side == "old" else (decided, error)
    causes = attribute(policy, policy, old, new)
    assert [(c.pathway, c.criterion) for c in causes] == [
        (f"{side} policy", "evaluation error: months: Input should be a valid list")
    ]
