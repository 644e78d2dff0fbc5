"""The LEAD alignment policy (``policies/lead``) as one hand-written DuckDB query: the benchmark baseline.

:func:`query` returns a ``COPY (...) TO 'out.parquet'`` statement that reads a
records.md population -- JSON Lines with an explicit schema
(``read_json(..., columns={...})``, nothing inferred) or Parquet -- and
writes ``bene_id, outcome, aco_id, pathway``. The rules are those of
``benchmarks/lead_python.py`` (same parameters, same default rule choices,
read from the policy folder), written as list lambdas over each record's
``months``, ``voluntary`` and ``claims``; the market is inlined as a typed
list of structs, a TIN map and a county -> serving TINs map. Each claim is
netted over its primary-care lines (``standing``: the claim_ids whose lines
net to more than zero), then the FQHC/RHC, place-of-service and specialist
rules apply as in the Python baseline. Money stays DECIMAL(12,2), so sums and
ties are exact. No validation and no error rows: the query trusts its input, as a
hand-written analyst query does.

Three-valued logic is kept only where it changes a decision: a pathway aligns
when all its requirements are TRUE, so an unknown requirement is written as
"not TRUE" wherever only TRUE matters.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lead_data import duckdb_columns
from lead_params import check_calendar, lead_params, to_date

_ACOS_TYPE = (
    "STRUCT(id VARCHAR, tins VARCHAR[], counties VARCHAR[], "
    "partners STRUCT(kind VARCHAR, state VARCHAR, plans VARCHAR[], in_force BOOLEAN)[])[]"
)


def _s(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _list(values: Any) -> str:
    return "[" + ", ".join(_s(v) for v in sorted(values)) + "]::VARCHAR[]"


def query(policy: Path, market: Mapping[str, Any], source: Path, output: Path) -> str:
    """The COPY statement deciding ``source`` (``.jsonl`` or ``.parquet``) into ``output`` (Parquet)."""
    lp = lead_params(policy, int(market["performance_year"]), "the hand-written query")
    check_calendar(lp, market, "the hand-written query")
    p, py_start = lp.p, lp.py_start
    we, ws, mws = lp.window_end, lp.window_start, lp.medicaid_start
    cutoff, ap_end, ay1_end, ay1_start = lp.cutoff, lp.ap_end, lp.ay1_end, lp.ay1_start
    w1, w2 = lp.w1, lp.w2

    acos: list[str] = []
    ids_by_tin: dict[str, list[str]] = {}
    for a in market.get("acos") or ():
        partners = []
        for q in a.get("medicaid_partners") or ():
            eff = q.get("effective") or {}
            start, end = to_date(eff.get("from")), to_date(eff.get("to"))
            in_force = (start is None or start <= py_start) and (end is None or end >= py_start)
            partners.append(
                f"{{'kind': {_s(q['kind'])}, 'state': {_s(q['state'])}, 'plans': {_list(q.get('plan_ids') or ())}, "
                f"'in_force': {str(in_force).lower()}}}"
            )
        tins = [str(t) for t in a.get("participant_tins") or ()]
        acos.append(
            f"{{'id': {_s(a['id'])}, 'tins': {_list(tins)}, "
            f"'counties': {_list(a.get('service_area_counties') or ())}, 'partners': [{', '.join(partners)}]}}"
        )
        for t in tins:
            ids_by_tin.setdefault(t, []).append(str(a["id"]))
    acos_sql = f"CAST([{', '.join(acos)}] AS {_ACOS_TYPE})"
    shared = _list(t for t, ids in ids_by_tin.items() if len(ids) > 1)
    tin_map = "MAP {" + ", ".join(f"{_s(t)}: {_s(min(ids))}" for t, ids in sorted(ids_by_tin.items())) + "}"
    if not ids_by_tin:
        tin_map = "MAP([]::VARCHAR[], []::VARCHAR[])"
    all_tins = _list(ids_by_tin)
    # claims_outcome_known: the participant TINs of the ACOs serving a county
    serving: dict[str, set[str]] = {}
    for a in market.get("acos") or ():
        for county in a.get("service_area_counties") or ():
            serving.setdefault(str(county), set()).update(str(t) for t in a.get("participant_tins") or ())
    county_tins = "MAP {" + ", ".join(f"{_s(k)}: {_list(v)}" for k, v in sorted(serving.items())) + "}"
    if not serving:
        county_tins = "MAP([]::VARCHAR[], []::VARCHAR[][])"
    pc, pcs = _list(p["primary_care_hcpcs"]), _list(p["primary_care_specialties"])
    fq, fqt = _list(p["fqhc_rhc_hcpcs"]), _list(p["fqhc_rhc_provider_types"])
    any_pc = _list(p["primary_care_hcpcs"] | p["fqhc_rhc_hcpcs"])
    posx, posp = _list(p["pos_excluded_hcpcs"]), _list(p["pos_excluded_places"])
    buyin, hmo = _list(p["part_a_and_b_buyin_codes"]), _list(p["original_medicare_hmo_codes"])
    full_dual, integ = _list(p["full_dual_codes"]), _list(p["integrated_care_types"])
    channels = _list(p["voluntary_channels"])
    share = str(p["pc_specialist_min_share"])
    if source.suffix == ".parquet":
        read = f"read_parquet({_s(str(source))})"
    else:
        read = f"read_json({_s(str(source))}, format='newline_delimited', columns={duckdb_columns()})"
    w = f"(CASE WHEN c.from_date <= DATE '{ay1_end}' THEN {w1} ELSE {w2} END)"
    key = f"coalesce({tin_map}[c.tin], c.tin)"
    # a primary-care specialist's service, FQHC/RHC services included (NULL: no specialty)
    is_pc = (
        f"(list_contains({pcs}, c.specialty) OR coalesce(list_contains({fqt}, c.provider_type), false) "
        f"OR list_contains({fq}, c.hcpcs))"
    )
    in_ay = f"c.from_date BETWEEN DATE '{ay1_start}' AND DATE '{ap_end}'"
    return f"""
