"""Provenance on every output: the JSON Lines summary line, Parquet key-value metadata and the
CSV sidecar record the policy id, version and content hash, the market hash, the input hash (or
the row count of standard input), the engine, the tool version and the time; ``explain
--from-output`` refuses an output made by another policy (exit 3) unless
``--policy-hash-mismatch=warn``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from lead_rules.cli.main import PROVENANCE_MISMATCH, main
from lead_rules.engine.policy import load_market, load_policy
from lead_rules.engine.provenance import market_hash, read_provenance, sidecar_path
from lead_rules.sql.run import align
from lead_rules.synth.generate import write_population

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"


@pytest.fixture(scope="module")
def pop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("prov")
    paths = write_population(root / "pop", 25, 5, 2028, ("jsonl", "parquet"))
    return {**paths, "root": root}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_provenance(record: dict[str, Any] | None, engine: str, pop: dict[str, Path], source: Path | None) -> None:
    """``record`` names the bundled LEAD policy, the market, ``source`` (None: standard input), ``engine``."""
    assert record is not None, "no provenance in the output"
    policy = load_policy(LEAD)
    assert record["policy"] == {"id": policy.id, "version": policy.version, "hash": policy.content_hash}
    assert record["market"]["hash"] == market_hash(load_market(pop["market"]))
    assert record["market"]["performance_year"] == 2028
    if source is None:
        assert record["input"]["path"] == "-" and record["input"]["rows"] == 25
    else:
        assert record["input"]["hash"] == _sha(source)
    assert record["engine"] == engine
    assert record["tool_version"] == version("lead-rules")
    created = dt.datetime.fromisoformat(record["created"])
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 600


@pytest.mark.parametrize("engine", ["duckdb", "interpreter"])
@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_align_records_provenance_in_every_format(pop: dict[str, Path], engine: str, fmt: str) -> None:
    out = pop["root"] / f"{engine}.{fmt}"
    summary = align(LEAD, pop["market"], pop["parquet"], out, engine=engine, progress=False)
    record = read_provenance(out)
    assert_provenance(record, engine, pop, pop["parquet"])
    assert summary["provenance"] == {k: v for k, v in record.items() if k not in ("output", "counts")}
    if fmt != "parquet":
        side = json.loads(sidecar_path(out).read_text(encoding="utf-8"))
        assert side["output"]["hash"] == _sha(out)  # the sidecar belongs to this very file
        assert side["counts"]["read"] == summary["read"] == 25
    if fmt == "jsonl":  # the output contract: one line per input record, nothing else
        lines = out.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 25 and all("outcome" in json.loads(ln) for ln in lines)


def test_a_csv_sidecar_is_never_stale(pop: dict[str, Path]) -> None:
    out = pop["root"] / "stale.csv"
    align(LEAD, pop["market"], pop["jsonl"], out, progress=False)
    first = json.loads(sidecar_path(out).read_text(encoding="utf-8"))
    align(LEAD, pop["market"], pop["parquet"], out, progress=False, columns="decisions")
    second = json.loads(sidecar_path(out).read_text(encoding="utf-8"))
    assert first["input"]["hash"] == _sha(pop["jsonl"]) and second["input"]["hash"] == _sha(pop["parquet"])
    assert second["output"]["hash"] == _sha(out) != first["output"]["hash"]


def test_evaluate_writes_a_sidecar(pop: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = pop["root"] / "evaluated.jsonl"
    assert main(["evaluate", "--policy", str(LEAD), "--market", str(pop["market"]), "--input", str(pop["jsonl"]),
                 "--output", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    decided = [json.loads(ln) for ln in lines]
    body = json.loads(sidecar_path(out).read_text(encoding="utf-8"))
    assert body["counts"]["read"] == len(decided) == 25 and all("outcome" in d for d in decided)
    outcomes = [d["outcome"] for d in decided]
    assert body["counts"]["by_outcome"] == {o: outcomes.count(o) for o in set(outcomes)}
    assert body["output"]["hash"] == _sha(out)
    assert_provenance(read_provenance(out), "interpreter", pop, pop["jsonl"])


def test_evaluate_from_standard_input_records_the_row_count(pop: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lead_rules.cli", "evaluate", "--policy", str(LEAD), "--market", str(pop["market"])],
        input=pop["jsonl"].read_bytes(), capture_output=True, check=False, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(proc.stdout.decode().splitlines()) == 25  # one line per record on standard output
    line = next(ln for ln in proc.stderr.decode().splitlines() if ln.startswith("lead-rules: provenance "))
    record = json.loads(line.removeprefix("lead-rules: provenance "))
    assert_provenance(record, "interpreter", pop, None)


def test_a_decision_kind_records_its_context(tmp_path: Path) -> None:
    folder = REPO / "policies" / "savings-sharing"
    context = REPO / "policies" / "partnership" / "samples" / "arrangements.yaml"
    inputs = folder / "samples" / "settlements.yaml"
    out = tmp_path / "kinds.jsonl"
    code = main(["evaluate", "--policy", str(folder), "--context", str(context), "--input", str(inputs),
                 "--output", str(out)])
    assert code == 0
    record = read_provenance(out)
    assert record is not None and "market" not in record
    assert record["policy"]["hash"] == load_policy(folder).content_hash
    assert record["context"]["hash"] == _sha(context)
    assert record["input"]["hash"] == _sha(inputs)
    assert record["engine"] == "interpreter"


def _edited_policy(tmp_path: Path) -> Path:
    copy = tmp_path / "lead-edited"
    shutil.copytree(LEAD, copy)
    params = copy / "parameters.yaml"
    params.write_text(params.read_text(encoding="utf-8") + "\n# edited after the run\n", encoding="utf-8")
    assert load_policy(copy).content_hash != load_policy(LEAD).content_hash
    return copy


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_explain_from_output_refuses_another_policy(
    pop: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    out = tmp_path / f"decisions.{fmt}"
    align(LEAD, pop["market"], pop["jsonl"], out, progress=False)
    bene = json.loads(pop["jsonl"].read_text(encoding="utf-8").splitlines()[0])["bene_id"]
    common = ["explain", "--market", str(pop["market"]), "--from-output", str(out), "--id", bene]
    capsys.readouterr()
    assert main([*common, "--policy", str(LEAD)]) == 0
    same = capsys.readouterr()
    assert bene in same.out and same.err == ""

    edited = _edited_policy(tmp_path)
    assert main([*common, "--policy", str(edited)]) == PROVENANCE_MISMATCH == 3
    refused = capsys.readouterr()
    lines = refused.err.splitlines()
    assert len(lines) == 1 and refused.out == ""
    assert lines[0].startswith("lead-rules: ") and "--policy-hash-mismatch=warn" in lines[0]
    assert load_policy(LEAD).content_hash[:12] in lines[0] and load_policy(edited).content_hash[:12] in lines[0]

    assert main([*common, "--policy", str(edited), "--policy-hash-mismatch=warn"]) == 0
    warned = capsys.readouterr()
    assert warned.err.startswith("lead-rules: warning: ") and len(warned.err.splitlines()) == 1
    # the explanation is rebuilt by (and names the hash of) the policy given, as the warning says
    old, new = load_policy(LEAD).content_hash[:12], load_policy(edited).content_hash[:12]
    assert new in warned.out and warned.out.replace(new, old) == same.out


def test_explain_warns_on_an_output_without_provenance(
    pop: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "old.csv"
    align(LEAD, pop["market"], pop["jsonl"], out, progress=False)
    sidecar_path(out).unlink()  # as written before provenance was recorded
    bene = json.loads(pop["jsonl"].read_text(encoding="utf-8").splitlines()[0])["bene_id"]
    capsys.readouterr()
    code = main(["explain", "--policy", str(LEAD), "--market", str(pop["market"]), "--from-output", str(out),
                 "--id", bene])
    captured = capsys.readouterr()
    assert code == 0 and "records no provenance" in captured.err and bene in captured.out


def test_a_prefetched_input_hash_is_the_files_hash_and_a_changed_file_is_hashed_again(tmp_path: Path) -> None:
    from lead_rules.engine.provenance import file_hash, prefetch_file_hash

    f = tmp_path / "in.jsonl"
    f.write_bytes(b'{"bene_id": "1"}\n' * 100_000)
    prefetch_file_hash(f)
    assert file_hash(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    prefetch_file_hash(tmp_path / "." / "in.jsonl")  # the same file by another spelling
    f.write_bytes(b'{"bene_id": "2"}\n')  # changed after the hash started: its identity differs
    assert file_hash(str(f)) == hashlib.sha256(b'{"bene_id": "2"}\n').hexdigest()
    prefetch_file_hash(tmp_path)  # a folder, and a missing file, are left to file_hash
    prefetch_file_hash(tmp_path / "missing.jsonl")
    assert file_hash(tmp_path) == file_hash(tmp_path)


def test_the_cli_align_provenance_hashes_its_input(pop: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "d.csv"
    args = ["align", "--policy", str(LEAD), "--market", str(pop["market"]), "--input", str(pop["jsonl"])]
    assert main([*args, "--output", str(out), "--quiet"]) == 0
    record = read_provenance(out)
    assert record is not None
    assert record["input"]["hash"] == hashlib.sha256(pop["jsonl"].read_bytes()).hexdigest()
