"""The scalar builtin functions: their type rules and their Python semantics.

One table serves the checker (``check``: argument types -> result type or an
error message) and the interpreter (``impl``: null-propagating Python
function). Aggregates written as comprehensions (``count(x for x in L ...)``)
are typed in :mod:`lead_rules.language.checker` and evaluated in
:mod:`lead_rules.engine.interpreter`; their one-argument list forms (``count(L)``)
live here.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .types import BOOL, DATE, DECIMAL, INT, MONTH, NULL, STRING, ListT, Type, comparable, is_numeric, unify
from .values import Month

CheckFn = Callable[[Sequence[Type]], "Type | str"]
ImplFn = Callable[..., Any]


@dataclass(frozen=True)
class Builtin:
    """A builtin function: its signature text, type rule and implementation."""

    name: str
    signature: str
    check: CheckFn
    impl: ImplFn
    null_propagating: bool = True


def _fixed(params: Sequence[Type], result: Type) -> CheckFn:
    def check(args: Sequence[Type]) -> Type | str:
        if len(args) != len(params):
            return f"takes {len(params)} argument(s), got {len(args)}"
        for i, (a, p) in enumerate(zip(args, params, strict=True)):
            if unify(a, p) != p and a != NULL:
                return f"argument {i + 1} must be {p}, got {a}"
        return result

    return check


def _one_of(*overloads: tuple[Sequence[Type], Type]) -> CheckFn:
    def check(args: Sequence[Type]) -> Type | str:
        errors = []
        for params, result in overloads:
            got = _fixed(params, result)(args)
            if isinstance(got, Type):
                return got
            errors.append(got)
        options = " or ".join("(" + ", ".join(str(p) for p in ps) + ")" for ps, _ in overloads)
        return f"expects {options}, got ({', '.join(str(a) for a in args)})"

    return check


def _check_coalesce(args: Sequence[Type]) -> Type | str:
    if len(args) < 2:
        return "takes at least 2 arguments"
    result: Type | None = args[0]
    for a in args[1:]:
        result = unify(result, a) if result is not None else None
    return result if result is not None else "arguments must have one type"


def _check_between(args: Sequence[Type]) -> Type | str:
    if len(args) != 3:
        return f"takes 3 arguments, got {len(args)}"
    if not (comparable(args[0], args[1]) and comparable(args[0], args[2])):
        return f"cannot compare {args[0]} with {args[1]} and {args[2]}"
    return BOOL


def _check_numeric1(args: Sequence[Type]) -> Type | str:
    if len(args) != 1 or not is_numeric(args[0]):
        return "takes one number"
    return args[0] if args[0] != NULL else INT


def _list_arg(args: Sequence[Type]) -> ListT | str:
    if len(args) != 1 or not isinstance(args[0], ListT):
        return "takes one list (or a comprehension)"
    return args[0]


def _check_count(args: Sequence[Type]) -> Type | str:
    got = _list_arg(args)
    return got if isinstance(got, str) else INT


def _check_sum(args: Sequence[Type]) -> Type | str:
    got = _list_arg(args)
    if isinstance(got, str):
        return got
    if not is_numeric(got.elem):
        return f"needs a list of numbers, got {got}"
    return got.elem if got.elem != NULL else INT


def _check_minmax(args: Sequence[Type]) -> Type | str:
    if len(args) == 1:
        got = _list_arg(args)
        if isinstance(got, str):
            return got
        return got.elem if comparable(got.elem, got.elem) else f"cannot order {got.elem}"
    if len(args) < 1:
        return "takes a list or at least 2 values"
    result: Type | None = args[0]
    for a in args[1:]:
        result = unify(result, a) if result is not None else None
    if result is None or not comparable(result, result) or isinstance(result, ListT):
        return "arguments must be values of one ordered type"
    return result


def _check_bool_list(args: Sequence[Type]) -> Type | str:
    got = _list_arg(args)
    if isinstance(got, str):
        return got
    return BOOL if unify(got.elem, BOOL) == BOOL else f"needs a list of bool, got {got}"


def _check_distinct(args: Sequence[Type]) -> Type | str:
    got = _list_arg(args)
    return got if isinstance(got, str) else ListT(got.elem)


def _check_add_months(args: Sequence[Type]) -> Type | str:
    return _one_of(([MONTH, INT], MONTH), ([DATE, INT], DATE))(args)


def _check_year(args: Sequence[Type]) -> Type | str:
    return _one_of(([DATE], INT), ([MONTH], INT))(args)


def _check_months_between(args: Sequence[Type]) -> Type | str:
    return _one_of(([MONTH, MONTH], INT), ([DATE, DATE], INT))(args)


# --- implementations (called only with non-null arguments when null_propagating) ---


def _date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except (ValueError, OverflowError):
        return None


def _month(y: int, m: int) -> Month | None:
    try:
        return Month(y, m)
    except ValueError:
        return None


def _add_months(x: Month | dt.date, n: int) -> Month | dt.date | None:
    if isinstance(x, Month):
        try:
            return Month.from_ordinal(x.ordinal + n)
        except ValueError:
            return None
    total = x.year * 12 + x.month - 1 + n
    y, m = divmod(total, 12)
    if not 1 <= y <= 9999:
        return None
    day = min(x.day, calendar.monthrange(y, m + 1)[1])
    return dt.date(y, m + 1, day)


def _add_days(d: dt.date, n: int) -> dt.date | None:
    try:
        return d + dt.timedelta(days=n)
    except OverflowError:
        return None


def _months_between(a: Month | dt.date, b: Month | dt.date) -> int:
    ma = a if isinstance(a, Month) else Month.of(a)
    mb = b if isinstance(b, Month) else Month.of(b)
    return mb.ordinal - ma.ordinal


def _round(x: Decimal | int, n: int) -> Decimal | None:
    # Half away from zero, as SQL's ROUND on decimals (DuckDB, Spark, PostgreSQL),
    # so that the interpreter and the SQL engines agree; null when out of precision.
    try:
        return Decimal(x).quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None


def _coalesce(*args: Any) -> Any:
    for a in args:
        if a is not None:
            return a
    return None


def _between(x: Any, lo: Any, hi: Any) -> bool | None:
    if x is None or lo is None or hi is None:
        # Kleene: lo <= x and x <= hi
        left = None if x is None or lo is None else lo <= x
        right = None if x is None or hi is None else x <= hi
        if left is False or right is False:
            return False
        return None
    return bool(lo <= x <= hi)


def list_count(xs: Sequence[Any]) -> int:
    """``count(L)``: the number of elements."""
    return len(xs)


def list_sum(xs: Sequence[Any]) -> Any:
    """``sum(L)``: the sum of the non-null elements (0 when none)."""
    total: Any = 0
    for x in xs:
        if x is not None:
            total = total + x
    return total


def list_min(xs: Sequence[Any]) -> Any:
    """``min(L)``: the least non-null element, or null."""
    vals = [x for x in xs if x is not None]
    return min(vals) if vals else None


def list_max(xs: Sequence[Any]) -> Any:
    """``max(L)``: the greatest non-null element, or null."""
    vals = [x for x in xs if x is not None]
    return max(vals) if vals else None


def kleene_any(xs: Sequence[Any]) -> bool | None:
    """Kleene OR of the elements; false when empty."""
    unknown = False
    for x in xs:
        if x is True:
            return True
        if x is None:
            unknown = True
    return None if unknown else False


def kleene_all(xs: Sequence[Any]) -> bool | None:
    """Kleene AND of the elements; true when empty."""
    unknown = False
    for x in xs:
        if x is False:
            return False
        if x is None:
            unknown = True
    return None if unknown else True


def distinct_sorted(xs: Sequence[Any]) -> tuple[Any, ...]:
    """The distinct non-null values, sorted ascending (a list value: a tuple, as list literals)."""
    return tuple(sorted({x for x in xs if x is not None}))


def _minmax_scalar(pick: Callable[..., Any]) -> ImplFn:
    def impl(*args: Any) -> Any:
        if len(args) == 1:
            if args[0] is None:
                return None
            vals = [x for x in args[0] if x is not None]
        else:
            vals = [x for x in args if x is not None]
        return pick(vals) if vals else None

    return impl


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in [
        Builtin("coalesce", "coalesce(a, b, ...)", _check_coalesce, _coalesce, False),
        Builtin("between", "between(x, lo, hi)", _check_between, _between, False),
        Builtin("date", "date(year, month, day)", _fixed([INT, INT, INT], DATE), _date),
        Builtin("month", "month(year, month)", _fixed([INT, INT], MONTH), _month),
        Builtin("month_of", "month_of(date)", _fixed([DATE], MONTH), Month.of),
        Builtin("add_months", "add_months(month_or_date, n)", _check_add_months, _add_months),
        Builtin("add_days", "add_days(date, n)", _fixed([DATE, INT], DATE), _add_days),
        Builtin("days_between", "days_between(a, b)", _fixed([DATE, DATE], INT), lambda a, b: (b - a).days),
        Builtin("months_between", "months_between(a, b)", _check_months_between, _months_between),
        Builtin("year", "year(date_or_month)", _check_year, lambda x: x.year),
        Builtin("first_day", "first_day(month)", _fixed([MONTH], DATE), lambda m: m.first_day()),
        Builtin("last_day", "last_day(month)", _fixed([MONTH], DATE), lambda m: m.last_day()),
        Builtin("abs", "abs(x)", _check_numeric1, abs),
        Builtin("round", "round(x, digits)", _one_of(([DECIMAL, INT], DECIMAL)), _round),
        Builtin("len", "len(string)", _fixed([STRING], INT), len),
        Builtin("upper", "upper(string)", _fixed([STRING], STRING), str.upper),
        Builtin("lower", "lower(string)", _fixed([STRING], STRING), str.lower),
        Builtin("starts_with", "starts_with(string, prefix)", _fixed([STRING, STRING], BOOL), str.startswith),
        Builtin("count", "count(list)", _check_count, list_count),
        Builtin("sum", "sum(list)", _check_sum, list_sum),
        Builtin("min", "min(list) or min(a, b, ...)", _check_minmax, _minmax_scalar(min), False),
        Builtin("max", "max(list) or max(a, b, ...)", _check_minmax, _minmax_scalar(max), False),
        Builtin("any", "any(list)", _check_bool_list, kleene_any),
        Builtin("all", "all(list)", _check_bool_list, kleene_all),
        Builtin("distinct", "distinct(list)", _check_distinct, distinct_sorted),
    ]
}
