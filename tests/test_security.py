"""Security and data-safety probes (issue 8): each test reproduces one audit finding.

Injection through names that reach SQL, parameter files outside the policy
folder, YAML and cost bombs, unsafe outputs. docs/security.md lists the limits.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import output_rows

from lead_rules.engine.policy import check_policy, load_market
from lead_rules.language.errors import PolicyError
from lead_rules.sql.output import copy_options, write_rows

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "policies" / "example"
MARKET = EXAMPLE / "markets" / "example-2028.yaml"


def copy_example(tmp_path: Path) -> Path:
    folder = tmp_path / "policy"
    shutil.copytree(EXAMPLE, folder)
    return folder


def codes(diags: list[object]) -> set[str]:
    return {getattr(d, "code", "") for d in diags if getattr(d, "severity", "") == "error"}


# --- 1. one quoting path for names reaching SQL ---------------------------------------

INJECTION = "Z\" FROM _lr_rows) TO '{out}/stolen.csv' (FORMAT csv); COPY (SELECT 1 AS \"x"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_writer_quotes_hostile_column_names(tmp_path: Path, suffix: str) -> None:
    name = INJECTION.format(out=tmp_path)
    table = pa.table({"bene_id": ["b1"], "outcome": ["aligned"], "pathway": ["claims"], name: [True]})
    out = tmp_path / f"out{suffix}"
    summary = write_rows(table, out, copy_options(out), "jsonl")
    assert summary["read"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # nothing else was written
    import duckdb

    assert name in duckdb.sql(f"SELECT * FROM '{out}'").columns


def test_market_aco_id_with_a_quote_is_a_located_error(tmp_path: Path) -> None:
    text = MARKET.read_text()
    first_id = next(line for line in text.splitlines() if line.strip().startswith("- id:"))
    hostile = first_id.split("id:")[0] + 'id: "Z\\" FROM _lr_rows) TO \'x.csv\'"'
    market = tmp_path / "market.yaml"
    market.write_text(text.replace(first_id, hostile, 1))
    line = text.splitlines().index(first_id) + 1
    with pytest.raises(PolicyError) as err:
        load_market(market)
    [diag] = err.value.diagnostics
    assert diag.span.file == str(market) and diag.span.line == line
    assert diag.code == "E404" and "ACO id" in diag.message


@pytest.mark.parametrize("name", ['x" FROM t; --', "a b", "naïve", "x" * 129])
def test_policy_name_outside_the_character_set_is_an_error(tmp_path: Path, name: str) -> None:
    folder = copy_example(tmp_path)
    policy = folder / "policy.yaml"
    text = policy.read_text()
    policy.write_text(text.replace("  in_service_area:\n", f"  '{name}':\n    expr: true\n  in_service_area:\n", 1))
    _, diags = check_policy(folder)
    assert "E015" in codes(diags)


# --- 2. parameter files stay inside the policy folder ---------------------------------


def _with_file(folder: Path, reference: str) -> Path:
    policy = folder / "policy.yaml"
    policy.write_text(policy.read_text().replace("file: codes/primary-care.yaml", f"file: '{reference}'"))
    return policy


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "codes.yaml"
    secret.parent.mkdir()
    secret.write_text('TOP-SECRET-LINE\nvalues: ["99213"]\n')
    return secret


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink-file", "symlink-folder"])
def test_parameter_file_outside_the_policy_folder_is_refused(tmp_path: Path, kind: str) -> None:
    folder = copy_example(tmp_path)
    secret = _secret(tmp_path)
    if kind == "absolute":
        reference = str(secret)
    elif kind == "dotdot":
        reference = "codes/../../outside/codes.yaml"
    elif kind == "symlink-file":
        (folder / "codes" / "link.yaml").symlink_to(secret)
        reference = "codes/link.yaml"
    else:
        (folder / "linked").symlink_to(secret.parent, target_is_directory=True)
        reference = "linked/codes.yaml"
    policy = _with_file(folder, reference)
    _, diags = check_policy(folder)
    refused = [d for d in diags if getattr(d, "code", "") == "E305"]
    assert len(refused) == 1
    assert refused[0].span.file == str(policy)
    assert "TOP-SECRET" not in "\n".join(d.render() for d in diags)


def test_parameter_file_in_a_shared_schemas_folder_is_allowed(tmp_path: Path) -> None:
    folder = copy_example(tmp_path)
    shared = tmp_path / "schemas"
    shared.mkdir()
    shutil.copy(folder / "codes" / "primary-care.yaml", shared / "pc.yaml")
    _with_file(folder, "../schemas/pc.yaml")
    policy, diags = check_policy(folder)
    assert policy is not None, [d.render() for d in diags]
    inside = copy_example(tmp_path / "again")
    _with_file(inside, "codes/../codes/primary-care.yaml")  # a '..' that stays inside
    policy, diags = check_policy(inside)
    assert policy is not None, [d.render() for d in diags]


# --- 3. bounded YAML loading -----------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    text = 'a0: &a0 ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n"
    return text


YAML_BOMBS: dict[str, bytes] = {
    "nul": b'policy_note: "x\x00y"\n',
    "latin-1": b"policy_note: caf\xe9\n",
    "self-reference": b"a: &a [*a]\n",
    "deep-flow": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep-block": b"".join(b"  " * i + b"k:\n" for i in range(70)) + b"  " * 70 + b"v\n",
    "long-integer": b"a: " + b"9" * 5001 + b"\n",
    "long-string": b"a: '" + b"x" * 70_000 + b"'\n",
}


def _located(diags: list[object], file: Path) -> list[object]:
    return [d for d in diags if getattr(d, "severity", "") == "error" and d.span.file == str(file)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", sorted(YAML_BOMBS))
def test_policy_file_beyond_the_limits_is_a_located_error(tmp_path: Path, case: str) -> None:
    folder = copy_example(tmp_path)
    bad = folder / "extra.yaml"
    bad.write_bytes(YAML_BOMBS[case])
    _, diags = check_policy(folder)
    [diag] = _located(diags, bad)
    assert diag.span.line >= 1  # type: ignore[attr-defined]
    assert diag.code in ("E001", "E002")  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", sorted(YAML_BOMBS))
def test_market_file_beyond_the_limits_is_a_located_error(tmp_path: Path, case: str) -> None:
    bad = tmp_path / "market.yaml"
    bad.write_bytes(YAML_BOMBS[case])
    with pytest.raises(PolicyError) as err:
        load_market(bad)
    assert [d.code for d in err.value.diagnostics] in (["E001"], ["E002"])
    assert err.value.diagnostics[0].span.file == str(bad)


def test_a_file_above_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    from lead_rules.language.limits import YAML_MAX_BYTES

    bad = tmp_path / "market.yaml"
    with bad.open("wb") as fh:
        fh.truncate(YAML_MAX_BYTES + 1)
    with pytest.raises(PolicyError) as err:
        load_market(bad)
    assert [d.code for d in err.value.diagnostics] == ["E002"]


@pytest.mark.parametrize("where", ["policy", "market"])
def test_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path: Path, where: str) -> None:
    # run in a child with 1 GB of address space and 60 s: before the limits this bomb took >60 s and 2.7 GB
    import resource
    import subprocess
    import sys

    folder = copy_example(tmp_path)
    bomb = (folder / "bomb.yaml") if where == "policy" else (tmp_path / "market.yaml")
    bomb.write_text(alias_bomb())
    market = bomb if where == "market" else MARKET

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    args = [sys.executable, "-m", "lead_rules", "sql", "--policy", str(folder), "--market", str(market)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, preexec_fn=limit, check=False)
    assert done.returncode != 0
    assert f"{bomb}:" in done.stdout + done.stderr and "aliases expand" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("param", "code"),
    [
        ("type: int\n    value: 9223372036854775808", "E301"),
        ("type: decimal\n    value: .nan", "E301"),
        ("type: decimal\n    value: .inf", "E301"),
        ("type: decimal\n    value: -.inf", "E301"),
        ("type: decimal\n    value: 'NaN'", "E301"),
        ("type: " + "list<" * 5000 + "int" + ">" * 5000 + "\n    value: []", "E302"),
    ],
)
def test_parameter_literals_beyond_the_limits_are_errors(tmp_path: Path, param: str, code: str) -> None:
    folder = copy_example(tmp_path)
    policy = folder / "policy.yaml"
    policy.write_text(policy.read_text().replace("parameters:\n", f"parameters:\n  odd:\n    {param}\n", 1))
    _, diags = check_policy(folder)
    assert code in codes(diags)


@pytest.mark.parametrize("literal", ["9" * 5001, "9223372036854775808", "1." + "1" * 60])
def test_expression_literals_beyond_the_limits_are_errors(tmp_path: Path, literal: str) -> None:
    folder = copy_example(tmp_path)
    policy = folder / "policy.yaml"
    text = policy.read_text().replace("expr: market.performance_year", f"expr: market.performance_year + {literal}")
    policy.write_text(text)
    _, diags = check_policy(folder)
    assert codes(diags), "a literal beyond the 64-bit range must be an error"


# --- 5. atomic outputs, never over the input -------------------------------------------

LEAD = REPO / "policies" / "lead"


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from lead_rules.generate import write_population

    return write_population(tmp_path_factory.mktemp("pop"), 60, 3)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".lead-rules-", "tmp_")))


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_evaluate_refuses_to_write_over_its_input(
    tmp_path: Path, population: dict[str, Path], how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lead_rules.cli import main

    src = tmp_path / "records.jsonl"
    shutil.copy(population["jsonl"], src)
    before = src.read_bytes()
    out = src
    if how == "symlink":
        out = tmp_path / "out.jsonl"
        out.symlink_to(src)
    elif how == "hardlink":
        out = tmp_path / "out.jsonl"
        out.hardlink_to(src)
    args = ["evaluate", "--policy", str(LEAD), "--market", str(population["market"]), "--input", str(src)]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--output", str(out)])
    assert exit_.value.code == 2
    assert "is the input" in capsys.readouterr().err
    assert src.read_bytes() == before


@pytest.mark.parametrize("engine", ["duckdb", "interpreter"])
@pytest.mark.parametrize("kind", ["jsonl", "parquet", "market"])
def test_align_refuses_to_write_over_its_input(
    tmp_path: Path, population: dict[str, Path], engine: str, kind: str
) -> None:
    from lead_rules.engine.output_files import OutputRefused
    from lead_rules.sql.run import align

    src = tmp_path / f"population.{'parquet' if kind == 'parquet' else 'jsonl'}"
    shutil.copy(population["parquet" if kind == "parquet" else "jsonl"], src)
    market = tmp_path / "market.yaml"
    shutil.copy(population["market"], market)
    target = market if kind == "market" else src
    before = target.read_bytes()
    with pytest.raises(OutputRefused):
        align(LEAD, market, src, target, engine=engine, progress=False)
    assert target.read_bytes() == before


@pytest.mark.parametrize("engine", ["duckdb", "interpreter"])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_align_that_fails_mid_write_leaves_no_file(
    tmp_path: Path, population: dict[str, Path], engine: str, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lead_rules.sql import output, run

    def failing_summary(*args: object, **kw: object) -> dict[str, object]:
        raise KeyboardInterrupt  # after the rows were written: the writer is interrupted

    monkeypatch.setattr(run, "summarise", failing_summary)  # run_duckdb
    monkeypatch.setattr(output, "summarise", failing_summary)  # write_rows (the interpreter engine)
    out = tmp_path / "out" / f"decisions{suffix}"
    with pytest.raises(KeyboardInterrupt):
        run.align(LEAD, population["market"], population["jsonl"], out, engine=engine, progress=False)
    assert not out.exists()
    assert _leftovers(out.parent) == []


@pytest.mark.parametrize("engine", ["duckdb", "interpreter"])
def test_align_output_is_complete_and_says_so(tmp_path: Path, population: dict[str, Path], engine: str) -> None:
    import duckdb

    from lead_rules.sql.run import align

    out = tmp_path / "decisions.parquet"
    summary = align(LEAD, population["market"], population["jsonl"], out, engine=engine, progress=False)
    assert summary["complete"] is True and summary["read"] == 60
    meta = duckdb.sql(f"SELECT key::VARCHAR, value::VARCHAR FROM parquet_kv_metadata('{out}')").fetchall()
    assert ("lead_rules_complete", "true") in meta
    assert _leftovers(tmp_path) == []


def test_evaluate_killed_mid_batch_leaves_no_output(tmp_path: Path, population: dict[str, Path]) -> None:
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "decisions.jsonl"
    args = [sys.executable, "-m", "lead_rules", "evaluate", "--policy", str(LEAD)]
    args += ["--market", str(population["market"]), "--output", str(out)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    lines = population["jsonl"].read_text().splitlines()
    proc.stdin.write("\n".join(lines[:30]) + "\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not _leftovers(tmp_path) and time.monotonic() < deadline:  # the batch has started writing
        time.sleep(0.05)
    assert _leftovers(tmp_path), "the batch never started"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()
    assert _leftovers(tmp_path) == []


# --- 4. the cost model: static budgets in the checker, runtime budgets per record -----


def _with_definitions(tmp_path: Path, defs: dict[str, str], use: str) -> Path:
    """The example policy with definitions ``defs`` and the criterion in_service_area also needing ``use``."""
    folder = copy_example(tmp_path)
    policy = folder / "policy.yaml"
    text = policy.read_text()
    block = "".join(f"  {name}:\n    expr: '{expr}'\n" for name, expr in defs.items())
    text = text.replace("definitions:\n", "definitions:\n" + block, 1)
    text = text.replace(
        "expr: bene.residence.county_fips in aco.service_area_counties",
        f"expr: bene.residence.county_fips in aco.service_area_counties and ({use})",
    )
    policy.write_text(text)
    return folder


def test_a_chain_of_products_is_refused_by_the_checker(tmp_path: Path) -> None:
    defs = {"d0": "count(bene.claims) + 2"} | {f"d{i}": f"d{i - 1} * d{i - 1}" for i in range(1, 42)}
    folder = _with_definitions(tmp_path, defs, "d41 > 0")
    _, diags = check_policy(folder)
    assert "E601" in codes(diags)


def test_products_within_the_budget_pass(tmp_path: Path) -> None:
    defs = {"d0": "year(bene.birth_date) + 2", "d1": "d0 * d0", "d2": "d1 * d1"}
    policy, diags = check_policy(_with_definitions(tmp_path, defs, "d2 > 0"))
    assert policy is not None, [d.render() for d in diags]


def test_comprehensions_nested_over_the_record_are_refused(tmp_path: Path) -> None:
    triple = (
        "count(a for a in bene.claims where count(b for b in bene.claims where "
        "count(c for c in bene.claims where c.allowed == a.allowed) > 0) > 0) > 0"
    )
    _, diags = check_policy(_with_definitions(tmp_path, {"t": triple}, "t"))
    assert "E602" in codes(diags)
    # nesting over the market's lists is bounded by the market, not by the record: allowed
    double = "count(a for a in bene.claims where count(b for b in bene.claims where b.tin == a.tin) > 0) > 0"
    policy, diags = check_policy(_with_definitions(tmp_path / "ok", {"t": double}, "t"))
    assert policy is not None, [d.render() for d in diags]


@pytest.mark.parametrize("levels", [4, 7])
def test_nested_add_months_is_refused_before_the_sql_grows(tmp_path: Path, levels: int) -> None:
    e = "bene.birth_date"
    for _ in range(levels):
        e = f"add_months({e}, 1)"
    _, diags = check_policy(_with_definitions(tmp_path, {"late": e}, "late is not null"))
    assert "E603" in codes(diags)


def test_the_compiler_measures_the_sql_size_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lead_rules.language.cost

    monkeypatch.setattr(lead_rules.language.cost, "SQL_WEIGHT_BUDGET", 10**12)  # let the estimate through
    from lead_rules.engine.policy import load_policy
    from lead_rules.sql.compiler import compile_policy

    e = "bene.birth_date"
    for _ in range(5):
        e = f"add_months({e}, 1)"
    policy = load_policy(_with_definitions(tmp_path, {"late": e}, "late is not null"))
    compiled = compile_policy(policy, load_market(MARKET), "duckdb")
    assert [i.code for i in compiled.errors] == ["S109"]


def test_integer_overflow_is_an_error_row_on_the_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lead_rules.language.cost
    from lead_rules.engine.policy import load_policy

    # E604 refuses a sum of record ints (test_security_overflow.py); the interpreter's runtime
    # guard is the second line of defence, seen here with the static bound switched off
    monkeypatch.setattr(lead_rules.language.cost, "RECORD_INT_MAGNITUDE", 1)
    defs = {"big": "sum(c.line for c in bene.claims) + 1"}
    policy = load_policy(_with_definitions(tmp_path, defs, "big > 0"))
    claims = [{"line": 9223372036854775807}, {"line": 1}]
    record = {"bene_id": "B1", "residence": {"county_fips": "37063"}, "months": [], "claims": claims}
    decision = policy.evaluate(record, load_market(MARKET), trace=False)
    assert decision.outcome == "error"
    assert "overflow" in str(decision.summary_dict())


def test_the_step_budget_makes_an_error_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lead_rules.engine.runtime
    from lead_rules.engine.policy import load_policy

    monkeypatch.setattr(lead_rules.engine.runtime, "STEP_BUDGET", 1_000)
    double = "count(a for a in bene.claims where count(b for b in bene.claims where b.tin == a.tin) > 0) > 0"
    policy = load_policy(_with_definitions(tmp_path, {"t": double}, "t"))
    claim = {"from_date": "2027-05-02", "tin": "111111111", "hcpcs": "99214", "allowed": 1}
    small = {"bene_id": "S", "residence": {"county_fips": "37063"}, "claims": [claim] * 10}
    large = {"bene_id": "L", "residence": {"county_fips": "37063"}, "claims": [claim] * 200}
    market = load_market(MARKET)
    assert policy.evaluate(small, market, trace=False).outcome != "error"
    decision = policy.evaluate(large, market, trace=False)
    assert decision.outcome == "error" and "step budget" in str(decision.summary_dict())


# --- 6. one validation semantics on every engine ----------------------------------------

KNOWN_GAPS: dict[str, str] = {}
"""Corruption classes the engines still read differently (docs/security.md, 'Known gaps')."""


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every corruption class once, plus a repeated id; run through evaluate and both align engines."""

    from corrupt_lines import MUTATIONS, corrupted_lines

    from lead_rules.sql.run import align

    folder = tmp_path_factory.mktemp("corrupt")
    lines = corrupted_lines(seed=8, n=len(MUTATIONS))
    first_valid = sorted(MUTATIONS).index("valid")
    lines.append(lines[first_valid])  # the same bene_id again: an error row naming the first line
    src = folder / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out: dict[str, object] = {"names": [*sorted(MUTATIONS), "repeated-id"], "lines": len(lines)}
    for engine in ("interpreter", "duckdb"):
        target = folder / f"{engine}.jsonl"
        out[f"{engine}-summary"] = align(EXAMPLE, MARKET, src, target, engine=engine, progress=False)
        out[engine] = output_rows(target)
    from lead_rules.cli import main

    target = folder / "evaluate.jsonl"
    assert (
        main(
            [
                "evaluate",
                "--policy",
                str(EXAMPLE),
                "--market",
                str(MARKET),
                "--input",
                str(src),
                "--output",
                str(target),
            ]
        )
        == 0
    )
    out["evaluate"] = output_rows(target)
    return out


