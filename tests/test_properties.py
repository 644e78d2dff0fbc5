"""Property tests (hypothesis): Kleene logic, parser robustness, and evaluation of arbitrary records.

Kept fast (well under 20 s): small example counts, no deadline, and policies
compiled once per test rather than once per example where possible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE, EXAMPLE_MARKET, REPO, write_policy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lead_rules.engine.interpreter import Compiler, Env
from lead_rules.engine.policy import Policy, load_market, load_policy
from lead_rules.language.checker import check_doc
from lead_rules.language.errors import Diagnostics, Span
from lead_rules.language.loader import load_doc, parse_expr
from lead_rules.language.parser import ExpressionSyntaxError, parse_text
from lead_rules.language.records import Beneficiary, Market
from lead_rules.language.yaml_source import YNode

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- Kleene logic --------------------------------------------------------------------
#
# Three record-driven truth values: a, b, c are "the msp flag of month 2027-01/02/03",
# read through any(), which gives exactly the flag (true, false or null).

TV = st.sampled_from([True, False, None])
ORDER = {False: 0, None: 1, True: 2}  # Kleene: and = min, or = max in F < U < T


def k_and(x: bool | None, y: bool | None) -> bool | None:
    return min(x, y, key=ORDER.__getitem__)


def k_or(x: bool | None, y: bool | None) -> bool | None:
    return max(x, y, key=ORDER.__getitem__)


def k_not(x: bool | None) -> bool | None:
    return None if x is None else not x


LAWS: dict[str, tuple[str, str]] = {
    "and commutes": ("a and b", "b and a"),
    "or commutes": ("a or b", "b or a"),
    "and associates": ("(a and b) and c", "a and (b and c)"),
    "or associates": ("(a or b) or c", "a or (b or c)"),
    "De Morgan and": ("not (a and b)", "not a or not b"),
    "De Morgan or": ("not (a or b)", "not a and not b"),
    "double negation": ("not not a", "a"),
    "and identity": ("a and true", "a"),
    "or identity": ("a or false", "a"),
    "and annihilates": ("a and false", "false"),
    "or annihilates": ("a or true", "true"),
    "and absorbs": ("a and (a or b)", "a"),
    "or absorbs": ("a or (a and b)", "a"),
    "and distributes": ("a and (b or c)", "(a and b) or (a and c)"),
    "or distributes": ("a or (b and c)", "(a or b) and (a or c)"),
    "idempotent": ("a and a", "a or a"),
    "if unknown takes else": ("if a then b else c", "if a is not null and a then b else c"),
}

FLAG = "any(m.msp for m in bene.months where m.month == @2027-{:02d})"


@pytest.fixture(scope="module")
def kleene(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, bool | None, bool | None, bool | None], Any]:
    """Evaluate a named law side (``law0_l`` ...) for given a, b, c."""
    defs: dict[str, str] = {"a": FLAG.format(1), "b": FLAG.format(2), "c": FLAG.format(3)}
    for k, (left, right) in enumerate(LAWS.values()):
        defs[f"law{k}_l"], defs[f"law{k}_r"] = left, right
    defs["excluded_middle"] = "a or not a"
    uses = " and ".join(f"{n} is null" for n in defs)
    path = write_policy(tmp_path_factory.mktemp("kleene"), definitions=defs, criteria={"uses": uses})
    diags = Diagnostics()
    doc = load_doc(path, diags)
    res = check_doc(doc, diags)
    assert not diags.has_errors, [d.render() for d in diags.items]
    compilers = (Compiler(doc, res, False), Compiler(doc, res, True))
    market = Market.model_validate({"performance_year": 2028, "acos": []})

    def evaluate(name: str, a: bool | None, b: bool | None, c: bool | None) -> Any:
        months = [{"month": f"2027-{k:02d}", "msp": v} for k, v in ((1, a), (2, b), (3, c))]
        bene = Beneficiary.model_validate({"bene_id": "K", "months": months})
        fast, traced = (cp.named(name)(Env(bene, market, {}, None if not cp.traced else _tracer())) for cp in compilers)
        assert fast is traced or fast == traced
        return fast

    return evaluate


def _tracer() -> Any:
    from lead_rules.engine.trace import TraceNode, Tracer

    return Tracer(TraceNode("test", "root"))


@FAST
@given(a=TV, b=TV, c=TV)
def test_kleene_laws(kleene: Callable[..., Any], a: bool | None, b: bool | None, c: bool | None) -> None:
    assert kleene("a", a, b, c) is a  # the inputs arrive unchanged
    for k, law in enumerate(LAWS):
        left, right = kleene(f"law{k}_l", a, b, c), kleene(f"law{k}_r", a, b, c)
        assert left is right, f"{law}: {LAWS[law]} with a={a} b={b} c={c}"
    # excluded middle is not a law of Kleene logic: unknown stays unknown
    assert kleene("excluded_middle", a, b, c) is (None if a is None else True)


def _bool_exprs() -> st.SearchStrategy[tuple[str, Callable[[dict[str, bool | None]], bool | None]]]:
    leaves = st.sampled_from(
        [
            ("a", lambda v: v["a"]),
            ("b", lambda v: v["b"]),
            ("c", lambda v: v["c"]),
            ("true", lambda v: True),
            ("false", lambda v: False),
            ("null", lambda v: None),
        ]
    )

    def extend(
        inner: st.SearchStrategy[tuple[str, Callable[[dict[str, bool | None]], bool | None]]],
    ) -> st.SearchStrategy[tuple[str, Callable[[dict[str, bool | None]], bool | None]]]:
        def binary(op: str, fn: Callable[[Any, Any], Any]) -> Any:
            return st.tuples(inner, inner).map(
                lambda p: (f"({p[0][0]} {op} {p[1][0]})", lambda v, p=p: fn(p[0][1](v), p[1][1](v)))
            )

        return st.one_of(
            binary("and", k_and),
            binary("or", k_or),
            inner.map(lambda p: (f"not {p[0]}", lambda v, p=p: k_not(p[1](v)))),
            st.tuples(inner, inner, inner).map(
                lambda p: (
                    f"(if {p[0][0]} then {p[1][0]} else {p[2][0]})",
                    lambda v, p=p: p[1][1](v) if p[0][1](v) is True else p[2][1](v),
                )
            ),
        )

    return st.recursive(leaves, extend, max_leaves=8)


@SLOW
@given(expr=_bool_exprs(), a=TV, b=TV, c=TV)
def test_random_boolean_expressions_follow_the_kleene_model(
    tmp_path: Path, expr: tuple[str, Callable[[dict[str, bool | None]], bool | None]], a: Any, b: Any, c: Any
) -> None:
    text, model = expr
    path = write_policy(
        tmp_path / "k",
        definitions={"a": FLAG.format(1), "b": FLAG.format(2), "c": FLAG.format(3), "d": text},
        criteria={"uses": "(d or true) and (a or true) and (b or true) and (c or true)"},
    )
    diags = Diagnostics()
    doc = load_doc(path, diags)
    res = check_doc(doc, diags)
    assert not diags.has_errors, [x.render() for x in diags.items]
    months = [{"month": f"2027-{k:02d}", "msp": v} for k, v in ((1, a), (2, b), (3, c))]
    bene = Beneficiary.model_validate({"bene_id": "K", "months": months})
    market = Market.model_validate({"performance_year": 2028, "acos": []})
    expected = model({"a": a, "b": b, "c": c})
    for traced in (False, True):
        got = Compiler(doc, res, traced).named("d")(Env(bene, market, {}, _tracer() if traced else None))
        assert got is expected, f"{text} with a={a} b={b} c={c}"


# --- the parser raises only its own error -----------------------------------------------

TOKENS = [
    "a", "bene", ".", "x", "(", ")", "[", "]", "{", "}", ",", "=", "==", "<", ">=", "+", "-", "*", "/",
    "and", "or", "not", "in", "is", "null", "true", "false", "if", "then", "else", "for", "where", "by",
    "1", "2.5", "'s'", '"t"', "@2027-01-01", "@2027-06", "@2027-13", "@2027-02-30", "count", "argmax", "ties",
    "'\\q'", "#", "\n", "$", "é",
]  # fmt: skip


def _check_parse(text: str) -> None:
    try:
        parse_text(text)
    except ExpressionSyntaxError as exc:
        assert 0 <= exc.start <= len(text) + 1 and exc.end > exc.start
        assert exc.message
    # through the loader's entry point nothing raises: problems are diagnostics
    node = YNode("scalar", Span("f.yaml", 1, 1, 1, 1 + len(text)), value=text)
    node.offsets = tuple((1, 1 + k) for k in range(len(text)))
    diags = Diagnostics()
    expr = parse_expr(node, diags)
    assert (expr is None) == bool(diags.items)
    assert all(d.code in ("E101", "E102") and d.span.line == 1 for d in diags.items)


@FAST
@given(st.text())
def test_parser_on_arbitrary_text(text: str) -> None:
    _check_parse(text)


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join))
def test_parser_on_token_soup(text: str) -> None:
    _check_parse(text)


@SLOW
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join))
def test_checker_never_raises_on_arbitrary_expressions(tmp_path: Path, text: str) -> None:
    path = write_policy(tmp_path / "p", definitions={"d": text}, criteria={"c": "d is null"})
    from lead_rules.engine.policy import check_policy

    policy, diags = check_policy(path)
    assert (policy is None) == any(d.severity == "error" for d in diags)
    for d in diags:
        assert d.render()


_KEYS = st.sampled_from(
    ["policy", "id", "title", "version", "parameters", "definitions", "criteria", "pathways", "hierarchy", "type",
     "value", "file", "expr", "requires", "tie", "rank", "on_tie", "any", "all", "not", "c", "p", "values", 1]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["a", "c", "p", "1 +", "bene.bene_id", "set<string>", "int", "2027-02-30", "x.yaml", "{"]),
)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=20,
)


@SLOW
@given(_DOCS)
def test_check_policy_never_raises_on_arbitrary_yaml(tmp_path: Path, doc: Any) -> None:
    import yaml

    from lead_rules.engine.policy import check_policy

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    policy, diags = check_policy(path)
    assert policy is not None or any(d.severity == "error" for d in diags)
    for d in diags:
        assert d.code[0] in "EW" and d.render()


# --- arbitrary records through the example policy ---------------------------------------

TINS = ["111111111", "111111112", "222222222", "999999999"]
HCPCS = ["99213", "99214", "G0438", "12345"]


def maybe(valid: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    """A field value: mostly valid, sometimes null, now and then of the wrong type."""

    def pick(k: int) -> st.SearchStrategy[Any]:
        if k < 8:
            return valid
        return wrong if k == 9 and wrong is not None else st.none()

    return st.integers(0, 9).flatmap(pick)


def optional_fields(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with any subset of ``fields`` (absent fields are missing, not null)."""
    return st.fixed_dictionaries({}, optional=fields)


