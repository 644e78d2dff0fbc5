"""Benchmark data of the realistic shape: 48 monthly rows and up to 30 claim lines per record.

``lead-rules generate`` writes 36 months (January PY-3 to December PY-1) and
about 14 claim lines per beneficiary, and has no option for more. This module
takes its records (through the CLI, so it does not depend on the package
layout) and reshapes each one, deterministically by ``(seed, record index)``:

* **months**: the 12 months of PY-4 are prepended for a beneficiary already
  enrolled in January PY-3 (copies of that month's row: the same buy-in, HMO,
  dual status, Medicaid and integrated-care enrolment), so an enrolled
  beneficiary has 48 monthly rows; the eligibility window (12 months, Jan..Dec
  PY-1) is unchanged;
* **claims**: lines are added up to a target of 18..30 lines (capped at 30):
  non-primary-care lines (labs, imaging, procedures) at the record's own TINs
  and NPIs over the 48 months, and for records with more than 8 lines also
  primary-care lines copied from one of the record's own primary-care lines
  (same TIN, NPI, specialty and code, new date in one of the two alignment
  years, price within 10%). Records with 8 lines or fewer (the generator's
  deliberate ties among them) get no primary-care line, so their ties stay
  ties. 1% of records get a reversal line (negative allowed charge) of one
  primary-care line. Lines stay sorted by date; a record with more than 30
  lines keeps its first 30. Added lines keep the place of service and
  provider type of their kind (records.md v1.1: an FQHC/RHC TIN's lines have
  ``provider_type`` and no ``pos``, often no specialty; a professional lab or
  imaging line gets ``pos`` 11, 22 or 81); a copied primary-care line keeps
  its source's (an FQHC visit code G0466-G0470 counts as primary care).

The generator's own claim lines (reversed, re-billed and adjusted claims,
nursing-facility visits in and out of a SNF, FQHC/RHC/CAH II lines) are kept
as they are. A folder made by an older version of this module (another
:data:`SHAPE_VERSION`) is made again.

Voluntary designations, residence and death dates are the generator's. The
output is ``population.jsonl`` (records.md), ``population.parquet`` (the same
records with the generator's Parquet types: dates as DATE, ``allowed`` as
DECIMAL(12,2)) and ``market.yaml`` (the generator's market), in one folder.

Usage: ``python benchmarks/lead_data.py --n 20000 --seed 2028 --output /tmp/lead-bench/n20000``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

MAX_LINES = 30
#: Version of the shape written to ``shape.json``: a folder of another version is made again.
SHAPE_VERSION = 2
#: Places of service of the added professional non-primary-care lines (office, outpatient hospital, lab).
NON_PC_POS = ("11", "11", "22", "81")
#: Non-primary-care HCPCS with a typical allowed-charge range (labs, imaging, procedures, injections).
NON_PC: tuple[tuple[str, float, float], ...] = (
    ("36415", 2.5, 3.5),
    ("80053", 9.0, 14.0),
    ("85025", 7.0, 11.0),
    ("83036", 9.0, 13.0),
    ("80061", 12.0, 18.0),
    ("71046", 25.0, 40.0),
    ("93000", 14.0, 20.0),
    ("20610", 55.0, 80.0),
    ("J1100", 0.5, 2.0),
    ("G0008", 20.0, 30.0),
    ("90662", 55.0, 70.0),
    ("99233", 100.0, 140.0),
)

#: DuckDB schema of a records.md population (explicit, so no type is guessed).
SCHEMA = {
    "bene_id": "VARCHAR",
    "birth_date": "DATE",
    "death_date": "DATE",
    "residence": "STRUCT(state VARCHAR, county_fips VARCHAR, us BOOLEAN)",
    "months": "STRUCT(month VARCHAR, buyin VARCHAR, hmo VARCHAR, dual VARCHAR, msp BOOLEAN, "
    "medicaid STRUCT(state VARCHAR, delivery VARCHAR, plan_id VARCHAR), "
    "integrated STRUCT(type VARCHAR, plan_id VARCHAR))[]",
    "voluntary": "STRUCT(date DATE, tin VARCHAR, npi VARCHAR, channel VARCHAR)[]",
    "claims": "STRUCT(claim_id VARCHAR, line INTEGER, from_date DATE, tin VARCHAR, npi VARCHAR, "
    "hcpcs VARCHAR, specialty VARCHAR, allowed DECIMAL(12,2), pos VARCHAR, provider_type VARCHAR)[]",
}


def duckdb_columns() -> str:
    """The ``columns={...}`` argument of DuckDB's ``read_json`` for :data:`SCHEMA`."""
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in SCHEMA.items()) + "}"