@pytest.mark.parametrize("engine", ["interpreter", "duckdb", "evaluate"])
def test_every_corrupted_line_gives_one_row(corrupted: dict[str, object], engine: str) -> None:
    rows = corrupted[engine]
    assert isinstance(rows, list) and len(rows) == corrupted["lines"]
    if engine != "evaluate":
        summary = corrupted[f"{engine}-summary"]
        assert isinstance(summary, dict) and summary["read"] == summary["decided"] + summary["errors"] == len(rows)


def test_engines_give_the_same_verdict_on_corrupted_lines(corrupted: dict[str, object]) -> None:
    names, a, b, e = (corrupted[k] for k in ("names", "interpreter", "duckdb", "evaluate"))
    assert isinstance(names, list) and isinstance(a, list) and isinstance(b, list) and isinstance(e, list)
    diffs = []
    for name, x, y, z in zip(names, a, b, e, strict=True):
        if name in KNOWN_GAPS:
            continue
        if not x["outcome"] == y["outcome"] == z["outcome"]:
            diffs.append(f"{name}: interpreter {x['outcome']}, duckdb {y['outcome']}, evaluate {z['outcome']}")
    assert not diffs, "\n".join(diffs)
    by_name = dict(zip(names, a, strict=True))
    for name in (
        "duplicate-key",
        "trailing-comma",
        "nan-money",
        "infinity-money",
        "money-too-large",
        "money-three-places",
        "non-ascii-month",
        "year-zero-date",
        "datetime-as-date",
        "invalid-utf8",
        "lone-surrogate-id",
        "deep-nesting",
        "repeated-id",
    ):
        assert by_name[name]["outcome"] == "error", name
    assert "first decided at line" in by_name["repeated-id"]["cause"]


