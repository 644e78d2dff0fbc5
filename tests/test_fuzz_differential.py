"""Differential fuzzing (issue 8): corrupted records and random checked expressions on every engine.

Bounded for ``make test`` (fixed seeds, a few hundred lines and expressions);
a release runs it longer with ``LEAD_RULES_FUZZ_SEEDS`` and ``LEAD_RULES_FUZZ_N``
(docs/security.md). Records: every line yields one row on each engine, counts
add up, and the interpreter, DuckDB (and Spark where installed) give the same
verdict for every corruption class (:mod:`corrupt_lines`). Expressions: a random
expression that passes ``check`` never ends in an internal error on the
interpreter and never makes the DuckDB query fail.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest
from conftest import output_rows
from corrupt_lines import MUTATIONS, corrupted_cases

from lead_rules.engine.policy import check_policy, load_market, load_policy
from lead_rules.sql.run import align, decide

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "policies" / "example"
MARKET = EXAMPLE / "markets" / "example-2028.yaml"
SEEDS = [int(s) for s in os.environ.get("LEAD_RULES_FUZZ_SEEDS", "11,12").split(",")]
N = int(os.environ.get("LEAD_RULES_FUZZ_N", "150"))
KNOWN_GAPS = {"nested-duplicate-key"}  # docs/security.md, known gaps


def test_there_are_at_least_17_mutation_classes() -> None:
    assert len(set(MUTATIONS) - {"valid"}) >= 17


def _engines() -> list[str]:
    engines = ["interpreter", "duckdb"]
    if os.environ.get("LEAD_RULES_FUZZ_SPARK") and shutil.which("java"):
        engines.append("spark")
    return engines


@pytest.mark.parametrize("seed", SEEDS)
def test_engines_agree_on_fuzzed_records(tmp_path: Path, seed: int) -> None:
    cases = corrupted_cases(seed, N)
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(line for _, line in cases) + b"\n")
    rows = {}
    for engine in _engines():
        out = tmp_path / f"{engine}.jsonl"
        summary = align(EXAMPLE, MARKET, src, out, engine=engine, progress=False)
        got = output_rows(out)
        assert len(got) == len(cases) == summary["read"] == summary["decided"] + summary["errors"]
        rows[engine] = got
    diffs = []
    for i, (name, _) in enumerate(cases):
        if name in KNOWN_GAPS:
            continue
        verdicts = {e: (r[i]["outcome"], r[i]["aco_id"], r[i]["pathway"]) for e, r in rows.items()}
        if len(set(verdicts.values())) > 1:
            diffs.append(f"line {i + 1} ({name}): {verdicts}")
    assert not diffs, "\n".join(diffs[:20])


# --- random expressions -----------------------------------------------------------------

INTS = ["count(bene.claims)", "count(bene.months)", "year(bene.birth_date)", "len(bene.bene_id)", "3", "12", "0"]
DECS = ["sum(c.allowed for c in bene.claims)", "max(c.allowed for c in bene.claims)", "1.5", "0.25"]
DATES = ["bene.birth_date", "bene.death_date", "max(c.from_date for c in bene.claims)", "date(2027, 1, 31)"]


def _int(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(INTS)
    a, b = _int(rng, depth - 1), _int(rng, depth - 1)
    return rng.choice(
        [
            f"({a} + {b})",
            f"({a} - {b})",
            f"({a} * {b})",
            f"coalesce({a}, {b})",
            f"max({a}, {b})",
            f"abs({a})",
            f"count(c for c in bene.claims where c.allowed > {a})",
            f"months_between(date(2027, 1, 1), add_months({_date(rng, depth - 1)}, {b}))",
            f"days_between({_date(rng, depth - 1)}, {_date(rng, depth - 1)})",
        ]
    )


def _dec(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(DECS)
    a, b = _dec(rng, depth - 1), _dec(rng, depth - 1)
    return rng.choice(
        [
            f"({a} + {b})",
            f"({a} * {_int(rng, 0)})",
            f"({a} / {b})",
            f"round({a}, 2)",
            f"coalesce({a}, 0)",
            f"sum(c.allowed * {_int(rng, 0)} for c in bene.claims)",
        ]
    )


def _date(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.4:
        return rng.choice(DATES)
    return rng.choice(
        [
            f"add_days({_date(rng, depth - 1)}, {_int(rng, 0)})",
            f"add_months({_date(rng, depth - 1)}, {_int(rng, 0)})",
            f"last_day(month_of({_date(rng, depth - 1)}))",
        ]
    )


def _bool(rng: random.Random, depth: int) -> str:
    choice = rng.randrange(7)
    if choice == 0:
        return f"{_int(rng, depth)} > {_int(rng, depth)}"
    if choice == 1:
        return f"{_dec(rng, depth)} >= {_dec(rng, depth)}"
    if choice == 2:
        return f"{_date(rng, depth)} < {_date(rng, depth)}"
    if choice == 3:
        return f"any(c.tin in aco.participant_tins and c.allowed > {_dec(rng, 0)} for c in bene.claims)"
    if choice == 4:
        return (
            "argmax(g.key for g in group_sum(c.allowed for c in bene.claims by c.tin) by g.total, "
            'ties = "lowest") in aco.participant_tins'
        )
    if choice == 5:
        return f"count(group_sum(c.allowed for c in bene.claims by c.hcpcs)) >= {_int(rng, 0)}"
    return f"({_bool(rng, depth - 1)}) or not ({_bool(rng, depth - 1)})" if depth > 0 else "true"


def _population(folder: Path) -> Path:
    cases = [c for c in corrupted_cases(5, 60) if c[0] in ("valid", "unknown-field", "code-as-number")]
    src = folder / "population.jsonl"
    src.write_bytes(b"\n".join(line for _, line in cases) + b"\n")
    return src


@pytest.mark.parametrize("seed", SEEDS)
def test_checked_expressions_never_fail_inside_an_engine(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    src = _population(tmp_path)
    records = [json.loads(line) for line in src.read_text().splitlines()]
    market = load_market(MARKET)
    tried = checked = 0
    failures = []
    for k in range(max(4, N // 25)):
        expr = _bool(rng, 2)
        folder = tmp_path / f"p{k}"
        shutil.copytree(EXAMPLE, folder)
        policy_file = folder / "policy.yaml"
        text = policy_file.read_text().replace(
            "  in_service_area:\n", f"  probe:\n    expr: '{expr}'\n  in_service_area:\n", 1
        )
        text = text.replace(
            "expr: bene.residence.county_fips in aco.service_area_counties",
            "expr: bene.residence.county_fips in aco.service_area_counties and probe",
        )
        policy_file.write_text(text)
        tried += 1
        policy, _diags = check_policy(folder)
        if policy is None:
            continue
        checked += 1
        policy = load_policy(folder)
        for record in records:
            decision = policy.evaluate(record, market, trace=bool(k % 2))
            for err in decision.summary_dict().get("errors") or []:
                message = str(err.get("message"))
                if message.startswith("evaluation failed") and "overflow" not in message and "budget" not in message:
                    failures.append(f"{expr}: interpreter: {message}")
        try:
            decide(policy, market, src)
        except Exception as exc:  # the SQL engine must not fail on a checked expression
            failures.append(f"{expr}: duckdb: {type(exc).__name__}: {str(exc)[:200]}")
    assert checked >= tried // 2, f"only {checked} of {tried} generated expressions passed check"
    assert not failures, "\n".join(failures[:10])
