"""The quoting path writes what SQLGlot writes, with or without importing SQLGlot.

:mod:`lead_rules.sql.quoting` quotes plain DuckDB names, literals and option-less
scans itself (SQLGlot takes ~0.1 s to import, more than a cached ``align`` needs
otherwise) and leaves everything else to SQLGlot; here both are compared.
"""

from __future__ import annotations

import pytest
from sqlglot import exp

from lead_rules.sql.quoting import identifier, literal, scan

TEXTS = [
    "a",
    "bene_id",
    "it's",
    "''",
    'q"uote',
    '""',
    "back\\slash",
    "\\'",
    "é😀",
    "",
    " ",
    "a b",
    "ACO-1",
    "x;y--z",
    "nl\nx",
    "tab\tx",
    "\x00",
    "\r",
    "\x7f",
    "/tmp/a b'c.parquet",
    "C:\\data\\x.parquet",
    "$1",
    "{a}",
    "%s",
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_identifiers_and_literals_are_sqlglots(text: str, dialect: str) -> None:
    assert identifier(text, dialect) == exp.to_identifier(text, quoted=True).sql(dialect)
    assert literal(text, dialect) == exp.Literal.string(text).sql(dialect)


@pytest.mark.parametrize("path", TEXTS)
@pytest.mark.parametrize("function", ["read_parquet", "read_csv", "read_json"])
def test_a_scan_without_options_is_sqlglots(function: str, path: str) -> None:
    assert scan(function, path) == exp.Anonymous(this=function, expressions=[exp.Literal.string(path)]).sql("duckdb")
