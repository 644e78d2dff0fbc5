"""Decision logs: deterministic ids across runs and engines; verify-log finds every kind of difference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lead_rules.cli import main
from lead_rules.synth.generate import write_population

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"


@pytest.fixture(scope="module")
def pop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("log")
    paths = write_population(folder, 150, 9)
    # one line that is not JSON: it is decided as an error row and logged too
    bad = folder / "with-error.jsonl"
    lines = paths["jsonl"].read_text().splitlines()
    bad.write_text("\n".join([*lines[:5], "{not json", *lines[5:]]) + "\n")
    paths["bad"] = bad
    return paths


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def evaluate(pop: dict[str, Path], tmp: Path, name: str, source: str = "jsonl") -> list[dict[str, Any]]:
    log = tmp / f"{name}.log.jsonl"
    args = ["evaluate", "--policy", str(LEAD), "--market", str(pop["market"]), "--input", str(pop[source])]
    assert main([*args, "--output", str(tmp / f"{name}.jsonl"), "--log", str(log)]) == 0
    return log_lines(log)


def key(entry: dict[str, Any]) -> tuple[Any, ...]:
    return (entry["decision_id"], entry["row"], entry["bene_id"], entry["outcome"], entry["aco_id"], entry["pathway"])


def test_a_rerun_gives_the_same_ids_and_outcomes(pop: dict[str, Path], tmp_path: Path) -> None:
    first, second = evaluate(pop, tmp_path, "a", "bad"), evaluate(pop, tmp_path, "b", "bad")
    assert len(first) == 151 and [key(e) for e in first] == [key(e) for e in second]
    assert len({e["decision_id"] for e in first}) == 151
    assert first[5]["outcome"] == "error" and first[5]["row"] == 6
    entry = first[0]
    assert set(entry) >= {"decision_id", "time", "policy", "input_hash", "engine", "outcome", "aco_id", "pathway"}
    assert set(entry["policy"]) == {"id", "version", "hash"} and entry["engine"] == "interpreter"


def test_align_logs_the_same_decision_ids_as_evaluate(pop: dict[str, Path], tmp_path: Path) -> None:
    logged = evaluate(pop, tmp_path, "e")
    log = tmp_path / "align.log.jsonl"
    args = ["align", "--policy", str(LEAD), "--market", str(pop["market"]), "--input", str(pop["parquet"])]
    assert main([*args, "--output", str(tmp_path / "d.parquet"), "--log", str(log), "--quiet"]) == 0
    aligned = log_lines(log)
    assert [key(e) for e in aligned] == [key(e) for e in logged]
    assert {e["engine"] for e in aligned} == {"duckdb"}


def verify(pop: dict[str, Path], log: Path, source: Path, *extra: str, policy: Path = LEAD) -> int:
    args = ["verify-log", "--log", str(log), "--policy", str(policy), "--market", str(pop["market"])]
    return main([*args, "--input", str(source), *extra])


def test_verify_log_finds_each_kind_of_difference(
    pop: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = evaluate(pop, tmp_path, "v")
    log = tmp_path / "v.log.jsonl"
    capsys.readouterr()
    assert verify(pop, log, pop["jsonl"]) == 0
    assert "150 the same, 0 different" in capsys.readouterr().err
    assert verify(pop, log, pop["jsonl"], "--sample", "7") == 0
    assert "checked 7 logged decisions" in capsys.readouterr().err

    # a tampered outcome
    tampered = [dict(e) for e in entries]
    tampered[3]["outcome"], tampered[3]["aco_id"] = "not_aligned", None
    tampered[3]["pathway"] = None if entries[3]["outcome"] == "aligned" else "claims"
    if entries[3]["outcome"] == "not_aligned":
        tampered[3]["outcome"], tampered[3]["aco_id"] = "aligned", "X"
    bad_log = tmp_path / "tampered.jsonl"
    bad_log.write_text("".join(json.dumps(e) + "\n" for e in tampered))
    assert verify(pop, bad_log, pop["jsonl"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["row"], d["problems"]) for d in out] == [(entries[3]["row"], ["the decision differs"])]

    # a changed input record
    lines = pop["jsonl"].read_text().splitlines()
    record = json.loads(lines[0])
    record["death_date"] = "2020-01-01"
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    assert verify(pop, log, changed) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["row"] == 1 and "the input record is not the one logged (its hash differs)" in out[0]["problems"]

    # another policy
    other = tmp_path / "other"
    shutil.copytree(LEAD, other)
    params = other / "parameters.yaml"
    params.write_text(params.read_text().replace("value: 0.10", "value: 0.50"))
    assert verify(pop, log, pop["jsonl"], policy=other) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 150 and all(any("policy hash" in p for p in d["problems"]) for d in out)

    # not a log
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"a": 1}\n')
    assert verify(pop, junk, pop["jsonl"]) == 2
