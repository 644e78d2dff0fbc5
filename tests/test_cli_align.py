"""The population commands: align, sql, and explain from batch output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import output_rows

from lead_rules.cli.main import main
from lead_rules.synth.generate import write_population

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_population(tmp_path_factory.mktemp("pop"), 400, 5)


def test_align_duckdb_agrees_with_the_interpreter(population: dict[str, Path], tmp_path: Path) -> None:
    outputs = {}
    for engine in ("duckdb", "interpreter"):
        out = tmp_path / f"{engine}.jsonl"
        args = ["align", "--engine", engine, "--policy", str(LEAD), "--market", str(population["market"])]
        code = main([*args, "--input", str(population["parquet"]), "--output", str(out), "--quiet"])
        assert code == 0
        rows = output_rows(out)
        outputs[engine] = {r["bene_id"]: (r["outcome"], r["aco_id"], r["pathway"]) for r in rows}
    assert len(outputs["duckdb"]) == 400
    assert outputs["duckdb"] == outputs["interpreter"]


def test_sql_prints_a_query_for_each_dialect(capsys: pytest.CaptureFixture[str]) -> None:
    example = REPO / "policies" / "example"
    market = example / "markets" / "example-2028.yaml"
    for dialect in ("duckdb", "spark", "postgres"):
        code = main(["sql", "--dialect", dialect, "--policy", str(example), "--market", str(market)])
        out = capsys.readouterr().out
        if code == 0:
            assert out.lstrip().upper().startswith(("WITH", "SELECT"))
        else:  # a dialect that cannot express a construct says where, and prints no SQL
            assert out == ""


def test_explain_from_output_matches_rerun(
    population: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "decisions.parquet"
    common = ["--policy", str(LEAD), "--market", str(population["market"])]
    assert main(["align", *common, "--input", str(population["jsonl"]), "--output", str(out), "--quiet"]) == 0
    ids = [json.loads(line)["bene_id"] for line in population["jsonl"].read_text().splitlines()[:5]]
    for bene_id in ids:
        assert main(["explain", *common, "--from-output", str(out), "--id", bene_id, "--detail"]) == 0
        batch = capsys.readouterr().out
        assert main(["explain", *common, "--input", str(population["jsonl"]), "--id", bene_id, "--detail"]) == 0
        rerun = capsys.readouterr().out
        # the same verdict lines; only the 'read:' details need the trace
        def verdicts(text: str) -> list[str]:
            return [ln for ln in text.splitlines() if ln.strip() and "read:" not in ln and "without a trace" not in ln]
        assert verdicts(batch) == verdicts(rerun)
