"""Market checks as a language feature (``market_checks:``, docs/language.md "Market checks").

A check loops over list fields of the market (``each``), and ``require`` must
hold for every element; a failing element is an error with the policy's code
at the market file's line of the element ``at`` names. The checker types the
section against the market schema; these tables pin what it accepts, what it
refuses (with which code), and what a run reports.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import write_policy

from lead_rules.engine.policy import check_policy, load_market, load_policy
from lead_rules.language.errors import PolicyError
from lead_rules.language.records import Market

REPO = Path(__file__).resolve().parent.parent
GOOD: dict[str, Any] = {
    "each": {"entry": "market.acos", "tin": "entry.participant_tins"},
    "require": "count(a for a in market.acos where tin in a.participant_tins) == 1",
    "code": "E450",
    "values": {"holder": "entry.id"},
    "message": "TIN {tin} of {holder} is listed {times} times",
}


def _policy(tmp_path: Path, checks: dict[str, Any], **params: Any) -> Path:
    path = write_policy(tmp_path / "p", parameters=params or {"strict": {"type": "bool", "value": True}},
                        criteria={"c": "strict or true"})
    (path.parent / "checks.yaml").write_text(yaml.safe_dump({"market_checks": checks}, sort_keys=False),
                                             encoding="utf-8")
    return path.parent


def _check(overrides: dict[str, Any]) -> dict[str, Any]:
    check = {**GOOD, **overrides}
    check["values"] = {**GOOD["values"], "times": "count(a for a in market.acos where tin in a.participant_tins)",
                       **overrides.get("values", {})}
    return {k: v for k, v in check.items() if v is not None}


def _errors(folder: Path) -> list[str]:
    _, diags = check_policy(folder)
    return [f"{d.code} {d.message}" for d in diags if d.severity == "error"]


def test_a_well_formed_check_is_accepted(tmp_path: Path) -> None:
    assert _errors(_policy(tmp_path, {"unique_tin": _check({})})) == []


@pytest.mark.parametrize(
    ("overrides", "code", "words"),
    [
        ({"colour": "red"}, "E240", "unknown key 'colour'"),
        ({"code": "E201"}, "E240", "E400-E499"),
        ({"require": None}, "E240", "require"),
        ({"each": {"entry": "bene.claims"}}, "E241", "list field of the market"),
        ({"each": {"entry": "market.performance_year"}}, "E241", "list or set"),
        ({"each": {"strict": "market.acos", "tin": "strict.participant_tins"}}, "E241", "hides the parameter"),
        ({"each": {"entry": "market.acos", "tin": "entry.participant_tin"}}, "E201", "unknown field"),
        ({"require": "count(a for a in market.acos where tin in a.participant_tins)"}, "E242", "boolean"),
        ({"when": "1"}, "E242", "'when'"),
        ({"require": "tin in aco.participant_tins"}, "E243", "the ACO under consideration"),
        ({"require": "count(c for c in bene.claims) == 0"}, "E243", "the record"),
        ({"values": {"holder": "entry"}}, "E242", "plain value"),
        ({"message": "TIN {tn} is listed twice"}, "E244", "'{tn}'"),
        ({"message": "{entry} lists a TIN twice"}, "E244", "one of its fields"),
        ({"at": "partner"}, "E244", "'at' names a loop variable"),
    ],
)
def test_the_checker_refuses_a_bad_check(tmp_path: Path, overrides: dict[str, Any], code: str, words: str) -> None:
    errors = _errors(_policy(tmp_path, {"unique_tin": _check(overrides)}))
    assert any(e.startswith(code) and words in e for e in errors), errors


def test_a_check_may_use_market_level_definitions_and_keeps_them_in_use(tmp_path: Path) -> None:
    folder = tmp_path / "q"
    written = write_policy(folder, definitions={"n_acos": "count(a for a in market.acos)"}, criteria={"c": "true"})
    (written.parent / "checks.yaml").write_text(yaml.safe_dump({"market_checks": {"few": {
        "each": {"entry": "market.acos"}, "require": "n_acos <= 2", "code": "E451",
        "message": "{n} ACOs: at most 2", "values": {"n": "n_acos"}}}}), encoding="utf-8")
    policy, diags = check_policy(written.parent)
    assert policy is not None, [d.render() for d in diags]
    assert not [d for d in diags if d.code == "W301"]  # n_acos is used by the check
    with pytest.raises(PolicyError) as info:
        policy.check_market(Market.model_validate({"performance_year": 2028, "acos": [{"id": i} for i in "XYZ"]}))
    assert [d.code for d in info.value.diagnostics] == ["E451"] * 3


MARKET = """\
performance_year: 2028
acos:
  - id: A1
    participant_tins: ["111", "222"]
  - id: A2
    participant_tins:
      - "333"
      - "222"