DATES = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2029, 12, 31)).map(str)
WRONG = st.one_of(st.integers(-5, 5), st.just("garbage"), st.just([]), st.just({"x": 1}), st.booleans())
MONTH = st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(2026, 2028), st.integers(1, 12))

MONTHS = optional_fields(
    {
        "buyin": maybe(st.sampled_from(["0", "1", "3", "C"]), WRONG),
        "hmo": maybe(st.sampled_from(["0", "4", "1"]), WRONG),
        "dual": maybe(st.sampled_from(["NA", "02", "04"])),
        "msp": maybe(st.booleans()),
        "medicaid": maybe(optional_fields({"state": maybe(st.just("NC")), "delivery": maybe(st.just("MCO"))})),
        "note": st.just("extra fields are kept"),
    }
).flatmap(lambda d: st.one_of(MONTH, WRONG).map(lambda m: {"month": m, **d}) if d else st.just({"month": "2027-05"}))

CLAIMS = optional_fields(
    {
        "claim_id": maybe(st.just("C1")),
        "from_date": maybe(DATES, WRONG),
        "tin": maybe(st.sampled_from(TINS), WRONG),
        "hcpcs": maybe(st.sampled_from(HCPCS), WRONG),
        "allowed": maybe(st.decimals(min_value=-10, max_value=500, places=2, allow_nan=False).map(str), WRONG),
        "line": maybe(st.integers(1, 3)),
    }
)

