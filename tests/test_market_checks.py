"""Market-file checks of the input contract (records.md): errors name the market file's line.

An MCO partnership is with named plans (``plan_ids``); one without plans
would match no enrollee, silently, so it is a market error (E401) where the
market is loaded and a T002 error in a policy test file's inline market.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lead_rules.engine.policy import load_market
from lead_rules.language.errors import PolicyError
from lead_rules.testing.policy_tests import run_policy_tests

REPO = Path(__file__).resolve().parent.parent

MARKET = """\
performance_year: 2028
acos:
  - id: LEAD-0001
    participant_tins: ["561234567"]
    medicaid_partners:
      - state: NC
        kind: SMA
      - state: NC
        kind: MCO
        effective: {from: 2028-01-01}
"""


def test_mco_partnership_without_plans_is_a_market_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "market.yaml"
    path.write_text(MARKET, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_market(path)
    text = str(info.value)
    assert "E401" in text and "acos.0.medicaid_partners.1" in text and "plan_ids" in text
    assert f"{path}:8:" in text  # the line of the second partnership


@pytest.mark.parametrize("plans", ["plan_ids: []", ""])
def test_mco_partnership_with_empty_or_absent_plans_is_rejected(tmp_path: Path, plans: str) -> None:
    path = tmp_path / "market.yaml"
    body = MARKET.replace("        effective: {from: 2028-01-01}\n", f"        {plans}\n" if plans else "")
    path.write_text(body, encoding="utf-8")
    with pytest.raises(PolicyError):
        load_market(path)


def test_sma_partnership_needs_no_plans_and_mco_with_plans_loads(tmp_path: Path) -> None:
    path = tmp_path / "market.yaml"
    path.write_text(MARKET.replace("kind: MCO\n", "kind: MCO\n        plan_ids: [NC-MCO-0042]\n"), encoding="utf-8")
    market = load_market(path)
    assert [p.kind for p in market.acos[0].medicaid_partners] == ["SMA", "MCO"]


def test_policy_test_with_a_plan_less_mco_partnership_reports_the_line(tmp_path: Path) -> None:
    tests = tmp_path / "lead" / "tests"
    tests.mkdir(parents=True)
    (tests / "m.test.yaml").write_text(
        f"policy: {REPO / 'policies' / 'lead'}\n"
        "market:\n"
        "  performance_year: 2028\n"
        "  acos:\n"
        "    - id: LEAD-0001\n"
        "      medicaid_partners:\n"
        "        - {state: NC, kind: MCO}\n"
        "cases:\n"
        "  - name: c\n"
        "    record: {}\n"
        "    expect: {outcome: not_aligned}\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    assert run_policy_tests([tests], None, out) == 2
    assert "m.test.yaml:7:" in out.getvalue() and "plan_ids" in out.getvalue()
