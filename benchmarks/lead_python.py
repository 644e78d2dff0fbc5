"""The LEAD alignment policy (``policies/lead``) written by hand in plain Python: the benchmark baseline.

It decides a records.md record given as a JSON dict (``json.loads`` of one
line: dates and months as ISO strings, ``allowed`` a float) and returns
``(outcome, aco_id, pathway)``, the three columns the benchmark compares with
the interpreter and the DuckDB engine. It implements the rules of
``policies/lead/*.yaml`` as a careful engineer would without a rules engine:
constants (windows, cut-off, alignment years, weights, code lists, the
market's TIN index, the TINs of the ACOs serving each county) are computed
once; one pass over the months and one over the claims per record (then one
over its few primary-care lines, to net each claim); three-valued logic
(``None`` = unknown) only where the policy has it; money as integer cents, so
sums and ties are exact (records carry at most two decimals).

Claims are read as the policy reads them: each claim's primary-care lines are
netted (a claim netting to zero or less is dropped, a line without
``claim_id`` stands alone, and only positive lines of standing claims break
ties); nursing-facility visits in a SNF do not count; FQHC/RHC services count
as primary-care specialists' and need no specialty; a claims outcome that
missing data leave unknown, and that could be an ACO's, blocks the Medicaid
pathway.

The parameter values are read from ``parameters.yaml`` and the code files by
``benchmarks/lead_params.py`` (shared with the SQL and zen-engine baselines).
Only the default choices of the rule-selecting string parameters (tie rules,
``missing_month_rule``, ``shared_tin_rule``, ``partnership_in_force_rule``,
``candidate_aggregation``, ``step2_specialty_rule``) and of the boolean
switches are implemented; :func:`make_decider` refuses others instead of
deciding differently. No validation: the records are assumed to be
well-formed (the benchmark population is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from lead_params import check_calendar, lead_params, to_date

Decision = tuple[str, str | None, str | None]


def _and(*vals: bool | None) -> bool | None:
    """Kleene AND."""
    if False in vals:
        return False
    return None if None in vals else True


def _all(vals: Iterable[bool | None]) -> bool | None:
    unknown = False
    for v in vals:
        if v is False:
            return False
        if v is None:
            unknown = True
    return None if unknown else True


def make_decider(policy: Path, market: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Decision]:
    """A function deciding one record (JSON dict) against ``market`` (the parsed market YAML)."""
    py = int(market["performance_year"])
    lp = lead_params(policy, py)
    # the program calendar (medicaid_pathway_in_effect, medicaid_state_selected) is not written by hand here:
    # refuse the markets where it could change a decision
    check_calendar(lp, market)
    p = lp.p
    py_start = lp.py_start
    window_end, window_start, medicaid_start = lp.window_end, lp.window_start, lp.medicaid_start
    min_months, min_medicaid = int(p["eligibility_min_months_with_data"]), int(p["medicaid_min_months_with_data"])
    buyin_ok, hmo_ok = p["part_a_and_b_buyin_codes"], p["original_medicare_hmo_codes"]
    msp_allowed = int(p["msp_months_allowed"])
    py_start_s = py_start.isoformat()
    cutoff = lp.cutoff.isoformat()
    channels = p["voluntary_channels"]
    ap_end = lp.ap_end.isoformat()
    ay1_end = lp.ay1_end.isoformat()
    ay1_start = lp.ay1_start.isoformat()
    w1, w2 = lp.w1, lp.w2
    pc_codes, pc_specs = p["primary_care_hcpcs"], p["primary_care_specialties"]
    fq_codes, fq_types = p["fqhc_rhc_hcpcs"], p["fqhc_rhc_provider_types"]
    any_pc_codes = pc_codes | fq_codes  # the codes of lines that might count
    pos_codes, pos_places = p["pos_excluded_hcpcs"] - fq_codes, p["pos_excluded_places"]
    share = Fraction(str(p["pc_specialist_min_share"]))
    full_dual, unknown_dual, no_medicaid = p["full_dual_codes"], p["unknown_dual_codes"], p["non_medicaid_dual_codes"]
    integrated_types = p["integrated_care_types"]

    acos = []
    aco_ids_by_tin: dict[str, list[str]] = {}
    for a in market.get("acos") or ():
        tins = frozenset(str(t) for t in a.get("participant_tins") or ())
        partners = []
        for q in a.get("medicaid_partners") or ():
            eff = q.get("effective") or {}
            start, end = to_date(eff.get("from")), to_date(eff.get("to"))
            in_force = (start is None or start <= py_start) and (end is None or end >= py_start)
            partners.append((q["kind"], q["state"], frozenset(q.get("plan_ids") or ()), in_force))
        acos.append((str(a["id"]), tins, frozenset(str(c) for c in a.get("service_area_counties") or ()), partners))
        for t in tins:
            aco_ids_by_tin.setdefault(t, []).append(str(a["id"]))
    n_acos_of_tin = {t: len(ids) for t, ids in aco_ids_by_tin.items()}
    candidate_of_tin = {t: min(ids) for t, ids in aco_ids_by_tin.items()}
    all_tins = frozenset(aco_ids_by_tin)
    # claims_outcome_known: the participant TINs of the ACOs serving a county (county unknown: every ACO's)
    tins_serving: dict[str, frozenset[str]] = {}
    for _, tins, counties, _ in acos:
        for county in counties:
            tins_serving[county] = tins_serving.get(county, frozenset()) | tins
    no_tins: frozenset[str] = frozenset()

    def enrolled(partners: list[tuple[str, str, frozenset[str], bool]], months: list[Mapping[str, Any]]) -> bool | None:
        """enrolled_with_medicaid_partner without the window-completeness term."""
        if not partners:
            return False
        unknown = False
        for m in months:
            med = m.get("medicaid")
            dual = m.get("dual")
            if med is None and dual is not None and dual in no_medicaid:
                return False
            if med is None:
                delivery = plan = state = None
            else:
                delivery, plan, state = med.get("delivery"), med.get("plan_id"), med.get("state")
            month_value: bool | None = False
            for kind, p_state, plans, in_force in partners:
                if kind == "MCO":
                    route = _and(
                        None if delivery is None else delivery == "MCO", None if plan is None else plan in plans
                    )
                else:  # SMA
                    route = None if delivery is None else delivery == "FFS"
                v = _and(route, None if state is None else state == p_state, in_force)
                if v is True:
                    month_value = True
                    break
                if v is None:
                    month_value = None
            if month_value is False:
                return False
            if month_value is None:
                unknown = True
        return None if unknown else True

    def decide(rec: Mapping[str, Any]) -> Decision:
        # --- standard requirements (ACO-independent), over the eligibility window
        months = rec.get("months") or ()
        win = [m for m in months if window_start <= m["month"] <= window_end]
        complete = True if len({m["month"] for m in win}) >= min_months else None
        part_ab = _and(_all(None if m.get("buyin") is None else m["buyin"] in buyin_ok for m in win), complete)
        original = _and(_all(None if m.get("hmo") is None else m["hmo"] in hmo_ok for m in win), complete)
        msps = [m.get("msp") for m in win]
        primary = _and(sum(1 for x in msps if x is True) <= msp_allowed, None if None in msps else True, complete)
        res = rec.get("residence")
        us = None if res is None else res.get("us") is not False  # null or absent: the default, true
        death = rec.get("death_date")
        alive = True if death is None else death >= py_start_s
        eligible = _and(part_ab, original, primary, None if us is None else us is True, alive)
        county = None if res is None else res.get("county_fips")

        # --- voluntary: the TIN of the most recent valid designation (a tie between TINs: none)
        designated = None
        best = ""
        tins: set[str] = set()
        for v in rec.get("voluntary") or ():
            d, tin = v.get("date"), v.get("tin")
            if d is None or tin is None or v.get("channel") not in channels or d > cutoff:
                continue
            if d > best:
                best, tins = d, {tin}
            elif d == best:
                tins.add(tin)
        if len(tins) == 1:
            (designated,) = tins
        no_outside = designated is None or designated in all_tins

        if eligible is True and county is not None and designated is not None:
            hits = [a[0] for a in acos if designated in a[1] and county in a[2]]
            if len(hits) == 1:
                return "aligned", hits[0], "voluntary"
        # --- claims: weighted primary-care plurality (integer cents x weight) of the claims that stand
        aco_tins = all_tins if county is None else tins_serving.get(county, no_tins)
        incomplete = False  # a line that might count misses a field the plurality needs
        aco_line = False  # a line that might count could be an ACO's (TIN missing or serving the county)
        lines: list[tuple[str | None, int | None, str, str | None, bool | None]] = []  # kept primary-care lines
        net: dict[str, int | None] = {}  # claim_id -> net cents of its primary-care lines
        for c in rec.get("claims") or ():
            code = c.get("hcpcs")
            if code is None:
                incomplete = True
            elif code not in any_pc_codes:
                continue
            d, tin = c.get("from_date"), c.get("tin")
            if d is not None and not ay1_start <= d <= ap_end:
                continue
            if not aco_line and (tin is None or tin in aco_tins):
                aco_line = True
            if code is None or d is None:
                incomplete = True
                continue  # in no alignment year, or no primary-care code
            allowed, spec, cid = c.get("allowed"), c.get("specialty"), c.get("claim_id")
            fq = code in fq_codes or c.get("provider_type") in fq_types
            if tin is None or allowed is None or (spec is None and not fq) or (cid is None and allowed < 0):
                incomplete = True
            if code in pos_codes and c.get("pos") in pos_places:
                continue  # a nursing-facility visit in a SNF
            if tin is not None and n_acos_of_tin.get(tin, 0) > 1:
                continue  # shared TIN: dropped
            cents = None if allowed is None else round(allowed * 100)
            if cid is not None:
                if cid in net:
                    if cents is not None:
                        cur = net[cid]
                        net[cid] = cents if cur is None else cur + cents
                else:
                    net[cid] = cents
            is_pc = True if fq else (None if spec is None else spec in pc_specs)
            cand = None if tin is None else candidate_of_tin.get(tin, tin)
            lines.append((cid, cents, d, cand, is_pc))
        pcc: list[tuple[str, int | None, str, bool]] = []  # (candidate, weighted cents, date, pc specialist)
        pc_spec_sum = all_sum = 0
        for cid, cents, d, cand, is_pc in lines:
            if cid is None:
                if cents is None or cents <= 0:
                    continue
            else:
                total = net[cid]
                if total is None or total <= 0:
                    continue  # a reversed claim
            value = None if cents is None else cents * (w1 if d <= ay1_end else w2)
            if value is not None:
                all_sum += value
                if is_pc:
                    pc_spec_sum += value
            if is_pc is not None and cand is not None:
                pcc.append((cand, value, d, is_pc))
        use_pc = pc_spec_sum > 0 and pc_spec_sum >= all_sum * share
        totals: dict[str, int | None] = {}
        latest: dict[str, str] = {}  # the most recent service that stands (positive line)
        for cand, value, d, is_pc in pcc:
            if is_pc is not use_pc:
                continue
            if cand in totals:
                cur = totals[cand]
                if value is not None:
                    totals[cand] = value if cur is None else cur + value
            else:
                totals[cand] = value
            if value is not None and value > 0 and d > latest.get(cand, ""):
                latest[cand] = d
        if not incomplete and no_outside is True and eligible is True and county is not None:
            ranked = sorted(((t, latest[k], k) for k, t in totals.items() if t is not None and t > 0), reverse=True)
            if ranked and (len(ranked) == 1 or ranked[0][:2] != ranked[1][:2]):
                winner = ranked[0][2]
                for a in acos:
                    if a[0] == winner:
                        if county in a[2]:
                            return "aligned", winner, "claims"
                        break
        if incomplete and aco_line:
            return "not_aligned", None, None  # claims_outcome_known: Medicaid must not overtake claims
        # --- Medicaid enrollment-based, over the Medicaid window
        if eligible is not True or county is None or not no_outside:
            return "not_aligned", None, None
        mwin = (
            win if medicaid_start == window_start else [m for m in months if medicaid_start <= m["month"] <= window_end]
        )
        mcomplete = True if len({m["month"] for m in mwin}) >= min_medicaid else None
        if mcomplete is not True:
            return "not_aligned", None, None
        duals = _all(
            None if m.get("dual") is None or m["dual"] in unknown_dual else m["dual"] in full_dual for m in mwin
        )
        if duals is not True:
            return "not_aligned", None, None
        integ = _all(
            True
            if m.get("integrated") is None
            else (None if m["integrated"].get("type") is None else m["integrated"]["type"] not in integrated_types)
            for m in mwin
        )
        if integ is not True:
            return "not_aligned", None, None
        qualifying = [a[0] for a in acos if county in a[2] and enrolled(a[3], mwin) is True]
        if len(qualifying) == 1:
            return "aligned", qualifying[0], "medicaid"
        if len(qualifying) > 1:  # tie rank: the ACO's weighted primary-care charges; still tied: not aligned
            ranks = {a: totals.get(a) or 0 for a in qualifying}
            top = max(ranks.values())
            tied = [a for a in qualifying if ranks[a] == top]
            if len(tied) == 1:
                return "aligned", tied[0], "medicaid"
        return "not_aligned", None, None

    return decide
