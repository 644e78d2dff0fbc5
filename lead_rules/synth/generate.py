"""Deterministic synthetic populations for the LEAD alignment tool.

This module makes synthetic inputs -- a market file and a beneficiary
population in the fixed format of ``shared/spec/records.md`` -- for demos,
tests and benchmarks; it is not used when real extracts are aligned. Output
depends only on ``(seed, performance_year)`` and, for records, on the record
index (record ``i`` is the same whatever ``n`` is), with realistic shares of
dual eligibility, Medicare Advantage and integrated-care months, deaths,
moves, voluntary designations and Part B claim lines, plus a small share of
deliberately awkward cases (ties in allowed charges, null month fields, no
claims, unknown county).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import random
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

__all__ = [
    "PARQUET_SCHEMA",
    "generate_market",
    "generate_records",
    "write_population",
]

# ---------------------------------------------------------------------------
# Reference data (real codes)
# ---------------------------------------------------------------------------

#: USPS code by two-digit state FIPS code.
_STATE_BY_FIPS: dict[str, str] = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO",
    "09": "CT", "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI",
    "16": "ID", "17": "IL", "18": "IN", "19": "IA", "20": "KS", "21": "KY",
    "22": "LA", "23": "ME", "24": "MD", "25": "MA", "26": "MI", "27": "MN",
    "28": "MS", "29": "MO", "30": "MT", "31": "NE", "32": "NV", "33": "NH",
    "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND", "39": "OH",
    "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA",
    "54": "WV", "55": "WI", "56": "WY", "72": "PR",
}  # fmt: skip

#: Real county FIPS codes used for service areas and residences.
_COUNTIES: dict[str, tuple[str, ...]] = {
    # Alamance, Buncombe, Cabarrus, Chatham, Cumberland, Davidson, Durham,
    # Forsyth, Franklin, Gaston, Guilford, Iredell, Johnston, Mecklenburg,
    # New Hanover, Orange, Pitt, Rowan, Union, Wake
    "NC": (
        "37001", "37021", "37025", "37037", "37051", "37057", "37063",
        "37067", "37069", "37071", "37081", "37097", "37101", "37119",
        "37129", "37135", "37147", "37159", "37179", "37183",
    ),
    # Albany, Bronx, Erie, Kings, Monroe, Nassau, New York, Onondaga,
    # Orange, Queens, Rensselaer, Richmond, Rockland, Saratoga, Schenectady,
    # Suffolk, Westchester
    "NY": (
        "36001", "36005", "36029", "36047", "36055", "36059", "36061",
        "36067", "36071", "36081", "36083", "36085", "36087", "36091",
        "36093", "36103", "36119",
    ),
    # states that movers go to (no ACO of the synthetic market there)
    "FL": ("12011", "12086", "12095", "12099"),  # Broward, Miami-Dade, Orange, Palm Beach
    "SC": ("45019", "45045", "45079"),  # Charleston, Greenville, Richland
    "NJ": ("34003", "34013", "34017"),  # Bergen, Essex, Hudson
    "VA": ("51059", "51760"),  # Fairfax, Richmond city
    "PA": ("42003", "42101"),  # Allegheny, Philadelphia
}  # fmt: skip

_MOVE_STATES = ("FL", "SC", "NJ", "VA", "PA")

_ACO_NAMES: dict[str, tuple[str, ...]] = {
    "NC": (
        "Piedmont Care Partners", "Triangle Health Collaborative",
        "Blue Ridge Primary Care Network", "Coastal Carolina ACO",
        "Queen City Physicians Alliance", "Sandhills Community Care",
    ),
    "NY": (
        "Hudson Valley Care Alliance", "Empire Primary Care Partners",
        "Five Boroughs Health Network", "Finger Lakes Physician ACO",
        "Long Island Senior Care Partners", "Niagara Frontier Care Collaborative",
    ),
}  # fmt: skip

#: Partnership pattern per market state: (kind or None, effective mid-year).
_PARTNER_PATTERN: dict[str, tuple[tuple[str | None, bool], ...]] = {
    "NC": (("MCO", False), ("SMA", False), (None, False)),
    "NY": (("MCO", True), ("SMA", False), (None, False)),
}

#: Valid IRS EIN prefixes used for synthetic TINs.
_EIN_PREFIXES = ("13", "20", "26", "27", "45", "46", "56", "58", "61", "62", "81", "82", "83")

_PC_SPECIALTIES = ("01", "08", "11", "37", "38", "50", "89", "97")
_PC_SPECIALTY_WEIGHTS = (5, 30, 30, 2, 5, 15, 3, 10)
_OTHER_SPECIALTIES = ("06", "13", "29", "30")
_OTHER_SPECIALTY_WEIGHTS = (40, 20, 20, 20)

#: (low, high) allowed charge in dollars by HCPCS code.
_ALLOWED: dict[str, tuple[float, float]] = {
    "99202": (68.0, 80.0), "99203": (105.0, 120.0), "99204": (160.0, 180.0),
    "99205": (210.0, 235.0), "99211": (40.0, 48.0), "99212": (55.0, 62.0),
    "99213": (88.0, 98.0), "99214": (125.0, 138.0), "99215": (175.0, 195.0),
    "G0438": (165.0, 180.0), "G0439": (125.0, 135.0), "99495": (195.0, 210.0),
    "99496": (235.0, 250.0), "99490": (58.0, 66.0),
    "99341": (60.0, 70.0), "99342": (95.0, 110.0), "99344": (165.0, 180.0),
    "99345": (215.0, 235.0), "99347": (60.0, 70.0), "99348": (95.0, 105.0),
    "99349": (140.0, 155.0), "99350": (195.0, 215.0),
    "71046": (28.0, 36.0), "80053": (10.0, 12.0), "93000": (15.0, 18.0),
    "20610": (50.0, 62.0), "36415": (3.0, 3.5),
}  # fmt: skip

_PC_EM = (
    ("99213", 30.0), ("99214", 28.0), ("99212", 6.0), ("99215", 6.0),
    ("99203", 3.0), ("99204", 3.0), ("99202", 1.0), ("99205", 1.0),
    ("99211", 2.0), ("G0438", 2.0), ("G0439", 6.0), ("99495", 1.5),
    ("99496", 1.0), ("99490", 4.0), ("99341", 0.5), ("99342", 0.5),
    ("99344", 0.5), ("99345", 0.5), ("99347", 0.5), ("99348", 0.5),
    ("99349", 0.5), ("99350", 0.5),
)  # fmt: skip
_SPECIALIST_EM = (("99213", 3.0), ("99214", 4.0), ("99204", 2.0), ("99203", 1.0), ("99215", 1.0))
_NON_PC = (("36415", 5.0), ("80053", 3.0), ("93000", 3.0), ("20610", 2.0), ("71046", 1.0))
_EXTRA_LINE = (("36415", 5.0), ("80053", 3.0), ("93000", 2.0))

_FULL_DUAL = (("02", 55.0), ("08", 35.0), ("04", 10.0))
_PARTIAL_DUAL = (("01", 50.0), ("03", 30.0), ("06", 15.0), ("05", 5.0))
_MA_HMO = (("C", 70.0), ("A", 10.0), ("1", 8.0), ("2", 6.0), ("B", 6.0))
_INTEGRATED = (
    ("D-SNP", 40.0), ("HIDE-SNP", 15.0), ("FIDE-SNP", 15.0),
    ("AIP", 10.0), ("MMP", 8.0), ("PACE", 12.0),
)  # fmt: skip

#: MBI character classes (CMS MBI format: C A AN N A AN N A A N N).
_MBI_ALPHA = "ACDEFGHJKMNPQRTUVWXY"
_MBI_ALNUM = "0123456789" + _MBI_ALPHA
_MBI_POSITIONS = (
    "123456789", _MBI_ALPHA, _MBI_ALNUM, "0123456789", _MBI_ALPHA, _MBI_ALNUM,
    "0123456789", _MBI_ALPHA, _MBI_ALPHA, "0123456789", "0123456789",
)  # fmt: skip
_MBI_SPACE = 1
for _chars in _MBI_POSITIONS:
    _MBI_SPACE *= len(_chars)
_MBI_MULTIPLIER = 982_451_653  # prime, so coprime with the MBI space (2, 3, 5 only)

_N_MONTHS = 36

# ---------------------------------------------------------------------------
# Parquet schema
# ---------------------------------------------------------------------------


def _schema(date_type: Any, money_type: Any) -> Any:
    medicaid = pa.struct([("state", pa.string()), ("delivery", pa.string()), ("plan_id", pa.string())])
    integrated = pa.struct([("type", pa.string()), ("plan_id", pa.string())])
    month = pa.struct(
        [
            ("month", pa.string()),
            ("buyin", pa.string()),
            ("hmo", pa.string()),
            ("dual", pa.string()),
            ("msp", pa.bool_()),
            ("medicaid", medicaid),
            ("integrated", integrated),
        ]
    )
    voluntary = pa.struct([("date", date_type), ("tin", pa.string()), ("npi", pa.string()), ("channel", pa.string())])
    claim = pa.struct(
        [
            ("claim_id", pa.string()),
            ("line", pa.int32()),
            ("from_date", date_type),
            ("tin", pa.string()),
            ("npi", pa.string()),
            ("hcpcs", pa.string()),
            ("specialty", pa.string()),
            ("allowed", money_type),
        ]
    )
    return pa.schema(
        [
            ("bene_id", pa.string()),
            ("birth_date", date_type),
            ("death_date", date_type),
            ("residence", pa.struct([("state", pa.string()), ("county_fips", pa.string()), ("us", pa.bool_())])),
            ("months", pa.list_(month)),
            ("voluntary", pa.list_(voluntary)),
            ("claims", pa.list_(claim)),
        ]
    )


#: Parquet schema of a population (records.md): dates ``date32``, months
#: ``"YYYY-MM"`` strings, ``allowed`` ``decimal128(12, 2)``, nested lists of structs.
PARQUET_SCHEMA: Any = _schema(pa.date32(), pa.decimal128(12, 2))
# The JSON-ready records convert to this type first (ISO strings, floats), then cast.
_JSON_STRUCT: Any = pa.struct(list(_schema(pa.string(), pa.float64())))
_PARQUET_STRUCT: Any = pa.struct(list(PARQUET_SCHEMA))

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Weighted:
    items: tuple[str, ...]
    cum: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, float]]) -> _Weighted:
        items: list[str] = []
        cum: list[float] = []
        total = 0.0
        for item, weight in pairs:
            total += weight
            items.append(item)
            cum.append(total)
        scaled = [c / total for c in cum]
        scaled[-1] = 1.0  # r() < 1.0, so bisect never runs past the last item
        return cls(tuple(items), tuple(scaled))

    def pick(self, r: Callable[[], float]) -> str:
        return self.items[bisect(self.cum, r())]


_W_PC_EM = _Weighted.of(_PC_EM)
_W_SPEC_EM = _Weighted.of(_SPECIALIST_EM)
_W_NON_PC = _Weighted.of(_NON_PC)
_W_EXTRA = _Weighted.of(_EXTRA_LINE)
_W_FULL = _Weighted.of(_FULL_DUAL)
_W_PARTIAL = _Weighted.of(_PARTIAL_DUAL)
_W_MA = _Weighted.of(_MA_HMO)
_W_INTEGRATED = _Weighted.of(_INTEGRATED)
_W_PC_SPEC = _Weighted.of(list(zip(_PC_SPECIALTIES, map(float, _PC_SPECIALTY_WEIGHTS), strict=True)))
_W_OTHER_SPEC = _Weighted.of(list(zip(_OTHER_SPECIALTIES, map(float, _OTHER_SPECIALTY_WEIGHTS), strict=True)))


def _digits(rng: random.Random, k: int) -> str:
    return str(rng.randrange(10**k)).zfill(k)


def _new_tin(rng: random.Random, taken: set[str]) -> str:
    while True:
        tin = rng.choice(_EIN_PREFIXES) + _digits(rng, 7)
        if tin not in taken:
            taken.add(tin)
            return tin


def _npi(rng: random.Random, taken: set[str]) -> str:
    """A 10-digit NPI with a valid Luhn check digit (prefix 80840)."""
    while True:
        base = rng.choice("12") + _digits(rng, 8)
        total = 0
        for pos, ch in enumerate(reversed("80840" + base)):
            d = int(ch)
            if pos % 2 == 0:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        npi = base + str((10 - total % 10) % 10)
        if npi not in taken:
            taken.add(npi)
            return npi


def _mbi(index: int, offset: int) -> str:
    """An MBI-shaped identifier, a bijection of the record index (unique)."""
    x = (index * _MBI_MULTIPLIER + offset) % _MBI_SPACE
    out: list[str] = []
    for chars in reversed(_MBI_POSITIONS):
        x, digit = divmod(x, len(chars))
        out.append(chars[digit])
    return "".join(reversed(out))


def _plan_id(state: str, rng: random.Random) -> str:
    return f"{state}-MCO-{rng.randrange(1, 10_000):04d}"


def _ma_plan_id(rng: random.Random) -> str:
    return f"H{rng.randrange(1000, 10_000)}-{rng.randrange(1, 1000):03d}"


# ---------------------------------------------------------------------------
# Market
# ---------------------------------------------------------------------------


def generate_market(seed: int, performance_year: int = 2028) -> dict[str, object]:
    """Return a synthetic market (records.md market format) for ``seed``.

    Six ACOs, three in NC and three in NY, each with 3-8 participant TINs
    (unique 9-digit strings) and a service area of real county FIPS codes of
    its state; the second ACO of each state shares counties with the first.
    In each state one ACO partners an MCO (``plan_ids`` like
    ``"NC-MCO-0042"``), one the state Medicaid agency (``SMA``) and one has no
    partner; the NY MCO partnership takes effect on 1 July of the performance
    year. Dates are ISO strings. The result is deterministic for
    ``(seed, performance_year)`` and can be dumped with ``yaml.safe_dump``.
    """
    rng = random.Random(f"market:{seed}:{performance_year}")
    taken_tins: set[str] = set()
    acos: list[dict[str, object]] = []
    first_id = rng.randrange(1, 9000)
    for state in ("NC", "NY"):
        names = rng.sample(_ACO_NAMES[state], 3)
        pattern = list(_PARTNER_PATTERN[state])
        rng.shuffle(pattern)
        previous: list[str] = []
        for k, (kind, mid_year) in enumerate(pattern):
            counties = set(rng.sample(_COUNTIES[state], rng.randint(3, 6)))
            if k == 1 or (previous and rng.random() < 0.5):
                counties.update(rng.sample(previous, min(len(previous), rng.randint(1, 2))))
            partners: list[dict[str, object]] = []
            if kind == "MCO":
                plans = sorted({_plan_id(state, rng) for _ in range(rng.randint(1, 2))})
                partner: dict[str, object] = {"state": state, "kind": "MCO", "plan_ids": plans}
                if mid_year:
                    partner["effective"] = {"from": dt.date(performance_year, 7, 1).isoformat()}
                partners.append(partner)
            elif kind == "SMA":
                partners.append({"state": state, "kind": "SMA"})
            acos.append(
                {
                    "id": f"LEAD-{first_id + len(acos):04d}",
                    "name": names[k],
                    "participant_tins": [_new_tin(rng, taken_tins) for _ in range(rng.randint(3, 8))],
                    "service_area_counties": sorted(counties),
                    "medicaid_partners": partners,
                }
            )
            previous = sorted(counties)
    return {"performance_year": performance_year, "acos": acos}


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Aco:
    id: str
    state: str | None
    tins: tuple[str, ...]
    counties: frozenset[str]


@dataclass(frozen=True)
class _Context:
    py: int
    mbi_offset: int
    month_labels: tuple[str, ...]
    first_ord: int  # first day of the months window
    ay_start: int  # first day of alignment year 1
    ay_mid: int  # first day of alignment year 2
    ay_end: int  # last day of alignment year 2
    last_ord: int  # last day of the months window
    month_of_day: tuple[int, ...]  # month index of each day of the months window
    iso_base: int  # ordinal of iso_days[0]
    iso_days: tuple[str, ...]  # ISO strings of the days around the window
    states: tuple[str, ...]
    acos: tuple[_Aco, ...]
    acos_by_state: dict[str, tuple[_Aco, ...]]
    acos_by_county: dict[str, tuple[_Aco, ...]]
    service_counties: dict[str, tuple[str, ...]]
    other_counties: dict[str, tuple[str, ...]]
    providers: dict[str, tuple[tuple[str, str], ...]]  # tin -> (npi, specialty)
    pc_providers: dict[str, tuple[tuple[str, str], ...]]
    unaffiliated: dict[str, tuple[str, ...]]  # state ("*" = out of market) -> TINs
    partner_plans: dict[str, tuple[str, ...]]
    other_plans: dict[str, tuple[str, ...]]


def _aco_state(aco: dict[str, Any]) -> str | None:
    votes: dict[str, int] = {}
    for county in aco.get("service_area_counties") or ():
        state = _STATE_BY_FIPS.get(str(county)[:2])
        if state:
            votes[state] = votes.get(state, 0) + 1
    if votes:
        return max(sorted(votes), key=lambda s: votes[s])
    for partner in aco.get("medicaid_partners") or ():
        if partner.get("state"):
            return str(partner["state"])
    return None


def _context(seed: int, market: dict[str, Any], py: int) -> _Context:
    rng = random.Random(f"context:{seed}:{py}")
    acos: list[_Aco] = []
    partner_plans: dict[str, set[str]] = {}
    for raw in market.get("acos") or ():
        acos.append(
            _Aco(
                id=str(raw.get("id")),
                state=_aco_state(raw),
                tins=tuple(str(t) for t in raw.get("participant_tins") or ()),
                counties=frozenset(str(c) for c in raw.get("service_area_counties") or ()),
            )
        )
        for partner in raw.get("medicaid_partners") or ():
            if partner.get("kind") == "MCO" and partner.get("state"):
                partner_plans.setdefault(str(partner["state"]), set()).update(
                    str(p) for p in partner.get("plan_ids") or ()
                )
    states = tuple(sorted({a.state for a in acos if a.state})) or ("NC",)
    acos_by_state = {s: tuple(a for a in acos if a.state == s) for s in states}
    acos_by_county: dict[str, list[_Aco]] = {}
    for aco in acos:
        for county in sorted(aco.counties):
            acos_by_county.setdefault(county, []).append(aco)
    service = {s: tuple(sorted({c for a in acos_by_state[s] for c in a.counties})) for s in states}
    other = {s: tuple(c for c in _COUNTIES.get(s, ()) if c not in service.get(s, ())) for s in (*states, *_MOVE_STATES)}

    taken_tins = {t for a in acos for t in a.tins}
    taken_npis: set[str] = set()
    unaffiliated = {s: tuple(_new_tin(rng, taken_tins) for _ in range(4)) for s in states}
    unaffiliated["*"] = tuple(_new_tin(rng, taken_tins) for _ in range(3))

    providers: dict[str, tuple[tuple[str, str], ...]] = {}
    pc_providers: dict[str, tuple[tuple[str, str], ...]] = {}
    all_tins = [t for a in acos for t in a.tins] + [t for s in sorted(unaffiliated) for t in unaffiliated[s]]
    for tin in all_tins:
        if tin in providers:
            continue
        primary_care_group = rng.random() < 0.75
        staff: list[tuple[str, str]] = []
        for _ in range(rng.randint(3, 10)):
            if primary_care_group or rng.random() < 0.15:
                spec = _W_PC_SPEC.pick(rng.random)
            else:
                spec = _W_OTHER_SPEC.pick(rng.random)
            staff.append((_npi(rng, taken_npis), spec))
        providers[tin] = tuple(staff)
        pc_providers[tin] = tuple(p for p in staff if p[1] in _PC_SPECIALTIES) or tuple(staff)

    other_plans: dict[str, tuple[str, ...]] = {}
    for state in (*states, *_MOVE_STATES):
        known = partner_plans.get(state, set())
        extra: set[str] = set()
        while len(extra) < 3:
            plan = _plan_id(state, rng)
            if plan not in known:
                extra.add(plan)
        other_plans[state] = tuple(sorted(extra))

    y0 = py - 3
    first_ord = dt.date(y0, 1, 1).toordinal()
    last_ord = dt.date(y0 + 2, 12, 31).toordinal()
    iso_base = dt.date(y0 - 1, 1, 1).toordinal()
    iso_end = dt.date(py, 12, 31).toordinal()
    return _Context(
        py=py,
        mbi_offset=random.Random(f"mbi:{seed}").randrange(_MBI_SPACE),
        month_labels=tuple(f"{y0 + k // 12:04d}-{k % 12 + 1:02d}" for k in range(_N_MONTHS)),
        first_ord=first_ord,
        ay_start=dt.date(y0, 7, 1).toordinal(),
        ay_mid=dt.date(y0 + 1, 7, 1).toordinal(),
        ay_end=dt.date(y0 + 2, 6, 30).toordinal(),
        last_ord=last_ord,
        month_of_day=tuple(
            (d.year - y0) * 12 + d.month - 1 for d in map(dt.date.fromordinal, range(first_ord, last_ord + 1))
        ),
        iso_base=iso_base,
        iso_days=tuple(dt.date.fromordinal(o).isoformat() for o in range(iso_base, iso_end + 1)),
        states=states,
        acos=tuple(acos),
        acos_by_state=acos_by_state,
        acos_by_county={c: tuple(v) for c, v in acos_by_county.items()},
        service_counties=service,
        other_counties=other,
        providers=providers,
        pc_providers=pc_providers,
        unaffiliated=unaffiliated,
        partner_plans={s: tuple(sorted(p)) for s, p in partner_plans.items()},
        other_plans=other_plans,
    )


def _month_index(ctx: _Context, ordinal: int) -> int:
    return ctx.month_of_day[ordinal - ctx.first_ord]


def _stretch(rng: random.Random, lo: int, hi: int, min_len: int = 1) -> tuple[int, int]:
    """A random [start, end) run of months inside [lo, hi)."""
    if hi - lo <= min_len:
        return lo, hi
    start = rng.randrange(lo, hi - min_len + 1)
    return start, rng.randint(start + min_len, hi)


def _make_record(ctx: _Context, seed: int, index: int) -> dict[str, object]:
    rng = random.Random(f"{seed}:{index}")
    r = rng.random
    py = ctx.py
    bene_id = _mbi(index, ctx.mbi_offset)

    # Scenario flags, always drawn in the same order.
    is_tie = r() < 0.006
    dual = r() < 0.20
    full = dual and r() < 0.75
    integrated = dual and r() < 0.15
    ma = r() < 0.08
    died = r() < 0.02
    mover = r() < 0.03
    non_us = r() < 0.01
    part_only = r() < 0.05
    msp = r() < 0.03
    voluntary = r() < 0.04
    null_fields = r() < 0.006
    gap = r() < 0.01
    null_county = r() < 0.005
    no_claims = r() < 0.07
    demo_hmo = r() < 0.005
    if integrated and r() < 0.9:
        full = True
    if is_tie:
        ma = integrated = died = part_only = msp = mover = no_claims = gap = False

    # Birth date; aged beneficiaries join Medicare in the month they turn 65.
    disabled = r() < 0.12
    age = rng.randint(25, 64) if disabled else 65 + int(rng.triangular(0, 34, 3))
    birth = dt.date.fromordinal(dt.date(py - age - 1, 1, 1).toordinal() + rng.randint(1, 365))
    start = 0
    if not disabled:
        start = min(max(0, (birth.year + 65 - (py - 3)) * 12 + birth.month - 1), _N_MONTHS - 1)
    end = _N_MONTHS

    death: dt.date | None = None
    if died:
        when = r()
        if when < 0.1:  # before the months window: no Medicare data at all
            death = dt.date.fromordinal(ctx.first_ord - rng.randint(1, 365))
        elif when < 0.55:  # during the months window
            death = dt.date.fromordinal(rng.randint(max(ctx.first_ord, birth.toordinal() + 1), ctx.last_ord))
        else:  # during the performance year
            death = dt.date.fromordinal(dt.date(py, 1, 1).toordinal() + rng.randrange(365))
        if death.toordinal() <= ctx.last_ord:
            end = max(0, _month_index(ctx, death.toordinal()) + 1) if death.toordinal() >= ctx.first_ord else 0
    death_ord = death.toordinal() if death else ctx.last_ord + 366

    # Residence.
    home_state = ctx.states[rng.randrange(len(ctx.states))]
    pool = ctx.service_counties.get(home_state) or ctx.other_counties.get(home_state) or ("",)
    if r() < 0.15 and ctx.other_counties.get(home_state):
        pool = ctx.other_counties[home_state]
    home_county = pool[rng.randrange(len(pool))] or None
    res_state: str | None = home_state
    res_county = home_county
    move_at = _N_MONTHS
    if mover:
        move_at = rng.randint(6, _N_MONTHS - 3)
        other_states = [s for s in ctx.states if s != home_state]
        res_state = other_states[0] if other_states and r() < 0.4 else _MOVE_STATES[rng.randrange(len(_MOVE_STATES))]
        pool = ctx.service_counties.get(res_state) or ctx.other_counties.get(res_state) or ("",)
        res_county = pool[rng.randrange(len(pool))] or None
    us = True
    if non_us:
        res_state, res_county, us = None, None, False
    if null_county:
        res_county = None

    # Monthly arrays.
    present = [start <= k < end for k in range(_N_MONTHS)]
    if gap and end - start > 6:
        g0 = rng.randrange(start + 1, end - 4)
        for k in range(g0, g0 + rng.randint(1, 3)):
            present[k] = False
    buyin: list[str | None] = ["3"] * _N_MONTHS
    hmo: list[str | None] = ["4" if demo_hmo else "0"] * _N_MONTHS
    dual_cd: list[str | None] = ["NA"] * _N_MONTHS
    msp_a: list[bool | None] = [False] * _N_MONTHS
    medicaid: list[dict[str, object] | None] = [None] * _N_MONTHS
    integ: list[dict[str, object] | None] = [None] * _N_MONTHS

    if dual:
        d0 = 0 if r() < 0.85 else rng.randint(1, 30)
        code = _W_FULL.pick(r) if full else _W_PARTIAL.pick(r)
        partial_until, early_code = d0, code
        if full and r() < 0.1:  # partial-benefit first, full-benefit later
            partial_until, early_code = rng.randint(d0 + 1, _N_MONTHS - 1), _W_PARTIAL.pick(r)
        delivery, plan = "FFS", None
        plans_here = ctx.partner_plans.get(home_state, ())
        other_here = ctx.other_plans.get(home_state, ())
        if full and r() < 0.55:
            delivery = "MCO"
            pick_from = plans_here if plans_here and r() < 0.8 else other_here
            plan = pick_from[rng.randrange(len(pick_from))] if pick_from else _plan_id(home_state, rng)
        plan_change, new_plan = _N_MONTHS, plan
        if delivery == "MCO" and r() < 0.1:  # changes MCO during the window
            choices = [p for p in (*plans_here, *other_here) if p != plan]
            if choices:
                plan_change = rng.randint(d0 + 1, _N_MONTHS - 1)
                new_plan = choices[rng.randrange(len(choices))]
        for k in range(d0, _N_MONTHS):
            buyin[k] = "C"
            enrolment: dict[str, object]
            if k >= move_at and res_state != home_state:
                dual_cd[k] = code
                enrolment = {"state": res_state or home_state, "delivery": "FFS", "plan_id": None}
            elif k < partial_until:
                dual_cd[k] = early_code
                enrolment = {"state": home_state, "delivery": "FFS", "plan_id": None}
            else:
                dual_cd[k] = code
                current = plan if k < plan_change else new_plan
                enrolment = {"state": home_state, "delivery": delivery, "plan_id": current}
            medicaid[k] = enrolment

    if integrated:
        kind = _W_INTEGRATED.pick(r)
        i0, i1 = (0, _N_MONTHS) if r() < 0.5 else _stretch(rng, 0, _N_MONTHS, 3)
        if kind == "MMP":  # MMPs ended with 2025: months of the first year only
            i0, i1 = (0, 12) if r() < 0.5 else _stretch(rng, 0, 12, 3)
        obj_plan = _ma_plan_id(rng)
        for k in range(i0, i1):
            hmo[k] = "C"
            integ[k] = {"type": kind, "plan_id": obj_plan}
    if ma:
        m0, m1 = (0, _N_MONTHS) if r() < 0.3 else _stretch(rng, 0, _N_MONTHS, 3)
        code = _W_MA.pick(r)
        for k in range(m0, m1):
            hmo[k] = code
    if part_only:
        p0, p1 = (0, _N_MONTHS) if r() < 0.2 else _stretch(rng, 0, _N_MONTHS, 2)
        a_only = r() < 0.6
        for k in range(p0, p1):
            state_buyin = buyin[k] in ("A", "B", "C")
            buyin[k] = ("A" if state_buyin else "1") if a_only else ("B" if state_buyin else "2")
    if msp:
        s0, s1 = _stretch(rng, 0, _N_MONTHS, 2)
        for k in range(s0, s1):
            msp_a[k] = True
    if null_fields:
        for _ in range(rng.randint(1, 2)):
            k = rng.randrange(_N_MONTHS)
            which = rng.randrange(5)
            if which == 0:
                buyin[k] = None
            elif which == 1:
                hmo[k] = None
            elif which == 2:
                dual_cd[k] = None
            elif which == 3:
                msp_a[k] = None
            else:
                dual_cd[k] = "99"

    labels = ctx.month_labels
    months = [
        {
            "month": labels[k],
            "buyin": buyin[k],
            "hmo": hmo[k],
            "dual": dual_cd[k],
            "msp": msp_a[k],
            "medicaid": medicaid[k],
            "integrated": integ[k],
        }
        for k in range(_N_MONTHS)
        if present[k]
    ]
    # Part B claims exist for months in Original Medicare with Part B.
    billable = [
        present[k] and hmo[k] in ("0", "4", None) and buyin[k] in ("2", "3", "B", "C", None) for k in range(_N_MONTHS)
    ]

    # Providers: a main ACO (by county), sometimes a second ACO, unaffiliated TINs.
    local_acos = ctx.acos_by_county.get(home_county or "", ()) or ctx.acos_by_state.get(home_state, ())
    main = local_acos[rng.randrange(len(local_acos))] if local_acos else None
    others = [a for a in ctx.acos if a is not main and a.tins]
    same_state = [a for a in others if a.state == home_state]
    second: _Aco | None = None
    if others and (is_tie or r() < 0.3):
        pool_acos = same_state if same_state and r() < 0.8 else others
        second = pool_acos[rng.randrange(len(pool_acos))]
    unaff_pool = ctx.unaffiliated.get(home_state) or ctx.unaffiliated["*"]
    panel: list[tuple[str, float]] = []
    unaffiliated_weight = 0.8 if r() < 0.15 else 0.2
    if main and main.tins:
        chosen = rng.sample(main.tins, min(len(main.tins), 1 if r() < 0.7 else 2))
        for tin in chosen:
            panel.append((tin, (0.75 - unaffiliated_weight * 0.75) / len(chosen)))
    if second:
        panel.append((second.tins[rng.randrange(len(second.tins))], 0.15))
    unaffiliated_tins = rng.sample(unaff_pool, min(len(unaff_pool), rng.randint(1, 2)))
    for tin in unaffiliated_tins:
        panel.append((tin, unaffiliated_weight / len(unaffiliated_tins)))
    w_panel = _Weighted.of(panel)
    usual = {tin: ctx.providers[tin][rng.randrange(len(ctx.providers[tin]))] for tin, _ in panel}
    moved_pool = ctx.unaffiliated.get(res_state or "", ()) or ctx.unaffiliated["*"]

    rows: list[tuple[str, str, int, str, str, str, str, float]] = []
    iso_days, iso_base = ctx.iso_days, ctx.iso_base
    claim_no = 0

    def add_claim(ordinal: int, tin: str, npi: str, spec: str, codes: Sequence[tuple[str, float]]) -> None:
        nonlocal claim_no
        claim_no += 1
        claim_id = f"{bene_id}-{claim_no:03d}"
        from_date = iso_days[ordinal - iso_base]
        for line, (hcpcs, allowed) in enumerate(codes, start=1):
            rows.append((from_date, claim_id, line, tin, npi, hcpcs, spec, allowed))

    def price(hcpcs: str) -> float:
        lo, hi = _ALLOWED[hcpcs]
        return round(lo + (hi - lo) * r(), 2)

    if is_tie and main and main.tins and second:
        # Equal primary-care allowed charges at two ACOs, within one alignment year.
        tin_a = main.tins[rng.randrange(len(main.tins))]
        tin_b = second.tins[rng.randrange(len(second.tins))]
        prov_a = ctx.pc_providers[tin_a][rng.randrange(len(ctx.pc_providers[tin_a]))]
        prov_b = ctx.pc_providers[tin_b][rng.randrange(len(ctx.pc_providers[tin_b]))]
        lo, hi = (ctx.ay_start, ctx.ay_mid - 1) if r() < 0.5 else (ctx.ay_mid, ctx.ay_end)
        same_day = r() < 0.5
        for _ in range(rng.randint(1, 3)):
            hcpcs = _W_PC_EM.pick(r)
            amount = price(hcpcs)
            day_a = rng.randint(lo, hi)
            day_b = day_a if same_day else rng.randint(lo, hi)
            add_claim(day_a, tin_a, prov_a[0], prov_a[1], [(hcpcs, amount)])
            add_claim(day_b, tin_b, prov_b[0], prov_b[1], [(hcpcs, amount)])
        for _ in range(rng.randint(0, 2)):
            tin = unaff_pool[rng.randrange(len(unaff_pool))]
            npi, spec = ctx.providers[tin][0]
            add_claim(rng.randint(ctx.ay_start, ctx.ay_end), tin, npi, spec, [("36415", price("36415"))])
    elif not no_claims:
        visits = 17 + int(r() * 11) if r() < 0.12 else 9 + int(r() * 7)
        ay_start, ay_days = ctx.ay_start, ctx.ay_end - ctx.ay_start + 1
        month_of_day, first_ord = ctx.month_of_day, ctx.first_ord
        providers = ctx.providers
        pick_tin, pick_pc, pick_non_pc = w_panel.pick, _W_PC_EM.pick, _W_NON_PC.pick
        for _ in range(visits):
            if r() < 0.92:
                ordinal = ay_start + int(r() * ay_days)
            elif r() < 0.5:
                ordinal = first_ord + int(r() * (ay_start - first_ord))
            else:
                ordinal = ctx.ay_end + 1 + int(r() * (ctx.last_ord - ctx.ay_end))
            k = month_of_day[ordinal - first_ord]
            if ordinal > death_ord or not billable[k]:
                continue
            if k >= move_at:
                tin = moved_pool[int(r() * len(moved_pool))]
                staff = providers[tin]
                npi, spec = staff[int(r() * len(staff))]
            else:
                tin = pick_tin(r)
                if r() < 0.8:
                    npi, spec = usual[tin]
                else:
                    staff = providers[tin]
                    npi, spec = staff[int(r() * len(staff))]
            if spec in _PC_SPECIALTIES:
                first = pick_pc(r) if r() < 0.85 else pick_non_pc(r)
            elif spec == "30":
                first = "71046"
            else:
                first = _W_SPEC_EM.pick(r) if r() < 0.5 else pick_non_pc(r)
            codes = [(first, price(first))]
            if spec != "30" and r() < 0.25:
                extra = _W_EXTRA.pick(r)
                codes.append((extra, price(extra)))
                if r() < 0.2:
                    extra = _W_EXTRA.pick(r)
                    codes.append((extra, price(extra)))
            add_claim(ordinal, tin, npi, spec, codes)
    rows.sort()
    claims = [
        {
            "claim_id": c[1],
            "line": c[2],
            "from_date": c[0],
            "tin": c[3],
            "npi": c[4],
            "hcpcs": c[5],
            "specialty": c[6],
            "allowed": c[7],
        }
        for c in rows
    ]

    # Voluntary designations.
    designations: list[dict[str, object]] = []
    vol_end = min(dt.date(py, 6, 30).toordinal() if r() < 0.1 else ctx.last_ord, death_ord)
    if voluntary and ctx.acos and vol_end - ctx.first_ord > 30:
        count = 2 if r() < 0.25 else 1
        targets: list[str] = []
        first_aco = main or ctx.acos[rng.randrange(len(ctx.acos))]
        if r() < 0.1 or not first_aco.tins:
            targets.append(unaff_pool[rng.randrange(len(unaff_pool))])
        else:
            targets.append(first_aco.tins[rng.randrange(len(first_aco.tins))])
        if count == 2:
            later = [a for a in ctx.acos if a is not first_aco and a.tins]
            if later:
                aco = later[rng.randrange(len(later))]
                targets.append(aco.tins[rng.randrange(len(aco.tins))])
        days = sorted(rng.sample(range(ctx.first_ord, vol_end + 1), len(targets)))
        for day, tin in zip(days, targets, strict=True):
            npi = ctx.providers[tin][rng.randrange(len(ctx.providers[tin]))][0]
            channel = "medicare_gov" if r() < 0.6 else "paper"
            designations.append(
                {"date": dt.date.fromordinal(day).isoformat(), "tin": tin, "npi": npi, "channel": channel}
            )
        if len(designations) > 1 and r() < 0.5:
            designations.reverse()  # list order is not date order

    return {
        "bene_id": bene_id,
        "birth_date": birth.isoformat(),
        "death_date": death.isoformat() if death else None,
        "residence": {"state": res_state, "county_fips": res_county, "us": us},
        "months": months,
        "voluntary": designations,
        "claims": claims,
    }


def generate_records(
    n: int, seed: int, market: dict[str, Any], performance_year: int = 2028
) -> Iterator[dict[str, object]]:
    """Yield ``n`` synthetic beneficiary records (records.md), JSON-ready.

    Dates are ISO strings, months ``"YYYY-MM"``, ``allowed`` a float with two
    decimals. Record ``i`` depends only on ``(seed, i, market,
    performance_year)`` (it has its own ``random.Random(f"{seed}:{i}")``), so
    the first ``k`` records are the same whatever ``n`` is, and ``bene_id``
    values are unique. Each record has 36 months, January of
    ``performance_year - 3`` to December of ``performance_year - 1`` (fewer
    after a death, before enrolment at 65, or in a data gap), and Part B claim
    lines mostly in the two alignment years (July ``performance_year - 3`` to
    June ``performance_year - 1``) at participant TINs of one or two ACOs of
    ``market`` and at a few unaffiliated TINs (derived from ``seed``, in no
    ACO). Any market in the records.md format can be used.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    ctx = _context(seed, market, performance_year)
    for index in range(n):
        yield _make_record(ctx, seed, index)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

