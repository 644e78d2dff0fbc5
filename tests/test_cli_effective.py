"""Effective periods (a market outside the policy's period is E403, a warning with
--allow-outside-effective), a did-you-mean for misspelled context keys, and ``check`` over a
folder of policies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lead_rules.cli.main import main

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"
MARKET = LEAD / "markets" / "demo-2028.yaml"
POLICIES = REPO / "policies"
RECORD = {"bene_id": "B1", "residence": {"state": "NC", "county_fips": "37063"},
          "months": [{"month": "2028-01", "buyin": "3", "hmo": "0"}]}


def _market(tmp_path: Path, year: int) -> Path:
    text = MARKET.read_text(encoding="utf-8")
    assert "performance_year: 2028" in text
    path = tmp_path / f"market-{year}.yaml"
    path.write_text(text.replace("performance_year: 2028", f"performance_year: {year}"), encoding="utf-8")
    return path


def _effective() -> tuple[int, int]:
    meta = yaml.safe_load((LEAD / "policy.yaml").read_text(encoding="utf-8"))["policy"]["effective"]
    return int(str(meta["from"])[:4]), int(str(meta["to"])[:4])


@pytest.mark.parametrize("command", ["evaluate", "align", "sql", "explain"])
def test_a_market_outside_the_effective_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    start, end = _effective()
    market = _market(tmp_path, end + 4)
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps(RECORD) + "\n", encoding="utf-8")
    argv = {
        "evaluate": ["--input", str(records), "--output", str(tmp_path / "out.jsonl")],
        "align": ["--input", str(records), "--output", str(tmp_path / "out.parquet"), "--quiet"],
        "sql": [],
        "explain": ["--input", str(records), "--id", "B1"],
    }[command]
    base = [command, "--policy", str(LEAD), "--market", str(market), *argv]
    with pytest.raises(SystemExit) as info:
        main(base)
    assert info.value.code == 2
    err = capsys.readouterr().err
    period = f"({start}-{end})"
    assert f"{market}:" in err and "error[E403]" in err and period in err
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.parquet").exists()

    assert main([*base, "--allow-outside-effective"]) == 0
    err = capsys.readouterr().err
    assert "warning[E403]" in err and "error[" not in err and period in err
    if command == "evaluate":
        rows = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
        assert json.loads(rows[0])["outcome"] in ("aligned", "not_aligned")  # decided under the year given
        side = json.loads((tmp_path / "out.jsonl.provenance.json").read_text(encoding="utf-8"))
        assert side["market"]["performance_year"] == end + 4


def test_the_option_does_not_hide_other_market_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, end = _effective()
    text = _market(tmp_path, end + 1).read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("performance_year:", "performance_yr:", 1), encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["sql", "--policy", str(LEAD), "--market", str(bad), "--allow-outside-effective"])
    assert info.value.code == 2
    assert "did you mean 'performance_year'?" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "key", "hint"),
    [
        ("  aco_id: LEAD-0001", "  aco_idd: LEAD-0001", "aco_idd", "did you mean 'aco_id'?"),
        ("instrument: contract", "instrumnt: contract", "formal_relationship.instrumnt", "did you mean 'instrument'?"),
    ],
)
def test_a_misspelled_context_key_gets_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str, hint: str
) -> None:
    source = POLICIES / "partnership" / "samples" / "arrangements.yaml"
    text = source.read_text(encoding="utf-8")
    assert old in text
    context = tmp_path / "arrangements.yaml"
    context.write_text(text.replace(old, new, 1), encoding="utf-8")
    capsys.readouterr()
    main(["evaluate", "--policy", str(POLICIES / "savings-sharing"), "--context", str(context), "--input",
          str(POLICIES / "savings-sharing" / "samples" / "settlements.yaml"), "--output", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert re.search(rf"context document 1 \(NC-2028-0001\): unknown key '{re.escape(key)}'; {re.escape(hint)}", err)
    assert "Traceback" not in err
    main(["evaluate", "--policy", str(POLICIES / "savings-sharing"), "--context", str(source), "--input",
          str(POLICIES / "savings-sharing" / "samples" / "settlements.yaml"), "--output", str(tmp_path / "p.jsonl")])
    assert "unknown key" not in capsys.readouterr().err  # the sample itself has no typo


def test_check_accepts_the_folder_of_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(POLICIES)]) == 0
    out = capsys.readouterr().out
    checked = sorted(line.split(":")[0] for line in out.splitlines() if ": ok" in line)
    expected = sorted(str(d) for d in POLICIES.iterdir() if d.is_dir() and (d / "policy.yaml").is_file())
    assert checked == expected and len(expected) >= 4
    assert str(POLICIES / "schemas") not in out
