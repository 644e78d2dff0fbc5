"""Reading populations (nested JSONL/Parquet, relational tables) and writing decisions on DuckDB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import EXAMPLE, EXAMPLE_MARKET, REPO, output_rows

from lead_rules.engine.policy import load_market, load_policy
from lead_rules.sql.reference import normalise_row
from lead_rules.sql.run import COLUMN_SETS, align, decide
from lead_rules.synth.generate import write_population

LEAD = REPO / "policies" / "lead"


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pop")
    return write_population(out, 300, seed=5)


def to_relational(parquet: Path, folder: Path, fmt: str) -> Path:
    """The four tables of records.md from a nested Parquet population."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.sql(f"CREATE VIEW p AS SELECT * FROM read_parquet('{parquet}')")
    tables = {
        "beneficiaries": "SELECT bene_id, birth_date, death_date, residence.state AS residence_state, "
        "residence.county_fips AS residence_county_fips, residence.us AS residence_us FROM p",
        "bene_months": "SELECT bene_id, m.month, m.buyin, m.hmo, m.dual, m.msp, m.medicaid.state AS medicaid_state, "
        "m.medicaid.delivery AS medicaid_delivery, m.medicaid.plan_id AS medicaid_plan_id, "
        "m.integrated.type AS integrated_type, m.integrated.plan_id AS integrated_plan_id "
        "FROM (SELECT bene_id, unnest(months) AS m FROM p)",
        "voluntary": "SELECT bene_id, v.* FROM (SELECT bene_id, unnest(voluntary) AS v FROM p)",
        "claims": "SELECT bene_id, c.* FROM (SELECT bene_id, unnest(claims) AS c FROM p)",
    }
    for name, sql in tables.items():
        options = "(FORMAT parquet)" if fmt == "parquet" else "(FORMAT csv, HEADER true)"
        con.sql(f"COPY ({sql}) TO '{folder / (name + '.' + fmt)}' {options}")
    return folder


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["bene_id"]: normalise_row(r) for r in rows}


@pytest.mark.skipif(not LEAD.exists(), reason="the LEAD policy is not there yet")
def test_every_input_form_gives_the_same_decisions(population: dict[str, Path], tmp_path: Path) -> None:
    policy = load_policy(LEAD)
    market = load_market(population["market"])
    nested = decide(policy, market, population["jsonl"])
    assert len(nested) == 300 and all(r["outcome"] != "error" for r in nested)
    expected = _by_id(nested)
    assert _by_id(decide(policy, market, population["parquet"])) == expected
    for fmt in ("parquet", "csv"):
        folder = to_relational(population["parquet"], tmp_path / fmt, fmt)
        assert _by_id(decide(policy, market, folder)) == expected, fmt


def test_relational_orphans_and_bad_values_are_errors(population: dict[str, Path], tmp_path: Path) -> None:
    folder = to_relational(population["parquet"], tmp_path / "rel", "csv")
    with (folder / "claims.csv").open("a", encoding="utf-8") as fh:
        fh.write("NOBODY,C9,1,2027-01-01,1,2,99213,08,10.00,11,\n")
    beneficiaries = (folder / "beneficiaries.csv").read_text(encoding="utf-8").splitlines()
    beneficiaries.append("BADDATE,1950-02-30,,NC,37063,true")
    (folder / "beneficiaries.csv").write_text("\n".join(beneficiaries) + "\n", encoding="utf-8")
    rows = decide(load_policy(EXAMPLE), load_market(population["market"]), folder)
    errors = {r["bene_id"]: r["cause"] for r in rows if r["outcome"] == "error"}
    assert set(errors) == {"NOBODY", "BADDATE"}
    assert "not in beneficiaries" in errors["NOBODY"]
    assert "birth_date" in errors["BADDATE"]
    assert len(rows) == 302