def test_engines_agree_on_nested_duplicate_keys(corrupted: dict[str, object]) -> None:
    names, a, b = corrupted["names"], corrupted["interpreter"], corrupted["duckdb"]
    assert isinstance(names, list) and isinstance(a, list) and isinstance(b, list)
    i = names.index("nested-duplicate-key")
    assert a[i]["outcome"] == b[i]["outcome"] == "error"


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda t: t.replace("performance_year: 2028", "performance_year: 2028\nperformance_year: 2029"), "E003"),
        (lambda t: t.replace("performance_year: 2028", "performance_year: 0"), "E403"),
        (lambda t: t.replace("performance_year: 2028", "performance_year: -5"), "E403"),
        (lambda t: t.replace("performance_year: 2028", "performance_year: 99999999999"), "E403"),
        (lambda t: t.replace("performance_year: 2028", "performance_year: 2040"), "E403"),
    ],
)
def test_market_file_errors_are_located(tmp_path: Path, edit: object, code: str) -> None:
    from lead_rules.engine.policy import load_policy

    market = tmp_path / "market.yaml"
    market.write_text(edit(MARKET.read_text()))  # type: ignore[operator]
    with pytest.raises(PolicyError) as err:
        load_market(market, load_policy(EXAMPLE))
    assert code in {d.code for d in err.value.diagnostics}
    assert all(d.span.file == str(market) and d.span.line >= 1 for d in err.value.diagnostics)


