"""A policy change is a YAML change: decisions move without touching Python.

Each test copies ``policies/lead`` to ``tmp_path``, decides a beneficiary,
edits only YAML in the copy (the market's Medicaid partnership, the
primary-care code list, a parameter, the hierarchy), reloads, and checks that
the decision changed the way the edit says it should.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lead_rules.engine.decision import Decision
from lead_rules.engine.policy import load_policy

LEAD = Path(__file__).resolve().parent.parent / "policies" / "lead"
MARKET = Path("markets") / "demo-2028.yaml"
ORDER = "hierarchy: [voluntary, claims, medicaid]"


@pytest.fixture()
def lead(tmp_path: Path) -> Path:
    dest = tmp_path / "lead"
    shutil.copytree(LEAD, dest, ignore=shutil.ignore_patterns("tests"))
    return dest


def bene(**fields: Any) -> dict[str, Any]:
    """An eligible beneficiary in Durham NC; ``month`` fields apply to all of 2027."""
    month = {"buyin": "3", "hmo": "0", "dual": "NA", "msp": False}
    month.update(fields.pop("month", {}))
    record: dict[str, Any] = {
        "bene_id": "B1",
        "residence": {"state": "NC", "county_fips": "37063", "us": True},
        "months": [{"month": f"2027-{m:02d}", **month} for m in range(1, 13)],
    }
    record.update(fields)
    return record


def claim(tin: str, hcpcs: str, allowed: str, day: str = "2026-09-15") -> dict[str, Any]:
    return {"claim_id": f"{tin}-{hcpcs}-{day}", "line": 1, "from_date": day, "tin": tin, "hcpcs": hcpcs,
            "specialty": "08", "allowed": allowed}


def decide(policy_dir: Path, record: dict[str, Any]) -> Decision:
    policy = load_policy(policy_dir)
    assert not policy.warnings, [w.render() for w in policy.warnings]
    return policy.evaluate(record, market=policy_dir / MARKET, trace=True)


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def test_adding_a_partner_plan_id_makes_a_full_dual_medicaid_aligned(lead: Path) -> None:
    record = bene(month={"buyin": "C", "dual": "02",
                         "medicaid": {"state": "NC", "delivery": "MCO", "plan_id": "NC-MCO-0077"}})
    before = decide(lead, record)
    assert before.outcome == "not_aligned"
    assert any(r.criterion == "enrolled_with_medicaid_partner" and r.pathway == "medicaid" for r in before.reasons)

    market_file = lead / MARKET
    market = yaml.safe_load(market_file.read_text())
    aco = next(a for a in market["acos"] if a["id"] == "LEAD-0001")
    mco = next(p for p in aco["medicaid_partners"] if p["kind"] == "MCO")
    mco["plan_ids"].append("NC-MCO-0077")
    market_file.write_text(yaml.safe_dump(market, sort_keys=False))

    after = decide(lead, record)
    assert (after.outcome, after.aco_id, after.pathway) == ("aligned", "LEAD-0001", "medicaid")


def test_dropping_a_primary_care_code_changes_the_claims_decision(lead: Path) -> None:
    mixed = bene(claims=[claim("561234567", "99214", "300.00"), claim("562000001", "99213", "200.00")])
    only_dropped = bene(claims=[claim("561234567", "99214", "300.00")])
    before_mixed, before_only = decide(lead, mixed), decide(lead, only_dropped)
    assert (before_mixed.aco_id, before_mixed.pathway) == ("LEAD-0001", "claims")
    assert (before_only.aco_id, before_only.pathway) == ("LEAD-0001", "claims")

    edit_text(lead / "codes" / "primary-care-hcpcs.yaml", '  - "99214"\n', "")

    after_mixed, after_only = decide(lead, mixed), decide(lead, only_dropped)
    assert (after_mixed.outcome, after_mixed.aco_id, after_mixed.pathway) == ("aligned", "LEAD-0002", "claims")
    assert after_only.outcome == "not_aligned"
    assert any(r.criterion == "claims_plurality_here" and r.value == "false" for r in after_only.reasons)
    assert load_policy(lead).content_hash != load_policy(LEAD).content_hash


def test_swapping_pathways_in_the_hierarchy_changes_the_deciding_pathway(lead: Path) -> None:
    # a full dual in State Medicaid FFS (Medicaid: LEAD-0002, the SMA partner) with claims at LEAD-0001
    record = bene(month={"buyin": "C", "dual": "02", "medicaid": {"state": "NC", "delivery": "FFS"}},
                  claims=[claim("561234567", "99214", "150.00")])
    before = decide(lead, record)
    assert (before.aco_id, before.pathway) == ("LEAD-0001", "claims")
    assert [p.status for p in before.pathways] == ["failed", "decided", "skipped"]

    edit_text(lead / "policy.yaml", ORDER, "hierarchy: [voluntary, medicaid, claims]")

    after = decide(lead, record)
    assert (after.outcome, after.aco_id, after.pathway) == ("aligned", "LEAD-0002", "medicaid")
    assert [p.pathway for p in after.pathways] == ["voluntary", "medicaid", "claims"]
    assert after.pathways[2].status == "skipped"


def test_changing_a_weight_parameter_changes_the_plurality(lead: Path) -> None:
    # 300 in alignment year 1 at LEAD-0001 vs 200 in alignment year 2 at LEAD-0002
    record = bene(claims=[claim("561234567", "99214", "300.00", "2025-10-01"),
                          claim("562000001", "99214", "200.00", "2026-10-01")])
    assert decide(lead, record).aco_id == "LEAD-0002"  # 300 x 1 < 200 x 2

    params = lead / "parameters.yaml"
    data = yaml.safe_load(params.read_text())
    assert data["parameters"]["ay2_weight"]["value"] == 2
    edit_text(params, "  ay2_weight:\n    type: int\n    value: 2\n", "  ay2_weight:\n    type: int\n    value: 1\n")

    assert decide(lead, record).aco_id == "LEAD-0001"  # 300 x 1 > 200 x 1


def test_the_original_policy_is_untouched(lead: Path) -> None:
    edit_text(lead / "policy.yaml", ORDER, "hierarchy: [claims, voluntary, medicaid]")
    assert load_policy(LEAD).pathway_names == ["voluntary", "claims", "medicaid"]
    assert load_policy(lead).pathway_names == ["claims", "voluntary", "medicaid"]
