"""Runtime values shared by the record model, the interpreter and the SQL path.

The language's ``month`` type has its own small value class, :class:`Month`,
an ordered, hashable ``YYYY-MM``. Dates are :class:`datetime.date`, decimals
are :class:`decimal.Decimal`, so money is exact and ties are real ties.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

_MONTH_RE = re.compile(r"\d{4}-\d{2}")


class Month:
    """A calendar month (``YYYY-MM``), stored as a month ordinal."""

    __slots__ = ("ordinal",)

    def __init__(self, year: int, month: int) -> None:
        if not 1 <= month <= 12 or not 1 <= year <= 9999:
            raise ValueError(f"invalid month {year:04d}-{month:02d}")
        self.ordinal = year * 12 + (month - 1)

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``; raise ValueError otherwise."""
        if len(text) != 7 or not _MONTH_RE.match(text):
            raise ValueError(f"invalid month {text!r}, expected YYYY-MM")
        return cls(int(text[:4]), int(text[5:]))

    @classmethod
    def from_ordinal(cls, ordinal: int) -> Month:
        """The month with ``ordinal`` (year * 12 + month - 1)."""
        return cls(ordinal // 12, ordinal % 12 + 1)

    @classmethod
    def of(cls, day: dt.date) -> Month:
        """The month that contains ``day``."""
        return cls(day.year, day.month)

    @property
    def year(self) -> int:
        """The calendar year."""
        return self.ordinal // 12

    @property
    def month(self) -> int:
        """The month number, 1-12."""
        return self.ordinal % 12 + 1

    def first_day(self) -> dt.date:
        """The first date of the month."""
        return dt.date(self.year, self.month, 1)

    def last_day(self) -> dt.date:
        """The last date of the month."""
        nxt = Month.from_ordinal(self.ordinal + 1)
        return nxt.first_day() - dt.timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def __repr__(self) -> str:
        return f"Month({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Month) and other.ordinal == self.ordinal

    def __hash__(self) -> int:
        return hash(("Month", self.ordinal))

    def __lt__(self, other: Month) -> bool:
        return self.ordinal < other.ordinal

    def __le__(self, other: Month) -> bool:
        return self.ordinal <= other.ordinal

    def __gt__(self, other: Month) -> bool:
        return self.ordinal > other.ordinal

    def __ge__(self, other: Month) -> bool:
        return self.ordinal >= other.ordinal


def to_json(value: Any) -> Any:
    """A JSON-ready rendering of a language value."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, Month)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_json(v) for v in value), key=lambda x: (str(type(x)), str(x)))
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if hasattr(value, "model_dump"):
        return to_json(value.model_dump(mode="json", by_alias=True))
    return str(value)
