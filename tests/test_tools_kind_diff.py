"""lead-rules diff on the decision kinds: transitions equal two independent evaluate runs, every change has a cause.

Table-driven over the three bundled decision-kind policies (ranking: state
selection, verdict: partnership, computation: savings sharing), each with
two versions that differ in one parameter (an edited copy of the policy, and
``--set`` on the bundled one), on seeded populations made from the samples.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kind_populations import ARRANGEMENTS, POLICIES, arrangements, edited_policy, settlements, states, write_jsonl

from lead_rules.cli import main

POPULATIONS = {"state-selection": states, "partnership": arrangements, "savings-sharing": settlements}
CONTEXT = {"savings-sharing": ARRANGEMENTS}

# (policy, parameter, new value as written in the file, a criterion or definition the change must name as a cause)
CHANGES = [
    ("state-selection", "min_total_score", "0.94", "meets_min_score"),
    ("state-selection", "max_selected", "4", "limit"),
    ("state-selection", "weight_dual_population", "0", "dual_population_score"),
    ("partnership", "hospitalization_factor", "readmission_rate", "nursing_facility_vbp_factors_hospitalization"),
    ("partnership", "formal_instruments", "[contract, agreement]", "formal_relationship"),
    ("savings-sharing", "pay_when_quality_unknown", "true", "quality_gate_passes"),
    ("savings-sharing", "cents", "0", "medicaid_entity_amount"),
]

NOT_OUTPUTS = {"outcome", "reasons", "errors", "rank", "score", "scores"}


def population(tmp: Path, name: str) -> Path:
    return write_jsonl(tmp / f"{name}.jsonl", POPULATIONS[name](random.Random(13), 60))


def evaluate(policy: Path, name: str, inp: Path, out: Path) -> list[dict[str, Any]]:
    args = ["evaluate", "--policy", str(policy), "--input", str(inp), "--output", str(out)]
    if name in CONTEXT:
        args += ["--context", str(CONTEXT[name])]
    assert main(args) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["outcome"], row.get("aco_id"), row.get("pathway"))


def diff(name: str, inp: Path, out: Path, *args: str) -> dict[str, Any]:
    extra = ["--context", str(CONTEXT[name])] if name in CONTEXT else []
    assert main(["diff", *args, *extra, "--input", str(inp), "--output", str(out)]) == 0
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.mark.parametrize(("name", "param", "value", "cause"), CHANGES)
def test_transitions_equal_the_difference_of_two_independent_evaluate_runs(
    tmp_path: Path, name: str, param: str, value: str, cause: str
) -> None:
    inp = population(tmp_path, name)
    new_folder = edited_policy(tmp_path, name, param, value)
    before = evaluate(POLICIES / name, name, inp, tmp_path / "before.jsonl")
    after = evaluate(new_folder, name, inp, tmp_path / "after.jsonl")
    computation = name == "savings-sharing"

    def outputs(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in NOT_OUTPUTS}

    changed_rows = [
        (i, a, b) for i, (a, b) in enumerate(zip(before, after, strict=True))
        if key(a) != key(b) or (computation and outputs(a) != outputs(b))
    ]
    expected = Counter((key(a), key(b)) for _, a, b in changed_rows)
    assert expected, f"the change of {param} must change some subject of the test population"

    d = diff(name, inp, tmp_path / "d.json", "--old", str(POLICIES / name), "--new", str(new_folder))
    got: Counter[tuple[Any, Any]] = Counter()
    for t in d["transitions"]:
        assert set(t["from"]) == set(t["to"]) == {"outcome", "aco_id", "pathway"}
        got[(key(t["from"]), key(t["to"]))] += t["count"]
    assert got == expected
    assert d["changed"] == len(changed_rows) == len(d["subjects"])
    assert d["total"] == len(before) == d["changed"] + sum(u["count"] for u in d["unchanged"])
    # every changed subject carries a cause; the cause counts count subjects
    assert all(s["causes"] for s in d["subjects"])
    per_cause = Counter((c["criterion"], c["pathway"]) for s in d["subjects"] for c in s["causes"])
    assert {(c["criterion"], c["pathway"]): c["count"] for c in d["causes"]} == dict(per_cause)
    assert cause in {c["criterion"] for c in d["causes"]}
    # the subjects are the changed rows, in input order, with their subject fields
    first = next(iter(before[0]))  # the first subject field of the evaluate row
    assert [s["bene_id"] for s in d["subjects"]] == [str(b[first]) for _, _, b in changed_rows]
    if computation:  # which outputs changed, per subject and per transition
        for s, (_, a, b) in zip(d["subjects"], changed_rows, strict=True):
            assert set(s["outputs"]) == {k for k in outputs(a) | outputs(b) if a.get(k) != b.get(k)}
            assert all(s["outputs"][k] == {"from": a.get(k), "to": b.get(k)} for k in s["outputs"])
        assert sum(t["count"] for t in d["transitions"]) == d["changed"]
        assert all(t["outputs"] for t in d["transitions"])

    # --set on the bundled policy gives the same diff as the edited copy
    by_set = diff(name, inp, tmp_path / "s.json", "--old", str(POLICIES / name), "--set", f"{param}={value}")
    assert by_set["transitions"] == d["transitions"] and by_set["causes"] == d["causes"]
    assert f"+set({param}={value})" in by_set["new"]["version"]


def test_a_changed_requirement_list_is_a_cause(tmp_path: Path) -> None:
    folder = edited_policy(tmp_path, "partnership", "cms_names", "[cms]")  # any copy; now drop a requirement
    pol = folder / "policy.yaml"
    pol.write_text(pol.read_text().replace("    - cms_not_at_risk\n", "", 1))
    inp = population(tmp_path, "partnership")
    d = diff("partnership", inp, tmp_path / "d.json", "--old", str(POLICIES / "partnership"), "--new", str(folder))
    assert d["changed"] > 0 and all(s["causes"] for s in d["subjects"])
    assert ("cms_not_at_risk", "requires") in {(c["criterion"], c["pathway"]) for c in d["causes"]}


def test_kind_diff_errors_are_located_not_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inp = population(tmp_path, "savings-sharing")
    old = str(POLICIES / "savings-sharing")
    assert main(["diff", "--old", old, "--set", "cents=0", "--input", str(inp)]) == 2
    assert "give --context" in capsys.readouterr().err
    args = ["diff", "--old", old, "--new", str(POLICIES / "partnership"), "--input", str(inp)]
    assert main([*args, "--context", str(ARRANGEMENTS)]) == 2
    assert "different kinds" in capsys.readouterr().err
    assert main(["diff", "--old", old, "--set", "nope=1", "--context", str(ARRANGEMENTS), "--input", str(inp)]) == 2
    assert "unknown parameter" in capsys.readouterr().err


def test_kind_diff_html_shows_the_counts_of_the_json(tmp_path: Path) -> None:
    import re

    inp = population(tmp_path, "savings-sharing")
    args = ("--old", str(POLICIES / "savings-sharing"), "--set", "cents=0")
    d = diff("savings-sharing", inp, tmp_path / "d.json", *args)
    extra = ["--context", str(CONTEXT["savings-sharing"])]
    assert main(["diff", *args, *extra, "--input", str(inp), "--output", str(tmp_path / "d.html")]) == 0
    page = (tmp_path / "d.html").read_text()
    assert re.search(r'<b id="changed">(\d+)</b>', page).group(1) == str(d["changed"])  # type: ignore[union-attr]
    assert re.search(r'<b id="total">(\d+)</b>', page).group(1) == str(d["total"])  # type: ignore[union-attr]
    for t in d["transitions"]:
        assert f"({', '.join(t['outputs'])} changed)</td><td class=n>{t['count']}</td>" in page
