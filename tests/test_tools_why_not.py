"""lead-rules why-not: suggestions derived from the policy, each verified, applied they align."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import output_rows

from lead_rules.cli import main
from lead_rules.engine.policy import load_market, load_policy
from lead_rules.language.records import Market
from lead_rules.synth.generate import write_population
from lead_rules.tools.why_not import harvest, why_not

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_population(tmp_path_factory.mktemp("pop"), 60, 11, formats=("jsonl",))


@pytest.fixture(scope="module")
def records(population: dict[str, Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in population["jsonl"].read_text().splitlines()]


def test_harvest_finds_the_fields_and_what_they_are_compared_with() -> None:
    hints = harvest(load_policy(LEAD))
    assert "voluntary_channels" in hints[("voluntary", ("channel",))].params
    assert "voluntary_cutoff" in hints[("voluntary", ("date",))].definitions
    assert "participant_tins" in hints[("voluntary", ("tin",))].aco_attrs  # through designated_tin
    assert "participant_tins" in hints[("claims", ("tin",))].aco_attrs
    assert "primary_care_hcpcs" in hints[("claims", ("hcpcs",))].params
    assert "plan_ids" in hints[("months", ("medicaid", "plan_id"))].partner_attrs
    assert "service_area_counties" in hints[(None, ("residence", "county_fips"))].aco_attrs


def test_every_suggestion_applied_aligns_the_beneficiary(
    records: list[dict[str, Any]], population: dict[str, Path]
) -> None:
    policy = load_policy(LEAD)
    market = load_market(population["market"])
    pathways: set[str] = set()
    asked = 0
    for record in records[:12]:
        for aco in market.acos:
            answer = why_not(policy, market, record, aco.id)
            if answer.current["aco_id"] == aco.id:
                continue
            asked += 1
            assert answer.suggestions or answer.impossible
            for s in answer.suggestions:
                decision = policy.evaluate(s.record, market, trace=False)
                assert (decision.outcome, decision.aco_id) == ("aligned", aco.id), s.description
                assert s.record["bene_id"] == record["bene_id"]
                pathways.add(s.pathway)
    assert asked > 20
    assert {"voluntary", "claims", "medicaid"} <= pathways


def _market() -> Market:
    return Market.model_validate(
        {
            "performance_year": 2028,
            "acos": [
                {
                    "id": "A1",
                    "participant_tins": ["111"],
                    "service_area_counties": ["37063"],
                    "medicaid_partners": [{"state": "NC", "kind": "MCO", "plan_ids": ["NC-1"]}],
                },
                {"id": "A2", "participant_tins": ["222"], "service_area_counties": ["37063"]},
                {"id": "EMPTY", "service_area_counties": ["37063"]},
            ],
        }
    )


def _record(dual: str = "NA", plan: str | None = None) -> dict[str, Any]:
    months = []
    for m in range(1, 13):
        row: dict[str, Any] = {"month": f"2027-{m:02d}", "buyin": "3", "hmo": "0", "dual": dual, "msp": False}
        if plan is not None:
            row["medicaid"] = {"state": "NC", "delivery": "MCO", "plan_id": plan}
        months.append(row)
    claims = [
        {
            "claim_id": "c1",
            "line": 1,
            "from_date": "2027-03-01",
            "tin": "222",
            "npi": "1",
            "hcpcs": "99213",
            "specialty": "01",
            "allowed": 300,
        },
    ]
    return {
        "bene_id": "B1",
        "residence": {"state": "NC", "county_fips": "37063", "us": True},
        "months": months,
        "claims": claims,
    }


def test_the_claim_amount_is_the_smallest_that_wins() -> None:
    policy, market = load_policy(LEAD), _market()
    record = _record()
    assert policy.evaluate(record, market, trace=False).aco_id == "A2"
    answer = why_not(policy, market, record, "A1")
    claims = [s for s in answer.suggestions if s.pathway == "claims"]
    assert claims and len(claims[0].steps) == 1
    changed = claims[0].record
    added = changed["claims"][-1]
    assert added["tin"] == "111"
    assert policy.evaluate(changed, market, trace=False).aco_id == "A1"
    one_less = copy.deepcopy(changed)
    one_less["claims"][-1]["allowed"] = added["allowed"] - 1
    assert policy.evaluate(one_less, market, trace=False).aco_id != "A1"
    voluntary = [s for s in answer.suggestions if s.pathway == "voluntary"]
    assert voluntary and voluntary[0].record["voluntary"][-1]["date"] <= "2027-09-30"


def test_medicaid_enrolment_with_a_partner_plan_in_the_window() -> None:
    policy, market = load_policy(LEAD), _market()
    record = _record(dual="02", plan="NC-OTHER")
    record["claims"] = []
    answer = why_not(policy, market, record, "A1")
    medicaid = [s for s in answer.suggestions if s.pathway == "medicaid"]
    assert medicaid, answer.impossible
    assert "2027-01..2027-12" in medicaid[0].description and "NC-1" in medicaid[0].description
    assert {m["medicaid"]["plan_id"] for m in medicaid[0].record["months"]} == {"NC-1"}


def test_no_record_change_can_align_to_an_aco_without_tins_or_partners(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, market = load_policy(LEAD), _market()
    answer = why_not(policy, market, _record(), "EMPTY")
    assert not answer.suggestions
    assert any("EMPTY has no participant_tins" in r for r in answer.impossible)
    assert any("EMPTY has no medicaid_partners" in r for r in answer.impossible)
    market_file = tmp_path / "market.json"
    market_file.write_text(market.model_dump_json(by_alias=True))
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps(_record()) + "\n")
    base = ["why-not", "--policy", str(LEAD), "--market", str(market_file), "--input", str(records), "--id", "B1"]
    assert main([*base, "--aco", "EMPTY"]) == 1
    assert "no change to the record aligns B1 to EMPTY" in capsys.readouterr().out
    out = tmp_path / "s.jsonl"
    assert main([*base, "--aco", "A1", "--output", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(set(line) >= {"description", "record"} for line in lines)
    # each line's record, decided by `evaluate`, is aligned to A1 (one file per suggestion: the
    # suggestions are alternatives for the same beneficiary, and a repeated bene_id is an error row)
    rows = []
    for i, line in enumerate(lines):
        changed = tmp_path / f"changed-{i}.jsonl"
        changed.write_text(json.dumps(line["record"]) + "\n")
        decisions = tmp_path / f"d-{i}.jsonl"
        argv = ["evaluate", "--policy", str(LEAD), "--market", str(market_file)]
        assert main([*argv, "--input", str(changed), "--output", str(decisions)]) == 0
        rows += output_rows(decisions)
    assert [r["aco_id"] for r in rows] == ["A1"] * len(lines)
    assert main([*base, "--aco", "NOPE"]) == 2
    assert main([*base[:-1], "B9", "--aco", "A1"]) == 2


def test_the_repairs_follow_any_policy_structure_not_and_any(tmp_path: Path) -> None:
    """A policy that is not LEAD: `not` and `any` requirements, a scalar and a list field."""
    from conftest import write_policy

    folder = tmp_path / "tiny"
    write_policy(
        folder,
        criteria={
            "died": "bene.death_date is not null",
            "designated": "any(v.tin in aco.participant_tins for v in bene.voluntary)",
            "local": "coalesce(bene.residence.county_fips in aco.service_area_counties, false)",
        },
        pathways={"p": {"requires": [{"not": "died"}, {"any": ["designated", "local"]}]}},
    )
    policy = load_policy(folder)
    market = _market()
    record = {"bene_id": "T1", "death_date": "2027-05-01", "residence": {"state": "NC"}}
    assert policy.evaluate(record, market, trace=False).outcome == "not_aligned"
    answer = why_not(policy, market, record, "A2")
    assert answer.suggestions, answer.impossible
    best = answer.suggestions[0]
    assert best.steps[0] == "set death_date to nothing (remove it)"
    assert policy.evaluate(best.record, market, trace=False).aco_id == "A2"
    assert any("TIN 222" in " ".join(s.steps) or "37063" in " ".join(s.steps) for s in answer.suggestions)