def test_bad_lines_become_error_rows(tmp_path: Path) -> None:
    lines = [
        json.dumps({"bene_id": "A", "residence": {"county_fips": "37063"}}),
        "{not json",
        "",
        json.dumps([1, 2]),
        json.dumps({"bene_id": 5}),
        json.dumps({"bene_id": "B", "claims": [{"allowed": "lots"}]}),
        "   ",
        json.dumps({"bene_id": "C", "months": [{"month": "2027-01", "buyin": 3}]}),
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = align(EXAMPLE, EXAMPLE_MARKET, src, out, progress=False)
    assert summary["read"] == 6 and summary["errors"] == 5 and summary["decided"] == 1
    assert summary["read"] == summary["decided"] + summary["errors"]
    rows = output_rows(out)
    causes = [r["cause"] for r in rows]
    assert rows[0]["outcome"] == "not_aligned" and causes[0] is None
    assert causes[1] == "line 2: not valid JSON"
    assert causes[2] == "line 4: a record must be a JSON object"
    assert causes[3].startswith("bene_id:") and rows[3]["bene_id"] is None
    assert causes[4].startswith("claims.0.allowed") and rows[4]["bene_id"] == "B"
    assert causes[5].startswith("months.0.buyin") and rows[5]["bene_id"] == "C"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_outputs_and_summary(population: dict[str, Path], tmp_path: Path, suffix: str) -> None:
    out = tmp_path / ("decisions" + suffix)
    summary = align(EXAMPLE, population["market"], population["parquet"], out, progress=False)
    assert summary["read"] == 300 == summary["decided"] + summary["errors"]
    assert summary["aligned"] + summary["not_aligned"] == summary["decided"]
    assert sum(summary["by_pathway"].values()) == summary["aligned"]
    con = duckdb.connect()
    reader = {".parquet": "read_parquet", ".csv": "read_csv", ".jsonl": "read_json"}[suffix]
    options = ", ignore_errors = true" if suffix == ".jsonl" else ""  # JSON Lines end with the summary line
    source = f"{reader}('{out}'{options}) WHERE outcome IS NOT NULL"
    assert con.sql(f"SELECT count(*) FROM {source}").fetchall() == [(300,)]
    cols = con.sql(f"SELECT * FROM {source} LIMIT 1").columns
    assert cols[:6] == ["bene_id", "outcome", "aco_id", "pathway", "reasons", "cause"]
    assert "c:alive" in cols and any(c.startswith("c:designated_here@LEAD-") for c in cols)


def test_interpreter_engine_writes_the_same_rows(population: dict[str, Path], tmp_path: Path) -> None:
    a, b = tmp_path / "duck.parquet", tmp_path / "interp.parquet"
    s1 = align(EXAMPLE, population["market"], population["jsonl"], a, engine="duckdb", progress=False)
    s2 = align(EXAMPLE, population["market"], population["jsonl"], b, engine="interpreter", progress=False)
    for key in ("read", "decided", "errors", "aligned", "not_aligned", "by_pathway"):
        assert s1[key] == s2[key], key
    con = duckdb.connect()
    rows_a = con.sql(f"SELECT * FROM read_parquet('{a}')").fetchall()
    rows_b = con.sql(f"SELECT * FROM read_parquet('{b}')").fetchall()
    cols = con.sql(f"SELECT * FROM read_parquet('{a}') LIMIT 0").columns
    assert [normalise_row(dict(zip(cols, r, strict=True))) for r in rows_a] == [
        normalise_row(dict(zip(cols, r, strict=True))) for r in rows_b
    ]


def test_parquet_bad_values_are_error_rows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lead_rules.synth.generate import PARQUET_SCHEMA

    month = {
        "month": "2027-01",
        "buyin": "3",
        "hmo": "0",
        "dual": None,
        "msp": False,
        "medicaid": None,
        "integrated": None,
    }
    rows = [
        {"bene_id": "P1", "months": [month], "voluntary": [], "claims": []},
        {"bene_id": "P2", "months": [month, {**month, "month": "2027-13"}], "voluntary": [], "claims": []},
        {"bene_id": "P3", "months": None, "voluntary": [], "claims": []},
        {"bene_id": "", "months": [], "voluntary": [], "claims": []},
        {"bene_id": "P5", "months": [{**month, "month": None}], "voluntary": [], "claims": []},
    ]
    path = tmp_path / "pop.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA), path)
    out = decide(load_policy(EXAMPLE), load_market(EXAMPLE_MARKET), path)
    # a null list is empty, as an absent one (records.md: both "not known"; Parquet cannot be absent)
    assert [r["outcome"] for r in out] == ["not_aligned", "error", "not_aligned", "error", "error"]
    assert out[1]["cause"].startswith("months.1.month")
    assert out[3]["cause"].startswith("bene_id:")
    assert out[4]["cause"].startswith("months.0.month")


@pytest.mark.parametrize(
    "month",
    # the year 0 and text the list-to-text cast quotes or that looks like its separators
    ["0000-05", "2027-1", "2027-001", "2027-01, 2027-02", "[2027-01]", "2027-01]", "'2027-01'", " 2027-01", "2027-00"],
)
def test_parquet_month_text_is_validated(tmp_path: Path, month: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lead_rules.synth.generate import PARQUET_SCHEMA

    good = {"month": "2027-01", "buyin": "3", "hmo": "0", "dual": None, "msp": False, "medicaid": None}
    rows = [
        {"bene_id": "OK", "months": [good, {**good, "month": "9999-12"}, {**good, "month": "0001-01"}]},
        {"bene_id": "BAD", "months": [good, {**good, "month": month}]},
    ]
    rows = [{**r, "voluntary": [], "claims": []} for r in rows]
    path = tmp_path / "pop.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA), path)
    out = decide(load_policy(EXAMPLE), load_market(EXAMPLE_MARKET), path)
    assert out[0]["outcome"] != "error"
    assert out[1]["outcome"] == "error" and out[1]["cause"].startswith("months.1.month"), out[1]


@pytest.mark.parametrize("engine", ["duckdb", "interpreter"])
def test_column_sets_keep_the_decisions(population: dict[str, Path], tmp_path: Path, engine: str) -> None:
    con = duckdb.connect()
    rows = {}
    for columns in COLUMN_SETS:
        out = tmp_path / f"{columns}.parquet"
        summary = align(
            EXAMPLE, population["market"], population["parquet"], out, engine=engine, progress=False, columns=columns
        )
        assert summary["read"] == 300 and summary["columns"] == columns
        rel = con.sql(f"SELECT * FROM read_parquet('{out}')")
        names = rel.columns
        rows[columns] = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
        criteria = [n for n in names if n.startswith("c:")]
        assert ("reasons" in names) == (columns != "decisions"), names
        assert bool(criteria) == (columns == "full"), names

    def decisions(columns: str) -> list[dict[str, Any]]:
        return [{k: r[k] for k in ("bene_id", "outcome", "aco_id", "pathway", "cause")} for r in rows[columns]]

    assert decisions("reasons") == decisions("decisions") == decisions("full")
    assert [r["reasons"] for r in rows["reasons"]] == [r["reasons"] for r in rows["full"]]


def test_unknown_column_set_is_refused(population: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown column set 'all'"):
        align(EXAMPLE, population["market"], population["parquet"], tmp_path / "x.csv", progress=False, columns="all")


def _clean_lines(population: dict[str, Path], n: int) -> list[str]:
    return population["jsonl"].read_text(encoding="utf-8").splitlines()[:n]


_TOP = '{"bene_id"'


@pytest.mark.parametrize(
    ("name", "edit", "error"),
    [
        ("top-level key", lambda t: t.replace('{"bene_id"', '{"birth_date": null, "bene_id"', 1), True),
        ("key in a claims element", lambda t: t.replace('"claims": [{', '"claims": [{"tin": "1", ', 1), True),
        ("key in a months element", lambda t: t.replace('"months": [{', '"months": [{"hmo": "1", ', 1), True),
        ("key in residence", lambda t: t.replace('"residence": {', '"residence": {"us": true, ', 1), True),
        ("unknown key twice", lambda t: t.replace('{"bene_id"', '{"x": 1, "x": 2, "bene_id"', 1), True),
        ("key twice in an unknown field", lambda t: t.replace(_TOP, '{"x": [{"y": 1, "y": 2}], "bene_id"', 1), True),
        ("unknown field, no key twice", lambda t: t.replace(_TOP, '{"x": [{"y": 1, "z": 2}], "bene_id"', 1), False),
        ("colon and bracket in a string", lambda t: t.replace(_TOP, '{"note": "a: b,} c", "bene_id"', 1), False),
        ("trailing comma", lambda t: t.replace('"claims": [{', '"claims": [{"tin": "1",}, {', 1), True),
    ],
)
def test_repeated_keys_at_any_depth_are_errors_on_both_engines(
    population: dict[str, Path], tmp_path: Path, name: str, edit: Any, error: bool
) -> None:
    lines = _clean_lines(population, 3)
    records = [json.loads(x) for x in lines]
    assert all(r["claims"] and r["months"] and r["residence"] for r in records[1:2]), "a record with claims"
    texts = [json.dumps(r) for r in records]
    texts[1] = edit(texts[1])
    assert texts[1] != json.dumps(records[1]), name
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    got = {}
    for engine in ("duckdb", "interpreter"):
        out = tmp_path / f"{engine}.jsonl"
        align(EXAMPLE, population["market"], src, out, engine=engine, progress=False)
        got[engine] = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["outcome"] for r in got["duckdb"]] == [r["outcome"] for r in got["interpreter"]]
    assert (got["duckdb"][1]["outcome"] == "error") is error, got["duckdb"][1]
    if error:
        assert got["duckdb"][1]["cause"] == "line 2: not valid JSON"
    assert got["duckdb"][0]["outcome"] != "error" and got["duckdb"][2]["outcome"] != "error"


@pytest.mark.parametrize("more", [False, True])
def test_many_refused_and_guarded_lines_keep_their_rows_and_order(tmp_path: Path, more: bool) -> None:
    from lead_rules.sql import run
    from lead_rules.sql.jsonl_io import GUARDS_NAMED

    most = max(run._INLINE_BAD_LINES, GUARDS_NAMED)
    n = 2 * most + 100 if more else most  # more of each than the reader names in its query text, or half as many
    lines = []
    for i in range(n):
        if i % 2:
            lines.append(f'{{"bene_id": "N{i}", "claims": [{{"allowed": NaN}}]}}')  # strict JSON refuses NaN
        else:
            lines.append(f'{{"bene_id": "G{i}", "claims": [{{"tin": 12}}]}}')  # a code as a number: guarded
    lines.append('{"bene_id": "G0"}')  # a repeated id after all of them
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = align(EXAMPLE, EXAMPLE_MARKET, src, out, progress=False)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert summary["read"] == len(rows) == n + 1 == summary["errors"]
    for i, row in enumerate(rows[:n]):
        if i % 2:
            assert row["cause"] == f"line {i + 1}: not valid JSON" and row["bene_id"] is None, row
        else:
            assert row["bene_id"] == f"G{i}" and row["cause"].startswith("claims.0.tin"), row
    assert rows[n]["cause"] == "bene_id: duplicate, first decided at line 1"


def test_a_line_longer_than_the_parallel_reader_takes(tmp_path: Path) -> None:
    from lead_rules.sql.jsonl_io import LINE_SIZE

    lines = [
        json.dumps({"bene_id": "A"}),
        json.dumps({"bene_id": "B", "note": "x" * (LINE_SIZE + 10)}),
        json.dumps({"bene_id": "C"}),
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = align(EXAMPLE, EXAMPLE_MARKET, src, out, progress=False)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert summary["read"] == 3 and summary["errors"] == 0
    assert [r["bene_id"] for r in rows] == ["A", "B", "C"]


@pytest.mark.parametrize("repeat", [False, True])
def test_parquet_rows_keep_file_order_and_repeated_ids_are_errors(
    population: dict[str, Path], tmp_path: Path, repeat: bool
) -> None:
    con = duckdb.connect()
    src = tmp_path / "in.parquet"
    # reversed, so file order is not id order; with ``repeat`` the first record comes again at the end
    extra = f"UNION ALL SELECT * FROM (SELECT * FROM read_parquet('{population['parquet']}') LIMIT 1)" if repeat else ""
    con.sql(
        f"COPY (SELECT * FROM (SELECT * FROM read_parquet('{population['parquet']}') ORDER BY bene_id DESC) {extra}) "
        f"TO '{src}' (FORMAT parquet, ROW_GROUP_SIZE 64)"
    )
    ids = [r[0] for r in con.sql(f"SELECT bene_id FROM read_parquet('{src}')").fetchall()]
    out = tmp_path / "out.parquet"
    summary = align(EXAMPLE, population["market"], src, out, progress=False)
    rows = con.sql(f"SELECT bene_id, outcome, cause FROM read_parquet('{out}')").fetchall()
    assert [r[0] for r in rows] == ids
    assert summary["errors"] == (1 if repeat else 0)
    if repeat:
        first = ids.index(ids[-1]) + 1
        assert rows[-1][1:] == ("error", f"bene_id: duplicate, first decided at line {first}")
