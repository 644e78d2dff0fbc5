"""Corrupted record lines, one class each, for the engine-agreement tests (issue 8).

Each class turns a valid record into a line (``bytes``) that a careless
extract or an attacker could produce. ``make test`` runs all of them on every
engine with a fixed seed; the fuzz test combines them at random.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

GOOD: dict[str, Any] = {
    "bene_id": "G1",
    "birth_date": "1950-03-01",
    "residence": {"state": "NC", "county_fips": "37063"},
    "months": [{"month": f"2027-{m:02d}", "buyin": "C", "hmo": "0"} for m in range(1, 13)],
    "claims": [
        {"claim_id": "c1", "from_date": "2027-05-02", "tin": "111111111", "hcpcs": "99214", "allowed": 120.5},
        {"claim_id": "c2", "from_date": "2027-06-02", "tin": "111111111", "hcpcs": "99213", "allowed": 80},
    ],
}


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def _claim(field: str, raw: str) -> Callable[[dict[str, Any]], bytes]:
    def mutate(r: dict[str, Any]) -> bytes:
        text = json.dumps(r)
        marker = json.dumps(r["claims"][0][field])
        return text.replace(f'"{field}": {marker}', f'"{field}": {raw}', 1).encode()

    return mutate


def _month(raw: str) -> Callable[[dict[str, Any]], bytes]:
    def mutate(r: dict[str, Any]) -> bytes:
        return json.dumps(r).replace('"2027-03"', raw, 1).encode()

    return mutate


MUTATIONS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "valid": _dump,
    "duplicate-key": lambda r: json.dumps(r).replace('{"bene_id": ', '{"bene_id": "OTHER", "bene_id": ', 1).encode(),
    "trailing-comma": lambda r: json.dumps(r)[:-1].encode() + b", }",
    "nan-money": _claim("allowed", "NaN"),
    "infinity-money": _claim("allowed", "Infinity"),
    "money-too-large": _claim("allowed", "100000000000000000"),
    "money-three-places": _claim("allowed", "12.345"),
    "money-seventeen-places": _claim("allowed", "0.12345678901234567"),
    "non-ascii-month": _month('"\u0662\u0660\u0662\u0667-03"'),
    "month-thirteen": _month('"2027-13"'),
    "year-zero-date": _claim("from_date", '"0000-05-02"'),
    "datetime-as-date": _claim("from_date", '"2027-05-02T00:00:00"'),
    "invalid-utf8": lambda r: _dump(r).replace(b'"NC"', b'"N\xe9"', 1),
    "latin1-id": lambda r: _dump(r).replace(b'"bene_id": "', b'"bene_id": "\xe9', 1),
    "lone-surrogate-id": lambda r: _dump(r).replace(b'"bene_id": "', b'"bene_id": "\\ud800', 1),
    "nested-duplicate-key": lambda r: _dump(r).replace(b'{"state": "NC"', b'{"state": "VA", "state": "NC"', 1),
    "deep-nesting": lambda r: _dump(r)[:-1] + b', "extra": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "not-an-object": lambda r: b"[1, 2, 3]",
    "truncated": lambda r: _dump(r)[:40],
    "code-as-number": _claim("tin", "111111111"),
    "empty-id": lambda r: _dump({**r, "bene_id": ""}),
    "huge-id": lambda r: _dump({**r, "bene_id": "X" * 200_000}),
    "unknown-field": lambda r: _dump({**r, "favourite_colour": "blue"}),
}
"""Each corruption class: a valid record -> one line of bytes."""


def corrupted_cases(seed: int, n: int) -> list[tuple[str, bytes]]:
    """``n`` (class, line) pairs: every class once (ids made unique), then random classes on varied copies."""
    rng = random.Random(seed)
    names = sorted(MUTATIONS)
    out = []
    for i in range(n):
        name = names[i] if i < len(names) else rng.choice(names)
        record = json.loads(json.dumps(GOOD))
        record["bene_id"] = f"B{seed:03d}{i:05d}"
        if i >= len(names):
            record["claims"][0]["allowed"] = rng.choice([0, 1.5, 99.99, 1234, -20, 0.01])
            record["claims"][1]["tin"] = rng.choice(["111111111", "222222222", "333333333"])
            record["months"] = record["months"][: rng.randint(0, 12)]
            if rng.random() < 0.3:
                record["death_date"] = rng.choice(["2026-12-31", "2027-06-30", None])
        out.append((name, MUTATIONS[name](record)))
    return out


def corrupted_lines(seed: int, n: int) -> list[bytes]:
    """The lines of :func:`corrupted_cases`."""
    return [line for _, line in corrupted_cases(seed, n)]