def test_market_with_a_repeated_aco_id_is_an_error(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(MARKET.read_text())
    data["acos"].append(dict(data["acos"][0]))
    market = tmp_path / "market.yaml"
    market.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PolicyError) as err:
        load_market(market)
    assert [d.code for d in err.value.diagnostics] == ["E402"]


# --- 7. deterministic traces ---------------------------------------------------------------


def test_trace_output_does_not_depend_on_the_hash_seed(tmp_path: Path, population: dict[str, Path]) -> None:
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"trace-{seed}.jsonl"
        args = [sys.executable, "-m", "lead_rules", "evaluate", "--trace", "--policy", str(LEAD)]
        args += ["--market", str(population["market"]), "--input", str(population["jsonl"]), "--output", str(out)]
        env = {**os.environ, "PYTHONHASHSEED": seed, "SOURCE_DATE_EPOCH": "1800000000"}  # the provenance time
        subprocess.run(args, check=True, capture_output=True, env=env)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize(
    ("expr", "refused"),
    [
        ("count(bene.claims) * 9223372036854775807 > 0", True),
        ("count(bene.claims) * count(bene.claims) * count(bene.claims) > 0", True),
        ("count(bene.claims) * 12 > year(bene.birth_date) * 2", False),
    ],
)
def test_integer_products_that_can_overflow_are_refused(tmp_path: Path, expr: str, refused: bool) -> None:
    _, diags = check_policy(_with_definitions(tmp_path, {"p": expr}, "p"))
    assert ("E604" in codes(diags)) == refused, [d.render() for d in diags]


def test_atomic_output_writes_a_device_in_place_and_never_replaces_it() -> None:
    import stat

    from lead_rules.engine.output_files import atomic_output

    with atomic_output("/dev/null") as path:
        assert path == Path("/dev/null")
        path.write_text("x")
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)
