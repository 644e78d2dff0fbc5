"""Seeded test populations for the decision kinds, made by varying the bundled samples (state profiles,
arrangements, settlements), and copies of a bundled policy with one parameter edited as text."""

from __future__ import annotations

import copy
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"
ARRANGEMENTS = POLICIES / "partnership" / "samples" / "arrangements.yaml"


def _load(path: Path) -> list[dict[str, Any]]:
    docs = yaml.safe_load(path.read_text())
    return docs if isinstance(docs, list) else [docs]


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def states(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """``n`` state profiles: the samples with numbers scaled, flags flipped, ratings redrawn, some data missing."""
    base = _jsonable(_load(POLICIES / "state-selection" / "samples" / "states.yaml"))
    out = []
    for i in range(n):
        s = copy.deepcopy(rng.choice(base))
        s["state"] = f"S{i:02d}"
        for k, v in list(s.items()):
            if isinstance(v, bool):
                s[k] = rng.random() < 0.7
            elif isinstance(v, (int, float)) and k != "state":
                s[k] = round(v * rng.uniform(0.6, 1.4), 4) if isinstance(v, float) else int(v * rng.uniform(0.6, 1.4))
            if rng.random() < 0.03 and k not in ("state", "interested"):
                s[k] = None
        s["medicaid_delivery"] = rng.choice(["MCO", "FFS", "mixed"])
        s["taf_quality"] = {
            k: rng.choice(["low", "medium", "high", "unusable"]) for k in ("enrollment", "claims", "expenditures")
        }
        out.append(s)
    return out


def arrangements(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """``n`` arrangements: the samples with instruments, roles, factors, parties and risk flags redrawn."""
    base = _jsonable(_load(ARRANGEMENTS))
    out = []
    for i in range(n):
        a = copy.deepcopy(base[0] if rng.random() < 0.6 else rng.choice(base))
        a["id"] = f"ARR-{i:03d}"
        a["formal_relationship"]["instrument"] = rng.choice(["contract", "contract", "mou", "agreement", "letter"])
        if rng.random() < 0.15:
            a["roles"]["medicaid_entity"] = []
        vbp = a["care_coordination"]["nursing_facility_value_based_purchasing"]
        vbp["factors"] = rng.choice([["hospitalization_rate"], ["hospitalization_rate", "readmission_rate"],
                                     ["readmission_rate"], ["quality_star_rating"]])
        a["risk_sharing"]["cms_at_risk"] = rng.random() < 0.1
        if rng.random() > 0.1:
            a["parties"] = [p for p in a["parties"] if p["role"] != "cms"]
        out.append(a)
    return out


def settlements(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """``n`` settlements of the sample arrangements: savings per category, the quality measure (or none)."""
    ids = [a["id"] for a in _load(ARRANGEMENTS)]
    out = []
    for i in range(n):
        s: dict[str, Any] = {"performance_year": 2028, "arrangement_id": rng.choice(ids)}
        s["settlement_id"] = f"SET-{i:03d}"
        s["savings"] = {
            c: round(rng.uniform(-200_000, 3_000_000), 2)
            for c in ("avoided_hospitalizations", "avoided_snf_stays", "other") if rng.random() < 0.8
        }
        if rng.random() < 0.7:
            s["quality"] = {"hospital_readmission_rate": round(rng.uniform(0.10, 0.26), 3)}
        s["medicare_settlement"] = {"benchmark": 60_000_000.0, "expenditure": 57_000_000.0}
        out.append(s)
    return out


def write_jsonl(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def edited_policy(tmp: Path, name: str, param: str, value: str) -> Path:
    """A copy of bundled policy ``name`` (with the schemas beside it) whose parameter ``param`` says ``value``."""
    root = tmp / "edited"
    if not (root / "schemas").exists():
        shutil.copytree(POLICIES / "schemas", root / "schemas")
    folder = root / name
    shutil.copytree(POLICIES / name, folder)
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text()
        block = re.compile(rf"(\n  {param}:\n(?:    .*\n)*?    value: )(.+)")
        flow = re.compile(rf"(\n  {param}: {{type: [^,]+, value: )([^,}}]+)")
        for pattern in (block, flow):
            new_text, n = pattern.subn(lambda m: m.group(1) + value, text, count=1)
            if n:
                path.write_text(new_text)
                return folder
    raise AssertionError(f"no parameter {param} in {name}")