def _primary_care_codes(policy: Path) -> set[str]:
    """The primary-care codes and the FQHC/RHC codes (both count as primary care)."""
    import yaml

    out: set[str] = set()
    for name in ("primary-care-hcpcs.yaml", "fqhc-rhc-hcpcs.yaml"):
        data = yaml.safe_load((policy / "codes" / name).read_text(encoding="utf-8"))
        out.update(str(v) for v in data["values"])
    return out


def _days(start: dt.date, end: dt.date) -> tuple[int, int]:
    return start.toordinal(), end.toordinal()


def reshape(rec: dict[str, Any], index: int, seed: int, py: int, pc_codes: set[str]) -> dict[str, Any]:
    """The record with 48 months and up to 30 claim lines (see the module docstring)."""
    rng = random.Random(f"shape:{seed}:{index}")
    months = rec.get("months") or []
    first_label = f"{py - 3:04d}-01"
    if months and months[0]["month"] == first_label:
        early = [dict(months[0], month=f"{py - 4:04d}-{k:02d}") for k in range(1, 13)]
        rec["months"] = early + months
    claims: list[dict[str, Any]] = list(rec.get("claims") or [])
    if claims:
        target = rng.randint(18, MAX_LINES)
        # (tin, npi, specialty, provider_type); FQHC/RHC lines may have no specialty
        staff = sorted(
            {(c["tin"], c["npi"], c["specialty"], c.get("provider_type")) for c in claims},
            key=lambda t: tuple("" if v is None else str(v) for v in t),
        )
        pc_lines = [c for c in claims if c["hcpcs"] in pc_codes and c["allowed"] is not None and c["allowed"] > 0]
        allow_pc = len(claims) > 8 and pc_lines
        lo_all, hi_all = _days(dt.date(py - 4, 1, 1), dt.date(py - 1, 12, 31))
        lo_ay, hi_ay = _days(dt.date(py - 3, 7, 1), dt.date(py - 1, 6, 30))
        extra: list[dict[str, Any]] = []
        for k in range(max(0, target - len(claims))):
            if allow_pc and rng.random() < 0.3:
                src = pc_lines[rng.randrange(len(pc_lines))]
                day = dt.date.fromordinal(rng.randint(lo_ay, hi_ay))
                allowed = round(float(src["allowed"]) * (0.9 + 0.2 * rng.random()), 2)
                tin, npi, spec, hcpcs = src["tin"], src["npi"], src["specialty"], src["hcpcs"]
                pos, kind = src.get("pos"), src.get("provider_type")
            else:
                tin, npi, spec, kind = staff[rng.randrange(len(staff))]
                hcpcs, lo, hi = NON_PC[rng.randrange(len(NON_PC))]
                day = dt.date.fromordinal(rng.randint(lo_all, hi_all))
                allowed = round(lo + (hi - lo) * rng.random(), 2)
                pos = None if kind in ("FQHC", "RHC") else NON_PC_POS[rng.randrange(len(NON_PC_POS))]
            extra.append(
                {
                    "claim_id": f"{rec['bene_id']}-X{k:02d}",
                    "line": 1,
                    "from_date": day.isoformat(),
                    "tin": tin,
                    "npi": npi,
                    "hcpcs": hcpcs,
                    "specialty": spec,
                    "allowed": allowed,
                    "pos": pos,
                    "provider_type": kind,
                }
            )
        if pc_lines and rng.random() < 0.01:
            src = pc_lines[rng.randrange(len(pc_lines))]
            extra.append(dict(src, line=int(src["line"] or 1) + 1, allowed=-float(src["allowed"])))
        claims = sorted(claims + extra, key=lambda c: (c["from_date"] or "", c["claim_id"] or "", c["line"] or 0))
        rec["claims"] = claims[:MAX_LINES]
    return rec