_FORMATS = ("jsonl", "parquet")
_CONVERT_BATCH = 5_000  # records converted to Arrow at a time
_ROW_GROUP = 50_000  # records per Parquet row group


def _to_batch(records: list[dict[str, object]]) -> Any:
    array = pa.array(records, type=_JSON_STRUCT).cast(_PARQUET_STRUCT)
    return pa.RecordBatch.from_struct_array(array)


_MONTH_FIELDS = ("month", "buyin", "hmo", "dual", "msp", "medicaid", "integrated")
_month_values = itemgetter(*_MONTH_FIELDS)


class _JsonLines:
    """Encodes the records of :func:`generate_records` as compact JSON lines.

    Month objects repeat a lot, so the text of those without an integrated
    plan is memoised; the output is exactly the ``json`` module's.
    """

    def __init__(self) -> None:
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self._months: dict[tuple[object, ...], str] = {}

    def _month(self, month: dict[str, Any]) -> str:
        values = _month_values(month)
        medicaid = values[5]
        if values[6] is not None or len(month) != len(_MONTH_FIELDS) or tuple(month) != _MONTH_FIELDS:
            return self._encode(month)
        key = values[:5] if medicaid is None else values[:5] + tuple(medicaid.items())
        text = self._months.get(key)
        if text is None:
            if len(self._months) >= 200_000:
                self._months.clear()
            text = self._months[key] = self._encode(month)
        return text

    def line(self, record: dict[str, Any]) -> str:
        encode = self._encode
        parts = []
        for key, value in record.items():
            text = "[" + ",".join(map(self._month, value)) + "]" if key == "months" else encode(value)
            parts.append(encode(key) + ":" + text)
        return "{" + ",".join(parts) + "}\n"