VOLUNTARY = optional_fields(
    {"date": maybe(DATES, WRONG), "tin": maybe(st.sampled_from(TINS), WRONG), "channel": maybe(st.just("paper"))}
)

MESSY = optional_fields(
    {
        "birth_date": maybe(DATES, WRONG),
        "death_date": maybe(DATES, WRONG),
        "residence": maybe(
            optional_fields(
                {
                    "state": maybe(st.just("NC"), WRONG),
                    "county_fips": maybe(st.sampled_from(["37063", "37135", "37183", "99999"]), WRONG),
                    "us": maybe(st.booleans()),
                }
            ),
            WRONG,
        ),
        "months": maybe(st.lists(MONTHS, max_size=6), WRONG),
        "voluntary": maybe(st.lists(VOLUNTARY, max_size=3), WRONG),
        "claims": maybe(st.lists(CLAIMS, max_size=6), WRONG),
        "unknown_column": st.integers(),
    }
).flatmap(
    lambda d: st.one_of(st.just("R1"), st.just("R1"), st.just("R1"), st.none(), st.just(""), st.integers())
    .map(lambda bid: {"bene_id": bid, **d})
    .flatmap(lambda r: st.one_of(st.just(r), st.just({k: v for k, v in r.items() if k != "bene_id"})))
)


