"""The demo (the README's main job) aligns a generated population and summarises it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lead_rules.cli.main import main


def test_demo_summarises_every_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 300
    assert main(["demo", "--n", str(n), "--seed", "11", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert len(rows) == n
    aligned = sum(r["outcome"] == "aligned" for r in rows)
    not_aligned = sum(r["outcome"] == "not_aligned" for r in rows)
    errors = sum(r["outcome"] == "error" for r in rows)
    assert f"read {n}, decided {aligned + not_aligned}, errors {errors}" in out
    assert "Aligned beneficiaries by pathway and ACO" in out
    assert "Top reasons for non-alignment" in out
    # one explained example per pathway that occurred, and one not aligned
    for pathway in {r["pathway"] for r in rows if r["pathway"]}:
        assert f"example: {pathway}" in out
    assert "example: not_aligned" in out
    assert "is NOT ALIGNED to any ACO" in out
