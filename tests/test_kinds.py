"""Decision kinds (verdict, ranking, computation) and the CLI contract of the three new policies.

The contract of issue 10: ``lead-rules evaluate --policy P --input I [--context C] --output O`` writes one
line per input document, in order, with the fields each kind promises; bad input gives an error line
naming the field and the batch goes on; ``explain`` and ``test`` work for every policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, output_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from lead_rules.cli import main
from lead_rules.engine.kinds import decide_all
from lead_rules.engine.policy import check_policy, load_policy
from lead_rules.language.errors import PolicyError

POLICIES = REPO / "policies"
STATES = POLICIES / "state-selection" / "samples" / "states.yaml"
ARRANGEMENTS = POLICIES / "partnership" / "samples" / "arrangements.yaml"
SETTLEMENTS = POLICIES / "savings-sharing" / "samples" / "settlements.yaml"


def run(args: list[str], out: Path) -> list[dict[str, Any]]:
    code = main([*args, "--output", str(out)])
    assert code == 0
    return output_rows(out)


def to_jsonl(docs: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(d, default=str) + "\n" for d in docs))
    return path


def test_state_selection_contract(tmp_path: Path) -> None:
    rows = run(["evaluate", "--policy", str(POLICIES / "state-selection"), "--input", str(STATES)], tmp_path / "o")
    states = yaml.safe_load(STATES.read_text())
    assert [r["state"] for r in rows] == [s["state"] for s in states]
    for r in rows:
        assert {"state", "outcome", "rank", "score", "reasons"} <= set(r)
        assert r["outcome"] in ("selected", "not_selected", "error")
    selected = [r["state"] for r in rows if r["outcome"] == "selected"]
    assert selected == ["NC", "CT"]  # one MCO and one FFS state, the best of each
    by = {r["state"]: r for r in rows}
    assert by["CT"]["rank"] == 1 and by["NC"]["rank"] == 2
    assert by["OK"]["rank"] is None and by["OK"]["reasons"][0]["criterion"] == "enrollment_data_usable"
    assert by["TX"]["reasons"][0]["criterion"] == "interested"
    assert by["NY"]["reasons"][0]["criterion"] in ("one_per", "limit")
    assert set(by["CT"]["scores"]) == {
        "dual_population_score", "cost_score", "aco_penetration_score", "integration_score", "data_quality_score"
    }


def test_partnership_contract_and_jsonl_input(tmp_path: Path) -> None:
    docs = yaml.safe_load(ARRANGEMENTS.read_text())
    bad = {k: v for k, v in docs[0].items() if k != "id"}
    src = to_jsonl([docs[0], docs[1], bad, {**docs[0], "id": "X", "parties": "none"}], tmp_path / "a.jsonl")
    rows = run(["evaluate", "--policy", str(POLICIES / "partnership"), "--input", str(src)], tmp_path / "o")
    assert [r["outcome"] for r in rows] == ["valid", "invalid", "error", "error"]
    assert rows[0]["id"] == "NC-2028-0001"
    invalid = {x["criterion"] for x in rows[1]["reasons"]}
    assert {"cms_not_a_party", "cms_not_at_risk", "medicaid_entity_roles_documented",
            "nursing_facility_vbp_factors_hospitalization"} == invalid
    assert all(x.get("source") for x in rows[1]["reasons"])
    assert rows[2]["errors"][0]["field"] == "id"
    assert rows[3]["id"] == "X" and rows[3]["errors"][0]["field"] == "parties"


def test_savings_contract(tmp_path: Path) -> None:
    settlements = yaml.safe_load(SETTLEMENTS.read_text())
    src = to_jsonl([*settlements, {**settlements[0], "arrangement_id": "NOPE", "settlement_id": "S-X"}],
                   tmp_path / "s.jsonl")
    rows = run(["evaluate", "--policy", str(POLICIES / "savings-sharing"), "--context", str(ARRANGEMENTS),
                "--input", str(src)], tmp_path / "o")
    first = rows[0]
    assert {"arrangement_id", "settlement_id", "outcome", "medicaid_entity_amount", "aco_amount", "by_category",
            "quality_gate", "reasons"} <= set(first)
    assert first["outcome"] == "computed"
    assert first["medicaid_entity_amount"] == "1170000.00" and first["aco_amount"] == "2430000.00"
    assert first["by_category"] == {"avoided_hospitalizations": "720000.00", "avoided_snf_stays": "450000.00",
                                    "other": "0.00"}
    assert first["quality_gate"] is True
    assert rows[1]["quality_gate"] is False and rows[1]["medicaid_entity_amount"] == "0.00"
    assert rows[2]["outcome"] == "error" and rows[2]["settlement_id"] == "S-X"
    assert rows[2]["errors"][0]["field"] == "arrangement_id"
    assert "no arrangement with id 'NOPE'" in rows[2]["errors"][0]["message"]
    assert set(rows[2]) == set(first) and rows[2]["medicaid_entity_amount"] is None  # same fields, null


def test_savings_needs_a_context(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        main(["evaluate", "--policy", str(POLICIES / "savings-sharing"), "--input", str(SETTLEMENTS)])
    assert err.value.code == 2
    assert "--context" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("policy", "extra", "subject", "words"),
    [
        ("state-selection", ["--input", str(STATES)], "NY", ["NOT_SELECTED", "Ranked"]),
        ("partnership", ["--input", str(ARRANGEMENTS)], "NC-2028-0002", ["INVALID", "cms_not_a_party", "RFA"]),
        ("savings-sharing", ["--input", str(SETTLEMENTS), "--context", str(ARRANGEMENTS)], "NC-2028-0001-PY2029",
         ["COMPUTED", "quality_gate_passes", "medicaid_entity_amount = 0.00"]),
    ],
)
def test_explain_every_kind(capsys: pytest.CaptureFixture[str], policy: str, extra: list[str], subject: str,
                            words: list[str]) -> None:
    assert main(["explain", "--policy", str(POLICIES / policy), *extra, "--id", subject]) == 0
    text = capsys.readouterr().out
    for w in words:
        assert w in text


def test_policy_test_runner_reports_a_wrong_expectation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    dest = tmp_path / "policies"
    shutil.copytree(POLICIES / "partnership", dest / "partnership")
    shutil.copytree(POLICIES / "schemas", dest / "schemas")
    test_file = dest / "partnership" / "tests" / "partnership.test.yaml"
    text = test_file.read_text().replace("expect: {outcome: invalid, reasons: [{criterion: cms_not_at_risk, value: "
                                         "false}], only_reasons: true}",
                                         "expect: {outcome: valid}", 1)
    test_file.write_text(text)
    assert main(["test", str(dest / "partnership")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "case 'cms_at_risk'" in out and "outcome is invalid, expected valid" in out


def _policy(tmp_path: Path, decision: str, extra: str = "") -> Path:
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "thing.yaml").write_text(
        "schema: {id: thing, name: Thing, root: thing}\n"
        "fields:\n  id: {type: string, required: true}\n  score: decimal\n  group: string\n  ok: bool\n"
    )
    folder = tmp_path / "p"
    folder.mkdir(exist_ok=True)
    (folder / "policy.yaml").write_text(
        "policy: {id: p, title: p, version: '1', schemas: {record: ../schemas/thing.yaml}}\n"
        f"decision:\n{decision}\n"
        "parameters:\n  n: {type: int, value: 2}\n"
        "definitions:\n  points: {expr: thing.score}\n"
        "criteria:\n  ok: {expr: thing.ok == true, source: here}\n" + extra
    )
    return folder


@pytest.mark.parametrize(
    ("decision", "code"),
    [
        ("  kind: ranking\n  subject: {id: thing.id}\n  requires: [ok]\n", "E230"),
        ("  kind: verdict\n  subject: {id: thing.id}\n  requires: [points]\n", "E212"),
        ("  kind: ranking\n  subject: {id: thing.id}\n  score: [ok]\n  limit: n\n", "E233"),
        ("  kind: ranking\n  subject: {id: thing.id}\n  score: [points]\n  limit: thing.score\n", "E233"),
        ("  kind: verdict\n  subject: {id: thing.nope}\n  requires: [ok]\n", "E201"),
        ("  kind: judgement\n  subject: {id: thing.id}\n", "E010"),
        ("  kind: computation\n  subject: {id: thing.id}\n  notes: [points]\n  outputs: {x: points}\n", "E232"),
    ],
)
def test_bad_decision_sections_are_located_errors(tmp_path: Path, decision: str, code: str) -> None:
    policy, diagnostics = check_policy(_policy(tmp_path, decision))
    assert policy is None
    found = [d for d in diagnostics if d.code == code]
    assert found, [d.render() for d in diagnostics]
    assert found[0].span.file.endswith("policy.yaml") and found[0].span.line > 1


RANKING = "  kind: ranking\n  subject: {id: thing.id}\n  requires: [ok]\n  score: [points]\n  limit: n\n" \
          "  one_per: thing.group\n"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([None, 0, 1, 2, 3]), st.sampled_from([None, "a", "b", "c"]),
                  st.sampled_from([True, False, None])),
        max_size=8,
    ),
    st.integers(min_value=0, max_value=4),
)
def test_ranking_respects_limit_one_per_and_three_valued_logic(
    tmp_path_factory: pytest.TempPathFactory, things: list[tuple[Any, Any, Any]], limit: int
) -> None:
    folder = _policy(tmp_path_factory.mktemp("r"), RANKING)
    policy = load_policy(folder)
    import dataclasses

    params = dict(policy.doc.parameters)
    params["n"] = dataclasses.replace(params["n"], value=limit)
    from lead_rules.engine.policy import Policy
    from lead_rules.language.checker import check_doc
    from lead_rules.language.errors import Diagnostics

    doc = dataclasses.replace(policy.doc, parameters=params)
    policy = Policy(doc, check_doc(doc, Diagnostics()), [])
    docs = [{"id": f"T{i}", "score": s, "group": g, "ok": ok} for i, (s, g, ok) in enumerate(things)]
    results = decide_all(policy, [(i, d, None) for i, d in enumerate(docs)], trace=False)
    selected = [r for r in results if r.outcome == "selected"]
    assert len(selected) <= limit
    groups = [r.group for r in selected if r.group is not None]
    assert len(groups) == len(set(groups))
    for r, (score, _, ok) in zip(results, things, strict=True):
        if r.outcome == "selected":
            assert ok is True and score is not None  # unknown is never true, an unknown score never ranked
        if ok is not True:
            assert r.outcome == "not_selected" and r.rank is None
    # every eligible subject left out is beaten by a selected one, or blocked by its group, or by the limit
    eligible = sorted((r for r in results if r.rank is not None), key=lambda r: r.rank or 0)
    if eligible and limit > 0:
        assert eligible[0].outcome == "selected"


def test_a_policy_has_pathways_or_a_decision(tmp_path: Path) -> None:
    folder = _policy(tmp_path, "  kind: verdict\n  subject: {id: thing.id}\n  requires: [ok]\n",
                     "pathways:\n  p: {requires: [ok]}\nhierarchy: [p]\n")
    with pytest.raises(PolicyError) as err:
        load_policy(folder)
    assert any(d.code == "E014" for d in err.value.diagnostics)


def test_market_from_valid_arrangements(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lead_rules.engine.policy import load_market

    out = tmp_path / "market.yaml"
    base = POLICIES / "partnership" / "samples" / "base-market.yaml"
    assert main(["market", "--base", str(base), "--arrangements", str(ARRANGEMENTS), "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "invalid arrangement NC-2028-0002" in err and "cms_not_a_party false" in err
    market = load_market(out)
    by = {a.id: a for a in market.acos}
    assert [(p.state, p.kind, sorted(p.plan_ids)) for p in by["LEAD-0001"].medicaid_partners] == [
        ("NC", "MCO", ["NC-MCO-0042"])
    ]
    assert by["LEAD-0001"].medicaid_partners[0].effective is not None
    assert by["LEAD-0002"].medicaid_partners == []  # its arrangement is invalid
    assert market.medicaid_integration_states == frozenset({"NC"})
    assert main(["market", "--base", str(out), "--arrangements", str(ARRANGEMENTS), "--output", str(out)]) == 2


def test_demo_of_the_three_decisions() -> None:
    import io

    from lead_rules.cli.demo_kinds import run as run_demo

    buf = io.StringIO()
    assert run_demo(buf) == 0
    text = buf.getvalue()
    for word in ("state CT: SELECTED", "id NC-2028-0002: INVALID", "medicaid_entity_amount = 1170000.00"):
        assert word in text


def test_alignment_evaluate_accepts_context_for_market(tmp_path: Path) -> None:
    record = {"bene_id": "B1", "residence": {"state": "NC", "county_fips": "37063", "us": True},
              "months": [{"month": f"2027-{m:02d}", "buyin": "C", "hmo": "0", "dual": "02", "msp": False,
                          "medicaid": {"state": "NC", "delivery": "MCO", "plan_id": "NC-MCO-0042"}}
                         for m in range(1, 13)]}
    src = to_jsonl([record], tmp_path / "r.jsonl")
    market = yaml.safe_load((POLICIES / "lead" / "markets" / "demo-2028.yaml").read_text())
    outcomes = {}
    for name, extra in (("open", {}), ("NC", {"medicaid_integration_states": ["NC"]}),
                        ("VA", {"medicaid_integration_states": ["VA"]}), ("2027", {"performance_year": 2027})):
        mpath = tmp_path / f"m-{name}.yaml"
        mpath.write_text(yaml.safe_dump({**market, **extra}))
        rows = run(["evaluate", "--policy", str(POLICIES / "lead"), "--context", str(mpath), "--input", str(src)],
                   tmp_path / f"o-{name}")
        outcomes[name] = (rows[0]["outcome"], rows[0]["pathway"],
                          sorted({r["criterion"] for r in rows[0]["reasons"] if r["value"] != "true"}))
    assert outcomes["open"][:2] == ("aligned", "medicaid")
    assert outcomes["NC"][:2] == ("aligned", "medicaid")
    assert outcomes["VA"][0] == "not_aligned" and "medicaid_state_selected" in outcomes["VA"][2]
    assert outcomes["2027"][0] == "not_aligned" and "medicaid_pathway_in_effect" in outcomes["2027"][2]


@pytest.mark.parametrize(
    "extra",
    [{}, {"medicaid_integration_states": ["NC"]}, {"medicaid_integration_states": []}, {"performance_year": 2027}],
    ids=["no-list", "NC-only", "none-selected", "py2027"],
)
def test_calendar_interpreter_equals_duckdb(tmp_path: Path, extra: dict[str, Any]) -> None:
    import itertools

    from lead_rules.engine.policy import load_market
    from lead_rules.sql.differential import compare
    from lead_rules.synth.generate import generate_market, generate_records

    policy = load_policy(POLICIES / "lead")
    base = generate_market(2028)
    market = load_market({**base, **extra})
    records = list(itertools.islice(generate_records(100, 2028, base, 2028), 100))
    assert compare(policy, market, records, workdir=tmp_path) == []
    medicaid = sum(policy.evaluate(r, market, trace=False).pathway == "medicaid" for r in records)
    if extra.get("performance_year") == 2027 or extra.get("medicaid_integration_states") == []:
        assert medicaid == 0


def test_yaml_inputs_keep_exact_decimals(tmp_path: Path) -> None:
    rows = run(["evaluate", "--policy", str(POLICIES / "savings-sharing"), "--context", str(ARRANGEMENTS),
                "--input", str(SETTLEMENTS)], tmp_path / "o")
    assert rows[0]["medicare_settlement"] == {"benchmark": "61000000.00", "expenditure": "57400000.00"}
    single = tmp_path / "one.yaml"
    single.write_text("arrangement_id: NC-2028-0001\nsavings: {avoided_hospitalizations: 100.10}\n"
                      "quality: {hospital_readmission_rate: 0.10}\n")
    rows = run(["evaluate", "--policy", str(POLICIES / "savings-sharing"), "--context", str(ARRANGEMENTS),
                "--input", str(single)], tmp_path / "o2")
    assert len(rows) == 1 and rows[0]["medicaid_entity_amount"] == "30.03"


def test_alignment_accepts_a_yaml_list_of_records(tmp_path: Path) -> None:
    src = tmp_path / "records.yaml"
    src.write_text(
        "- bene_id: B1\n  residence: {state: NC, county_fips: '37063', us: true}\n"
        "  months: [{month: '2027-06', buyin: '3', hmo: '0'}]\n"
        "- bene_id: 7\n"
    )
    rows = run(["evaluate", "--policy", str(POLICIES / "lead"), "--market",
                str(POLICIES / "lead" / "markets" / "demo-2028.yaml"), "--input", str(src)], tmp_path / "o")
    assert [(r["line"], r["outcome"]) for r in rows] == [(1, "not_aligned"), (4, "error")]
    assert rows[1]["errors"][0]["field"] == "bene_id"
