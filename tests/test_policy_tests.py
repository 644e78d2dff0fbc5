"""The YAML policy tests pass with full coverage, and the runner itself works.

The first tests run every ``policies/*/tests/*.test.yaml`` file; the others
exercise the runner on small policies and test files written to ``tmp_path``:
failure diffs, merging and the months helper, parameter overrides, error
reports with file:line, discovery and coverage.
"""

from __future__ import annotations

import io
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from lead_rules.engine.policy import load_policy
from lead_rules.testing.policy_tests import (
    Coverage,
    deep_merge,
    discover_test_files,
    expand_months,
    policy_folder_for,
    run_policy_tests,
)

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"
EXAMPLE = POLICIES / "example"


def run(paths: list[Path], min_coverage: float | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = run_policy_tests(paths, min_coverage, out)
    return code, out.getvalue()


def coverage_lines(output: str) -> dict[str, tuple[int, int, float]]:
    """policy id -> (criteria covered, criteria, percent of all items) from the coverage tables."""
    found: dict[str, tuple[int, int, float]] = {}
    policy = None
    criteria: tuple[int, int] = (0, 0)
    for line in output.splitlines():
        m = re.match(r"Criterion coverage of policy (\S+) ", line)
        if m:
            policy = m.group(1)
        m = re.search(r"criteria covered true, false and \(where possible\) unknown: (\d+)/(\d+)", line)
        if m:
            criteria = (int(m.group(1)), int(m.group(2)))
        m = re.search(r"  coverage: \d+/\d+ items \(([\d.]+)%\)", line)
        if m and policy is not None:
            found[policy] = (*criteria, float(m.group(1)))
    return found


# --------------------------------------------------------------------------
# the repository's policy tests


def test_all_policy_tests_pass_with_full_true_false_coverage() -> None:
    code, output = run([POLICIES], min_coverage=100)
    assert code == 0, output
    assert "FAIL" not in output
    cov = coverage_lines(output)
    folders = {load_policy(p.parent.parent).id: p.parent.parent for p in discover_test_files([POLICIES])}
    assert set(cov) == set(folders)
    assert {"lead-alignment", "lead-state-selection", "lead-partnership", "lead-savings-sharing"} <= set(cov)
    for policy_id, (covered, total, pct) in cov.items():
        criteria = len(load_policy(folders[policy_id]).criteria())
        assert total == criteria, policy_id
        assert covered == total and pct == 100.0, policy_id


def test_every_lead_criterion_is_seen_true_and_false() -> None:
    """Coverage computed independently of the runner's table, from the traces."""
    from lead_rules.testing import policy_tests as pt

    out = io.StringIO()
    runner = pt.Runner(out)
    for path in discover_test_files([POLICIES / "lead"]):
        runner.run_file(path)
    assert all(r.passed for r in runner.results), out.getvalue()
    seen: dict[str, set[str]] = {}
    for result in runner.results:
        assert result.decision is not None and result.decision.trace is not None
        for (name, _aco), values in pt.criterion_values(result.decision.trace).items():
            seen.setdefault(name, set()).update(values)
    criteria = load_policy(POLICIES / "lead").criteria()
    for name in criteria:
        assert {"true", "false"} <= seen.get(name, set()), name
    for name in pt.unknowable_criteria(load_policy(POLICIES / "lead")):
        assert "unknown" in seen.get(name, set()), name


def test_lead_tests_cover_every_seed_rule_by_name() -> None:
    text = "\n".join(p.read_text() for p in discover_test_files([POLICIES / "lead"]))
    for needle in (
        "medicaid_rule1_fails_alone", "medicaid_rule2_fails_alone", "medicaid_rule3_fails_alone",
        "medicaid_rule4_fails_alone", "D-SNP", "FIDE-SNP", "HIDE-SNP", "type: AIP", "type: MMP", "type: PACE",
        'dual: "01"', 'dual: "03"', 'dual: "05"', 'dual: "06"', 'dual: "04"', 'dual: "08"',
        "hierarchy_claims_beats_medicaid", "hierarchy_voluntary_beats_claims", "hierarchy_voluntary_beats_medicaid",
        "sma_ffs_in_the_wrong_state", "plan_id_mismatch", "partnership_not_yet_in_force",
    ):
        assert needle in text, needle


def test_min_coverage_fails_below_threshold() -> None:
    code, output = run([POLICIES / "lead" / "tests" / "voluntary.test.yaml"], min_coverage=100)
    assert code == 1
    assert "below --min-coverage 100%" in output
    covered, total, pct = coverage_lines(output)["lead-alignment"]
    assert covered < total and pct < 100
    code, _ = run([POLICIES / "lead" / "tests" / "voluntary.test.yaml"], min_coverage=pct - 0.1)
    assert code == 0


# --------------------------------------------------------------------------
# the runner on small test files


@pytest.fixture()
def example_copy(tmp_path: Path) -> Path:
    """A copy of the example policy without its tests."""
    dest = tmp_path / "example"
    shutil.copytree(EXAMPLE, dest)
    shutil.rmtree(dest / "tests", ignore_errors=True)
    (dest / "tests").mkdir()
    return dest


BASE = """\
market: ../markets/example-2028.yaml
base:
  residence: {state: NC, county_fips: "37063"}
  months: {from: 2027-01, to: 2027-12, with: {buyin: "3", hmo: "0"}}
  claims: [{from_date: 2027-03-01, tin: "111111111", hcpcs: "99213", allowed: 100.00}]
"""


def write_test(policy: Path, name: str, body: str, base: str = BASE) -> Path:
    path = policy / "tests" / name
    path.write_text(base + textwrap.dedent(body))
    return path


def test_passing_cases_exit_zero(example_copy: Path) -> None:
    path = write_test(example_copy, "ok.test.yaml", """\
        cases:
          - name: claims_aligned
            expect: {outcome: aligned, aco_id: ACO-A, pathway: claims, reasons: [plurality_here]}
        """)
    code, output = run([path])
    assert code == 0, output
    assert "1 case(s), ok" in output


def test_failing_case_prints_a_diff_and_the_explanation(example_copy: Path) -> None:
    path = write_test(example_copy, "fail.test.yaml", """\
        cases:
          - name: wrong_expectation
            rule: made up
            record: {death_date: 2027-01-05}
            expect:
              outcome: aligned
              aco_id: ACO-A
              reasons: [{criterion: plurality_here, pathway: claims, value: true}]
              criteria: {alive: true, plurality_here@ACO-A: true}
        """)
    code, output = run([path])
    assert code == 1
    assert f"FAIL {path}:7: case 'wrong_expectation'" in output
    assert "[rule: made up]" in output
    assert "outcome: expected 'aligned', got 'not_aligned'" in output
    assert "aco_id: expected 'ACO-A', got null" in output
    assert "reasons: expected claims/plurality_here=true among the reasons" in output
    assert "actual reasons: " in output and "claims/eligible=false" in output
    assert "criteria: alive expected true, got false" in output
    assert "criteria: plurality_here@ACO-A" not in output  # that one held
    assert "explanation of the actual decision:" in output
    assert "| Beneficiary wrong_expectation is NOT ALIGNED" in output
    assert "0 passed, 1 failed" in output


def test_criteria_not_evaluated_and_per_aco(example_copy: Path) -> None:
    path = write_test(example_copy, "crit.test.yaml", """\
        cases:
          - name: claims_skips_nothing_but_voluntary_decides
            record: {voluntary: [{date: 2027-02-01, tin: "222222222"}]}
            expect:
              outcome: aligned
              aco_id: ACO-B
              criteria: {plurality_here: not_evaluated, designated_here@ACO-B: true, designated_here@ACO-A: false}
          - name: not_evaluated_is_checked
            expect: {criteria: {plurality_here: not_evaluated}}
        """)
    code, output = run([path])
    assert code == 1
    assert "criteria: plurality_here expected not_evaluated, got false/true" in output
    assert "case 'claims_skips_nothing_but_voluntary_decides'" not in output


def test_deep_merge_merges_mappings_and_replaces_lists() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"k": "v"}}
    over = {"a": {"y": [3], "z": 2}, "c": None, "d": [{"e": 1}]}
    merged = deep_merge(base, over)
    assert merged == {"a": {"x": 1, "y": [3], "z": 2}, "b": 1, "c": None, "d": [{"e": 1}]}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"k": "v"}}  # inputs untouched
    merged["d"][0]["e"] = 9
    assert over["d"] == [{"e": 1}]


