"""Streaming ``align``: ``-`` for standard input and output through real pipes, ``--format`` and
``--input-format`` for paths of any extension; the summary goes to standard error; a regular
output file is still written atomically."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from lead_rules.engine.output_files import TEMP_PREFIX
from lead_rules.engine.provenance import read_provenance
from lead_rules.synth.generate import write_population

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"


@pytest.fixture(scope="module")
def pop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("streams")
    paths = write_population(root / "pop", 30, 21, 2028, ("jsonl", "parquet"))
    reference = root / "reference.parquet"
    _run(["--input", str(paths["jsonl"]), "--output", str(reference)], paths)
    return {**paths, "root": root, "reference": reference}


def _run(argv: list[str], pop: dict[str, Path], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "lead_rules.cli", "align", "--policy", str(LEAD), "--market", str(pop["market"]),
           *argv]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False, cwd=REPO)
    assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
    return proc


def _decisions(rel: duckdb.DuckDBPyRelation) -> list[tuple[object, ...]]:
    return [tuple(r) for r in rel.fetchall()]


def _reference(pop: dict[str, Path]) -> list[tuple[object, ...]]:
    return _decisions(duckdb.sql(f"SELECT bene_id, outcome, aco_id, pathway FROM read_parquet('{pop['reference']}')"))


def test_jsonl_from_stdin_to_stdout(pop: dict[str, Path]) -> None:
    proc = _run(["--input", "-", "--output", "-"], pop, pop["jsonl"].read_bytes())
    assert proc.returncode == 0
    lines = proc.stdout.decode().splitlines()
    rows = [json.loads(line) for line in lines]  # one line per record: the provenance is not in the stream
    assert [(r["bene_id"], r["outcome"], r["aco_id"], r["pathway"]) for r in rows] == _reference(pop)
    err = proc.stderr.decode()
    line = next(ln for ln in err.splitlines() if ln.startswith("lead-rules: provenance "))
    record = json.loads(line.removeprefix("lead-rules: provenance "))
    assert record["counts"]["read"] == 30 and record["input"]["path"] == "-" and record["input"]["rows"] == 30
    assert err.splitlines()[-1].startswith("read 30, decided 30") and err.rstrip().endswith("-> -")


def test_parquet_from_stdin_to_stdout(pop: dict[str, Path]) -> None:
    proc = _run(["--input", "-", "--output", "-", "--format", "parquet", "--columns", "decisions"], pop,
                pop["parquet"].read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    table = pq.read_table(io.BytesIO(proc.stdout))
    got = [(r["bene_id"], r["outcome"], r["aco_id"], r["pathway"]) for r in table.to_pylist()]
    assert got == _reference(pop)
    meta = pq.read_metadata(io.BytesIO(proc.stdout)).metadata
    record = json.loads(meta[b"lead_rules_provenance"])
    assert record["input"] == {"path": "-", "rows": 30, "hash": record["input"]["hash"]}
    assert meta[b"lead_rules_complete"] == b"true"


def test_csv_to_stdout_and_summary_json_on_stderr(pop: dict[str, Path]) -> None:
    proc = _run(["--input", str(pop["parquet"]), "--output", "-", "--format", "csv", "--summary-json"], pop)
    assert proc.returncode == 0
    header, *rows = proc.stdout.decode().splitlines()
    assert header.startswith("bene_id,outcome,aco_id,pathway") and len(rows) == 30
    err = proc.stderr.decode()
    assert "lead-rules: provenance {" in err
    assert json.loads(err[err.index("\n{") + 1:])["read"] == 30  # --summary-json moved off standard output


def test_format_overrides_an_odd_output_extension(pop: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "decisions.out"
    proc = _run(["--input", str(pop["jsonl"]), "--output", str(out), "--format", "parquet", "--quiet"], pop)
    assert proc.returncode == 0, proc.stderr.decode()
    assert out.read_bytes()[:4] == b"PAR1"
    assert _decisions(duckdb.sql(f"SELECT bene_id, outcome, aco_id, pathway FROM read_parquet('{out}')")) == \
        _reference(pop)
    assert read_provenance(out) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decisions.out"]  # nothing left beside it

    csv = tmp_path / "decisions.txt"
    assert _run(["--input", str(pop["jsonl"]), "--output", str(csv), "--format", "csv", "--quiet"], pop).returncode == 0
    assert csv.read_text().startswith("bene_id,") and (tmp_path / "decisions.txt.provenance.json").is_file()
    record = read_provenance(csv)
    assert record is not None and record["output"]["path"] == "decisions.txt" and record["engine"] == "duckdb"


def test_input_format_reads_an_odd_input_extension(pop: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / "population.data"
    odd.write_bytes(pop["parquet"].read_bytes())
    out = tmp_path / "d.jsonl"
    proc = _run(["--input", str(odd), "--input-format", "parquet", "--output", str(out), "--quiet"], pop)
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["bene_id"], r["outcome"], r["aco_id"], r["pathway"]) for r in rows] == _reference(pop)
    record = read_provenance(out)
    assert record is not None and record["input"]["path"] == str(odd)


def test_a_failed_run_leaves_no_output_file(pop: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really parquet")
    out = tmp_path / "d.out"
    proc = _run(["--input", str(bad), "--output", str(out), "--format", "jsonl", "--quiet"], pop)
    assert proc.returncode == 2 and len(proc.stderr.decode().splitlines()) == 1
    assert not out.exists() and not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir())
    proc = _run(["--input", "-", "--output", "-"], pop, b"PAR1 neither")
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().startswith("lead-rules: standard input is not a valid Parquet file")


def test_a_decision_log_of_a_streamed_run_verifies(pop: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / "decisions.log.jsonl"
    proc = _run(["--input", "-", "--output", str(tmp_path / "d.txt"), "--format", "csv", "--log", str(log)], pop,
                pop["jsonl"].read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(log.read_text().splitlines()) == 30
    verify = subprocess.run(
        [sys.executable, "-m", "lead_rules.cli", "verify-log", "--log", str(log), "--policy", str(LEAD), "--market",
         str(pop["market"]), "--input", str(pop["jsonl"])], capture_output=True, check=False, cwd=REPO,
    )
    assert verify.returncode == 0, verify.stdout.decode() + verify.stderr.decode()