def write_population(
    out_dir: Path,
    n: int,
    seed: int,
    performance_year: int = 2028,
    formats: Sequence[str] = _FORMATS,
) -> dict[str, Path]:
    """Write a synthetic market and population of ``n`` records to ``out_dir``.

    Writes ``market.yaml`` (from :func:`generate_market`) and, as ``formats``
    asks, ``population.jsonl`` (one record a line, the records of
    :func:`generate_records`) and ``population.parquet`` (nested columns,
    schema :data:`PARQUET_SCHEMA`, row groups of 50,000 records). Records are
    streamed: JSON Lines are written record by record and Parquet is converted
    5,000 records at a time, so memory does not grow with ``n``. Returns the
    written paths by name: ``"market"``, ``"jsonl"``, ``"parquet"``.
    """
    unknown = sorted(set(formats) - set(_FORMATS))
    if unknown:
        raise ValueError(f"unknown format(s) {unknown}; expected some of {list(_FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    market = generate_market(seed, performance_year)
    paths = {"market": out_dir / "market.yaml"}
    with paths["market"].open("w", encoding="utf-8") as fh:
        yaml.safe_dump(market, fh, sort_keys=False, allow_unicode=True)

    if "jsonl" in formats:
        paths["jsonl"] = out_dir / "population.jsonl"
    if "parquet" in formats:
        paths["parquet"] = out_dir / "population.parquet"
    jsonl = paths["jsonl"].open("w", encoding="utf-8") if "jsonl" in paths else None
    writer = pq.ParquetWriter(paths["parquet"], PARQUET_SCHEMA) if "parquet" in paths else None
    encoder = _JsonLines()
    pending: list[dict[str, object]] = []  # records not yet converted to Arrow
    converted: list[Any] = []  # Arrow record batches of the current row group
    converted_rows = 0

    def flush_row_group() -> None:
        nonlocal converted_rows
        if writer is not None and converted:
            writer.write_table(pa.Table.from_batches(converted, schema=PARQUET_SCHEMA), row_group_size=_ROW_GROUP)
        converted.clear()
        converted_rows = 0

    # The records hold no reference cycles, so the cyclic garbage collector
    # only costs time here (it rescans every pending record); pause it.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for record in generate_records(n, seed, market, performance_year):
            if jsonl is not None:
                jsonl.write(encoder.line(record))
            if writer is not None:
                pending.append(record)
                if len(pending) >= _CONVERT_BATCH:
                    converted.append(_to_batch(pending))
                    converted_rows += len(pending)
                    pending.clear()
                    if converted_rows >= _ROW_GROUP:
                        flush_row_group()
        if writer is not None:
            if pending:
                converted.append(_to_batch(pending))
                pending.clear()
            flush_row_group()
    finally:
        if gc_was_enabled:
            gc.enable()
        if jsonl is not None:
            jsonl.close()
        if writer is not None:
            writer.close()
    return paths