def test_expand_months_helper() -> None:
    rows = expand_months(
        {"from": "2026-11", "to": "2027-02", "with": {"buyin": "3", "medicaid": {"state": "NC", "delivery": "MCO"}},
         "per_month": {"2026-12": None, "2027-01": {"buyin": "1", "medicaid": {"plan_id": "P"}}}}
    )
    assert [r["month"] for r in rows] == ["2026-11", "2027-01", "2027-02"]
    assert rows[0] == {"month": "2026-11", "buyin": "3", "medicaid": {"state": "NC", "delivery": "MCO"}}
    assert rows[1] == {"month": "2027-01", "buyin": "1", "medicaid": {"state": "NC", "delivery": "MCO", "plan_id": "P"}}
    rows[2]["medicaid"]["state"] = "VA"
    assert rows[0]["medicaid"]["state"] == "NC"  # rows do not share objects
    for bad, message in (
        ({"from": "2027-05", "to": "2027-01"}, "backwards"),
        ({"from": "2027-01"}, "needs 'from' and 'to'"),
        ({"from": "2027-01", "to": "2027-03", "per_month": {"2027-09": {}}}, "outside"),
        ({"from": "2027-1", "to": "2027-03"}, "invalid month"),
        ({"from": "2027-01", "to": "2027-03", "every": {}}, "unknown key 'every'"),
    ):
        with pytest.raises(ValueError, match=message):
            expand_months(bad)


