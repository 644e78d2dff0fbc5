"""The LEAD policy's shared-TIN rule and its Medicaid switch for outside designations, on both engines.

``shared_tin_rule`` (policies/lead/parameters.yaml): "error" (default, LEAD's
whole-TIN participation) refuses a market in which two ACOs list one TIN, at
the TIN's line in the market file (market check ``shared_participant_tin``,
E405); "drop" (MSSP 42 CFR 425.400(a)(2)(iii)) leaves the TIN's services out of
claims-based alignment; "lowest_aco_id" counts them for the lowest id. The
interpreter and DuckDB must refuse the same markets and decide the same way.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from lead_rules.cli.main import main
from lead_rules.engine.policy import Policy, load_market, load_policy
from lead_rules.language.errors import PolicyError
from lead_rules.language.records import Market
from lead_rules.sql.differential import compare
from lead_rules.sql.run import decide
from lead_rules.testing.policy_tests import run_policy_tests
from lead_rules.tools.overrides import with_parameters

LEAD = Path(__file__).resolve().parent.parent / "policies" / "lead"
DEMO = LEAD / "markets" / "demo-2028.yaml"


@pytest.fixture(scope="module")
def lead() -> Policy:
    return load_policy(LEAD)


def _demo() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    return data


def _sharing(tin: str = "561234567", *holders: int) -> dict[str, Any]:
    """The demo market with ``tin`` (of LEAD-0001) listed by the ACOs at ``holders`` too."""
    market = _demo()
    for i in holders:
        market["acos"][i]["participant_tins"].append(tin)
    return market


def _write(tmp_path: Path, market: dict[str, Any]) -> Path:
    path = tmp_path / "market.yaml"
    path.write_text(yaml.safe_dump(market, sort_keys=False), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str, occurrence: int) -> int:
    lines = [i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line]
    return lines[occurrence]


def test_the_demo_market_passes_the_checks(lead: Policy) -> None:
    assert len(load_market(DEMO, lead).acos) == 3


@pytest.mark.parametrize(
    ("holders", "expected"),
    [
        ((1,), [("acos.1.participant_tins.2", "LEAD-0001", "LEAD-0002", 1)]),
        ((1, 2), [("acos.1.participant_tins.2", "LEAD-0001", "LEAD-0002", 1),
                  ("acos.2.participant_tins.1", "LEAD-0001", "LEAD-0003", 2)]),
        ((), []),
    ],
)
def test_a_shared_tin_is_a_market_error_at_its_line(
    tmp_path: Path, lead: Policy, holders: tuple[int, ...], expected: list[tuple[str, str, str, int]]
) -> None:
    path = _write(tmp_path, _sharing("561234567", *holders))
    if not expected:
        assert load_market(path, lead) is not None
        return
    with pytest.raises(PolicyError) as info:
        load_market(path, lead)
    got = info.value.diagnostics
    assert [d.code for d in got] == ["E405"] * len(expected)
    for d, (where, first, holder, occurrence) in zip(got, expected, strict=True):
        assert d.message.startswith(f"{where}: TIN 561234567 is a participant TIN of ACO {first} and of ACO {holder}")
        assert (d.span.file, d.span.line) == (str(path), _line_of(path, "561234567", occurrence))
    assert len(load_market(path).acos) == 3  # the data contract alone allows it: the rule is the policy's


@pytest.mark.parametrize("rule", ["drop", "lowest_aco_id"])
def test_the_mssp_rules_accept_the_market(tmp_path: Path, lead: Policy, rule: str) -> None:
    policy = with_parameters(lead, [f"shared_tin_rule={rule}"])
    assert len(load_market(_write(tmp_path, _sharing("561234567", 1)), policy).acos) == 3


def test_both_engines_refuse_a_shared_tin_under_the_error_rule(tmp_path: Path, lead: Policy) -> None:
    market = Market.model_validate(_sharing("561234567", 1))
    population = tmp_path / "population.jsonl"
    population.write_text('{"bene_id": "B1"}\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="E405"):
        lead.evaluate({"bene_id": "B1"}, market)
    with pytest.raises(PolicyError, match="E405"):
        decide(lead, market, population)
    with pytest.raises(PolicyError, match="E405"):  # a loaded market given to the CLI's path (cached SQL)
        load_market(market, lead)


BASE: dict[str, Any] = {
    "residence": {"state": "NC", "county_fips": "37063", "us": True},
    "months": [
        {"month": f"2027-{m:02d}", "buyin": "3", "hmo": "0", "dual": "02", "msp": False,
         "medicaid": {"state": "NC", "delivery": "FFS", "plan_id": None}, "integrated": None}
        for m in range(1, 13)
    ],
}


def _claim(n: int, tin: str, allowed: str | None, date: str = "2026-08-01") -> dict[str, Any]:
    return {"claim_id": f"C{n}", "line": 1, "from_date": date, "tin": tin, "hcpcs": "99214", "specialty": "08",
            "allowed": allowed}


SHARED_TIN_RECORDS: list[dict[str, Any]] = [
    {"claims": [_claim(1, "561234567", "500.00"), _claim(2, "562000001", "100.00")]},
    {"claims": [_claim(1, "561234567", None), _claim(2, "562000001", "100.00")]},
    {"claims": [_claim(1, "561234567", "500.00")]},
    {"claims": [_claim(1, "561234567", "100.00"), _claim(2, "569999999", "100.00", "2026-09-01")]},
    {"claims": [_claim(1, "561234567", "100.00"), _claim(2, "561234568", "100.00")]},
    {"voluntary": [{"date": "2027-05-01", "tin": "561234567", "channel": "paper"}]},
    {"claims": [_claim(1, "561234567", None)]},
    {"claims": [_claim(1, "561234567", "100.00"), _claim(2, "569999999", None)]},
]
"""Records whose claims or designation use TIN 561234567, listed by LEAD-0001 and LEAD-0002."""

EXPECTED = {
    # rule: (outcome, aco, pathway) per record of SHARED_TIN_RECORDS
    "drop": [
        ("aligned", "LEAD-0002", "claims"),  # the shared TIN's 500 is dropped: LEAD-0002's own TIN wins
        ("aligned", "LEAD-0002", "claims"),  # the dropped line's missing charge does not matter
        ("aligned", "LEAD-0002", "medicaid"),  # no counted claim: Medicaid (FFS, the SMA partner)
        ("aligned", "LEAD-0002", "medicaid"),  # the unaffiliated TIN holds the plurality, LEAD-0002 by Medicaid
        ("aligned", "LEAD-0001", "claims"),  # LEAD-0001's exclusive TIN counts
        ("aligned", "LEAD-0002", "medicaid"),  # the designation names two ACOs: a voluntary tie, not aligned there
        ("aligned", "LEAD-0002", "medicaid"),  # the only line is dropped: what it misses does not matter
        # an unaffiliated line misses its charge, but the only other line is dropped: no ACO could win by
        # claims, so the unknown plurality does not hold Medicaid back (claims_outcome_known)
        ("aligned", "LEAD-0002", "medicaid"),
    ],
    "lowest_aco_id": [
        ("aligned", "LEAD-0001", "claims"),
        ("not_aligned", None, None),  # the shared line counts (for LEAD-0001) and misses its charge
        ("aligned", "LEAD-0001", "claims"),
        ("aligned", "LEAD-0002", "medicaid"),  # a tie with the unaffiliated TIN, whose visit is more recent
        ("aligned", "LEAD-0001", "claims"),
        ("aligned", "LEAD-0002", "medicaid"),
        ("not_aligned", None, None),  # the shared line counts for LEAD-0001 and misses its charge
        ("not_aligned", None, None),  # the plurality is unknown and LEAD-0001's line could hold it
    ],
}


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_shared_tin_rules_decide_alike_on_both_engines(tmp_path: Path, lead: Policy, rule: str) -> None:
    policy = with_parameters(lead, [f"shared_tin_rule={rule}"])
    market = Market.model_validate(_sharing("561234567", 1))
    records = [{"bene_id": f"B{i}", **copy.deepcopy(BASE), **r} for i, r in enumerate(SHARED_TIN_RECORDS)]
    got = [(d.outcome, d.aco_id, d.pathway) for d in (policy.evaluate(r, market, trace=False) for r in records)]
    assert got == EXPECTED[rule]
    assert compare(policy, market, records, workdir=tmp_path) == []


OUTSIDE = {"voluntary": [{"date": "2027-05-01", "tin": "569999999", "channel": "medicare_gov"}]}
LEAD2_CLAIM = {"claims": [_claim(1, "562000001", "300.00")]}


@pytest.mark.parametrize(
    ("blocks", "blocks_medicaid", "record", "expected"),
    [
        (True, True, OUTSIDE, ("not_aligned", None, None)),
        (True, False, OUTSIDE, ("aligned", "LEAD-0002", "medicaid")),
        (False, True, OUTSIDE, ("not_aligned", None, None)),
        (False, False, OUTSIDE, ("aligned", "LEAD-0002", "medicaid")),
        (True, False, {**OUTSIDE, **LEAD2_CLAIM}, ("aligned", "LEAD-0002", "medicaid")),  # claims stay blocked
        (False, True, {**OUTSIDE, **LEAD2_CLAIM}, ("aligned", "LEAD-0002", "claims")),
        (True, True, {}, ("aligned", "LEAD-0002", "medicaid")),  # no designation: nothing blocks
    ],
)
def test_outside_designation_blocks_claims_and_medicaid_separately(
    tmp_path: Path, lead: Policy, blocks: bool, blocks_medicaid: bool, record: dict[str, Any],
    expected: tuple[str, str | None, str | None],
) -> None:
    policy = with_parameters(lead, [f"designation_elsewhere_blocks={str(blocks).lower()}",
                                    f"designation_elsewhere_blocks_medicaid={str(blocks_medicaid).lower()}"])
    market = load_market(DEMO, policy)
    bene = {"bene_id": "B1", **copy.deepcopy(BASE), **record}
    decision = policy.evaluate(bene, market, trace=False)
    assert (decision.outcome, decision.aco_id, decision.pathway) == expected
    assert compare(policy, market, [bene], workdir=tmp_path) == []


@pytest.mark.parametrize(("parameters", "status"), [("{}", 1), ("{shared_tin_rule: drop}", 0)])
def test_a_policy_test_whose_market_shares_a_tin_fails_unless_the_rule_allows_it(
    tmp_path: Path, parameters: str, status: int
) -> None:
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "shared.test.yaml").write_text(
        f"policy: {LEAD}\n"
        "market:\n"
        "  performance_year: 2028\n"
        "  acos:\n"
        "    - {id: LEAD-0001, participant_tins: ['561234567']}\n"
        "    - {id: LEAD-0002, participant_tins: ['561234567']}\n"
        "cases:\n"
        "  - name: c\n"
        f"    parameters: {parameters}\n"
        "    record: {}\n"
        "    expect: {outcome: not_aligned}\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    assert run_policy_tests([tests], None, out) == status
    assert ("the market is refused: E405" in out.getvalue()) == (status == 1)


@pytest.mark.parametrize(
    "command",
    [
        ["align", "--engine", "duckdb", "--output", "{tmp}/out.parquet"],
        ["align", "--engine", "interpreter", "--output", "{tmp}/out.jsonl"],
        ["explain", "--id", "B1"],
        ["why-not", "--id", "B1", "--aco", "LEAD-0001"],
    ],
)
def test_every_command_refuses_a_shared_tin_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    market = _write(tmp_path, _sharing("561234567", 1))
    population = tmp_path / "in.jsonl"
    population.write_text('{"bene_id": "B1"}\n', encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    try:
        code = main([*args[:1], "--policy", str(LEAD), "--market", str(market), "--input", str(population), *args[1:]])
    except SystemExit as exc:  # the loading helpers exit with the diagnostics' code
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert f"{market}:{_line_of(market, '561234567', 1)}:" in err and "E405" in err and "internal error" not in err
    assert not (tmp_path / "out.parquet").exists() and not (tmp_path / "out.jsonl").exists()
