"""Explanations for auditors: the deciding reason first, the failing month or claim line,
the ranking behind a claims decision, citations expanded (golden files, one per pathway's
typical refusal, read as a non-programmer would)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

from lead_rules.engine.policy import Policy, load_policy
from lead_rules.testing.cases import Case, FileParser

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"
GOLDEN = Path(__file__).resolve().parent / "golden" / "audit"

# (test file, case, what the deciding line must say)
TYPICAL = [
    ("eligibility", "original_medicare_fails_medicare_advantage_month", "Medicare Advantage", 'in 2027-11 (hmo = "1")'),
    ("eligibility", "part_a_and_b_fails_part_a_only_one_month", "Part A and Part B", "in 2027-"),
    # the outside designation blocks claims and Medicaid through two criteria (one per switch), so the criterion
    # failing in the most pathways is no longer unique: the first in hierarchy order, the designation, decides
    ("voluntary", "voluntary_designation_to_unaffiliated_tin_blocks_claims", "does not name a participant TIN",
     "569999999"),
    ("claims", "claims_unaffiliated_tin_wins_plurality", "plurality", "569999999 (600.00)"),
    ("claims", "claims_exact_tie_rule_none_aligns_to_nobody", "plurality", "ranked first"),
    ("medicaid", "medicaid_rule1_fails_alone_mco_plan_id_mismatch", "Medicaid enrolment", "plan_id"),
    ("medicaid", "medicaid_integrated_dsnp_excluded", "", "in 2027-"),
    ("claims", "claims_tie_broken_by_most_recent_visit", "aligned through claims", ""),
]


@lru_cache(maxsize=1)
def _policy() -> Policy:
    return load_policy(LEAD)


def _case(file: str, name: str) -> Case:
    cases = FileParser(LEAD / "tests" / f"{file}.test.yaml", _policy()).parse()
    return next(c for c in cases if c.name == name)


def _audit(file: str, name: str) -> str:
    case = _case(file, name)
    decision = _policy().evaluate(case.record, market=case.market, trace=True)
    return decision.explain_for_auditor(_policy().audit_context())


@pytest.mark.parametrize(("file", "name", "what", "where"), TYPICAL, ids=[t[1] for t in TYPICAL])
def test_typical_refusal_golden(file: str, name: str, what: str, where: str, update_golden: bool) -> None:
    text = _audit(file, name)
    golden = GOLDEN / f"{name}.txt"
    if update_golden:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == golden.read_text(encoding="utf-8")
    head, deciding = text.splitlines()[:2]
    assert re.match(r"Beneficiary \S+: (NOT ALIGNED to any ACO|ALIGNED to \S+) \(performance year \d{4}\)\.$", head)
    assert deciding.startswith("Deciding reason: ")
    assert what in deciding and where in deciding
    # readable by a non-programmer: no expression paths or trace jargon before the ranking table
    body = text.split("Ranking behind")[0]
    for jargon in ("[*]", "bene.", "aco.", "see trace", "read:", "defined at", "records)"):
        assert jargon not in body, jargon


def test_sources_are_expanded_with_titles_and_links() -> None:
    text = _audit("claims", "claims_unaffiliated_tin_wins_plurality")
    sources = text.split("\nSources:\n", 1)[1]
    assert "[42 CFR 425.402 (MSSP precedent)] Medicare Shared Savings Program" in sources
    policy = _policy()
    meta = policy.doc.meta
    assert meta is not None
    cited = re.findall(r"^  \[([^\]]+)\]", sources, flags=re.M)
    assert cited and all(any(s.id == c for s in meta.sources) for c in cited)
    linked = [s for s in meta.sources if s.url]
    with_link = _audit("eligibility", "original_medicare_fails_medicare_advantage_month")
    for s in linked:
        if f"[{s.id}]" in with_link.split("\nSources:\n", 1)[1]:
            assert f"<{s.url}>" in with_link


def test_the_ranking_table_shows_candidates_scores_and_tie_break() -> None:
    text = _audit("claims", "claims_tie_broken_by_most_recent_visit")
    table = text.split("Ranking behind the decision", 1)[1].splitlines()
    assert table[1].split() == ["rank", "candidate", "score", "tie-break"]
    assert table[2].split() == ["1", "LEAD-0002", "200.00", "2026-09-01"]
    assert table[3].split() == ["2", "LEAD-0001", "200.00", "2026-08-01"]
    assert "the tie-break decides" in text


def test_without_a_trace_the_deciding_reason_still_comes_first() -> None:
    case = _case("eligibility", "original_medicare_fails_medicare_advantage_month")
    decision = _policy().evaluate(case.record, market=case.market, trace=False)
    text = decision.explain_for_auditor(_policy().audit_context())
    assert text.splitlines()[1].startswith("Deciding reason: not aligned: The beneficiary was in Medicare Advantage")
    assert "Evaluated without a trace" in text
