"""The shared case corpus (every ``*.test.yaml`` policy test) on the SQL engines.

Every case of the policy tests of ``policies/`` is decided by the
interpreter and by DuckDB (and by Spark when pyspark is installed, see
``test_sql_spark.py``); decisions, reasons and criterion values must agree.
``SKIP`` is the reviewed list of cases the SQL engines do not run, with the
reason; it is empty.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from lead_rules.engine.policy import Policy
from lead_rules.language.records import Market
from lead_rules.sql.differential import compare
from lead_rules.testing.cases import FileParser, discover_test_files, policy_folder_for
from lead_rules.testing.policy_tests import Runner

SKIP: dict[str, str] = {}
"""Case name -> why the SQL engines skip it (reviewed; keep empty)."""


def corpus() -> dict[str, tuple[Policy, Market, list[tuple[str, dict[str, Any]]]]]:
    """Cases grouped by (policy variant, market): group name -> (policy, market, [(case, record)])."""
    runner = Runner(io.StringIO())
    groups: dict[tuple[int, str], tuple[Policy, Market, list[tuple[str, dict[str, Any]]]]] = {}
    names: dict[tuple[int, str], str] = {}
    for path in discover_test_files([REPO / "policies"]):
        folder = policy_folder_for(path)
        assert folder is not None, path
        entry = runner.policy_entry(folder)
        assert entry is not None, f"policy {folder} does not load"
        if entry.policy.doc.decision is not None:
            continue  # verdicts, rankings, computations: interpreter only (S120)
        for case in FileParser(path, entry.policy).parse():
            if case.name in SKIP:
                continue
            policy = runner.variant(entry, case)
            assert not isinstance(policy, str), policy
            key = (id(policy), case.market.model_dump_json())
            if key not in groups:
                groups[key] = (policy, case.market, [])
                names[key] = f"{entry.policy.id}:{path.name}:{case.name}"
            groups[key][2].append((case.name, case.record))
    return {names[k]: v for k, v in groups.items()}


CORPUS = corpus()


def test_corpus_is_not_empty() -> None:
    cases = sum(len(v[2]) for v in CORPUS.values())
    assert cases >= 20
    assert not SKIP, "the skip list must stay empty (or be reviewed)"


@pytest.mark.parametrize("group", sorted(CORPUS))
def test_corpus_on_duckdb(tmp_path: Path, group: str) -> None:
    policy, market, cases = CORPUS[group]
    diffs = compare(policy, market, [r for _, r in cases], engine="duckdb", workdir=tmp_path)
    by_case = defaultdict(list)
    for d in diffs:
        index = int(d.split()[1])
        by_case[cases[index][0]].append(d)
    assert not diffs, "\n".join(f"{name}: {d}" for name, ds in by_case.items() for d in ds)
