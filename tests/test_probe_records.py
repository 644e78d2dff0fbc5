"""Findings of the QA probe on record and input reading (/work/notes/probe.md 8-12, 17, 19, 20).

Table-driven: each row is one input the probe found the engines (or a reader) got wrong; the
interpreter and DuckDB must give the same verdict and cause on every line, and a bad document a
located error, never a traceback or a hang.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import output_rows
from corrupt_lines import GOOD

from lead_rules.sql.run import align
from lead_rules.synth.generate import PARQUET_SCHEMA, write_population

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "policies" / "example"
MARKET = EXAMPLE / "markets" / "example-2028.yaml"

# --- 8: money at the documented limit (16 digits before the point, 2 places) in JSON Lines ----------

RANGE = "money out of range (at most 16 digits before the point)"
PLACES = "more than 2 decimal places (the SQL engine reads money with 2)"
FINITE = "Input should be a finite number"
KIND = "Decimal input should be an integer, float, string or Decimal object"

MONEY_CASES: list[tuple[str, str | None]] = [  # (raw JSON of claims[0].allowed, expected cause or None)
    ("9999999999999999.99", None),
    ("-9999999999999999.99", None),
    ('"9999999999999999.99"', None),
    ("10000000000000000.00", RANGE),
    ("10000000000000000.001", RANGE),
    ("1e16", RANGE),
    ('"1e16"', RANGE),
    ("99999999999999999.9", RANGE),
    ("123456789012345678901234567890", RANGE),
    ("1e400", RANGE),
    ("-1e400", RANGE),
    ('"1e400"', RANGE),
    ("9999999999999999.999", PLACES),
    ("1.005", PLACES),
    ("1e-400", PLACES),
    ("0.000000000000000001", PLACES),
    ("12.50000000000000000001", PLACES),
    ('"0.001"', PLACES),
    ('"NaN"', FINITE),
    ('"Infinity"', FINITE),
    ('"abc"', "Input should be a valid decimal"),
    ("true", KIND),
    ("[1]", KIND),
    ("1E2", None),
    ("1.25e-1", PLACES),
    ("1.5e1", None),
    ("12.3400", None),
    ('"  12.5 "', None),
    ("-0.0", None),
]


def _claim_line(i: int, raw: str) -> str:
    record = json.loads(json.dumps(GOOD))
    record["bene_id"] = f"M{i:03d}"
    text = json.dumps(record)
    return text.replace('"allowed": 120.5', f'"allowed": {raw}', 1)


def _both(
    tmp_path: Path, src: Path, policy: Path = EXAMPLE, market: Path = MARKET
) -> dict[str, list[dict[str, Any]]]:
    rows = {}
    for engine in ("interpreter", "duckdb"):
        out = tmp_path / f"{engine}.jsonl"
        summary = align(policy, market, src, out, engine=engine, progress=False)
        rows[engine] = output_rows(out)
        assert summary["read"] == len(rows[engine]) == summary["decided"] + summary["errors"]
    return rows


def test_money_boundary_same_verdict_and_cause_in_json_lines(tmp_path: Path) -> None:
    src = tmp_path / "money.jsonl"
    src.write_text("".join(_claim_line(i, raw) + "\n" for i, (raw, _) in enumerate(MONEY_CASES)))
    rows = _both(tmp_path, src)
    for i, (raw, cause) in enumerate(MONEY_CASES):
        got = {e: (r[i]["outcome"], r[i]["cause"]) for e, r in rows.items()}
        assert got["interpreter"] == got["duckdb"], (raw, got)
        if cause is None:
            assert got["duckdb"][0] != "error", (raw, got)
        else:
            assert got["duckdb"] == ("error", f"claims.0.allowed: {cause}"), (raw, got)


# --- 9: float money in Parquet (NaN, infinities, 1e17) is an error row, never a failed query -------

PARQUET_FLOATS: list[tuple[float, str | None]] = [
    (float("nan"), FINITE),
    (float("inf"), FINITE),
    (float("-inf"), FINITE),
    (1e17, RANGE),
    (1e16, RANGE),
    (0.1 + 0.2, PLACES),
    (125.16, None),
    (-20.0, None),
]


def test_parquet_float_money_gives_the_interpreters_error_rows(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    paths = write_population(tmp_path / "pop", len(PARQUET_FLOATS), 7, 2028, ("parquet",))

    def floats(t: Any) -> Any:  # the generator's schema with every decimal a float64
        if pa.types.is_decimal(t):
            return pa.float64()
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, floats(f.type)) for f in t])
        if pa.types.is_list(t):
            return pa.list_(floats(t.value_type))
        return t

    records = pq.read_table(paths["parquet"]).to_pylist()
    for record, (value, _) in zip(records, PARQUET_FLOATS, strict=True):
        while len(record["claims"]) < 2:
            record["claims"].append(dict(record["claims"][0]) if record["claims"] else {"claim_id": "x"})
        for c in record["claims"]:
            c["allowed"] = None if c.get("allowed") is None else float(c["allowed"])
        record["claims"][1]["allowed"] = value  # the second claim: the cause names its index
    src = tmp_path / "money.parquet"
    schema = pa.schema([pa.field(f.name, floats(f.type)) for f in PARQUET_SCHEMA])
    pq.write_table(pa.Table.from_pylist(records, schema=schema), src)
    assert "double" in str(pq.read_schema(src).field("claims").type)
    rows = _both(tmp_path, src, REPO / "policies" / "lead", paths["market"])
    for i, (value, cause) in enumerate(PARQUET_FLOATS):
        got = {e: (r[i]["outcome"], r[i]["cause"]) for e, r in rows.items()}
        assert got["interpreter"] == got["duckdb"], (value, got)
        if cause is None:
            assert got["duckdb"][0] != "error", (value, got)
        else:
            assert got["duckdb"] == ("error", f"claims.1.allowed: {cause}"), (value, got)


# --- 10, 11: decision-kind and YAML inputs are read strictly; deep nesting is an error row ------------

STATES = REPO / "policies" / "state-selection" / "samples" / "states.yaml"
STATE_POLICY = REPO / "policies" / "state-selection"


def _state_text() -> str:
    import yaml

    return json.dumps(yaml.safe_load(STATES.read_text())[0], default=str)


STRICT_LINES: list[tuple[str, str, str]] = [  # (name, how the good line is changed, the cause expected)
    ("duplicate key", "dup", "duplicate key 'state'"),
    ("NaN", "nan", "NaN is not a JSON number"),
    ("deep", "deep", "JSON nested deeper than"),
    ("trailing comma", "comma", "not valid JSON"),
]


def _mutate(line: str, how: str) -> str:
    if how == "dup":
        return line[:-1] + ', "state": "ZZ"}'
    if how == "nan":
        return line[:-1] + ', "ltss_user_share": NaN}'.replace('"ltss_user_share"', '"extra"')
    if how == "deep":
        return line[:-1] + ', "x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    return line[:-1] + ",}"


@pytest.mark.parametrize(("name", "how", "cause"), STRICT_LINES, ids=[c[0] for c in STRICT_LINES])
def test_decision_kind_lines_are_read_strictly(tmp_path: Path, name: str, how: str, cause: str) -> None:
    from lead_rules.cli import main

    good = _state_text()
    src = tmp_path / "states.jsonl"
    src.write_text(good + "\n" + _mutate(good, how) + "\n")
    out = tmp_path / "o.jsonl"
    assert main(["evaluate", "--policy", str(STATE_POLICY), "--input", str(src), "--output", str(out)]) == 0
    rows = output_rows(out)
    assert len(rows) == 2 and rows[0]["outcome"] != "error", name
    assert rows[1]["outcome"] == "error" and cause in rows[1]["errors"][0]["message"], rows[1]
    assert rows[1]["errors"][0]["message"].startswith("line 2: "), rows[1]


YAML_INPUTS: list[tuple[str, str, str, str]] = [  # (policy, YAML text, the error expected, its line)
    ("state-selection", "state: NC\nstate: NY\n", "duplicate key 'state'", "2"),
    ("state-selection", "state: NC\nx: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than", "2"),
    ("lead", "bene_id: A\nbirth_date: 1950-01-01\nbene_id: B\n", "duplicate key 'bene_id'", "3"),
]


@pytest.mark.parametrize(("policy", "text", "cause", "line"), YAML_INPUTS)
def test_yaml_inputs_refuse_a_key_twice_and_deep_nesting(
    tmp_path: Path, policy: str, text: str, cause: str, line: str
) -> None:
    from lead_rules.cli import main

    src = tmp_path / "in.yaml"
    src.write_text(text)
    out = tmp_path / "o.jsonl"
    market = ["--market", str(MARKET)] if policy == "lead" else []
    policy_path = EXAMPLE if policy == "lead" else REPO / "policies" / policy
    args = ["evaluate", "--policy", str(policy_path), *market, "--input", str(src), "--output", str(out)]
    assert main(args) == 0
    (row,) = output_rows(out)
    assert row["outcome"] == "error"
    message = row["errors"][0]["message"]
    assert cause in message and message.startswith(f"{src}:{line}:"), message


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ('{"bene_id": "A", "x": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested deeper than"),
        ('{"bene_id": "A", "bene_id": "B"}', "duplicate key 'bene_id'"),
    ],
)
def test_eval_expr_record_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, cause: str
) -> None:
    from lead_rules.cli import main

    record = tmp_path / "r.json"
    record.write_text(text)
    code = main(["eval-expr", "--policy", str(EXAMPLE), "--market", str(MARKET), "--record", str(record), "1 + 1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and cause in err and len(err.splitlines()) == 1, err


# --- 12: decimals of parameters and of decision-kind records: finite, at most 38 digits written out ----

DECIMALS: list[tuple[str, bool]] = [  # (YAML text of the value, accepted)
    ("0.10", True),
    ("1500000.00", True),
    ("1" * 37 + ".5", True),
    ("0." + "0" * 37 + "1", True),
    ("1e37", True),
    ("1e38", False),
    ("1" * 38 + ".5", False),
    ("1e400", False),
    ("1e-400", False),
    ("-1e999", False),
]


@pytest.mark.parametrize(("text", "ok"), DECIMALS)
def test_decimal_parameter_limit_is_a_located_e301(tmp_path: Path, text: str, ok: bool) -> None:
    import shutil

    from lead_rules.engine.policy import check_policy

    shutil.copytree(REPO / "policies" / "lead", tmp_path / "lead")
    shutil.copytree(REPO / "policies" / "schemas", tmp_path / "schemas")
    params = tmp_path / "lead" / "parameters.yaml"
    lines = params.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("  pc_specialist_min_share:")) + 2
    assert lines[at].strip() == "value: 0.10"
    lines[at] = lines[at].replace("0.10", text)
    params.write_text("".join(lines))
    _, diags = check_policy(tmp_path / "lead")
    found = [d for d in diags if d.severity == "error"]
    if ok:
        assert not found, [d.render() for d in found]
    else:  # E301, or E001 for an integer beyond 64 bits (the YAML reader's own limit)
        assert len(found) == 1 and found[0].span.line == at + 1, [d.render() for d in found]
        assert (found[0].code, "38 digits" in found[0].message) in (("E301", True), ("E001", False)), found


@pytest.mark.parametrize(("text", "ok"), DECIMALS)
def test_decimal_record_values_of_decision_kinds_are_bounded(tmp_path: Path, text: str, ok: bool) -> None:
    from lead_rules.cli import main

    src = tmp_path / "states.yaml"
    src.write_text(STATES.read_text().replace("ltss_user_share: 0.28", f"ltss_user_share: {text}", 1))
    out = tmp_path / "o.jsonl"
    assert main(["evaluate", "--policy", str(STATE_POLICY), "--input", str(src), "--output", str(out)]) == 0
    first = output_rows(out)[0]
    if ok:
        assert first["outcome"] != "error" or first["errors"][0]["field"] != "ltss_user_share", first
    else:
        assert first["outcome"] == "error", first
        assert first["errors"][0]["field"] == "ltss_user_share" and "38 digits" in first["errors"][0]["message"]


# --- 19: a market's performance_year is an integer, not a bool or a string ---------------------------


@pytest.mark.parametrize(("text", "ok"), [("2028", True), ("true", False), ('"2028"', False), ("2028.0", False)])
def test_market_performance_year_must_be_an_integer(tmp_path: Path, text: str, ok: bool) -> None:
    from lead_rules.engine.policy import load_market, load_policy
    from lead_rules.language.errors import PolicyError

    market = tmp_path / "market.yaml"
    lines = MARKET.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("performance_year:"))
    lines[at] = f"performance_year: {text}\n"
    market.write_text("".join(lines))
    policy = load_policy(EXAMPLE)
    if ok:
        assert load_market(market, policy).performance_year == 2028
        return
    with pytest.raises(PolicyError) as info:
        load_market(market, policy)
    (d,) = [d for d in info.value.diagnostics if d.severity == "error"]
    assert d.span.line == at + 1 and "performance_year" in d.message and "integer" in d.message, d.render()


# --- 20: a FIFO given as a market, policy or YAML input is refused in one line, never read -----------

needs_fifo = pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs here")


@needs_fifo
@pytest.mark.parametrize("where", ["market", "policy file", "in a policy folder", "yaml input", "jsonl input"])
def test_a_fifo_is_refused_never_waited_on(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    import os
    import shutil

    from lead_rules.cli import main

    fifo = tmp_path / "fifo.yaml"
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps(GOOD) + "\n")
    out = ["--output", str(tmp_path / "o.jsonl")]
    if where == "in a policy folder":
        shutil.copytree(EXAMPLE, tmp_path / "p")
        fifo = tmp_path / "p" / "extra.yaml"
    os.mkfifo(fifo)  # no writer: opening it to read would block forever
    args = {
        "market": ["evaluate", "--policy", str(EXAMPLE), "--market", str(fifo), "--input", str(records), *out],
        "policy file": ["check", str(fifo)],
        "in a policy folder": ["check", str(tmp_path / "p")],
        "yaml input": ["evaluate", "--policy", str(STATE_POLICY), "--input", str(fifo), *out],
        "jsonl input": ["evaluate", "--policy", str(EXAMPLE), "--market", str(MARKET), "--input", str(fifo), *out],
    }[where]
    try:
        code = main(args)
    except SystemExit as exc:  # the market and input loaders exit 2 with their one line
        code = int(exc.code or 0)
    said = capsys.readouterr()
    text = said.out + said.err
    place = f"{fifo}: " if where.endswith("input") else f"{fifo}:1:1"  # an input: before any reading
    assert place in text and "not a regular file" in text and len(text.strip().splitlines()) <= 2, text
    assert code in (1, 2), text
    assert not (tmp_path / "o.jsonl").exists()


# --- 17: Parquet on standard input of evaluate is refused as --input of a Parquet file is -----------


@pytest.mark.parametrize(("head", "refused"), [(b"PAR1\x15\x04\x15", True), (b"", False)])
def test_evaluate_refuses_parquet_on_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], head: bytes, refused: bool
) -> None:
    import io
    import sys

    from lead_rules.cli import main

    data = head + (b"" if refused else (json.dumps(GOOD) + "\n").encode())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)), encoding="utf-8"))
    args = ["evaluate", "--policy", str(EXAMPLE), "--market", str(MARKET)]
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    said = capsys.readouterr()
    if refused:
        assert code == 2 and "standard input is a Parquet file" in said.err and not said.out, said
        assert len(said.err.strip().splitlines()) == 1, said.err
    else:
        assert code == 0 and json.loads(said.out.splitlines()[0])["bene_id"] == "G1", said
