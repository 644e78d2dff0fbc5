"""Shared test helpers: tiny policies built in tmp_path, an expression evaluator,
the example policy and market, and the ``--update-golden`` switch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from anywhere, installed or not
    sys.path.insert(0, str(REPO))

from lead_rules.engine.interpreter import Compiler, Env  # noqa: E402
from lead_rules.engine.policy import Policy, load_policy  # noqa: E402
from lead_rules.engine.trace import TraceNode, Tracer  # noqa: E402
from lead_rules.language.checker import check_doc  # noqa: E402
from lead_rules.language.errors import Diagnostic, Diagnostics  # noqa: E402
from lead_rules.language.loader import load_doc  # noqa: E402
from lead_rules.language.records import Beneficiary, Market  # noqa: E402

EXAMPLE = REPO / "policies" / "example"
EXAMPLE_MARKET = EXAMPLE / "markets" / "example-2028.yaml"
GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

DEFAULT_MARKET: dict[str, Any] = {
    "performance_year": 2028,
    "acos": [
        {"id": "A1", "participant_tins": ["111"], "service_area_counties": ["37063"]},
        {"id": "A2", "participant_tins": ["222"], "service_area_counties": ["37183"]},
    ],
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*.json from the current output (or set UPDATE_GOLDEN=1)",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when golden files should be rewritten instead of compared."""
    return bool(request.config.getoption("--update-golden")) or os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")


def write_policy(
    folder: Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    definitions: Mapping[str, Any] | None = None,
    criteria: Mapping[str, Any] | None = None,
    pathways: Mapping[str, Any] | None = None,
    hierarchy: list[str] | None = None,
) -> Path:
    """Write a one-file policy; plain strings stand for ``{expr: ...}`` entries."""

    def named(items: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: ({"expr": v} if isinstance(v, str) else v) for k, v in (items or {}).items()}

    crits = named(criteria) or {"c": {"expr": "true"}}
    doc: dict[str, Any] = {
        "policy": {"id": "test", "title": "test policy", "version": "1"},
        "parameters": dict(parameters or {}),
        "definitions": named(definitions),
        "criteria": crits,
        "pathways": dict(pathways or {"p": {"requires": [next(iter(crits))]}}),
        "hierarchy": hierarchy or ["p"],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


class ExprEvaluator:
    """Evaluate one expression as definition ``d`` of a tiny policy.

    Every call evaluates twice, with the fast closures and with the traced
    ones, and checks that both give the same value (the two closure sets are
    built separately, so they could disagree).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def errors(self, expr: str, **kw: Any) -> list[Diagnostic]:
        """The error diagnostics of a policy whose definition ``d`` is ``expr``."""
        return [d for d in self._build(expr, **kw)[2] if d.severity == "error"]

    def _build(
        self, expr: str, params: Mapping[str, Any] | None = None, defs: Mapping[str, Any] | None = None
    ) -> tuple[Any, Any, list[Diagnostic]]:
        self.count += 1
        path = write_policy(
            self.folder / f"p{self.count}",
            parameters=params,
            definitions={"d": expr, **(defs or {})},
            criteria={"uses_d": "d is null or true"},
        )
        diags = Diagnostics()
        doc = load_doc(path, diags)
        res = check_doc(doc, diags)
        return doc, res, diags.items

    def traced(
        self,
        expr: str,
        bene: Mapping[str, Any] | None = None,
        market: Mapping[str, Any] | None = None,
        aco: int | None = 0,
        params: Mapping[str, Any] | None = None,
        defs: Mapping[str, Any] | None = None,
    ) -> tuple[Any, Any, TraceNode]:
        """(fast value, traced value, trace root) of ``expr``."""
        doc, res, diags = self._build(expr, params, defs)
        errors = [d.render() for d in diags if d.severity == "error"]
        assert not errors, "\n".join(errors)
        b = Beneficiary.model_validate(dict(bene or {"bene_id": "B"}))
        m = Market.model_validate(dict(market or DEFAULT_MARKET))
        values = []
        root = TraceNode("test", "root")
        for traced in (False, True):
            env = Env(b, m, {}, Tracer(root) if traced else None)
            if aco is not None:
                env.set_aco(m.acos[aco])
            values.append(Compiler(doc, res, traced).named("d")(env))
        return values[0], values[1], root

    def __call__(self, expr: str, **kw: Any) -> Any:
        fast, traced, _ = self.traced(expr, **kw)
        assert _same(fast, traced), f"fast {fast!r} != traced {traced!r} for {expr}"
        return fast


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


@pytest.fixture
def ev(tmp_path: Path) -> ExprEvaluator:
    """``ev("1 + 2") == 3``: evaluate an expression (see :class:`ExprEvaluator`)."""
    return ExprEvaluator(tmp_path)


@pytest.fixture
def make_policy(tmp_path: Path) -> Callable[..., Path]:
    """Write a small policy (see :func:`write_policy`) in a fresh folder of tmp_path."""
    counter = iter(range(1_000_000))

    def make(**kw: Any) -> Path:
        return write_policy(tmp_path / f"policy{next(counter)}", **kw)

    return make


@pytest.fixture(scope="session")
def example_policy() -> Policy:
    """policies/example, loaded once."""
    return load_policy(EXAMPLE)


@pytest.fixture(scope="session")
def example_market() -> Market:
    """The example market (two ACOs, performance year 2028)."""
    return Market.model_validate(yaml.safe_load(EXAMPLE_MARKET.read_text(encoding="utf-8")))


def output_rows(path: Path) -> list[dict[str, Any]]:
    """The decision rows of a JSON Lines output: every line is one (its provenance is in the sidecar file)."""
    import json

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert all("outcome" in r for r in rows), f"{path} holds a line that is not a decision"
    return rows
