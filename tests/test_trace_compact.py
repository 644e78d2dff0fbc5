"""Bounded traces: the compact form stores every value once in the whole output and loses
nothing (decoded, it equals the full trace); --trace-depth/--trace-values bound it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import output_rows

from lead_rules.batch.jsonl import dumps
from lead_rules.cli.main import main
from lead_rules.engine.policy import load_market, load_policy
from lead_rules.engine.trace_codec import TraceEncoder, decode_trace, decode_value, without_reads
from lead_rules.synth.generate import write_population

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pop")
    return write_population(out, 100, 2028, 2028, ("jsonl",))


def _lines(path: Path) -> list[dict[str, Any]]:
    return output_rows(path)  # without the summary line


def _evaluate(population: dict[str, Path], out: Path, *extra: str) -> list[dict[str, Any]]:
    args = ["evaluate", "--policy", str(LEAD), "--market", str(population["market"])]
    assert main([*args, "--input", str(population["jsonl"]), "--output", str(out), "--trace", *extra]) == 0
    return _lines(out)


def test_compact_trace_loses_nothing_and_is_a_tenth(population: dict[str, Path], tmp_path: Path) -> None:
    full = _evaluate(population, tmp_path / "full.jsonl", "--trace-format", "full")
    compact = _evaluate(population, tmp_path / "compact.jsonl")
    assert len(full) == len(compact) == 100
    values: dict[str, Any] = {}
    written: set[str] = set()
    for f, c in zip(full, compact, strict=True):
        assert written.isdisjoint(c["trace_values"])  # each value is written once in the whole output
        written |= set(c["trace_values"])
        values.update(c["trace_values"])
        assert decode_trace(c["trace"], values) == without_reads(f["trace"])
        assert {k: v for k, v in c.items() if not k.startswith("trace")} == {
            k: v for k, v in f.items() if k != "trace"
        }
    full_size = (tmp_path / "full.jsonl").stat().st_size
    compact_size = (tmp_path / "compact.jsonl").stat().st_size
    assert compact_size * 10 < full_size
    assert compact_size < 1_000_000  # issue 14: 100 LEAD records traced under 1 MB, nothing lost


def test_market_acos_are_written_once(population: dict[str, Path], tmp_path: Path) -> None:
    compact = _evaluate(population, tmp_path / "compact.jsonl")
    market = load_market(population["market"])
    values: dict[str, Any] = {}
    for line in compact:
        values.update(line["trace_values"])
    plain = {k: decode_value(v, values) for k, v in values.items()}
    for aco in market.acos:
        holders = [
            k for k, v in plain.items() if isinstance(v, dict) and v.get("id") == aco.id and "participant_tins" in v
        ]
        assert len(holders) == 1, aco.id  # every line's trace has the market's ACOs: one entry for all


@pytest.mark.parametrize(("flags", "limit"), [(["--trace-depth", "4"], 1_000_000), (["--trace-values", "2"], None)])
def test_limits(population: dict[str, Path], tmp_path: Path, flags: list[str], limit: int | None) -> None:
    out = tmp_path / "bounded.jsonl"
    lines = _evaluate(population, out, *flags)
    text = out.read_text(encoding="utf-8")
    if limit is not None:
        assert len(text.encode()) < limit
        assert '"omitted_children"' in text
    else:
        values: dict[str, Any] = {}
        for line in lines:
            values.update(line["trace_values"])
            stack = [decode_trace(line["trace"], values)]
            while stack:
                node = stack.pop()
                assert len(node.get("rows", [])) <= 2
                assert len(node.get("candidates", [])) <= 2
                stack.extend(node.get("children", []))
        assert '"rows_omitted"' in text


def test_encoder_on_one_trace() -> None:
    policy = load_policy(LEAD)
    market = load_market(LEAD / "markets" / "demo-2028.yaml")
    decision = policy.evaluate({"bene_id": "B1"}, market, trace=True)
    assert decision.trace is not None
    encoder = TraceEncoder()
    root, values = encoder.encode(decision.trace)
    as_json = json.loads(dumps({"t": root, "v": values}))
    assert decode_trace(as_json["t"], as_json["v"]) == without_reads(json.loads(dumps(decision.trace.to_dict())))
    values = dict(as_json["v"])
    expected = decode_trace(as_json["t"], as_json["v"])
    for _ in range(200):  # what one time wrote in place is stored the next time, until all is stored
        again, more = encoder.encode(decision.trace)
        assert set(more).isdisjoint(values)
        values.update(more)
        assert decode_trace(again, values) == expected
        if not more:
            break
    assert more == {} and isinstance(again, str)  # in the end, the whole trace is one reference


def test_encoder_escapes_what_looks_like_its_own_marks() -> None:
    """Strings that start with ``$`` (a reference's mark), truth-value lists, many-keyed and odd dicts round-trip."""
    from lead_rules.engine.trace import TraceNode

    root = TraceNode("decision", "$1")
    root.value = "$$x"
    odd = TraceNode("definition", "odd", text="$!tf")
    odd.value = [{"~": "$~1"}, [True, False, None, True, None], {"a_long_key": "$", "another_key": ["$0", "$!", 1]}]
    root.children.append(odd)
    for _ in range(2):
        odd.children.append(TraceNode("field", "bene.months", text="$~0"))
    encoder = TraceEncoder()
    values: dict[str, Any] = {}
    for _ in range(3):  # first time, written in place; then stored once and referred to
        tree, new = encoder.encode(root)
        assert set(new).isdisjoint(values)
        values.update(json.loads(json.dumps(new)))
        assert decode_trace(json.loads(json.dumps(tree)), values) == without_reads(root.to_dict())
