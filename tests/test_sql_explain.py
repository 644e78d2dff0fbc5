"""Explaining a beneficiary from the batch output agrees with re-running the interpreter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO

from lead_rules.engine.policy import load_market, load_policy
from lead_rules.sql.explain import decision_from_row, explain_from_output, read_output_row
from lead_rules.sql.run import align
from lead_rules.synth.generate import write_population

LEAD = REPO / "policies" / "lead"


@pytest.mark.skipif(not LEAD.exists(), reason="the LEAD policy is not there yet")
@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_batch_explanation_equals_interpreter(tmp_path: Path, suffix: str) -> None:
    pop = write_population(tmp_path / "pop", 150, seed=21)
    out = tmp_path / ("decisions" + suffix)
    align(LEAD, pop["market"], pop["parquet"], out, progress=False)
    policy, market = load_policy(LEAD), load_market(pop["market"])
    records = [json.loads(line) for line in pop["jsonl"].read_text(encoding="utf-8").splitlines()]
    first = records[0]
    assert (
        explain_from_output(LEAD, pop["market"], out, first["bene_id"])
        == policy.evaluate(first, market, trace=False).explain()
    )
    for record in records:
        row = read_output_row(out, record["bene_id"])
        assert row is not None
        expected = policy.evaluate(record, market, trace=False).explain()
        assert decision_from_row(policy, market, row).explain() == expected, record["bene_id"]


def test_row_must_match_its_criteria(tmp_path: Path) -> None:
    pop = write_population(tmp_path / "pop", 30, seed=3)
    out = tmp_path / "d.parquet"
    align(REPO / "policies" / "example", pop["market"], pop["parquet"], out, progress=False)
    first = json.loads(pop["jsonl"].read_text(encoding="utf-8").splitlines()[0])
    row = read_output_row(out, first["bene_id"])
    assert row is not None
    row["outcome"] = "aligned" if row["outcome"] != "aligned" else "not_aligned"
    with pytest.raises(ValueError, match="criterion columns"):
        decision_from_row(load_policy(REPO / "policies" / "example"), load_market(pop["market"]), row)
