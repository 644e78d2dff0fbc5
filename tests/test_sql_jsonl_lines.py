"""The DuckDB JSON Lines reader's two reads: unnumbered on every core for a clean file, numbered for a dirty one.

A line whose error row names its number (not valid JSON, not an object, refused by strict JSON)
or a repeated ``bene_id`` must reach the numbered read; every error row and line number is the
interpreter engine's.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import EXAMPLE, EXAMPLE_MARKET, output_rows

from lead_rules.engine.policy import load_policy
from lead_rules.sql.duckdb_io import INPUT_VIEW
from lead_rules.sql.jsonl_io import NEEDS_LINES
from lead_rules.sql.output import connect
from lead_rules.sql.run import align, decide, register_input, with_input
from lead_rules.synth.generate import write_population

KEYS = ("bene_id", "outcome", "aco_id", "pathway", "cause")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The lines of a clean generated population."""
    paths = write_population(tmp_path_factory.mktemp("pop"), 40, seed=11)
    return [x for x in paths["jsonl"].read_text(encoding="utf-8").splitlines() if x.strip()]


def first_id(lines: list[str]) -> str:
    return str(json.loads(lines[0])["bene_id"])


DIRT = {
    "cut short": lambda lines: '{"bene_id": "CUT", "months": [',
    "broken inside": lambda lines: '{"bene_id": "BROKEN", "months": [}',
    "not an object": lambda lines: "[1, 2, 3]",
    "a bare string": lambda lines: '"just text"',
    "NaN (DuckDB reads it, strict JSON refuses)": lambda lines: '{"bene_id": "NAN", "claims": [{"allowed": NaN}]}',
    "a comma before a bracket": lambda lines: '{"bene_id": "COMMA", "months": [],}',
    "a key twice": lambda lines: '{"bene_id": "TWICE", "bene_id": "TWICE2"}',
    "a repeated id": lambda lines: lines[0],
    "a repeated id, not the first key": lambda lines: json.dumps({"dual": None, "bene_id": first_id(lines)}),
}


def view_sql(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.sql(f"SELECT sql FROM duckdb_views() WHERE view_name = '{INPUT_VIEW}'").fetchall()[0][0])


def both_engines(src: Path, tmp_path: Path) -> dict[str, list[tuple[object, ...]]]:
    got = {}
    for engine in ("duckdb", "interpreter"):
        out = tmp_path / f"{engine}.jsonl"
        align(EXAMPLE, EXAMPLE_MARKET, src, out, engine=engine, progress=False)
        got[engine] = [tuple(r.get(k) for k in KEYS) for r in output_rows(out)]
    return got


@pytest.mark.parametrize("dirt", list(DIRT))
@pytest.mark.parametrize("at", [1, 25])
def test_a_dirty_line_gets_the_interpreters_error_row_and_line_number(
    clean: list[str], tmp_path: Path, dirt: str, at: int
) -> None:
    lines = [*clean[:at], "", DIRT[dirt](clean), *clean[at:]]  # a blank line before it: numbers count it
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = both_engines(src, tmp_path)
    assert got["duckdb"] == got["interpreter"]
    errors = [r for r in got["duckdb"] if r[1] == "error"]
    assert len(errors) == 1, errors
    if "repeated id" in dirt:
        assert errors[0][4] == "bene_id: duplicate, first decided at line 1", errors
    else:
        assert str(errors[0][4]).startswith(f"line {at + 2}: "), errors


