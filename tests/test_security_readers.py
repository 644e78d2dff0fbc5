"""Strict JSON on the tools' readers (issue 8): a decision log, an ``eval-expr`` record and a
logged population are read like a batch input, so a duplicate key, a NaN or bytes that
are not UTF-8 give a located error (or an unreadable row), never a traceback or a silent
"the second key wins"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lead_rules.cli import main as cli
from lead_rules.tools.decision_log import input_records, read_log

REPO = Path(__file__).resolve().parent.parent

BAD_LINES = {
    "duplicate-key": b'{"decision_id": "a", "row": 1, "row": 2}',
    "nan": b'{"decision_id": "a", "row": NaN}',
    "invalid-utf8": b'{"decision_id": "\xe9", "row": 1}',
    "deep": b'{"decision_id": "a", "row": 1, "x": ' + b"[" * 200 + b"]" * 200 + b"}",
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_a_corrupted_decision_log_line_is_a_located_error(tmp_path: Path, kind: str) -> None:
    log = tmp_path / "decisions.log.jsonl"
    good = json.dumps({"decision_id": "x", "row": 1}).encode()
    log.write_bytes(good + b"\n" + BAD_LINES[kind] + b"\n")
    with pytest.raises(ValueError, match=rf"^{log}:2: not a log line: "):
        read_log(log)


def test_a_clean_decision_log_is_read(tmp_path: Path) -> None:
    log = tmp_path / "decisions.log.jsonl"
    log.write_text(json.dumps({"decision_id": "x", "row": 1, "amount": 1.25}) + "\n\n")
    assert [e["row"] for e in read_log(log)] == [1]


def test_logged_population_lines_that_are_not_strict_json_are_unreadable_rows(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b'{"bene_id": "A"}\n{"bene_id": "B", "bene_id": "C"}\n{"bene_id": "\xe9"}\n{"bene_id": "D", "x": NaN}\n'
    )
    rows = [(n, None if r is None else r["bene_id"]) for n, r, _ in input_records(src)]
    assert rows == [(1, "A"), (2, None), (3, None), (4, None)]


@pytest.mark.parametrize(
    ("suffix", "content", "where"),
    [
        (".json", b'{"bene_id": "B1", "bene_id": "B2"}', ""),
        (".json", b'{"bene_id": "B1", "claims": [{"allowed": NaN}]}', ""),
        (".json", b'{"bene_id": "B\xff1"}', ""),
        (".jsonl", b'\n{"bene_id": "B1", "claims": [], "claims": []}\n', ":2"),
    ],
)
def test_eval_expr_refuses_a_record_that_is_not_strict_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, content: bytes, where: str
) -> None:
    record = tmp_path / f"r{suffix}"
    record.write_bytes(content)
    policy = REPO / "policies" / "lead"
    code = cli(["eval-expr", "--policy", str(policy), "--record", str(record), "count(bene.claims)"])
    err = capsys.readouterr().err
    assert code == 2
    assert any(line.startswith(f"lead-rules: {record}{where}: ") for line in err.splitlines()), err
    assert "Traceback" not in err