def make(folder: Path, n: int, seed: int, policy: Path, lead_rules: str = "lead-rules") -> dict[str, Path]:
    """Write ``market.yaml``, ``population.jsonl`` and ``population.parquet`` of ``n`` records to ``folder``.

    Reuses the files when they exist and ``shape.json`` names this :data:`SHAPE_VERSION`, ``n`` and
    ``seed``. ``lead_rules`` is the CLI to call.
    """
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        k: folder / f
        for k, f in (("market", "market.yaml"), ("jsonl", "population.jsonl"), ("parquet", "population.parquet"))
    }
    stamp = folder / "shape.json"
    version = json.dumps({"shape_version": SHAPE_VERSION, "n": n, "seed": seed})
    if all(p.exists() for p in paths.values()) and stamp.exists() and stamp.read_text(encoding="utf-8") == version:
        return paths
    stamp.unlink(missing_ok=True)
    base = folder / "_generated"
    shutil.rmtree(base, ignore_errors=True)
    subprocess.run(
        [lead_rules, "generate", "--n", str(n), "--seed", str(seed), "--output", str(base), "--formats", "jsonl"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    market = yaml.safe_load((base / "market.yaml").read_text(encoding="utf-8"))
    py = int(market["performance_year"])
    pc_codes = _primary_care_codes(policy)
    tmp = paths["jsonl"].with_suffix(".jsonl.tmp")
    with (base / "population.jsonl").open(encoding="utf-8") as src, tmp.open("w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            rec = reshape(json.loads(line), i, seed, py, pc_codes)
            out.write(json.dumps(rec, separators=(",", ":")) + "\n")
    tmp.replace(paths["jsonl"])
    shutil.copyfile(base / "market.yaml", paths["market"])
    shutil.rmtree(base)
    import duckdb

    con = duckdb.connect()
    con.sql(
        f"COPY (SELECT * FROM read_json('{paths['jsonl']}', format='newline_delimited', "
        f"columns={duckdb_columns()})) TO '{paths['parquet']}' (FORMAT parquet, ROW_GROUP_SIZE 50000)"
    )
    stamp.write_text(version, encoding="utf-8")
    return paths


def shape(path: Path) -> dict[str, float]:
    """Months and claim lines per record (mean, max) of a JSON Lines population."""
    import duckdb

    row = (
        duckdb.connect()
        .sql(
            f"SELECT count(*), avg(len(months)), max(len(months)), avg(len(claims)), max(len(claims)), "
            f"avg((len(months) = 48)::INT) FROM read_json('{path}', format='newline_delimited', "
            f"columns={duckdb_columns()})"
        )
        .fetchall()[0]
    )
    keys = ("records", "months_mean", "months_max", "claims_mean", "claims_max", "share_48_months")
    return dict(zip(keys, map(float, row), strict=True))


def main() -> int:
    """Command line: make a population folder and print its shape."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=2028)
    ap.add_argument("--output", type=Path, required=True)
    ap.add_argument("--policy", type=Path, default=Path(__file__).resolve().parent.parent / "policies" / "lead")
    args = ap.parse_args()
    cli = str(Path(sys.executable).parent / "lead-rules")
    paths = make(args.output, args.n, args.seed, args.policy, cli)
    print(json.dumps({k: str(v) for k, v in paths.items()}))
    print(json.dumps(shape(paths["jsonl"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