def test_a_clean_file_is_read_unnumbered_and_streams_in_file_order(clean: list[str], tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n\n".join(clean) + "\n", encoding="utf-8")  # blank lines between the records
    con = connect()
    register_input(con, src, numbered=False)
    assert "ORDINALITY" not in view_sql(con)
    ids = [r[0] for r in con.sql(f"SELECT _bene_id FROM {INPUT_VIEW}").fetchall()]
    assert ids == [json.loads(x)["bene_id"] for x in clean]
    got = both_engines(src, tmp_path)
    assert got["duckdb"] == got["interpreter"] and all(r[1] != "error" for r in got["duckdb"])


PRE_PASS_FINDS = [
    "NaN (DuckDB reads it, strict JSON refuses)",
    "a repeated id",
    "a repeated id, not the first key",
    "cut short",
]


@pytest.mark.parametrize("dirt", [*PRE_PASS_FINDS, "a bare string"])
def test_the_pre_pass_sends_refused_lines_and_repeats_to_the_numbered_read(
    clean: list[str], tmp_path: Path, dirt: str
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([*clean, DIRT[dirt](clean)]) + "\n", encoding="utf-8")
    con = connect()
    register_input(con, src, numbered=False)
    assert "ORDINALITY" in view_sql(con)


def test_harmless_suspect_text_keeps_the_unnumbered_read(clean: list[str], tmp_path: Path) -> None:
    record = json.loads(clean[3])
    record["note"] = "a comma before a bracket, ] and NaN: , NaN"  # an unknown key: an error row, no line number
    lines = [*clean[:3], json.dumps(record), *clean[4:]]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = connect()
    register_input(con, src, numbered=False)
    assert "ORDINALITY" not in view_sql(con)
    got = both_engines(src, tmp_path)
    assert got["duckdb"] == got["interpreter"]


@pytest.mark.parametrize("dirt", ["broken inside", "a key twice"])  # a non-object has no leading id: numbered at once
def test_the_unnumbered_read_stops_at_a_line_that_needs_its_number(clean: list[str], tmp_path: Path, dirt: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([*clean, DIRT[dirt](clean)]) + "\n", encoding="utf-8")
    con = connect()
    register_input(con, src, numbered=False)
    assert "ORDINALITY" not in view_sql(con)  # the pre-pass cannot tell: the read finds out
    with pytest.raises(duckdb.InvalidInputException, match=NEEDS_LINES):
        con.sql(f"SELECT count(_error) FROM {INPUT_VIEW}").fetchall()
    why = "not valid JSON"
    calls = []

    def errors() -> list[str]:
        calls.append(view_sql(con))
        return [str(r[0]) for r in con.sql(f"SELECT _error FROM {INPUT_VIEW} WHERE _error IS NOT NULL").fetchall()]

    for rerun in (True, False):
        calls.clear()
        kind, found = with_input(con, src, None, [], errors, rerun=rerun)
        assert kind == "jsonl" and found == [f"line {len(clean) + 1}: {why}"]
        assert len(calls) == (2 if rerun else 1) and "ORDINALITY" in calls[-1]  # no rerun: numbered from the start


def test_decide_on_a_dirty_file_names_the_line(clean: list[str], tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([*clean[:5], "{oops", *clean[5:]]) + "\n", encoding="utf-8")
    rows = decide(load_policy(EXAMPLE), EXAMPLE_MARKET, src)
    assert len(rows) == len(clean) + 1
    assert [r["cause"] for r in rows if r["outcome"] == "error"] == ["line 6: not valid JSON"]
    assert [r["bene_id"] for r in rows if r["outcome"] != "error"] == [json.loads(x)["bene_id"] for x in clean]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_a_dirty_file_is_written_whole_once_in_every_format(clean: list[str], tmp_path: Path, suffix: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([*clean[:30], "42", *clean[30:]]) + "\n", encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    summary = align(EXAMPLE, EXAMPLE_MARKET, src, out, progress=False)
    assert summary["read"] == len(clean) + 1 and summary["errors"] == 1
    con = duckdb.connect()
    reader = {".parquet": "read_parquet", ".csv": "read_csv", ".jsonl": "read_json"}[suffix]
    rows = con.sql(f"SELECT bene_id, cause FROM {reader}('{out}')").fetchall()
    assert len(rows) == len(clean) + 1 and rows[30] == (None, "line 31: a record must be a JSON object")


@pytest.mark.parametrize("where", ["opening the file", "opening a later line"])
def test_a_byte_order_mark_gets_one_verdict_on_both_engines(clean: list[str], tmp_path: Path, where: str) -> None:
    """A BOM opening the file is ignored (RFC 8259 §8.1; DuckDB's and Spark's readers drop it), a
    BOM inside the file is that line's error, on the interpreter and DuckDB alike (QA probe)."""
    src = tmp_path / "bom.jsonl"
    at = 0 if where == "opening the file" else 3
    lines = [("\ufeff" + x if i == at else x) for i, x in enumerate(clean)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = both_engines(src, tmp_path)
    assert got["duckdb"] == got["interpreter"]
    errors = [r for r in got["duckdb"] if r[1] == "error"]
    assert errors == ([] if at == 0 else [(None, "error", None, None, f"line {at + 1}: not valid JSON")]), errors
