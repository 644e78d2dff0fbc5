"""Null and absent agree: records.md says an absent optional field and ``null`` both mean
"not known", and a Parquet file cannot express "absent". The same records as JSON Lines with
absent keys, JSON Lines with nulls and Parquet get identical decisions on the interpreter
(``evaluate`` and ``align --engine interpreter``) and DuckDB (also from the relational tables);
Spark in test_null_absent_spark.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_sql_io import to_relational

from lead_rules.batch.jsonl import decide_lines
from lead_rules.engine.policy import Policy, load_market, load_policy
from lead_rules.language.records import Market
from lead_rules.sql.run import align
from lead_rules.synth.generate import PARQUET_SCHEMA, write_population

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"
LISTS = ("months", "claims", "voluntary")


def _variants(record: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(field, record without the field, record with the field null) for every optional field:
    top level, inside ``residence`` and inside the first element of each list."""
    out = []

    def pair(name: str, key: str, root: dict[str, Any]) -> None:
        absent, null = copy.deepcopy(root), copy.deepcopy(root)
        for doc, drop in ((absent, True), (null, False)):
            target: Any = doc
            for step in name.split(".")[:-1]:
                target = target[step][0] if step in LISTS else target[step]
            if drop:
                target.pop(key)
            else:
                target[key] = None
        out.append((name, absent, null))

    for key in [k for k in record if k != "bene_id"]:
        pair(key, key, record)
    if isinstance(record.get("residence"), dict):
        for key in record["residence"]:
            pair(f"residence.{key}", key, record)
    for lst in LISTS:
        if record.get(lst):
            for key in [k for k in record[lst][0] if not (lst == "months" and k == "month")]:
                pair(f"{lst}.{key}", key, record)
    return out


def _json_schema(t: Any) -> Any:
    """``t`` with dates as ISO text and money as floats (the JSON form, cast to ``t`` afterwards)."""
    if isinstance(t, pa.Schema):
        return pa.schema([pa.field(f.name, _json_schema(f.type)) for f in t])
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _json_schema(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(_json_schema(t.value_type))
    if pa.types.is_date(t):
        return pa.string()
    if pa.types.is_decimal(t):
        return pa.float64()
    return t


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("nulls")
    paths = write_population(root / "pop", 30, 11, 2028, ("jsonl",))
    records = [json.loads(line) for line in paths["jsonl"].read_text(encoding="utf-8").splitlines()]
    absent, null, fields = [], [], []
    for record in records:
        for name, a, n in _variants(record):
            a["bene_id"] = n["bene_id"] = f"{record['bene_id']}-{len(fields)}"
            absent.append(a)
            null.append(n)
            fields.append(name)
    files = {"absent": root / "absent.jsonl", "null": root / "null.jsonl", "parquet": root / "null.parquet"}
    for key, docs in (("absent", absent), ("null", null)):
        files[key].write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    as_json = pa.struct(list(_json_schema(PARQUET_SCHEMA)))
    column = pa.array(null, type=as_json).cast(pa.struct(list(PARQUET_SCHEMA)))
    pq.write_table(pa.Table.from_struct_array(column), files["parquet"])
    for fmt in ("csv", "parquet"):  # the relational tables of records.md: a null or empty cell
        files[f"tables-{fmt}"] = to_relational(files["parquet"], root / f"tables-{fmt}", fmt)
    policy = load_policy(LEAD)
    return {"files": files, "fields": fields, "policy": policy, "market": load_market(paths["market"], policy),
            "market_path": paths["market"], "root": root}


Decisions = list[tuple[Any, ...]]


def _evaluate(policy: Policy, market: Market, path: Path) -> Decisions:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(r["bene_id"], r["outcome"], r["aco_id"], r["pathway"]) for r, _ in decide_lines(policy, market, lines)]


def aligned(population: dict[str, Any], engine: str, source: str) -> Decisions:
    """The decisions of ``engine`` on the population file ``source`` (absent, null or parquet)."""
    out = population["root"] / f"{engine}-{source}.parquet"
    align(population["policy"], population["market"], population["files"][source], out, engine=engine,
          progress=False, columns="decisions")
    rows = duckdb.sql(f"SELECT bene_id, outcome, aco_id, pathway FROM read_parquet('{out}')").fetchall()
    return [tuple(r) for r in rows]


def assert_same(population: dict[str, Any], results: dict[str, Decisions]) -> None:
    """Every source gives the same decision per record; the report names the field that differs."""
    base_name, base = next(iter(results.items()))
    assert base, "no decisions"
    assert all(row[1] != "error" for row in base), "a record without an optional field must be decided"
    for name, got in results.items():
        assert len(got) == len(base), name
        diffs = [
            f"{population['fields'][i]}: {base_name} {b[1:]} vs {name} {g[1:]}"
            for i, (b, g) in enumerate(zip(base, got, strict=True)) if b != g
        ]
        assert not diffs, "\n".join(diffs[:20])


def test_the_variants_cover_lists_nested_fields_and_defaults(population: dict[str, Any]) -> None:
    fields = set(population["fields"])
    wanted = {"months", "claims", "voluntary", "death_date", "residence.us", "claims.allowed", "months.medicaid"}
    assert wanted <= fields


def test_interpreter_evaluate_decides_null_as_absent(population: dict[str, Any]) -> None:
    policy, market, files = population["policy"], population["market"], population["files"]
    assert_same(population, {s: _evaluate(policy, market, files[s]) for s in ("absent", "null")})


@pytest.mark.parametrize("engine", ["interpreter", "duckdb"])
def test_align_decides_null_absent_and_parquet_alike(population: dict[str, Any], engine: str) -> None:
    sources = ("absent", "null", "parquet") + (("tables-csv", "tables-parquet") if engine == "duckdb" else ())
    results = {s: aligned(population, engine, s) for s in sources}
    policy, market, files = population["policy"], population["market"], population["files"]
    results["evaluate"] = _evaluate(policy, market, files["absent"])
    assert_same(population, results)
