"""Claim-line details of the synthetic records: places of service, provider types, nursing-facility visits, adjustments.

:func:`assign_provider_types` decides, once per context, which TINs bill as an
FQHC, an RHC or a method II CAH; a :class:`LineDetails` per record turns the
visits :mod:`.population` draws into claim lines (records.md v1.1 ``pos`` and
``provider_type``): FQHC visit codes, institutional lines without a place of
service, nursing-facility visits of residents (some in a SNF, POS 31), and
cancelled, re-billed or partly adjusted claims. Both draw from their own random
streams, so every other field of a record is drawn exactly as without them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence

from .tables import (
    ALLOWED,
    FQHC_CODE,
    HOME_CODES,
    NF_CODES,
    PC_SPECIALTIES,
    PC_SPECIALTY_EM,
    PROVIDER_TYPE_SHARES,
    W_NF_EM,
    W_OFFICE_POS,
)

__all__ = ["LineDetails", "Row", "assign_provider_types"]

#: One claim line: (from_date, claim_id, line, tin, npi, hcpcs, specialty, allowed, pos, provider_type).
Row = tuple[str, str, int, str, str, str, str | None, float, str | None, str | None]


def assign_provider_types(
    seed: int,
    py: int,
    states: Sequence[str],
    unaffiliated: Mapping[str, Sequence[str]],
    all_tins: Iterable[str],
) -> dict[str, str]:
    """TIN -> ``FQHC`` / ``RHC`` / ``CAH2`` (TINs absent bill Part B professional claims).

    In each market state the first unaffiliated TIN is an FQHC and the second an
    RHC; the first out-of-market one is a CAH II; the others (``all_tins``, in
    order) draw a kind by :data:`~.tables.PROVIDER_TYPE_SHARES`.
    """
    kinds = random.Random(f"provider-types:{seed}:{py}")
    provider_types: dict[str, str] = {}
    for state in states:
        provider_types[unaffiliated[state][0]] = "FQHC"
        provider_types[unaffiliated[state][1]] = "RHC"
    provider_types[unaffiliated["*"][0]] = "CAH2"
    for tin in all_tins:
        x = kinds.random()
        for kind, share in PROVIDER_TYPE_SHARES:
            if x < share:
                provider_types.setdefault(tin, kind)
                break
            x -= share
    return provider_types


class LineDetails:
    """The claim lines of one record, from the record's own ``{seed}:{index}:lines`` stream."""

    def __init__(self, seed: int, index: int, provider_types: Mapping[str, str]) -> None:
        self._r = random.Random(f"{seed}:{index}:lines").random
        self._provider_types = provider_types
        #: a nursing facility resident: visits 99304-99310
        self.nursing_home = self._r() < 0.04
        #: some of them in a SNF (POS 31)
        self.snf_stays = self.nursing_home and self._r() < 0.4

    def _price(self, hcpcs: str) -> float:
        lo, hi = ALLOWED[hcpcs]
        return round(lo + (hi - lo) * self._r(), 2)

    def _fields(self, tin: str, hcpcs: str, spec: str) -> tuple[str, str | None, str | None, str | None]:
        """(hcpcs, specialty, pos, provider_type) of one line."""
        lr = self._r
        kind = self._provider_types.get(tin)
        if kind in ("FQHC", "RHC"):  # institutional lines: no POS, often no specialty
            if kind == "FQHC" and hcpcs in FQHC_CODE and lr() < 0.7:
                hcpcs = FQHC_CODE[hcpcs]
            return hcpcs, (spec if lr() < 0.5 else None), None, kind
        if hcpcs in NF_CODES:
            pos = "31" if self.snf_stays and lr() < 0.5 else "32"
        elif hcpcs in HOME_CODES:
            pos = "12"
        else:
            pos = W_OFFICE_POS.pick(lr)
        return hcpcs, spec, pos, kind

    def claim(
        self,
        claim_id: str,
        from_date: str,
        tin: str,
        npi: str,
        spec: str,
        codes: Sequence[tuple[str, float]],
        next_claim_id: Callable[[], str],
    ) -> list[Row]:
        """The lines of one claim of ``codes`` (HCPCS, allowed), with its reversal, re-bill or adjustment lines.

        ``next_claim_id`` gives the id of a re-billed claim (a new claim number).
        """
        lr = self._r
        if self.nursing_home and codes and codes[0][0] in PC_SPECIALTY_EM and spec in PC_SPECIALTIES and lr() < 0.6:
            nf = W_NF_EM.pick(lr)
            codes = [(nf, self._price(nf)), *codes[1:]]
        lines: list[Row] = []
        for line, (hcpcs, allowed) in enumerate(codes, start=1):
            code, line_spec, pos, kind = self._fields(tin, hcpcs, spec)
            if code != hcpcs:
                allowed = self._price(code)
            lines.append((from_date, claim_id, line, tin, npi, code, line_spec, allowed, pos, kind))
        rows = list(lines)
        x = lr()
        if x < 0.02:  # cancelled: every line reversed within the claim (CCLF adjustment)
            n = len(lines)
            rows.extend((*r[:2], n + k, *r[3:7], -r[7], *r[8:]) for k, r in enumerate(lines, start=1))
            if lr() < 0.6:  # and re-billed as a new claim, with a corrected amount
                new_id = next_claim_id()
                factor = 0.9 + 0.2 * lr()
                rows.extend((r[0], new_id, *r[2:7], round(r[7] * factor, 2), *r[8:]) for r in lines)
        elif x < 0.03:  # adjusted: a negative line lowers the first line's charge
            r0 = lines[0]
            cut = round(r0[7] * (0.05 + 0.25 * lr()), 2)
            if cut > 0:
                rows.append((*r0[:2], len(lines) + 1, *r0[3:7], -cut, *r0[8:]))
        return rows
