"""Synthetic beneficiary records: one deterministic record per index.

:func:`make_context` derives, from the seed and the market, everything the
records share (ACOs with their TINs and NPIs, the month calendar);
:func:`make_record` builds record ``i`` from its own random stream, so record
``i`` is the same whatever ``n`` is; :func:`generate_records` yields them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .claim_lines import LineDetails, Row, assign_provider_types
from .tables import (
    ALLOWED,
    COUNTIES,
    MBI_SPACE,
    MOVE_STATES,
    N_MONTHS,
    PC_SPECIALTIES,
    STATE_BY_FIPS,
    W_EXTRA,
    W_FULL,
    W_INTEGRATED,
    W_MA,
    W_NON_PC,
    W_OTHER_SPEC,
    W_PARTIAL,
    W_PC_EM,
    W_PC_SPEC,
    W_SPEC_EM,
    Weighted,
    make_mbi,
    new_ma_plan_id,
    new_npi,
    new_plan_id,
    new_tin,
)

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
    provider_types: dict[str, str]  # tin -> FQHC / RHC / CAH2 (absent: professional claims)
    unaffiliated: dict[str, tuple[str, ...]]  # state ("*" = out of market) -> TINs
    partner_plans: dict[str, tuple[str, ...]]
    other_plans: dict[str, tuple[str, ...]]


def _aco_state(aco: dict[str, Any]) -> str | None:
    votes: dict[str, int] = {}
    for county in aco.get("service_area_counties") or ():
        state = STATE_BY_FIPS.get(str(county)[:2])
        if state:
            votes[state] = votes.get(state, 0) + 1
    if votes:
        return max(sorted(votes), key=lambda s: votes[s])
    for partner in aco.get("medicaid_partners") or ():
        if partner.get("state"):
            return str(partner["state"])
    return None


def make_context(seed: int, market: dict[str, Any], py: int) -> _Context:
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
    other = {s: tuple(c for c in COUNTIES.get(s, ()) if c not in service.get(s, ())) for s in (*states, *MOVE_STATES)}

    taken_tins = {t for a in acos for t in a.tins}
    taken_npis: set[str] = set()
    unaffiliated = {s: tuple(new_tin(rng, taken_tins) for _ in range(4)) for s in states}
    unaffiliated["*"] = tuple(new_tin(rng, taken_tins) for _ in range(3))

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
                spec = W_PC_SPEC.pick(rng.random)
            else:
                spec = W_OTHER_SPEC.pick(rng.random)
            staff.append((new_npi(rng, taken_npis), spec))
        providers[tin] = tuple(staff)
        pc_providers[tin] = tuple(p for p in staff if p[1] in PC_SPECIALTIES) or tuple(staff)
    # a separate stream, so the rest of the context is the same as without provider types
    provider_types = assign_provider_types(seed, py, states, unaffiliated, all_tins)

    other_plans: dict[str, tuple[str, ...]] = {}
    for state in (*states, *MOVE_STATES):
        known = partner_plans.get(state, set())
        extra: set[str] = set()
        while len(extra) < 3:
            plan = new_plan_id(state, rng)
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
        mbi_offset=random.Random(f"mbi:{seed}").randrange(MBI_SPACE),
        month_labels=tuple(f"{y0 + k // 12:04d}-{k % 12 + 1:02d}" for k in range(N_MONTHS)),
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
        provider_types=provider_types,
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


def make_record(ctx: _Context, seed: int, index: int) -> dict[str, object]:
    rng = random.Random(f"{seed}:{index}")
    r = rng.random
    py = ctx.py
    bene_id = make_mbi(index, ctx.mbi_offset)

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
        start = min(max(0, (birth.year + 65 - (py - 3)) * 12 + birth.month - 1), N_MONTHS - 1)
    end = N_MONTHS

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
    move_at = N_MONTHS
    if mover:
        move_at = rng.randint(6, N_MONTHS - 3)
        other_states = [s for s in ctx.states if s != home_state]
        res_state = other_states[0] if other_states and r() < 0.4 else MOVE_STATES[rng.randrange(len(MOVE_STATES))]
        pool = ctx.service_counties.get(res_state) or ctx.other_counties.get(res_state) or ("",)
        res_county = pool[rng.randrange(len(pool))] or None
    us = True
    if non_us:
        res_state, res_county, us = None, None, False
    if null_county:
        res_county = None

    # Monthly arrays.
    present = [start <= k < end for k in range(N_MONTHS)]
    if gap and end - start > 6:
        g0 = rng.randrange(start + 1, end - 4)
        for k in range(g0, g0 + rng.randint(1, 3)):
            present[k] = False
    buyin: list[str | None] = ["3"] * N_MONTHS
    hmo: list[str | None] = ["4" if demo_hmo else "0"] * N_MONTHS
    dual_cd: list[str | None] = ["NA"] * N_MONTHS
    msp_a: list[bool | None] = [False] * N_MONTHS
    medicaid: list[dict[str, object] | None] = [None] * N_MONTHS
    integ: list[dict[str, object] | None] = [None] * N_MONTHS

    if dual:
        d0 = 0 if r() < 0.85 else rng.randint(1, 30)
        code = W_FULL.pick(r) if full else W_PARTIAL.pick(r)
        partial_until, early_code = d0, code
        if full and r() < 0.1:  # partial-benefit first, full-benefit later
            partial_until, early_code = rng.randint(d0 + 1, N_MONTHS - 1), W_PARTIAL.pick(r)
        delivery, plan = "FFS", None
        plans_here = ctx.partner_plans.get(home_state, ())
        other_here = ctx.other_plans.get(home_state, ())
        if full and r() < 0.55:
            delivery = "MCO"
            pick_from = plans_here if plans_here and r() < 0.8 else other_here
            plan = pick_from[rng.randrange(len(pick_from))] if pick_from else new_plan_id(home_state, rng)
        plan_change, new_plan = N_MONTHS, plan
        if delivery == "MCO" and r() < 0.1:  # changes MCO during the window
            choices = [p for p in (*plans_here, *other_here) if p != plan]
            if choices:
                plan_change = rng.randint(d0 + 1, N_MONTHS - 1)
                new_plan = choices[rng.randrange(len(choices))]
        for k in range(d0, N_MONTHS):
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
        kind = W_INTEGRATED.pick(r)
        i0, i1 = (0, N_MONTHS) if r() < 0.5 else _stretch(rng, 0, N_MONTHS, 3)
        if kind == "MMP":  # MMPs ended with 2025: months of the first year only
            i0, i1 = (0, 12) if r() < 0.5 else _stretch(rng, 0, 12, 3)
        obj_plan = new_ma_plan_id(rng)
        for k in range(i0, i1):
            hmo[k] = "C"
            integ[k] = {"type": kind, "plan_id": obj_plan}
    if ma:
        m0, m1 = (0, N_MONTHS) if r() < 0.3 else _stretch(rng, 0, N_MONTHS, 3)
        code = W_MA.pick(r)
        for k in range(m0, m1):
            hmo[k] = code
    if part_only:
        p0, p1 = (0, N_MONTHS) if r() < 0.2 else _stretch(rng, 0, N_MONTHS, 2)
        a_only = r() < 0.6
        for k in range(p0, p1):
            state_buyin = buyin[k] in ("A", "B", "C")
            buyin[k] = ("A" if state_buyin else "1") if a_only else ("B" if state_buyin else "2")
    if msp:
        s0, s1 = _stretch(rng, 0, N_MONTHS, 2)
        for k in range(s0, s1):
            msp_a[k] = True
    if null_fields:
        for _ in range(rng.randint(1, 2)):
            k = rng.randrange(N_MONTHS)
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
        for k in range(N_MONTHS)
        if present[k]
    ]
    # Part B claims exist for months in Original Medicare with Part B.
    billable = [
        present[k] and hmo[k] in ("0", "4", None) and buyin[k] in ("2", "3", "B", "C", None) for k in range(N_MONTHS)
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
    w_panel = Weighted.of(panel)
    usual = {tin: ctx.providers[tin][rng.randrange(len(ctx.providers[tin]))] for tin, _ in panel}
    moved_pool = ctx.unaffiliated.get(res_state or "", ()) or ctx.unaffiliated["*"]

    rows: list[Row] = []
    iso_days, iso_base = ctx.iso_days, ctx.iso_base
    claim_no = 0
    # places of service, provider types, nursing-facility visits and adjustments: their own stream
    details = LineDetails(seed, index, ctx.provider_types)

    def next_claim_id() -> str:
        nonlocal claim_no
        claim_no += 1
        return f"{bene_id}-{claim_no:03d}"

    def add_claim(ordinal: int, tin: str, npi: str, spec: str, codes: Sequence[tuple[str, float]]) -> None:
        claim_id = next_claim_id()
        rows.extend(details.claim(claim_id, iso_days[ordinal - iso_base], tin, npi, spec, codes, next_claim_id))

    def price(hcpcs: str) -> float:
        lo, hi = ALLOWED[hcpcs]
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
            hcpcs = W_PC_EM.pick(r)
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
        pick_tin, pick_pc, pick_non_pc = w_panel.pick, W_PC_EM.pick, W_NON_PC.pick
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
            if spec in PC_SPECIALTIES:
                first = pick_pc(r) if r() < 0.85 else pick_non_pc(r)
            elif spec == "30":
                first = "71046"
            else:
                first = W_SPEC_EM.pick(r) if r() < 0.5 else pick_non_pc(r)
            codes = [(first, price(first))]
            if spec != "30" and r() < 0.25:
                extra = W_EXTRA.pick(r)
                codes.append((extra, price(extra)))
                if r() < 0.2:
                    extra = W_EXTRA.pick(r)
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
            "pos": c[8],
            "provider_type": c[9],
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
    after a death, before enrolment at 65, or in a data gap), and claim lines
    (Part B professional, FQHC, RHC and CAH II; see :mod:`.claim_lines`)
    mostly in the two alignment years (July ``performance_year - 3`` to June
    ``performance_year - 1``) at participant TINs of one or two ACOs of
    ``market`` and at a few unaffiliated TINs (derived from ``seed``, in no
    ACO). Any market in the records.md format can be used.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    ctx = make_context(seed, market, performance_year)
    for index in range(n):
        yield make_record(ctx, seed, index)


