"""The compiled-SQL cache trusts only the user's private folder and intact entries (issue 8, docs/security.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import EXAMPLE, EXAMPLE_MARKET

from lead_rules.engine.policy import load_market, load_policy
from lead_rules.sql.cache import cache_key, read_entry, write_entry
from lead_rules.sql.run import cached_duckdb_sql

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("LEAD_RULES_CACHE_DIR", str(cache))
    return cache


def test_an_entry_written_is_read_back(folder: Path) -> None:
    assert write_entry(folder, "k", "SELECT 1", ["S1 note"])
    assert read_entry(folder, "k") == ("SELECT 1", ["S1 note"])
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert ((folder / "k.json").stat().st_mode & 0o777) == 0o600
    assert [p.name for p in folder.iterdir()] == ["k.json"]  # no temporary file left


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: {**e, "sql": "SELECT 2"},  # content changed, digest not
        lambda e: {**e, "key": "other"},  # an entry renamed from another key
        lambda e: {**e, "issues": [1]},
        lambda e: {k: v for k, v in e.items() if k != "sha256"},
        lambda e: [e],
    ],
)
def test_a_changed_entry_is_ignored(folder: Path, tamper: object) -> None:
    write_entry(folder, "k", "SELECT 1", [])
    path = folder / "k.json"
    path.write_text(json.dumps(tamper(json.loads(path.read_text()))))  # type: ignore[operator]
    assert read_entry(folder, "k") is None


def test_a_truncated_entry_is_ignored(folder: Path) -> None:
    write_entry(folder, "k", "SELECT 1", [])
    path = folder / "k.json"
    path.write_bytes(path.read_bytes()[:20])
    assert read_entry(folder, "k") is None


@pytest.mark.parametrize("mode", [0o770, 0o702, 0o777])
def test_a_folder_others_may_write_is_not_trusted(folder: Path, mode: int) -> None:
    write_entry(folder, "k", "SELECT 1", [])
    folder.chmod(mode)
    assert read_entry(folder, "k") is None
    assert not write_entry(folder, "k2", "SELECT 1", [])
    assert not (folder / "k2.json").exists()


def test_an_entry_others_may_write_is_not_trusted(folder: Path) -> None:
    write_entry(folder, "k", "SELECT 1", [])
    (folder / "k.json").chmod(0o666)
    assert read_entry(folder, "k") is None


def test_symbolic_links_are_not_followed(folder: Path, tmp_path: Path) -> None:
    write_entry(folder, "k", "SELECT 1", [])
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes((folder / "k.json").read_bytes())
    elsewhere.chmod(0o600)
    (folder / "k.json").unlink()
    (folder / "k.json").symlink_to(elsewhere)
    assert read_entry(folder, "k") is None
    linked = tmp_path / "linked"
    linked.symlink_to(folder)
    assert read_entry(linked, "k") is None


def test_align_compiles_when_the_cache_is_not_trusted(folder: Path) -> None:
    policy = load_policy(EXAMPLE)
    market = load_market(EXAMPLE_MARKET, policy)
    sql, _ = cached_duckdb_sql(policy, market, "decisions", "parquet")
    key = cache_key(policy, market, "decisions", "parquet")
    assert read_entry(folder, key) == (sql, _)
    path = folder / f"{key}.json"
    entry = json.loads(path.read_text())
    entry["sql"] = "SELECT 'planted' AS bene_id"
    path.write_text(json.dumps(entry))  # digest no longer matches: compiled again, entry rewritten
    assert cached_duckdb_sql(policy, market, "decisions", "parquet")[0] == sql
    folder.chmod(0o777)
    assert cached_duckdb_sql(policy, market, "decisions", "parquet")[0] == sql
