"""The LEAD alignment policy as a GoRules JDM decision graph, evaluated with zen-engine: the outside peer.

The graph is ``benchmarks/lead_zen.json`` (written by ``python benchmarks/lead_zen.py --write`` from
:func:`build_graph`, and kept in the repository so that it can be opened in the GoRules editor). It
is a chain of expression nodes in the ZEN expression language, one per part of the policy:

``market`` (the ACOs, the TIN -> ACO map, shared TINs: filled in from the market file when the graph
is loaded, see :func:`load`) -> ``eligibility`` -> ``voluntary`` -> ``claims`` -> ``medicaid`` ->
``hierarchy`` (outcome, aco_id, pathway) -> output.

Every rule is expressed natively in ZEN; no function (JavaScript) node was needed. Differences from
the policy's YAML, all without effect on the decisions:

* ZEN is two-valued (``null == 'x'`` is false), so each requirement is written as "is TRUE", which is
  all a pathway needs (it aligns when every requirement is true);
* ZEN has no ``distinct`` or ``group by``: the per-candidate totals are computed once per counted line
  (a line's candidate total is the sum over the lines of the same candidate), and a plurality is
  unique when all the best lines name the same candidate; likewise a claim is netted by summing, for
  each primary-care line, the lines of its ``claim_id`` (only when some line is not positive: otherwise
  every claim stands);
* ``max`` of an empty list is an error in ZEN, so a candidate's most recent standing service is the
  maximum over its lines of "date if the line is positive, else 0";
* the claims outcome is unknown for the Medicaid pathway (``claims_outcome_known``) through the
  ``countyTins`` map of the market node: the participant TINs of the ACOs serving each county;
* the policy's parameters are constants in the expressions (the defaults of
  ``policies/lead/parameters.yaml`` and the code lists, performance year 2028); ZEN numbers are
  decimals, so money is exact.

Usage from Python: ``decision = load(graph_path, market_dict)`` then
``decision.evaluate({"bene": record}, {"trace": False})["result"]``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GRAPH = HERE / "lead_zen.json"
POLICY = HERE.parent / "policies" / "lead"


def _zen(v: Any) -> str:
    """A ZEN literal (ZEN accepts JSON literals)."""
    return json.dumps(v, sort_keys=True)


def build_graph() -> dict[str, Any]:
    """The JDM graph of the LEAD policy (parameters from ``policies/lead`` at their defaults, PY 2028)."""
    import sys

    sys.path.insert(0, str(HERE))
    from lead_params import lead_params

    lp = lead_params(POLICY, 2028, "the JDM graph")
    p, py_start = lp.p, lp.py_start
    window, medicaid_window = list(lp.window), list(lp.medicaid_window)
    cutoff, ap_end, ay1_end, ay1_start = lp.cutoff, lp.ap_end, lp.ay1_end, lp.ay1_start
    s = sorted
    pc, pcs = _zen(s(p["primary_care_hcpcs"])), _zen(s(p["primary_care_specialties"]))
    fq, fqt = _zen(s(p["fqhc_rhc_hcpcs"])), _zen(s(p["fqhc_rhc_provider_types"]))
    any_pc = _zen(s(p["primary_care_hcpcs"] | p["fqhc_rhc_hcpcs"]))
    posx, posp = _zen(s(p["pos_excluded_hcpcs"])), _zen(s(p["pos_excluded_places"]))
    d = "date"

    nodes: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "market",
            [
                ("acos", "__ACOS__"),
                ("tinAco", "__TIN_ACO__"),
                ("sharedTins", "__SHARED_TINS__"),
                ("allTins", "__ALL_TINS__"),
                ("countyTins", "__COUNTY_TINS__"),
            ],
        ),
        (
            "eligibility",
            [
                ("county", "bene.residence.county_fips"),
                ("win", f"filter(bene.months, #.month in {_zen(window)})"),
                (
                    "complete",
                    f"count({_zen(window)} as lbl, some($.win, #.month == lbl)) >= "
                    f"{int(p['eligibility_min_months_with_data'])}",
                ),
                (
                    "eligible",
                    f"$.complete and none($.win, not (#.buyin in {_zen(s(p['part_a_and_b_buyin_codes']))})) "
                    f"and none($.win, not (#.hmo in {_zen(s(p['original_medicare_hmo_codes']))})) "
                    f"and count($.win, #.msp == true) <= {int(p['msp_months_allowed'])} and none($.win, #.msp == null) "
                    f"and bene.residence.us == true "
                    f"and (bene.death_date == null or {d}(bene.death_date) >= {d}('{py_start}')) "
                    f"and $.county != null",
                ),
            ],
        ),
        (
            "voluntary",
            [
                (
                    "valid",
                    f"filter(bene.voluntary, #.date != null and #.tin != null "
                    f"and #.channel in {_zen(s(p['voluntary_channels']))} and {d}(#.date) <= {d}('{cutoff}'))",
                ),
                ("latestVol", f"len($.valid) > 0 ? max(map($.valid, {d}(#.date))) : null"),
                ("dtins", f"map(filter($.valid, {d}(#.date) == $.latestVol), #.tin)"),
                ("designated", "len($.dtins) > 0 and all($.dtins, # == $.dtins[0]) ? $.dtins[0] : null"),
                ("noOutside", "$.designated == null or $.designated in allTins"),
                (
                    "volAcos",
                    "$.designated == null ? [] : "
                    "filter(acos, $.designated in #.tins and eligibility.county in #.counties)",
                ),
            ],
        ),
        (
            "claims",
            [
                (
                    "pcl",
                    f"filter(bene.claims, #.from_date != null "
                    f"and {d}(#.from_date) >= {d}('{ay1_start}') and {d}(#.from_date) <= {d}('{ap_end}') "
                    f"and (#.hcpcs in {fq} or (#.hcpcs in {pc} and not (#.hcpcs in {posx} and #.pos in {posp}))) "
                    f"and not (#.tin in sharedTins))",
                ),
                (
                    "pcc",
                    "none($.pcl, #.allowed == null or #.allowed <= 0) ? $.pcl "
                    ": filter($.pcl as c, c.claim_id == null ? (c.allowed != null and c.allowed > 0) "
                    ": sum(map(filter($.pcl, #.claim_id == c.claim_id and #.allowed != null), #.allowed)) > 0)",
                ),
                (
                    "lines",
                    f"map($.pcc, {{key: tinAco[#.tin] ?? #.tin, "
                    f"w: #.allowed == null ? null : #.allowed * ({d}(#.from_date) <= {d}('{ay1_end}') "
                    f"? {int(p['ay1_weight'])} : {int(p['ay2_weight'])}), "
                    f"d: {d}(#.from_date), positive: #.allowed != null and #.allowed > 0, "
                    f"known: #.specialty != null or #.hcpcs in {fq} or #.provider_type in {fqt}, "
                    f"pc: #.specialty in {pcs} or #.hcpcs in {fq} or #.provider_type in {fqt}}})",
                ),
                ("pcSum", "sum(map(filter($.lines, #.pc and #.w != null), #.w))"),
                ("allSum", "sum(map(filter($.lines, #.w != null), #.w))"),
                ("usePc", f"$.pcSum > 0 and $.pcSum >= $.allSum * {p['pc_specialist_min_share']}"),
                ("counted", "filter($.lines, #.known and #.key != null and ($.usePc ? #.pc : not #.pc))"),
                (
                    "cands",
                    "map($.counted as c, {key: c.key, "
                    "total: sum(map(filter($.counted, #.key == c.key and #.w != null), #.w)), "
                    "latest: max(map(filter($.counted, #.key == c.key), #.positive ? #.d : 0))})",
                ),
                ("pos", "filter($.cands, #.total > 0)"),
                ("bestTotal", "len($.pos) > 0 ? max(map($.pos, #.total)) : null"),
                ("bestLatest", "len($.pos) > 0 ? max(map(filter($.pos, #.total == $.bestTotal), #.latest)) : null"),
                ("winners", "filter($.pos, #.total == $.bestTotal and #.latest == $.bestLatest)"),
                (
                    "plurality",
                    "len($.winners) > 0 and all($.winners, #.key == $.winners[0].key) ? $.winners[0].key : null",
                ),
                (
                    "incomplete",
                    f"some(bene.claims, #.hcpcs == null or (#.hcpcs in {any_pc} and (#.from_date == null "
                    f"or ({d}(#.from_date) >= {d}('{ay1_start}') and {d}(#.from_date) <= {d}('{ap_end}') "
                    f"and (#.tin == null or #.allowed == null or (#.claim_id == null and #.allowed < 0) "
                    f"or (#.specialty == null and not (#.provider_type in {fqt}) and not (#.hcpcs in {fq})))))))",
                ),
                (
                    "acoTins",
                    "eligibility.county == null ? allTins : countyTins[eligibility.county] ?? []",
                ),
                (
                    "unknown",
                    f"$.incomplete and some(bene.claims, (#.hcpcs == null or #.hcpcs in {any_pc}) "
                    f"and (#.from_date == null "
                    f"or ({d}(#.from_date) >= {d}('{ay1_start}') and {d}(#.from_date) <= {d}('{ap_end}'))) "
                    f"and (#.tin == null or #.tin in $.acoTins))",
                ),
                (
                    "claimsAcos",
                    "not $.incomplete and voluntary.noOutside and $.plurality != null ? "
                    "filter(acos, #.id == $.plurality and eligibility.county in #.counties) : []",
                ),
            ],
        ),
        (
            "medicaid",
            [
                ("mwin", f"filter(bene.months, #.month in {_zen(medicaid_window)})"),
                (
                    "ok",
                    f"eligibility.eligible and voluntary.noOutside and not claims.unknown "
                    f"and count({_zen(medicaid_window)} as lbl, some($.mwin, #.month == lbl)) >= "
                    f"{int(p['medicaid_min_months_with_data'])} "
                    f"and all($.mwin, #.dual in {_zen(s(p['full_dual_codes']))}) "
                    f"and all($.mwin, #.integrated == null or (#.integrated.type != null "
                    f"and not (#.integrated.type in {_zen(s(p['integrated_care_types']))})))",
                ),
                (
                    "acos",
                    "$.ok ? filter(acos as a, eligibility.county in a.counties and len(a.partners) > 0 "
                    "and all($.mwin as m, some(a.partners as q, "
                    "((q.kind == 'MCO' and m.medicaid.delivery == 'MCO' and m.medicaid.plan_id in q.plans) "
                    "or (q.kind == 'SMA' and m.medicaid.delivery == 'FFS')) "
                    "and m.medicaid.state == q.state and q.inForce))) : []",
                ),
                ("ranks", "map($.acos as a, filter(claims.cands, #.key == a.id)[0].total ?? 0)"),
                ("top", "len($.ranks) > 0 ? max($.ranks) : null"),
                ("tied", "filter($.acos as a, (filter(claims.cands, #.key == a.id)[0].total ?? 0) == $.top)"),
                ("aco", "len($.tied) == 1 ? $.tied[0].id : null"),
            ],
        ),
        (
            "hierarchy",
            [
                (
                    "pathway",
                    "not eligibility.eligible ? null : len(voluntary.volAcos) == 1 ? 'voluntary' "
                    ": len(claims.claimsAcos) == 1 ? 'claims' : medicaid.aco != null ? 'medicaid' : null",
                ),
                (
                    "aco_id",
                    "$.pathway == 'voluntary' ? voluntary.volAcos[0].id : $.pathway == 'claims' "
                    "? claims.claimsAcos[0].id : $.pathway == 'medicaid' ? medicaid.aco : null",
                ),
                ("outcome", "$.aco_id == null ? 'not_aligned' : 'aligned'"),
            ],
        ),
    ]
    jdm_nodes: list[dict[str, Any]] = [
        {"id": "input", "type": "inputNode", "name": "record", "position": {"x": 0, "y": 0}, "content": {}}
    ]
    edges = []
    prev = "input"
    for i, (name, exprs) in enumerate(nodes, start=1):
        last = name == "hierarchy"
        jdm_nodes.append(
            {
                "id": name,
                "type": "expressionNode",
                "name": name,
                "position": {"x": 250 * i, "y": 0},
                "content": {
                    "expressions": [
                        {"id": f"{name}.{k}", "key": k, "value": v}
                        if last or name == "market"
                        else {"id": f"{name}.{k}", "key": f"{name}.{k}", "value": v.replace("$.", f"$.{name}.")}
                        for k, v in exprs
                    ],
                    "passThrough": not last,
                    "inputField": None,
                    "outputPath": None,
                    "executionMode": "single",
                },
            }
        )
        edges.append({"id": f"{prev}->{name}", "sourceId": prev, "targetId": name, "type": "edge"})
        prev = name
    jdm_nodes.append(
        {
            "id": "output",
            "type": "outputNode",
            "name": "decision",
            "position": {"x": 250 * (len(nodes) + 1), "y": 0},
            "content": {},
        }
    )
    edges.append({"id": f"{prev}->output", "sourceId": prev, "targetId": "output", "type": "edge"})
    return {"nodes": jdm_nodes, "edges": edges}


def market_literals(market: Mapping[str, Any]) -> dict[str, str]:
    """The ZEN literals that replace the ``market`` node's placeholders."""
    import datetime as dt

    py_start = dt.date(int(market["performance_year"]), 1, 1)
    acos: list[dict[str, Any]] = []
    ids_by_tin: dict[str, list[str]] = {}
    county_tins: dict[str, set[str]] = {}
    for a in market.get("acos") or ():
        partners = []
        for q in a.get("medicaid_partners") or ():
            eff = q.get("effective") or {}
            start, end = eff.get("from"), eff.get("to")
            start = dt.date.fromisoformat(str(start)) if start is not None else None
            end = dt.date.fromisoformat(str(end)) if end is not None else None
            in_force = (start is None or start <= py_start) and (end is None or end >= py_start)
            partners.append(
                {"kind": q["kind"], "state": q["state"], "plans": sorted(q.get("plan_ids") or ()), "inForce": in_force}
            )
        tins = sorted(str(t) for t in a.get("participant_tins") or ())
        acos.append(
            {
                "id": str(a["id"]),
                "tins": tins,
                "counties": sorted(a.get("service_area_counties") or ()),
                "partners": partners,
            }
        )
        for t in tins:
            ids_by_tin.setdefault(t, []).append(str(a["id"]))
        for county in a.get("service_area_counties") or ():
            county_tins.setdefault(str(county), set()).update(tins)
    return {
        "__ACOS__": _zen(acos),
        "__TIN_ACO__": _zen({t: min(ids) for t, ids in ids_by_tin.items()}),
        "__SHARED_TINS__": _zen(sorted(t for t, ids in ids_by_tin.items() if len(ids) > 1)),
        "__ALL_TINS__": _zen(sorted(ids_by_tin)),
        "__COUNTY_TINS__": _zen({k: sorted(v) for k, v in county_tins.items()}),
    }


def load(market: Mapping[str, Any], graph: Path = GRAPH) -> Any:
    """A ``zen.ZenDecision`` of the graph with the market filled in."""
    import zen

    if int(market["performance_year"]) != 2028:
        raise NotImplementedError("the graph's windows are those of performance year 2028")
    if market.get("medicaid_integration_states") is not None:
        raise NotImplementedError("the graph has no program calendar (medicaid_integration_states)")
    content = json.loads(graph.read_text(encoding="utf-8"))
    literals = market_literals(market)
    for node in content["nodes"]:
        for e in (node.get("content") or {}).get("expressions", ()):
            e["value"] = literals.get(e["value"], e["value"])
    return zen.ZenEngine().create_decision(json.dumps(content))


def main() -> int:
    """``--write``: (re)write lead_zen.json; ``--check``: fail when it differs from build_graph()."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    text = json.dumps(build_graph(), indent=2) + "\n"
    if args.write:
        GRAPH.write_text(text, encoding="utf-8")
        return 0
    same = GRAPH.exists() and GRAPH.read_text(encoding="utf-8") == text
    print("lead_zen.json is up to date" if same else "lead_zen.json differs from build_graph(): run --write")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
