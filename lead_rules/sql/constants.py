"""Names and scales the SQL readers and the compiler share, in a module without SQLGlot.

The JSON Lines and Parquet readers (:mod:`.duckdb_io`) and the batch runner (:mod:`.run`) need
them on every ``align``; importing them from :mod:`.sqltypes` would import SQLGlot (~0.4 s), which
a run with a cached compiled query (:mod:`.cache`) never uses.
"""

from __future__ import annotations

POPULATION_TABLE = "population"
"""The relation (table or view) of validated, normalised beneficiary records."""

MONEY_SCALE = 2
"""Decimal places of money fields (``claims[].allowed``) in the input relation."""

MONEY_INTEGER_DIGITS = 16
"""Digits before the point of money fields: DECIMAL(18, 2), as records.Money (docs/security.md)."""
