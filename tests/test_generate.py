"""Tests for the synthetic population generator (lead_rules.generate)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lead_rules.synth import generate
from lead_rules.synth.generate import generate_market, generate_records, write_population

PY = 2028
N_SHARES = 5000

STATE_FIPS = {"37": "NC", "36": "NY"}
RECORD_KEYS = {"bene_id", "birth_date", "death_date", "residence", "months", "voluntary", "claims"}
MONTH_KEYS = {"month", "buyin", "hmo", "dual", "msp", "medicaid", "integrated"}
CLAIM_KEYS = {"claim_id", "line", "from_date", "tin", "npi", "hcpcs", "specialty", "allowed", "pos", "provider_type"}
VOLUNTARY_KEYS = {"date", "tin", "npi", "channel"}
BUYIN = {"0", "1", "2", "3", "A", "B", "C"}
HMO = {"0", "4", "1", "2", "A", "B", "C"}
MA_HMO = {"1", "2", "A", "B", "C"}
FULL_DUAL = {"02", "04", "08"}
PARTIAL_DUAL = {"01", "03", "05", "06"}
DUAL = {"NA", "00", "09", "10", "99"} | FULL_DUAL | PARTIAL_DUAL
INTEGRATED = {"D-SNP", "FIDE-SNP", "HIDE-SNP", "AIP", "MMP", "PACE"}
PC_HCPCS = (
    {str(c) for c in range(99202, 99206)}
    | {str(c) for c in range(99211, 99216)}
    | {"G0438", "G0439", "99495", "99496", "99490"}
    | {str(c) for c in range(99341, 99351)}
    | {str(c) for c in range(99304, 99311)}
    | {"G0466", "G0467", "G0468"}
)
NF_HCPCS = {str(c) for c in range(99304, 99311)}
PROVIDER_TYPES = {"FQHC", "RHC", "CAH2"}
POS = {"11", "12", "22", "02", "10", "19", "20", "31", "32"}
OTHER_HCPCS = {"71046", "80053", "93000", "20610", "36415"}
PC_SPECIALTIES = {"01", "08", "11", "37", "38", "50", "89", "97"}
OTHER_SPECIALTIES = {"06", "13", "29", "30"}
_A, _AN = "[AC-HJKMNP-RT-Y]", "[0-9AC-HJKMNP-RT-Y]"  # MBI letters exclude S, L, O, I, B, Z
MBI = re.compile(f"^[1-9]{_A}{_AN}[0-9]{_A}{_AN}[0-9]{_A}{_A}[0-9][0-9]$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@functools.cache
def npi_is_valid(npi: str) -> bool:
    """Luhn check of an NPI with the 80840 prefix (independent of the generator)."""
    if not re.match(r"^\d{10}$", npi):
        return False
    digits = [int(c) for c in "80840" + npi]
    total = 0
    for pos, d in enumerate(reversed(digits)):
        if pos % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def aco_tins(market: dict[str, Any]) -> dict[str, str]:
    return {tin: aco["id"] for aco in market["acos"] for tin in aco["participant_tins"]}


def market_plan_ids(market: dict[str, Any]) -> set[str]:
    return {
        plan
        for aco in market["acos"]
        for partner in aco["medicaid_partners"]
        if partner["kind"] == "MCO"
        for plan in partner.get("plan_ids", [])
    }


def day(text: str) -> dt.date:
    assert ISO_DATE.match(text), text
    return dt.date.fromisoformat(text)


def check_record(rec: dict[str, Any], py: int) -> None:
    """Shape checks of one record against records.md (not against other modules)."""
    assert set(rec) == RECORD_KEYS
    assert isinstance(rec["bene_id"], str) and MBI.match(rec["bene_id"]), rec["bene_id"]
    birth = day(rec["birth_date"])
    assert dt.date(py - 110, 1, 1) < birth < dt.date(py - 17, 1, 1)
    if rec["death_date"] is not None:
        assert day(rec["death_date"]) > birth

    res = rec["residence"]
    assert set(res) == {"state", "county_fips", "us"}
    assert isinstance(res["us"], bool)
    assert res["state"] is None or re.match(r"^[A-Z]{2}$", res["state"])
    assert res["county_fips"] is None or re.match(r"^\d{5}$", res["county_fips"])

    first, last = f"{py - 3}-01", f"{py - 1}-12"
    months = [m["month"] for m in rec["months"]]
    assert months == sorted(set(months)), "months unique and in order"
    for m in rec["months"]:
        assert set(m) == MONTH_KEYS
        assert MONTH.match(m["month"]) and first <= m["month"] <= last
        assert m["buyin"] is None or m["buyin"] in BUYIN
        assert m["hmo"] is None or m["hmo"] in HMO
        assert m["dual"] is None or m["dual"] in DUAL
        assert m["msp"] is None or isinstance(m["msp"], bool)
        med = m["medicaid"]
        if med is not None:
            assert set(med) == {"state", "delivery", "plan_id"}
            assert med["delivery"] in {"FFS", "MCO"}
            assert (med["plan_id"] is not None) == (med["delivery"] == "MCO")
            assert re.match(r"^[A-Z]{2}$", med["state"])
        integ = m["integrated"]
        if integ is not None:
            assert set(integ) == {"type", "plan_id"}
            assert integ["type"] in INTEGRATED
            assert isinstance(integ["plan_id"], str) and integ["plan_id"]
            assert m["hmo"] not in ("0", "4"), "integrated care is a Medicare health plan"

    for v in rec["voluntary"]:
        assert set(v) == VOLUNTARY_KEYS
        day(v["date"])
        assert re.match(r"^\d{9}$", v["tin"]) and npi_is_valid(v["npi"])
        assert v["channel"] in {"medicare_gov", "paper"}

    seen: set[tuple[str, int]] = set()
    for c in rec["claims"]:
        assert set(c) == CLAIM_KEYS
        assert isinstance(c["claim_id"], str) and isinstance(c["line"], int) and c["line"] >= 1
        assert (c["claim_id"], c["line"]) not in seen
        seen.add((c["claim_id"], c["line"]))
        assert dt.date(py - 3, 1, 1) <= day(c["from_date"]) <= dt.date(py - 1, 12, 31)
        assert re.match(r"^\d{9}$", c["tin"])
        assert npi_is_valid(c["npi"])
        assert c["hcpcs"] in PC_HCPCS | OTHER_HCPCS
        assert c["provider_type"] is None or c["provider_type"] in PROVIDER_TYPES
        institutional = c["provider_type"] in ("FQHC", "RHC")
        if institutional:
            assert c["pos"] is None, "FQHC/RHC institutional lines have no place of service"
            assert c["specialty"] is None or c["specialty"] in PC_SPECIALTIES | OTHER_SPECIALTIES
        else:
            assert c["pos"] in POS
            assert c["specialty"] in PC_SPECIALTIES | OTHER_SPECIALTIES
            assert not c["hcpcs"].startswith("G046"), "FQHC visit codes only on FQHC lines"
        if c["hcpcs"] in NF_HCPCS and not institutional:
            assert c["pos"] in ("31", "32")
        assert isinstance(c["allowed"], float) and c["allowed"] != 0
        assert round(c["allowed"], 2) == c["allowed"]
        if c["hcpcs"] in PC_HCPCS and c["allowed"] > 0:
            assert 36 <= c["allowed"] <= 275, "fee-schedule amounts (re-billed claims within 10%)"
    # a negative line is an adjustment of a positive line of the same claim
    # (same date, TIN, NPI and code), and never makes a claim's code net below zero
    by_claim: dict[tuple[str, str], float] = {}
    for c in rec["claims"]:
        key = (c["claim_id"], c["hcpcs"])
        by_claim[key] = by_claim.get(key, 0.0) + c["allowed"]
    for c in rec["claims"]:
        if c["allowed"] < 0:
            originals = [
                o for o in rec["claims"]
                if o["claim_id"] == c["claim_id"] and o["allowed"] > 0
                and (o["from_date"], o["tin"], o["npi"], o["hcpcs"]) == (c["from_date"], c["tin"], c["npi"], c["hcpcs"])
            ]
            assert originals, c
    assert all(total > -0.005 for total in by_claim.values())
    json.dumps(rec)  # JSON-ready: no dates, decimals or other objects


def normalise(value: Any) -> Any:
    """Parquet values -> JSON values (dates to ISO strings, decimals to floats)."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