"""


@pytest.mark.parametrize(
    ("market", "expected"),
    [
        (MARKET, [(4, "acos.0.participant_tins.1: TIN 222 of A1 is listed 2 times"),
                  (8, "acos.1.participant_tins.1: TIN 222 of A2 is listed 2 times")]),
        (MARKET.replace('"222"]', '"444"]'), []),
        ("performance_year: 2028\nacos: []\n", []),
    ],
)
def test_a_run_reports_each_failing_element_at_its_line(tmp_path: Path, market: str, expected: list[Any]) -> None:
    policy = load_policy(_policy(tmp_path, {"unique_tin": _check({})}))
    path = tmp_path / "market.yaml"
    path.write_text(market, encoding="utf-8")
    if not expected:
        assert load_market(path, policy).performance_year == 2028
        return
    with pytest.raises(PolicyError) as info:
        load_market(path, policy)
    got = [(d.span.line, d.message) for d in info.value.diagnostics]
    assert got == expected
    assert all(d.span.file == str(path) and d.code == "E450" for d in info.value.diagnostics)
    assert "market check 'unique_tin'" in (info.value.diagnostics[0].hint or "")
    # the same market given as a model has no file: the error names the element's path
    with pytest.raises(PolicyError) as again:
        policy.evaluate({"bene_id": "B1"}, Market.model_validate(yaml.safe_load(market)))
    assert [d.message.split(":")[0] for d in again.value.diagnostics] == [
        "acos.0.participant_tins.222", "acos.1.participant_tins.222"
    ]


@pytest.mark.parametrize(("strict", "refused"), [(True, True), (False, False)])
def test_when_turns_a_check_on_and_off_by_parameter(tmp_path: Path, strict: bool, refused: bool) -> None:
    folder = _policy(tmp_path, {"unique_tin": _check({"when": "strict"})},
                     strict={"type": "bool", "value": strict})
    policy = load_policy(folder)
    path = tmp_path / "market.yaml"
    path.write_text(MARKET, encoding="utf-8")
    if refused:
        with pytest.raises(PolicyError):
            load_market(path, policy)
    else:
        assert len(load_market(path, policy).acos) == 2
    assert len(load_market(path).acos) == 2  # without the policy, its checks do not apply


def test_nested_lists_locate_the_inner_element(tmp_path: Path) -> None:
    checks = {"plans": {
        "each": {"entry": "market.acos", "partner": "entry.medicaid_partners"},
        "require": 'partner.state == "NC"', "code": "E452", "at": "partner",
        "values": {"state": "partner.state", "holder": "entry.id"},
        "message": "{holder} partners in {state}"}}
    policy = load_policy(_policy(tmp_path, checks))
    path = tmp_path / "market.yaml"
    path.write_text(
        "performance_year: 2028\nacos:\n  - id: A1\n    medicaid_partners:\n      - {state: NC, kind: SMA}\n"
        "      - {state: VA, kind: SMA}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as info:
        load_market(path, policy)
    (d,) = info.value.diagnostics
    assert (d.code, d.span.line, d.message) == ("E452", 6, "acos.0.medicaid_partners.1: A1 partners in VA")


def test_a_decision_kind_policy_has_no_market_checks(tmp_path: Path) -> None:
    folder = tmp_path / "partnership"
    shutil.copytree(REPO / "policies" / "partnership", folder, ignore=shutil.ignore_patterns("tests"))
    (folder / "checks.yaml").write_text(yaml.safe_dump({"market_checks": {"x": _check({})}}), encoding="utf-8")
    assert any(e.startswith("E241") and "alignment policy" in e for e in _errors(folder))