def test_case_overrides_merge_into_the_base_months_helper(example_copy: Path) -> None:
    path = write_test(example_copy, "merge.test.yaml", """\
        cases:
          - name: one_month_part_a_only
            record: {months: {per_month: {2027-02: {buyin: "1"}}}}
            expect: {outcome: not_aligned, criteria: {part_a_and_b: false, alive: true}}
          - name: every_month_in_ma
            record: {months: {with: {hmo: "1"}}}
            expect: {outcome: not_aligned, criteria: {not_in_ma: false, part_a_and_b: true}}
          - name: dropped_month_is_absent
            record: {months: {per_month: {2027-02: null}}, claims: []}
            expect: {criteria: {part_a_and_b: true}}
          - name: list_replaces_helper
            record: {months: [{month: "2027-05", buyin: "2", hmo: "0"}]}
            expect: {outcome: not_aligned, criteria: {part_a_and_b: false}}
          - name: base_untouched_by_other_cases
            expect: {outcome: aligned, aco_id: ACO-A}
        """)
    code, output = run([path])
    assert code == 0, output
    assert "5 case(s), ok" in output


def test_parameter_overrides(example_copy: Path) -> None:
    path = write_test(example_copy, "params.test.yaml", base="", body="""\
        market: ../markets/example-2028.yaml
        base:
          residence: {state: NC, county_fips: "37063"}
          months: {from: 2027-01, to: 2027-12, with: {buyin: "3", hmo: "0"}}
          claims:
            - {from_date: 2027-03-01, tin: "111111111", hcpcs: "99213", allowed: 100.00}
            - {from_date: 2027-03-01, tin: "222222222", hcpcs: "99213", allowed: 100.00}
        cases:
          - name: tie_none
            expect: {outcome: not_aligned}
          - name: tie_lowest
            parameters: {tie_rule: lowest}
            expect: {outcome: aligned, aco_id: ACO-A}
          - name: tie_highest
            parameters: {tie_rule: highest}
            expect: {outcome: aligned, aco_id: ACO-B}
          - name: code_list_override
            parameters: {tie_rule: highest, primary_care_hcpcs: ["99214"]}
            expect: {outcome: not_aligned}
        """)
    code, output = run([path])
    assert code == 0, output


def test_invalid_parameter_value_is_reported_as_a_failure(example_copy: Path) -> None:
    path = write_test(example_copy, "badparam.test.yaml", """\
        cases:
          - name: bad_tie_rule
            parameters: {tie_rule: sideways}
            expect: {outcome: aligned}
        """)
    code, output = run([path])
    assert code == 1
    assert "make the policy invalid" in output and "'sideways' is not one of" in output


def test_malformed_test_file_gives_errors_with_lines(example_copy: Path) -> None:
    path = write_test(example_copy, "bad.test.yaml", """\
        cases:
          - name: a
            recrod: {}
            expect: {outcome: alinged}
          - name: b
            expect:
              criteria: {alive: maybe, nonexistent: true}
          - expect: {outcome: aligned}
        """)
    code, output = run([path])
    assert code == 2
    assert f"{path}:8:5: error[T001]: unknown key 'recrod' in a case" in output
    assert "did you mean 'record'?" in output
    assert f"{path}:9:23: error[T001]: outcome 'alinged' is not one of" in output
    assert f"{path}:12:25: error[T001]: criterion 'alive': expected true, false, unknown or not_evaluated" in output
    assert f"{path}:12:32: error[T001]: unknown criterion 'nonexistent'" in output
    assert f"{path}:13:5: error[T001]: a case needs a 'name'" in output
    assert "Traceback" not in output
    assert "none of its cases ran" in output