@pytest.fixture(scope="module")
def market() -> dict[str, Any]:
    return generate_market(11, PY)


@pytest.fixture(scope="module")
def population(market: dict[str, Any]) -> list[dict[str, Any]]:
    return list(generate_records(N_SHARES, 11, market, PY))


# ---------------------------------------------------------------------------
# market
# ---------------------------------------------------------------------------


def test_market_is_deterministic_and_depends_on_seed() -> None:
    assert generate_market(5) == generate_market(5)
    assert generate_market(5) != generate_market(6)
    assert generate_market(5, 2030)["performance_year"] == 2030


@pytest.mark.parametrize("seed", range(6))
def test_market_shape(seed: int) -> None:
    m: dict[str, Any] = generate_market(seed, PY)
    assert m["performance_year"] == PY
    acos = m["acos"]
    assert 5 <= len(acos) <= 8
    assert len({a["id"] for a in acos}) == len(acos)

    all_tins = [t for a in acos for t in a["participant_tins"]]
    assert len(all_tins) == len(set(all_tins)), "a TIN is in one ACO only"
    states: dict[str, str] = {}
    for a in acos:
        assert 3 <= len(a["participant_tins"]) <= 8
        assert all(isinstance(t, str) and re.match(r"^\d{9}$", t) for t in a["participant_tins"])
        counties = a["service_area_counties"]
        assert counties and all(isinstance(c, str) and re.match(r"^\d{5}$", c) for c in counties)
        aco_states = {STATE_FIPS.get(c[:2]) for c in counties}
        assert len(aco_states) == 1 and None not in aco_states
        states[a["id"]] = aco_states.pop()  # type: ignore[assignment]
        for p in a["medicaid_partners"]:
            assert p["state"] == states[a["id"]]
            assert p["kind"] in {"MCO", "SMA"}
            if p["kind"] == "MCO":
                assert p["plan_ids"] and all(re.match(rf"^{p['state']}-MCO-\d{{4}}$", x) for x in p["plan_ids"])
            else:
                assert "plan_ids" not in p
    assert set(states.values()) == {"NC", "NY"}

    kinds = Counter(p["kind"] for a in acos for p in a["medicaid_partners"])
    assert kinds["MCO"] >= 1 and kinds["SMA"] >= 1
    assert any(not a["medicaid_partners"] for a in acos)

    effective = [p["effective"] for a in acos for p in a["medicaid_partners"] if "effective" in p]
    assert len(effective) == 1
    start = day(effective[0]["from"])
    assert dt.date(PY, 1, 1) < start <= dt.date(PY, 12, 31), "starts during the performance year"

    overlaps = [
        (a["id"], b["id"])
        for i, a in enumerate(acos)
        for b in acos[i + 1 :]
        if set(a["service_area_counties"]) & set(b["service_area_counties"])
    ]
    assert overlaps