def _realistic(good: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Valid records close to the example market, so that every pathway is reached.

    ``good`` months are all Part A+B fee-for-service, so eligibility often holds.
    """
    buyin = st.sampled_from(["3", "C"] if good else ["3", "C", "1", "0"])
    hmo = st.sampled_from(["0", "4"] if good else ["0", "4", "1"])
    month = st.tuples(st.integers(1, 12), buyin, hmo).map(
        lambda t: {"month": f"2027-{t[0]:02d}", "buyin": t[1], "hmo": t[2]}
    )
    claim = st.fixed_dictionaries(
        {
            "from_date": st.dates(min_value=dt.date(2026, 10, 1), max_value=dt.date(2028, 3, 1)).map(str),
            "tin": st.sampled_from(TINS),
            "hcpcs": st.sampled_from(HCPCS),
            "allowed": st.sampled_from(["10.00", "25.50", "40", None]),
        }
    )
    designation = st.fixed_dictionaries(
        {"date": st.one_of(st.none(), DATES), "tin": st.one_of(st.none(), st.sampled_from(TINS))}
    )
    return st.fixed_dictionaries(
        {
            "bene_id": st.just("R2"),
            "birth_date": st.just("1950-01-01"),
            "death_date": st.sampled_from([None, None, None, "2026-05-01", "2028-06-01"]),
            "residence": st.fixed_dictionaries(
                {"state": st.just("NC"), "county_fips": st.sampled_from(["37063", "37135", "37183", "99999"])}
            ),
            "months": st.lists(month, min_size=1, max_size=4),
            "voluntary": st.lists(designation, max_size=2),
            "claims": st.lists(claim, max_size=4),
        }
    )


RECORDS = st.one_of(MESSY, _realistic(True), _realistic(False))


def _valid(record: dict[str, Any]) -> bool:
    try:
        Beneficiary.model_validate(record)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def market() -> Market:
    return load_market(EXAMPLE_MARKET)


@pytest.fixture(scope="module")
def example() -> Policy:
    return load_policy(EXAMPLE)


@SLOW
@given(record=RECORDS)
def test_example_policy_decides_every_record(example: Policy, market: Market, record: dict[str, Any]) -> None:
    traced = example.evaluate(record, market, trace=True)
    fast = example.evaluate(record, market, trace=False)
    assert traced.outcome in ("aligned", "not_aligned", "error")
    # a record that validates is always decided (no runtime failure); one that does not is an error with causes
    if _valid(record):
        assert traced.outcome in ("aligned", "not_aligned"), traced.errors
        assert (traced.aco_id is not None) == (traced.outcome == "aligned")
        assert traced.trace is not None
    else:
        assert traced.outcome == "error" and traced.errors and all(e["message"] for e in traced.errors)
    # fast and traced evaluation agree on everything but the trace
    assert fast.trace is None
    assert fast.to_dict(trace=False) == traced.to_dict(trace=False)
    assert [r.to_dict() for r in fast.reasons] == [r.to_dict() for r in traced.reasons]


@SLOW
@given(record=RECORDS.filter(_valid))
def test_market_order_never_decides(example: Policy, market: Market, record: dict[str, Any]) -> None:
    acos = [a.model_dump(by_alias=True) for a in reversed(market.acos)]
    reordered = Market.model_validate({"performance_year": market.performance_year, "acos": acos})
    a, b = example.evaluate(record, market, trace=False), example.evaluate(record, reordered, trace=False)
    assert (a.outcome, a.aco_id, a.pathway) == (b.outcome, b.aco_id, b.pathway)


@pytest.fixture(scope="module")
def lead() -> tuple[Policy, Market]:
    folder = REPO / "policies" / "lead"
    try:
        policy = load_policy(folder)
        mkt = load_market(next((folder / "markets").glob("*.yaml")))
    except Exception as exc:
        pytest.skip(f"policies/lead does not load: {exc}")
    return policy, mkt


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=RECORDS.filter(_valid))
def test_lead_policy_decides_every_valid_record(lead: tuple[Policy, Market], record: dict[str, Any]) -> None:
    policy, mkt = lead
    traced, fast = policy.evaluate(record, mkt, trace=True), policy.evaluate(record, mkt, trace=False)
    assert traced.outcome in ("aligned", "not_aligned"), traced.errors
    assert fast.to_dict(trace=False) == traced.to_dict(trace=False)


@FAST
@given(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)), st.integers(-200, 200))
def test_add_months_clamps_to_the_end_of_the_month(day: dt.date, n: int) -> None:
    from lead_rules.language.builtins import BUILTINS
    from lead_rules.language.values import Month

    got = BUILTINS["add_months"].impl(day, n)
    target = Month.from_ordinal(Month.of(day).ordinal + n) if 12 <= Month.of(day).ordinal + n < 10000 * 12 else None
    if target is None:
        assert got is None
        return
    assert got is not None and Month.of(got) == target
    assert got.day == min(day.day, target.last_day().day)