def test_yaml_syntax_error_and_bad_market_are_reported(example_copy: Path) -> None:
    bad_yaml = example_copy / "tests" / "syntax.test.yaml"
    bad_yaml.write_text("market: ../markets/example-2028.yaml\ncases:\n  - name: a\n    expect: {outcome: aligned\n")
    bad_market = write_test(example_copy, "market.test.yaml", """\
        cases:
          - name: a
            market: {performance_year: soon}
            expect: {outcome: aligned}
        """)
    code, output = run([example_copy])
    assert code == 2
    assert f"{bad_yaml}:5:1: error[E001]: invalid YAML" in output
    assert f"{bad_market}:8:32: error[T002]: invalid market: performance_year" in output


def test_bad_base_months_helper_is_reported_once(example_copy: Path) -> None:
    path = example_copy / "tests" / "months.test.yaml"
    path.write_text(textwrap.dedent("""\
        market: ../markets/example-2028.yaml
        base:
          months: {from: 2027-01, to: 2027-13}
        cases:
          - {name: a, expect: {outcome: aligned}}
          - {name: b, expect: {outcome: aligned}}
        """))
    code, output = run([path])
    assert code == 2
    assert output.count("invalid month 2027-13") == 1
    assert f"{path}:3:31:" in output


def test_discovery_and_policy_folder(tmp_path: Path, example_copy: Path) -> None:
    a = write_test(example_copy, "a.test.yaml", "cases: []\n")
    (example_copy / "tests" / "notes.yaml").write_text("x: 1\n")
    hidden = example_copy / "tests" / ".hidden"
    hidden.mkdir()
    (hidden / "h.test.yaml").write_text("cases: []\n")
    assert discover_test_files([tmp_path]) == [a]
    assert discover_test_files([a, tmp_path]) == [a]
    assert policy_folder_for(a) == example_copy
    assert policy_folder_for(tmp_path / "loose.test.yaml") is None


def test_test_file_outside_tests_folder_needs_policy_key(tmp_path: Path, example_copy: Path) -> None:
    loose = tmp_path / "loose.test.yaml"
    case = "cases:\n  - {name: a, expect: {outcome: aligned}}\n"
    loose.write_text(BASE.replace("../markets", "example/markets") + case)
    code, output = run([loose])
    assert code == 2 and "cannot tell which policy" in output
    loose.write_text("policy: example\n" + loose.read_text())
    code, output = run([loose])
    assert code == 0, output


def test_no_test_files_and_missing_paths(tmp_path: Path) -> None:
    code, output = run([tmp_path])
    assert code == 2 and "no policy test files" in output
    code, output = run([tmp_path / "nope"])
    assert code == 2 and "no such file or folder" in output


def test_coverage_counts_cached_criterion_nodes() -> None:
    policy = load_policy(EXAMPLE)
    market = EXAMPLE / "markets" / "example-2028.yaml"
    record = {
        "bene_id": "X",
        "residence": {"county_fips": "37063"},
        "months": [{"month": f"2027-{m:02d}", "buyin": "3", "hmo": "0"} for m in range(1, 13)],
        "voluntary": [{"date": "2027-02-01", "tin": "222222222"}],
    }
    decision = policy.evaluate(record, market=market, trace=True)
    assert decision.trace is not None
    cov = Coverage.of(policy, EXAMPLE)
    cov.add(decision.trace, decision)
    # 'eligible' is evaluated for ACO-A and then re-used (cached) for ACO-B
    assert cov.counts["eligible"]["true"] == 1
    assert cov.counts["designated_here"] == {"true": 1, "false": 1, "unknown": 0}
    # seen true and false, but it can also be unknown (a designation without a TIN)
    assert cov.missing("designated_here") == ["unknown"] and cov.missing("eligible") == ["false", "unknown"]
    assert "plurality_here" not in cov.counts  # voluntary decided; claims was skipped
    assert 0 < cov.percent < 100
    table = cov.render()
    assert "! eligible" in table and "never false" in table


# --------------------------------------------------------------------------
# the richer coverage: unknown where possible, pathways, tie branches, definitions