def test_market_survives_yaml() -> None:
    m = generate_market(3)
    assert yaml.safe_load(yaml.safe_dump(m, sort_keys=False)) == m


# ---------------------------------------------------------------------------
# records: determinism and shape
# ---------------------------------------------------------------------------


def test_records_are_deterministic(market: dict[str, Any]) -> None:
    a = list(generate_records(40, 7, market))
    b = list(generate_records(40, 7, market))
    assert a == b
    assert list(generate_records(40, 8, market)) != a


def test_record_i_does_not_depend_on_n(market: dict[str, Any]) -> None:
    short = list(generate_records(15, 7, market))
    long = list(generate_records(60, 7, market))
    assert len(short) == 15 and len(long) == 60
    assert long[:15] == short
    assert list(generate_records(0, 7, market)) == []


def test_record_shapes(population: list[dict[str, Any]]) -> None:
    for rec in population:
        check_record(rec, PY)
    ids = [r["bene_id"] for r in population]
    assert len(set(ids)) == len(ids)
    claim_ids = Counter((c["claim_id"], c["line"]) for r in population for c in r["claims"])
    assert max(claim_ids.values()) == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**40), py=st.integers(min_value=2026, max_value=2034))
def test_records_valid_for_any_seed_and_year(seed: int, py: int) -> None:
    m = generate_market(seed, py)
    for rec in generate_records(8, seed, m, py):
        check_record(rec, py)