COPY (
WITH src AS (
  SELECT bene_id, death_date, coalesce(residence.us, true) AS us, residence.county_fips AS county, voluntary, claims,
    list_filter(months, lambda m: m.month BETWEEN '{ws}' AND '{we}') AS win,
    list_filter(months, lambda m: m.month BETWEEN '{mws}' AND '{we}') AS mwin
  FROM {read}
), elig AS (
  SELECT *,
    len(list_distinct(list_transform(win, lambda m: m.month))) >= {int(p["eligibility_min_months_with_data"])}
      AND len(list_filter(win, lambda m: NOT coalesce(list_contains({buyin}, m.buyin), false))) = 0
      AND len(list_filter(win, lambda m: NOT coalesce(list_contains({hmo}, m.hmo), false))) = 0
      AND len(list_filter(win, lambda m: m.msp IS NOT false)) <= {int(p["msp_months_allowed"])}
      AND len(list_filter(win, lambda m: m.msp IS NULL)) = 0
      AND us IS TRUE
      AND (death_date IS NULL OR death_date >= DATE '{py_start}')
      AND county IS NOT NULL AS eligible,
    list_filter(voluntary, lambda v: v.date IS NOT NULL AND v.tin IS NOT NULL
                AND list_contains({channels}, v.channel) AND v.date <= DATE '{cutoff}') AS valid,
    list_filter(claims, lambda c: {in_ay}
                AND (list_contains({fq}, c.hcpcs) OR (list_contains({pc}, c.hcpcs)
                     AND NOT (list_contains({posx}, c.hcpcs) AND coalesce(list_contains({posp}, c.pos), false))))
                AND NOT coalesce(list_contains({shared}, c.tin), false)) AS pcl,
    len(list_filter(claims, lambda c: c.hcpcs IS NULL OR (list_contains({any_pc}, c.hcpcs) AND (c.from_date IS NULL
        OR ({in_ay} AND (c.tin IS NULL OR c.allowed IS NULL OR (c.claim_id IS NULL AND c.allowed < 0)
            OR (c.specialty IS NULL AND NOT coalesce(list_contains({fqt}, c.provider_type), false)
                AND NOT list_contains({fq}, c.hcpcs)))))))) > 0 AS incomplete,
    len(list_filter(claims, lambda c: (c.hcpcs IS NULL OR list_contains({any_pc}, c.hcpcs))
        AND (c.from_date IS NULL OR {in_ay})
        AND (c.tin IS NULL OR list_contains(CASE WHEN county IS NULL THEN {all_tins}
                                                 ELSE coalesce({county_tins}[county], []::VARCHAR[]) END, c.tin)))) > 0
      AS aco_line
  FROM src
), net AS (
  SELECT *,
    list_filter(list_distinct(list_transform(pcl, lambda c: c.claim_id)),
      lambda k: list_sum(list_transform(list_filter(pcl, lambda c: c.claim_id = k), lambda c: c.allowed)) > 0)
      AS standing
  FROM elig
), stand AS (
  SELECT * EXCLUDE (pcl, standing),
    list_filter(pcl, lambda c: CASE WHEN c.claim_id IS NULL THEN c.allowed > 0
                                    ELSE list_contains(standing, c.claim_id) END) AS pcc
  FROM net
), vol AS (
  SELECT * EXCLUDE (valid, voluntary),
    list_distinct(list_transform(
      list_filter(valid, lambda v: v.date = list_max(list_transform(valid, lambda x: x.date))),
      lambda v: v.tin)) AS dtins,
    coalesce(list_sum(list_transform(list_filter(pcc, lambda c: {is_pc}), lambda c: c.allowed * {w})), 0) AS pc_sum,
    coalesce(list_sum(list_transform(pcc, lambda c: c.allowed * {w})), 0) AS all_sum
  FROM stand
), cnt AS (
  SELECT * EXCLUDE (dtins, pcc, pc_sum, all_sum),
    CASE WHEN len(dtins) = 1 THEN dtins[1] END AS designated,
    list_filter(pcc, lambda c: CASE WHEN pc_sum > 0 AND pc_sum >= all_sum * {share}
                                    THEN {is_pc} ELSE NOT {is_pc} END) AS counted
  FROM vol
), tot AS (
  SELECT * EXCLUDE (counted),
    list_transform(list_distinct(list_transform(counted, lambda c: {key})), lambda k: {{
      'total': list_sum(list_transform(list_filter(counted, lambda c: {key} = k), lambda c: c.allowed * {w})),
      'latest': list_max(list_transform(list_filter(counted, lambda c: {key} = k AND c.allowed > 0),
                                        lambda c: c.from_date)),
      'key': k}}) AS totals
  FROM cnt
), pick AS (
  SELECT bene_id, eligible, county, mwin, totals,
    designated IS NULL OR list_contains({all_tins}, designated) AS no_outside,
    list_filter({acos_sql},
                lambda a: list_contains(a.tins, designated) AND list_contains(a.counties, county)) AS vol_acos,
    list_reverse_sort(list_filter(totals, lambda g: g.total > 0)) AS ranked,
    incomplete, incomplete AND aco_line AS claims_unknown
  FROM tot
), dec AS (
  SELECT bene_id, eligible, no_outside, vol_acos, mwin, totals, county, claims_unknown,
    CASE WHEN NOT incomplete AND len(ranked) > 0
              AND (len(ranked) = 1 OR ranked[1].total <> ranked[2].total OR ranked[1].latest <> ranked[2].latest)
         THEN ranked[1].key END AS plurality
  FROM pick
), med AS (
  SELECT *,
    CASE WHEN eligible AND no_outside AND NOT claims_unknown
         AND len(list_distinct(list_transform(mwin, lambda m: m.month))) >= {int(p["medicaid_min_months_with_data"])}
         AND len(list_filter(mwin, lambda m: NOT coalesce(list_contains({full_dual}, m.dual), false))) = 0
         AND len(list_filter(mwin, lambda m: m.integrated IS NOT NULL
                             AND coalesce(list_contains({integ}, m.integrated.type), true))) = 0
    THEN list_filter({acos_sql}, lambda a: list_contains(a.counties, county) AND len(a.partners) > 0
           AND len(list_filter(mwin, lambda m: NOT coalesce(len(list_filter(a.partners, lambda p:
                 ((p.kind = 'MCO' AND m.medicaid.delivery = 'MCO' AND list_contains(p.plans, m.medicaid.plan_id))
                  OR (p.kind = 'SMA' AND m.medicaid.delivery = 'FFS'))
                 AND m.medicaid.state = p.state AND p.in_force)) > 0, false))) = 0)
    ELSE [] END AS med_acos
  FROM dec
), ranks AS (
  SELECT *,
    list_transform(med_acos, lambda a: coalesce(list_filter(totals, lambda g: g.key = a.id)[1].total, 0)) AS med_ranks
  FROM med
), fin AS (
  SELECT bene_id,
    CASE WHEN NOT eligible THEN NULL
         WHEN len(vol_acos) = 1 THEN {{'aco': vol_acos[1].id, 'pathway': 'voluntary'}}
         WHEN no_outside AND plurality IS NOT NULL
              AND len(list_filter({acos_sql}, lambda a: a.id = plurality AND list_contains(a.counties, county))) = 1
           THEN {{'aco': plurality, 'pathway': 'claims'}}
         WHEN len(med_acos) = 1 THEN {{'aco': med_acos[1].id, 'pathway': 'medicaid'}}
         WHEN len(med_acos) > 1 AND len(list_filter(med_ranks, lambda r: r = list_max(med_ranks))) = 1
           THEN {{'aco': med_acos[list_position(med_ranks, list_max(med_ranks))].id, 'pathway': 'medicaid'}}
    END AS d
  FROM ranks
)
SELECT bene_id, CASE WHEN d IS NULL THEN 'not_aligned' ELSE 'aligned' END AS outcome,
  d.aco AS aco_id, d.pathway AS pathway
FROM fin
) TO {_s(str(output))} (FORMAT parquet)
"""


def main() -> int:
    """Command line: run the query once; print ``{"seconds", "records"}`` as JSON (imports included)."""
    import argparse
    import json
    import time

    started = time.monotonic()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", type=Path, default=Path(__file__).resolve().parent.parent / "policies" / "lead")
    ap.add_argument("--market", type=Path, required=True)
    ap.add_argument("--input", type=Path, required=True, help=".jsonl or .parquet")
    ap.add_argument("--output", type=Path, required=True, help="decisions (.parquet)")
    args = ap.parse_args()
    import duckdb
    import yaml

    market = yaml.safe_load(args.market.read_text(encoding="utf-8"))
    con = duckdb.connect()
    con.sql(query(args.policy, market, args.input, args.output))
    n = con.sql(f"SELECT count(*) FROM read_parquet({_s(str(args.output))})").fetchall()[0][0]
    print(json.dumps({"seconds": time.monotonic() - started, "records": n}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