def test_unknowable_criteria_of_the_policies() -> None:
    from lead_rules.testing.policy_tests import unknowable_criteria

    example = unknowable_criteria(load_policy(EXAMPLE))
    # alive: "death_date is null or death_date >= ..." - the null test guards the comparison
    assert "alive" not in example
    assert {"part_a_and_b", "not_in_ma", "eligible", "in_service_area", "designated_here"} <= example
    lead = unknowable_criteria(load_policy(POLICIES / "lead"))
    # coalesce(..., false) and counts can never be unknown
    assert not {"designated_here", "no_designation_outside_acos", "claims_outcome_known"} & lead
    assert {"claims_plurality_here", "alive", "full_benefit_dual", "designation_visit_requirement_met"} <= lead


def test_unknowable_analysis_rules(tmp_path: Path) -> None:
    from conftest import write_policy

    from lead_rules.testing.policy_tests import unknowable_criteria

    folder = write_policy(
        tmp_path / "p",
        definitions={"top": 'argmax(c.tin for c in bene.claims by c.allowed, ties = "none")'},
        criteria={
            "guarded_or": "bene.death_date is null or bene.death_date >= @2028-01-01",
            "guarded_and": "bene.death_date is not null and bene.death_date >= @2028-01-01",
            "guarded_if": "if bene.death_date is not null then bene.death_date >= @2028-01-01 else false",
            "unguarded": "bene.death_date >= @2028-01-01",
            "counted": "count(c for c in bene.claims where c.allowed > 0) > 0",
            "summed": "sum(c.allowed for c in bene.claims) > 0",
            "any_of_nullable": "any(c.allowed > 0 for c in bene.claims)",
            "coalesced": "coalesce(top in aco.participant_tins, false)",
            "argmax_based": "top in aco.participant_tins",
            "divided": "count(bene.claims) / 2 > 1",
            "null_branch": "if count(bene.claims) > 0 then true else null",
            "non_null_fields": "len(aco.id) > 0",
        },
        pathways={"p": {"requires": ["guarded_or", "guarded_and", "guarded_if", "unguarded", "counted", "summed",
                                     "any_of_nullable", "coalesced", "argmax_based", "divided", "null_branch",
                                     "non_null_fields"]}},
        hierarchy=["p"],
    )
    got = unknowable_criteria(load_policy(folder))
    assert got == {"unguarded", "any_of_nullable", "argmax_based", "divided", "null_branch"}


def test_coverage_requires_unknown_pathways_ties_and_definitions() -> None:
    policy = load_policy(EXAMPLE)
    cov = Coverage.of(policy, EXAMPLE)
    assert cov.pathways == ["voluntary", "claims"] and cov.tie_branches == []
    assert "plurality_tin" in cov.definitions and "in_service_area" in cov.unknowable
    market = EXAMPLE / "markets" / "example-2028.yaml"
    months = [{"month": f"2027-{m:02d}", "buyin": "3", "hmo": "0"} for m in range(1, 13)]
    voluntary = {"bene_id": "V", "residence": {"county_fips": "37063"}, "months": months,
                 "voluntary": [{"date": "2027-02-01", "tin": "222222222"}]}
    d = policy.evaluate(voluntary, market=market, trace=True)
    cov.add(d.trace, d)
    assert cov.pathway_counts == {"voluntary": 1}
    assert "plurality_tin" not in cov.definition_counts  # claims was skipped
    table = cov.render()
    assert "! claims" in table and "never decided" in table
    assert "definitions never evaluated" in table and "plurality_tin" in table
    # a criterion seen true and false but never unknown is not covered when it can be unknown
    cov.counts["in_service_area"] = {"true": 1, "false": 1, "unknown": 0}
    assert cov.missing("in_service_area") == ["unknown"] and not cov.covered("in_service_area")
    cov.counts["alive"] = {"true": 1, "false": 1, "unknown": 0}
    assert cov.covered("alive")  # cannot be unknown
    assert 0 < cov.percent < 100


def test_coverage_counts_tie_branches() -> None:
    lead = load_policy(POLICIES / "lead")
    cov = Coverage.of(lead, POLICIES / "lead")
    assert ("medicaid", "the rank decides") in cov.tie_branches
    assert ("voluntary", "on_tie aligns to none") in cov.tie_branches
    assert ("voluntary", "the rank decides") not in cov.tie_branches  # no rank declared
    code, output = run([POLICIES / "lead" / "tests" / "medicaid.test.yaml"], min_coverage=100)
    assert code == 1  # voluntary ties and other items are not reached by this file alone
    assert "medicaid: the rank decides" in output and "voluntary: on_tie aligns to none" in output
    assert re.search(r"! voluntary: on_tie aligns to none\s+-\s+never taken", output)
