"""The command line: batches never lose a record, bad input gives located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import output_rows

from lead_rules.cli.main import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "policies" / "example"
MARKET = EXAMPLE / "markets" / "example-2028.yaml"

GOOD = {
    "bene_id": "G1",
    "residence": {"state": "NC", "county_fips": "37063"},
    "months": [{"month": "2027-05", "buyin": "C", "hmo": "0"}],
    "claims": [{"from_date": "2027-05-02", "tin": "111111111", "hcpcs": "99214", "allowed": 120.5}],
}

BATCH_LINES = [
    json.dumps(GOOD),
    "{not json",
    json.dumps({"bene_id": "BAD1", "months": [{"month": "2027-14"}]}),
    "[1, 2]",
    "",
    json.dumps({"bene_id": "BAD2", "claims": [{"hcpcs": 99213}]}),
    json.dumps({**GOOD, "bene_id": "G2", "death_date": "2020-01-01"}),
]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "records.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_evaluate_batch_keeps_every_line_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path, BATCH_LINES)
    out = tmp_path / "out.jsonl"
    args = ["evaluate", "--policy", str(EXAMPLE), "--market", str(MARKET), "--input", str(src), "--output", str(out)]
    assert main(args) == 0
    rows = output_rows(out)
    non_blank = [i + 1 for i, line in enumerate(BATCH_LINES) if line.strip()]
    assert [r["line"] for r in rows] == non_blank
    by_line = {r["line"]: r for r in rows}
    assert by_line[1]["outcome"] == "aligned" and by_line[1]["aco_id"] == "ACO-A"
    assert by_line[2]["outcome"] == "error" and "not valid JSON" in by_line[2]["errors"][0]["message"]
    assert by_line[3]["bene_id"] == "BAD1" and by_line[3]["errors"][0]["field"] == "months.0.month"
    assert by_line[4]["outcome"] == "error" and "not a JSON object" in by_line[4]["errors"][0]["message"]
    assert by_line[6]["errors"][0]["field"] == "claims.0.hcpcs"  # codes stay strings
    assert by_line[7]["outcome"] == "not_aligned"
    assert {"pathway", "reasons", "aco_id", "bene_id", "outcome"} <= set(by_line[7])
    err = capsys.readouterr().err
    assert "read 6, decided 2, errors 4" in err


def test_strict_exits_one_when_a_line_fails(tmp_path: Path) -> None:
    src = _write(tmp_path, BATCH_LINES)
    args = ["evaluate", "--policy", str(EXAMPLE), "--market", str(MARKET), "--input", str(src), "--output", "-"]
    assert main([*args, "--strict"]) == 1
    assert main(args) == 0


def test_trace_flag_adds_the_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path, [json.dumps(GOOD)])
    main(["evaluate", "--policy", str(EXAMPLE), "--market", str(MARKET), "--input", str(src), "--trace",
          "--trace-format", "full"])
    row = json.loads(capsys.readouterr().out.splitlines()[0])  # the summary line follows
    assert row["trace"]["kind"] == "decision"
    labels = [c["label"] for c in row["trace"]["children"]]
    assert labels == ["voluntary", "claims"]


def test_explain_prints_plain_english(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path, BATCH_LINES)
    base = ["explain", "--policy", str(EXAMPLE), "--market", str(MARKET), "--input", str(src), "--id", "G2"]
    assert main(base) == 0
    text = capsys.readouterr().out
    assert text.startswith("Beneficiary G2: NOT ALIGNED")
    assert text.splitlines()[1].startswith("Deciding reason: not aligned:")
    assert "bene.death_date" not in text  # the programmer's view is behind --detail
    assert main([*base, "--detail"]) == 0
    text = capsys.readouterr().out
    assert "G2 is NOT ALIGNED" in text
    assert "'alive' does not hold" in text or "alive: false" in text
    assert "bene.death_date" in text
    args = ["explain", "--policy", str(EXAMPLE), "--market", str(MARKET), "--input", str(src)]
    assert main([*args, "--id", "NOPE"]) == 2


def test_check_reports_located_errors_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "policy: {id: x, title: t, version: '1'}\n"
        "criteria:\n"
        "  dead:\n"
        "    expr: bene.death_dat is not null\n"
        "pathways:\n"
        "  p: {requires: [dead]}\n"
        "hierarchy: [p]\n",
        encoding="utf-8",
    )
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:4:16: error[E201]: unknown field 'death_dat' of Beneficiary" in out
    assert "did you mean 'death_date'?" in out
    assert "^^^" in out
    assert main(["check", str(EXAMPLE)]) == 0


def test_bad_market_file_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    market = tmp_path / "m.yaml"
    market.write_text("performance_year: 2028\nacos:\n  - id: A\n    participant_tins: [123456789]\n", encoding="utf-8")
    src = _write(tmp_path, [json.dumps(GOOD)])
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--policy", str(EXAMPLE), "--market", str(market), "--input", str(src)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{market}:4:24" in err and "acos.0.participant_tins" in err
