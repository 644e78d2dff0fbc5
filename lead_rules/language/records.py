"""The input contract as typed Python models: beneficiary record and market (records.md v1.1).

The description of the data is the YAML schemas (``policies/schemas/beneficiary.yaml``
and ``market.yaml``, loaded by :mod:`lead_rules.language.schema`): the checker, the
interpreter's validator and the SQL readers derive from them. These models are
the typed compatibility layer of the Python API (``Beneficiary``, ``Market``)
and hold the market checks a schema cannot declare (E401);
``tests/test_schemas.py`` checks that they describe exactly what the bundled
schemas declare.

Documented rules: codes stay strings (a number where a code is expected is a
validation error, never silently converted); absent and ``null`` both mean
"not known"; unknown extra fields of a beneficiary record are **kept** (so
extracts may carry more columns) but a policy can only read the fields
declared here; unknown fields of a market file are **rejected** (a market is
hand-written configuration, where an unknown key is a typo).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .limits import ACO_ID_PATTERN, DECIMAL_MAX_DIGITS, INT_MAX, INT_MIN, decimal_fits, valid_aco_id
from .values import Month


def _month(value: Any) -> Month:
    if isinstance(value, Month):
        return value
    if isinstance(value, str):
        return Month.parse(value)
    raise ValueError("expected a month as 'YYYY-MM'")


MonthField = Annotated[Month, PlainValidator(_month), PlainSerializer(str, return_type=str)]


def _date(value: Any) -> Any:
    # a date is YYYY-MM-DD in ASCII digits (or a date read from Parquet), never a datetime
    if type(value) is str:  # the common case first: one regular-expression call
        bad = _date_text(value) is None
    else:
        bad = isinstance(value, dt.datetime) or (isinstance(value, str) and not _date_text(value))
    if bad:
        raise PydanticCustomError("date_type", "Input should be a valid date")
    return value


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_date_text = _DATE_RE.fullmatch
DateField = Annotated[dt.date, BeforeValidator(_date)]


def _money(value: Decimal) -> Decimal:
    # money has at most 2 places and 16 digits before the point, as DECIMAL(18, 2) on every engine
    # (for a finite non-zero value, abs(value) >= 10**16 exactly when its leading digit's exponent is >= 16)
    if not value.is_finite() or (value and value.adjusted() >= 16):
        raise PydanticCustomError("money", "money out of range (at most 16 digits before the point)")
    if value != value.quantize(_CENT, rounding=ROUND_DOWN):
        raise PydanticCustomError("money", "more than 2 decimal places (the SQL engine reads money with 2)")
    return value


_CENT = Decimal("0.01")
Money = Annotated[Decimal, AfterValidator(_money)]


def _bounded(value: Decimal) -> Decimal:
    if not decimal_fits(value):
        raise PydanticCustomError(
            "decimal", f"expected a finite decimal of at most {DECIMAL_MAX_DIGITS} digits (docs/security.md)"
        )
    return value


BoundedDecimal = Annotated[Decimal, AfterValidator(_bounded)]
"""A decimal of a record that is not money (decision kinds): finite, at most 38 digits written out."""
Int64 = Annotated[int, Field(ge=INT_MIN, le=INT_MAX)]
"""An int of a record: 64 bits on every engine (DuckDB and Spark read BIGINT)."""
Code = Annotated[str, Field(strict=True)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Residence(_Record):
    """Where the beneficiary lives."""

    state: Code | None = None
    county_fips: Code | None = None
    us: bool | None = True

    @field_validator("us", mode="before")
    @classmethod
    def _null_is_absent(cls, value: Any) -> Any:
        return True if value is None else value  # records.md: null and absent both "not known": the default



class Medicaid(_Record):
    """Medicaid enrollment in one month (T-MSIS TAF DE)."""

    state: Code | None = None
    delivery: Code | None = None
    plan_id: Code | None = None


class Integrated(_Record):
    """Integrated Medicare-Medicaid managed care enrollment in one month."""

    type: Code | None = None
    plan_id: Code | None = None


class MonthRecord(_Record):
    """One calendar month of Medicare data (MBSF monthly arrays)."""

    month: MonthField
    buyin: Code | None = None
    hmo: Code | None = None
    dual: Code | None = None
    msp: bool | None = None
    medicaid: Medicaid | None = None
    integrated: Integrated | None = None


class Voluntary(_Record):
    """A voluntary alignment designation."""

    date: DateField | None = None
    tin: Code | None = None
    npi: Code | None = None
    channel: Code | None = None


class Claim(_Record):
    """A claim line: Part B professional (CCLF5), or an FQHC/RHC/CAH II line (``provider_type``).

    ``pos`` (place of service) and ``provider_type`` are the v1.1 fields of
    records.md; a negative ``allowed`` is an adjustment netted within its ``claim_id``.
    """

    claim_id: Code | None = None
    line: Int64 | None = None
    from_date: DateField | None = None
    tin: Code | None = None
    npi: Code | None = None
    hcpcs: Code | None = None
    specialty: Code | None = None
    allowed: Money | None = None
    pos: Code | None = None
    provider_type: Code | None = None


class Beneficiary(_Record):
    """One beneficiary record (records.md v1)."""

    bene_id: Annotated[str, Field(strict=True, min_length=1)]
    birth_date: DateField | None = None
    death_date: DateField | None = None
    residence: Residence | None = None
    months: list[MonthRecord] = Field(default_factory=list)
    voluntary: list[Voluntary] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)

    @field_validator("months", "voluntary", "claims", mode="before")
    @classmethod
    def _null_list_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value  # a null list is empty, as an absent one (Parquet cannot be absent)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Effective(_Config):
    """A period in force; open-ended where a bound is absent."""

    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None


class MedicaidPartner(_Config):
    """A partnership arrangement between an ACO and an MCO or the SMA."""

    state: Code
    kind: Literal["MCO", "SMA"]
    plan_ids: frozenset[Code] = frozenset()
    effective: Effective | None = None

    @model_validator(mode="after")
    def _mco_lists_plans(self) -> MedicaidPartner:
        # An MCO partnership is with named plans; without plan_ids it would
        # silently match no enrollee (records.md: plan_ids, MCO only).
        if self.kind == "MCO" and not self.plan_ids:
            raise ValueError("an MCO partnership must list its plan_ids (it would match no enrollee)")
        return self


def _aco_id(value: str) -> str:
    if not valid_aco_id(value):
        # its own error type: the market loader reports it as E404, apart from other invalid fields (E401)
        raise PydanticCustomError(
            "aco_id",
            "an ACO id is 1-64 ASCII letters, digits, '_', '.' or '-' ({pattern})",
            {"pattern": ACO_ID_PATTERN},
        )
    return value


class Aco(_Config):
    """An ACO competing in the market."""

    id: Annotated[Code, AfterValidator(_aco_id)]
    name: str | None = None
    participant_tins: frozenset[Code] = frozenset()
    service_area_counties: frozenset[Code] = frozenset()
    medicaid_partners: list[MedicaidPartner] = Field(default_factory=list)


class Market(_Config):
    """The ACOs of one performance year and their Medicaid partnerships."""

    performance_year: Annotated[int, Field(strict=True)]  # 2028, not true (1) nor "2028"
    medicaid_integration_states: frozenset[Code] | None = None
    acos: list[Aco] = Field(default_factory=list)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``annotation`` (``Aco``, ``list[Aco]``, ``Aco | None``), or None."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def field_names_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names (and aliases) allowed at ``loc[:-1]`` of ``model``: the candidates for a misspelled key."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        info = current.model_fields.get(str(part))
        if info is None:
            info = next((f for f in current.model_fields.values() if f.alias == part), None)
        if info is None:
            return []
        current = _model_of(info.annotation)
    if current is None:
        return []
    names = set(current.model_fields)
    names.update(f.alias for f in current.model_fields.values() if f.alias)
    return sorted(names)


def unknown_key_hint(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """``did you mean 'participant_tins'?`` (or the allowed keys) for an unknown key at ``loc``."""
    if not loc:
        return None
    from .errors import did_you_mean

    allowed = field_names_at(model, tuple(loc))
    if not allowed:
        return None
    return did_you_mean(str(loc[-1]), allowed) or f"allowed keys: {', '.join(allowed)}"
