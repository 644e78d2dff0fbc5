"""Integer overflow on the SQL engines (issue 8): no checked policy can overflow 64 bits.

DuckDB raises on a 64-bit overflow (the whole query fails: a crash, not an error row)
and sums BIGINTs in 128 bits (a sum past 64 bits decides where the interpreter gives an
error row). Found with an int field of the record (``claims.line``): a record may hold
any 64-bit value there, so E604 refuses arithmetic that can leave the range -- ``+``,
``-``, ``*``, negation and ``abs`` over such a field or its sum -- while comparisons,
a bare ``sum`` (a documented gap past 64 bits) and bounded arithmetic (counts, years,
literals) pass, and then the engines agree on records at the edges of the range.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_security import MARKET, _with_definitions, codes

from lead_rules.engine.policy import check_policy, load_market, load_policy
from lead_rules.sql.run import decide

EDGES = [9223372036854775807, -9223372036854775808, 4611686018427387904, 9007199254740993, 0]
"""Record ints at the edges: DuckDB read 2**63 - 1 as null and 2**53 + 1 as 2**53 (through a double)."""


@pytest.mark.parametrize(
    ("expr", "refused"),
    [
        ("any(c.line * 2 > 0 for c in bene.claims)", True),  # DuckDB: Overflow in multiplication of INT64
        ("any(c.line + c.line > 0 for c in bene.claims)", True),  # DuckDB: Overflow in addition of INT64
        ("any(c.line + 1 > 0 for c in bene.claims)", True),
        ("any(c.line - 1 < 0 for c in bene.claims)", True),
        ("any(-c.line < 0 for c in bene.claims)", True),
        ("any(abs(c.line) > 0 for c in bene.claims)", True),
        ("sum(c.line for c in bene.claims) > 0", False),  # a bare sum: a known gap (docs/security.md)
        ("sum(c.line for c in bene.claims) + 1 > 0", True),  # arithmetic on it: DuckDB would raise
        ("max(c.line for c in bene.claims) * 2 > 0", True),
        ("any(c.line > 3 for c in bene.claims)", False),
        ("max(c.line for c in bene.claims) > 5", False),
        ("min(c.line for c in bene.claims) == 0", False),
        ("count(bene.claims) + 1 > 0", False),
        ("count(c for c in bene.claims where c.line > 0) * 12 > year(bene.birth_date) - 1900", False),
    ],
)
def test_arithmetic_on_record_ints_is_refused(tmp_path: Path, expr: str, refused: bool) -> None:
    policy, diags = check_policy(_with_definitions(tmp_path, {"p": expr}, "p"))
    assert ("E604" in codes(diags)) == refused, [d.render() for d in diags]
    if refused:
        e604 = [d for d in diags if d.code == "E604"]
        assert e604[0].span.line > 1 and "64-bit range" in e604[0].message
    else:
        assert policy is not None


def test_checked_policies_agree_at_the_edges_of_the_range(tmp_path: Path) -> None:
    defs = {
        "big_line": "max(c.line for c in bene.claims) > 4611686018427387903",
        "low_line": "min(c.line for c in bene.claims) < -4611686018427387903",
        "exact_line": "any(c.line == 9007199254740993 for c in bene.claims)",
        "lines": "count(c for c in bene.claims where c.line != 0) + 1",
    }
    policy = load_policy(_with_definitions(tmp_path, defs, "big_line or low_line or exact_line or lines > 2"))
    market = load_market(MARKET)
    records = []
    for i, line in enumerate(EDGES):
        claim = {"claim_id": "c1", "from_date": "2027-05-02", "tin": "111111111", "hcpcs": "99214", "allowed": 1}
        records.append(
            {
                "bene_id": f"B{i}",
                "birth_date": "1950-03-01",
                "residence": {"state": "NC", "county_fips": "37063"},
                "months": [{"month": f"2027-{m:02d}", "buyin": "C", "hmo": "0"} for m in range(1, 13)],
                "claims": [{**claim, "line": line}, {**claim, "claim_id": "c2", "line": 7}],
            }
        )
    src = tmp_path / "edges.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    duck = decide(policy, market, src)
    interp = [policy.evaluate(r, market, trace=False) for r in records]
    assert [(r["outcome"], r["aco_id"]) for r in duck] == [(d.outcome, d.aco_id) for d in interp]
    assert [d.outcome for d in interp] == ["aligned"] * 4 + ["not_aligned"]  # each edge decides


INT_TEXTS = [
    "5",
    "9007199254740993",  # 2**53 + 1: exact, not through a double
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",  # beyond 64 bits: an error row with the model's cause
    "-9223372036854775809",
    "18446744073709551621",
    "1e19",
    "3.0",
    '"9223372036854775808"',
    '"12"',
    "9.21e18",
]
"""JSON texts of a record int (``claims.line``) around the 64-bit range."""


def int_lines() -> list[bytes]:
    """One record a text of :data:`INT_TEXTS`."""
    return [
        b'{"bene_id": "I%d", "claims": [{"claim_id": "c1", "line": %s}]}' % (i, v.encode())
        for i, v in enumerate(INT_TEXTS)
    ]


def test_record_ints_beyond_64_bits_are_the_same_error_row_on_both_engines(tmp_path: Path) -> None:
    from lead_rules.sql.run import align

    src = tmp_path / "ints.jsonl"
    src.write_bytes(b"\n".join(int_lines()) + b"\n")
    rows = {}
    for engine in ("interpreter", "duckdb"):
        out = tmp_path / f"{engine}.jsonl"
        align(MARKET.parent.parent, MARKET, src, out, engine=engine, progress=False)
        rows[engine] = [(r["outcome"], r["cause"]) for r in map(json.loads, out.read_text().splitlines())]
    assert rows["interpreter"] == rows["duckdb"]
    errors = [text for text, (outcome, _) in zip(INT_TEXTS, rows["duckdb"], strict=True) if outcome == "error"]
    assert errors == [
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551621",
        "1e19",
        '"9223372036854775808"',
    ]