# ---------------------------------------------------------------------------
# records: realistic shares and the deliberate tricky cases (n = 5000)
# ---------------------------------------------------------------------------


def share(population: list[dict[str, Any]], pred: Any) -> float:
    return sum(1 for r in population if pred(r)) / len(population)


def test_dual_shares(population: list[dict[str, Any]]) -> None:
    dual = share(population, lambda r: any(m["dual"] in FULL_DUAL | PARTIAL_DUAL for m in r["months"]))
    full = share(population, lambda r: any(m["dual"] in FULL_DUAL for m in r["months"]))
    partial_only = share(
        population,
        lambda r: (
            any(m["dual"] in PARTIAL_DUAL for m in r["months"]) and not any(m["dual"] in FULL_DUAL for m in r["months"])
        ),
    )
    assert 0.15 <= dual <= 0.25
    assert full > 0.6 * dual, "most duals are full-benefit"
    assert partial_only > 0.1 * dual
    # Medicaid enrollment goes with dual months, not with non-dual ones.
    for r in population:
        for m in r["months"]:
            if m["dual"] == "NA":
                assert m["medicaid"] is None


def test_medicare_plan_and_entitlement_shares(population: list[dict[str, Any]]) -> None:
    integrated = share(population, lambda r: any(m["integrated"] for m in r["months"]))
    ma = share(population, lambda r: any(m["hmo"] in MA_HMO and not m["integrated"] for m in r["months"]))
    part_only = share(population, lambda r: any(m["buyin"] in {"1", "2", "A", "B"} for m in r["months"]))
    msp = share(population, lambda r: any(m["msp"] for m in r["months"]))
    assert 0.015 <= integrated <= 0.05
    assert 0.05 <= ma <= 0.11
    assert 0.03 <= part_only <= 0.075
    assert 0.015 <= msp <= 0.05
    types = Counter(m["integrated"]["type"] for r in population for m in r["months"] if m["integrated"])
    assert len(types) >= 4


def test_deaths_moves_residence(population: list[dict[str, Any]], market: dict[str, Any]) -> None:
    deaths = [day(r["death_date"]) for r in population if r["death_date"]]
    assert 0.01 <= len(deaths) / len(population) <= 0.035
    assert any(d < dt.date(PY, 1, 1) for d in deaths) and any(d >= dt.date(PY, 1, 1) for d in deaths)
    for r in population:
        if r["death_date"] and r["months"]:
            assert r["months"][-1]["month"] <= r["death_date"][:7], "no Medicare months after death"
        for c in r["claims"]:
            assert r["death_date"] is None or c["from_date"] <= r["death_date"]

    non_us = share(population, lambda r: r["residence"]["us"] is False)
    assert 0.003 <= non_us <= 0.02
    elsewhere = share(population, lambda r: r["residence"]["state"] not in (None, "NC", "NY"))
    assert 0.008 <= elsewhere <= 0.04, "movers out of the market's states"
    assert any(len({m["medicaid"]["state"] for m in r["months"] if m["medicaid"]}) > 1 for r in population)
    assert any(r["residence"]["us"] and r["residence"]["county_fips"] is None for r in population)

    service = {c for a in market["acos"] for c in a["service_area_counties"]}
    counties = [r["residence"]["county_fips"] for r in population if r["residence"]["county_fips"]]
    in_area = sum(c in service for c in counties) / len(counties)
    assert 0.6 <= in_area < 1.0, "most live in a service area, some do not"


