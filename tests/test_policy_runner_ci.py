"""The policy-test runner in CI: -k/--case filters, JUnit XML and JSON output, one report per
misspelled override, file:line for an invalid record inside a case, a short summary of many failures."""

from __future__ import annotations

import io
import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lead_rules.cli.main import main
from lead_rules.testing.policy_tests import Selection, run_policy_tests

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "policies" / "example"

BASE = """\
market: ../markets/example-2028.yaml
base:
  residence: {state: NC, county_fips: "37063"}
  months: {from: 2027-01, to: 2027-12, with: {buyin: "3", hmo: "0"}}
  claims: [{from_date: 2027-03-01, tin: "111111111", hcpcs: "99213", allowed: 100.00}]
"""

ALIGNED = "{outcome: aligned, aco_id: ACO-A}"


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    dest = tmp_path / "example"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("tests"))
    (dest / "tests").mkdir()
    return dest


def _write(policy: Path, body: str, name: str = "ci.test.yaml", base: str = BASE) -> Path:
    path = policy / "tests" / name
    path.write_text(base + textwrap.dedent(body), encoding="utf-8")
    return path


def _cases(n: int, expect: str = ALIGNED, prefix: str = "case") -> str:
    return "cases:\n" + "".join(f"  - name: {prefix}_{i}\n    expect: {expect}\n" for i in range(n))


def _run(paths: list[Path], **kw: object) -> tuple[int, str]:
    out = io.StringIO()
    code = run_policy_tests(paths, None, out, **kw)  # type: ignore[arg-type]
    return code, out.getvalue()


@pytest.mark.parametrize(
    ("selection", "ran"),
    [
        (Selection(["alpha"]), ["alpha_one", "alpha_two"]),
        (Selection(["ALPHA_T"]), ["alpha_two"]),
        (Selection([], ["beta_one"]), ["beta_one"]),
        (Selection(["two"], ["beta_one"]), ["alpha_two", "beta_one"]),
        (Selection(), ["alpha_one", "alpha_two", "beta_one"]),
    ],
)
def test_filters(policy: Path, selection: Selection, ran: list[str]) -> None:
    path = _write(policy, f"""\
        cases:
          - {{name: alpha_one, expect: {ALIGNED}}}
          - {{name: alpha_two, expect: {ALIGNED}}}
          - {{name: beta_one, expect: {ALIGNED}}}
        """)
    code, out = _run([path], selection=selection, fmt="json")
    assert code == 0
    assert [c["name"] for c in json.loads(out)["cases"]] == ran


def test_a_filter_that_matches_nothing_is_an_error(policy: Path) -> None:
    path = _write(policy, _cases(2))
    code, out = _run([path], selection=Selection(["nomatch"]))
    assert code == 2
    assert "no case matches" in out


def test_json_and_junit(policy: Path, tmp_path: Path) -> None:
    path = _write(policy, _cases(2) + "  - name: wrong\n    expect: {outcome: not_aligned}\n")
    junit = tmp_path / "report.xml"
    code, out = _run([path], fmt="json", junit=junit)
    assert code == 1
    doc = json.loads(out)  # the whole of standard output is one JSON document
    assert (doc["passed"], doc["failed"], doc["exit_code"]) == (2, 1, 1)
    (bad,) = [c for c in doc["cases"] if not c["passed"]]
    assert bad["name"] == "wrong" and bad["line"] == 11
    assert bad["problems"][0] == "outcome: expected 'not_aligned', got 'aligned'"
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("3", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"case_0", "case_1", "wrong"}
    failure = cases["wrong"].find("failure")
    assert failure is not None and "expected 'not_aligned'" in (failure.get("message") or "")
    assert cases["case_0"].find("failure") is None


def test_one_report_per_misspelled_override(policy: Path) -> None:
    path = _write(policy, "parameters: {tie_rul: lowest}\n" + _cases(6))
    code, out = _run([path])
    assert code == 2
    assert out.count("unknown parameter 'tie_rul'") == 1
    assert "did you mean 'tie_rule'?" in out


def test_an_invalid_record_inside_a_case_names_its_line(policy: Path) -> None:
    path = _write(policy, f"""\
        cases:
          - name: bad_claims
            record:
              claims: [{{from_date: 2027-03-01, tin: "111111111", hcpcs: 99213, allowed: 1}}]
            expect: {ALIGNED}
        """)
    code, out = _run([path])
    assert code == 1
    assert f"{path}:9:7: the case's record is not valid: field 'claims" in out


def test_many_failures_give_a_short_summary(policy: Path) -> None:
    path = _write(policy, _cases(29, expect="{outcome: not_aligned}"))
    code, out = _run([path], max_failures=3)
    assert code == 1
    assert out.count("FAIL ") == 3
    assert "26 more failing case(s) not shown in full" in out
    assert "  26 x outcome: expected 'not_aligned', got 'aligned'" in out
    assert len(out.splitlines()) < 200


def test_cli_options(policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(policy, _cases(3))
    junit = tmp_path / "j.xml"
    assert main(["test", str(path), "-k", "case_1", "--format", "json", "--junit", str(junit)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["cases"]] == ["case_1"]
    assert ET.parse(junit).getroot().get("tests") == "1"


@pytest.mark.parametrize(
    ("selection", "ran"),
    [
        (Selection(["zzzzzz"]), None),
        (Selection([], ["top_state_of_each_delivery_system"]), ["top_state_of_each_delivery_system"]),
        (Selection(["DELIVERY_SYSTEM"]), ["top_state_of_each_delivery_system"]),
    ],
)
def test_filters_select_the_cases_of_a_decision_kind_policy(selection: Selection, ran: list[str] | None) -> None:
    code, out = _run([REPO / "policies" / "state-selection"], selection=selection, fmt="json")
    if ran is None:  # nothing selected: an error, not twelve cases run
        assert code == 2
        assert "no case matches" in out
        return
    assert code == 0
    assert [c["name"] for c in json.loads(out[out.index("{"):])["cases"]] == ran