def test_voluntary_designations(population: list[dict[str, Any]], market: dict[str, Any]) -> None:
    tins = aco_tins(market)
    assert 0.025 <= share(population, lambda r: r["voluntary"]) <= 0.06
    switched = 0
    for r in population:
        if len(r["voluntary"]) == 2:
            early, late = sorted(r["voluntary"], key=lambda v: v["date"])
            if late["tin"] in tins and tins.get(early["tin"]) != tins[late["tin"]]:
                switched += 1
    assert switched >= 3, "some change their designation to another ACO"
    assert any(v["tin"] not in tins for r in population for v in r["voluntary"])


def test_claims_volume_and_mix(population: list[dict[str, Any]], market: dict[str, Any]) -> None:
    tins = aco_tins(market)
    no_claims = share(population, lambda r: not r["claims"])
    assert 0.03 <= no_claims <= 0.2
    lines = sorted(len(r["claims"]) for r in population if r["claims"])
    assert 12 <= lines[len(lines) // 2] <= 22

    claims = [c for r in population for c in r["claims"]]
    ay_start, ay_end = f"{PY - 3}-07-01", f"{PY - 1}-06-30"
    inside = sum(ay_start <= c["from_date"] <= ay_end for c in claims) / len(claims)
    assert 0.85 <= inside < 0.99, "mostly in the two alignment years, a few outside"
    pc = sum(c["hcpcs"] in PC_HCPCS for c in claims) / len(claims)
    assert 0.4 <= pc <= 0.85
    unaffiliated = sum(c["tin"] not in tins for c in claims) / len(claims)
    assert 0.1 <= unaffiliated <= 0.6
    specialties = Counter(c["specialty"] for c in claims)
    assert PC_SPECIALTIES & set(specialties) and OTHER_SPECIALTIES & set(specialties)

    # Claims from participants of more than one ACO for some beneficiaries.
    multi = share(population, lambda r: len({tins[c["tin"]] for c in r["claims"] if c["tin"] in tins}) >= 2)
    assert multi > 0.1


def test_places_of_service_provider_types_and_adjustments(population: list[dict[str, Any]]) -> None:
    claims = [c for r in population for c in r["claims"]]
    kinds = Counter(c["provider_type"] for c in claims)
    assert 0.6 <= kinds[None] / len(claims) <= 0.95, "most lines are Part B professional lines"
    assert kinds["FQHC"] and kinds["RHC"] and kinds["CAH2"]
    assert any(c["hcpcs"].startswith("G046") for c in claims), "FQHC visit codes G0466-G0468"
    assert any(c["provider_type"] == "RHC" and c["hcpcs"] in PC_HCPCS for c in claims), "RHC visit lines"
    pos = Counter(c["pos"] for c in claims if c["provider_type"] not in ("FQHC", "RHC"))
    assert pos["11"] / sum(pos.values()) > 0.6, "office visits dominate"
    nf = Counter(c["pos"] for c in claims if c["hcpcs"] in NF_HCPCS and c["provider_type"] is None)
    assert nf["31"] and nf["32"] > nf["31"], "nursing facility visits, some of them in a SNF (POS 31)"
    negative = [c for c in claims if c["allowed"] < 0]
    assert 0.005 <= len(negative) / len(claims) <= 0.06, "a few adjustment lines"
    nets: dict[str, float] = {}
    for c in claims:
        nets[c["claim_id"]] = nets.get(c["claim_id"], 0.0) + c["allowed"]
    reversed_claims = {c["claim_id"] for c in negative if abs(nets[c["claim_id"]]) < 0.005}
    adjusted_claims = {c["claim_id"] for c in negative} - reversed_claims
    assert reversed_claims and adjusted_claims, "both cancelled claims (net zero) and partial adjustments"


def test_medicaid_plans(population: list[dict[str, Any]], market: dict[str, Any]) -> None:
    plans = market_plan_ids(market)
    mco = [m["medicaid"]["plan_id"] for r in population for m in r["months"] if m["medicaid"]]
    mco = [p for p in mco if p is not None]
    assert mco
    matching = sum(p in plans for p in mco) / len(mco)
    assert 0.5 <= matching < 0.98, "mostly the market's plans, sometimes another plan"
    ffs = sum(1 for r in population for m in r["months"] if m["medicaid"] and m["medicaid"]["delivery"] == "FFS")
    assert ffs > 0


def test_tricky_cases_present(population: list[dict[str, Any]], market: dict[str, Any]) -> None:
    assert any(any(m[k] is None for k in ("buyin", "hmo", "dual", "msp")) for r in population for m in r["months"])
    assert any(not r["claims"] and r["months"] for r in population)
    assert any(0 < len(r["months"]) < 36 for r in population)

    tins = aco_tins(market)
    ties = 0
    for r in population:
        totals: Counter[str] = Counter()
        for c in r["claims"]:
            if c["tin"] in tins and c["hcpcs"] in PC_HCPCS:
                totals[tins[c["tin"]]] += round(c["allowed"] * 100)
        top = totals.most_common(2)
        if len(top) == 2 and top[0][1] == top[1][1] > 0:
            ties += 1
    assert ties >= 3, "some beneficiaries tie on primary-care allowed charges between two ACOs"


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------


def test_write_population_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small batches so that several conversion batches and row groups are exercised.
    monkeypatch.setattr(generate, "_CONVERT_BATCH", 70)
    monkeypatch.setattr(generate, "_ROW_GROUP", 150)
    n, seed = 400, 21
    paths = write_population(tmp_path / "out", n, seed)
    assert set(paths) == {"market", "jsonl", "parquet"}
    assert all(p.exists() and p.parent == tmp_path / "out" for p in paths.values())

    market = yaml.safe_load(paths["market"].read_text(encoding="utf-8"))
    assert market == generate_market(seed)

    with paths["jsonl"].open(encoding="utf-8") as fh:
        from_jsonl = [json.loads(line) for line in fh]
    assert from_jsonl == list(generate_records(n, seed, market))

    pf = pq.ParquetFile(paths["parquet"])
    assert pf.metadata.num_rows == n
    assert pf.metadata.num_row_groups >= 2
    schema = pf.schema_arrow
    assert schema.field("birth_date").type == pa.date32()
    assert schema.field("death_date").type == pa.date32()
    month_type = schema.field("months").type.value_type
    assert month_type.field("month").type == pa.string()
    claim_type = schema.field("claims").type.value_type
    assert claim_type.field("allowed").type == pa.decimal128(12, 2)
    assert claim_type.field("from_date").type == pa.date32()
    assert schema.field("voluntary").type.value_type.field("date").type == pa.date32()
    assert schema.field("residence").type.field("county_fips").type == pa.string()

    from_parquet = [normalise(row) for row in pq.read_table(paths["parquet"]).to_pylist()]
    assert from_parquet == from_jsonl


def test_write_population_formats(tmp_path: Path) -> None:
    paths = write_population(tmp_path, 5, 1, formats=("jsonl",))
    assert set(paths) == {"market", "jsonl"}
    assert not (tmp_path / "population.parquet").exists()
    assert len(paths["jsonl"].read_text(encoding="utf-8").splitlines()) == 5

    paths = write_population(tmp_path / "p", 0, 1, formats=("parquet",))
    assert set(paths) == {"market", "parquet"}
    assert pq.read_table(paths["parquet"]).num_rows == 0

    with pytest.raises(ValueError, match="csv"):
        write_population(tmp_path / "bad", 5, 1, formats=("csv",))
