"""Reference data and small helpers of the synthetic population generator.

Real codes (states and counties, specialties, HCPCS codes with allowed-charge
ranges, places of service, provider types, dual-status and plan-type codes)
with the weights the generator draws them by, and the identifier helpers
(TINs, NPIs, MBIs, plan ids). Used by :mod:`.population` (records),
:mod:`.claim_lines` (claim-line details) and :mod:`.generate` (the market).
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# ---------------------------------------------------------------------------
# Reference data (real codes)
# ---------------------------------------------------------------------------

#: USPS code by two-digit state FIPS code.
STATE_BY_FIPS: dict[str, str] = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO",
    "09": "CT", "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI",
    "16": "ID", "17": "IL", "18": "IN", "19": "IA", "20": "KS", "21": "KY",
    "22": "LA", "23": "ME", "24": "MD", "25": "MA", "26": "MI", "27": "MN",
    "28": "MS", "29": "MO", "30": "MT", "31": "NE", "32": "NV", "33": "NH",
    "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND", "39": "OH",
    "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA",
    "54": "WV", "55": "WI", "56": "WY", "72": "PR",
}  # fmt: skip

#: Real county FIPS codes used for service areas and residences.
COUNTIES: dict[str, tuple[str, ...]] = {
    # Alamance, Buncombe, Cabarrus, Chatham, Cumberland, Davidson, Durham,
    # Forsyth, Franklin, Gaston, Guilford, Iredell, Johnston, Mecklenburg,
    # New Hanover, Orange, Pitt, Rowan, Union, Wake
    "NC": (
        "37001", "37021", "37025", "37037", "37051", "37057", "37063",
        "37067", "37069", "37071", "37081", "37097", "37101", "37119",
        "37129", "37135", "37147", "37159", "37179", "37183",
    ),
    # Albany, Bronx, Erie, Kings, Monroe, Nassau, New York, Onondaga,
    # Orange, Queens, Rensselaer, Richmond, Rockland, Saratoga, Schenectady,
    # Suffolk, Westchester
    "NY": (
        "36001", "36005", "36029", "36047", "36055", "36059", "36061",
        "36067", "36071", "36081", "36083", "36085", "36087", "36091",
        "36093", "36103", "36119",
    ),
    # states that movers go to (no ACO of the synthetic market there)
    "FL": ("12011", "12086", "12095", "12099"),  # Broward, Miami-Dade, Orange, Palm Beach
    "SC": ("45019", "45045", "45079"),  # Charleston, Greenville, Richland
    "NJ": ("34003", "34013", "34017"),  # Bergen, Essex, Hudson
    "VA": ("51059", "51760"),  # Fairfax, Richmond city
    "PA": ("42003", "42101"),  # Allegheny, Philadelphia
}  # fmt: skip

MOVE_STATES = ("FL", "SC", "NJ", "VA", "PA")

ACO_NAMES: dict[str, tuple[str, ...]] = {
    "NC": (
        "Piedmont Care Partners", "Triangle Health Collaborative",
        "Blue Ridge Primary Care Network", "Coastal Carolina ACO",
        "Queen City Physicians Alliance", "Sandhills Community Care",
    ),
    "NY": (
        "Hudson Valley Care Alliance", "Empire Primary Care Partners",
        "Five Boroughs Health Network", "Finger Lakes Physician ACO",
        "Long Island Senior Care Partners", "Niagara Frontier Care Collaborative",
    ),
}  # fmt: skip

#: Partnership pattern per market state: (kind or None, effective mid-year).
PARTNER_PATTERN: dict[str, tuple[tuple[str | None, bool], ...]] = {
    "NC": (("MCO", False), ("SMA", False), (None, False)),
    "NY": (("MCO", True), ("SMA", False), (None, False)),
}

#: Valid IRS EIN prefixes used for synthetic TINs.
EIN_PREFIXES = ("13", "20", "26", "27", "45", "46", "56", "58", "61", "62", "81", "82", "83")

PC_SPECIALTIES = ("01", "08", "11", "37", "38", "50", "89", "97")
PC_SPECIALTY_WEIGHTS = (5, 30, 30, 2, 5, 15, 3, 10)
OTHER_SPECIALTIES = ("06", "13", "29", "30")
OTHER_SPECIALTY_WEIGHTS = (40, 20, 20, 20)

#: (low, high) allowed charge in dollars by HCPCS code.
ALLOWED: dict[str, tuple[float, float]] = {
    "99202": (68.0, 80.0), "99203": (105.0, 120.0), "99204": (160.0, 180.0),
    "99205": (210.0, 235.0), "99211": (40.0, 48.0), "99212": (55.0, 62.0),
    "99213": (88.0, 98.0), "99214": (125.0, 138.0), "99215": (175.0, 195.0),
    "G0438": (165.0, 180.0), "G0439": (125.0, 135.0), "99495": (195.0, 210.0),
    "99496": (235.0, 250.0), "99490": (58.0, 66.0),
    "99341": (60.0, 70.0), "99342": (95.0, 110.0), "99344": (165.0, 180.0),
    "99345": (215.0, 235.0), "99347": (60.0, 70.0), "99348": (95.0, 105.0),
    "99349": (140.0, 155.0), "99350": (195.0, 215.0),
    "71046": (28.0, 36.0), "80053": (10.0, 12.0), "93000": (15.0, 18.0),
    "20610": (50.0, 62.0), "36415": (3.0, 3.5),
    # nursing facility visits (initial 99304-99306, subsequent 99307-99310)
    "99304": (95.0, 105.0), "99305": (135.0, 145.0), "99306": (175.0, 185.0),
    "99307": (45.0, 55.0), "99308": (75.0, 85.0), "99309": (105.0, 115.0),
    "99310": (155.0, 165.0),
    # FQHC prospective payment system visit codes
    "G0466": (185.0, 200.0), "G0467": (175.0, 190.0), "G0468": (230.0, 245.0),
}  # fmt: skip

#: Share of ACO participant TINs that bill as an FQHC, an RHC or a method II
#: CAH (the rest bill Part B professional claims; in each state one
#: unaffiliated TIN is an FQHC and one an RHC), and the FQHC visit code of an E&M code.
PROVIDER_TYPE_SHARES = (("FQHC", 0.08), ("RHC", 0.04), ("CAH2", 0.02))
FQHC_CODE = {"99202": "G0466", "99203": "G0466", "99204": "G0466", "99205": "G0466",
             "99211": "G0467", "99212": "G0467", "99213": "G0467", "99214": "G0467",
             "99215": "G0467", "G0438": "G0468", "G0439": "G0468"}  # fmt: skip
NF_EM = (
    ("99307", 30.0), ("99308", 35.0), ("99309", 20.0), ("99310", 8.0),
    ("99304", 2.0), ("99305", 3.0), ("99306", 2.0),
)  # fmt: skip
#: Places of service of professional lines that are not home or nursing facility visits.
OFFICE_POS = (("11", 85.0), ("22", 5.0), ("02", 3.0), ("10", 3.0), ("19", 2.0), ("20", 2.0))
HOME_CODES = frozenset(str(c) for c in range(99341, 99351))
NF_CODES = frozenset(str(c) for c in range(99304, 99311))

PC_EM = (
    ("99213", 30.0), ("99214", 28.0), ("99212", 6.0), ("99215", 6.0),
    ("99203", 3.0), ("99204", 3.0), ("99202", 1.0), ("99205", 1.0),
    ("99211", 2.0), ("G0438", 2.0), ("G0439", 6.0), ("99495", 1.5),
    ("99496", 1.0), ("99490", 4.0), ("99341", 0.5), ("99342", 0.5),
    ("99344", 0.5), ("99345", 0.5), ("99347", 0.5), ("99348", 0.5),
    ("99349", 0.5), ("99350", 0.5),
)  # fmt: skip
SPECIALIST_EM = (("99213", 3.0), ("99214", 4.0), ("99204", 2.0), ("99203", 1.0), ("99215", 1.0))
NON_PC = (("36415", 5.0), ("80053", 3.0), ("93000", 3.0), ("20610", 2.0), ("71046", 1.0))
EXTRA_LINE = (("36415", 5.0), ("80053", 3.0), ("93000", 2.0))

FULL_DUAL = (("02", 55.0), ("08", 35.0), ("04", 10.0))
PARTIAL_DUAL = (("01", 50.0), ("03", 30.0), ("06", 15.0), ("05", 5.0))
MA_HMO = (("C", 70.0), ("A", 10.0), ("1", 8.0), ("2", 6.0), ("B", 6.0))
INTEGRATED = (
    ("D-SNP", 40.0), ("HIDE-SNP", 15.0), ("FIDE-SNP", 15.0),
    ("AIP", 10.0), ("MMP", 8.0), ("PACE", 12.0),
)  # fmt: skip

#: MBI character classes (CMS MBI format: C A AN N A AN N A A N N).
MBI_ALPHA = "ACDEFGHJKMNPQRTUVWXY"
MBI_ALNUM = "0123456789" + MBI_ALPHA
MBI_POSITIONS = (
    "123456789", MBI_ALPHA, MBI_ALNUM, "0123456789", MBI_ALPHA, MBI_ALNUM,
    "0123456789", MBI_ALPHA, MBI_ALPHA, "0123456789", "0123456789",
)  # fmt: skip
MBI_SPACE = 1
for _chars in MBI_POSITIONS:
    MBI_SPACE *= len(_chars)
MBI_MULTIPLIER = 982_451_653  # prime, so coprime with the MBI space (2, 3, 5 only)

N_MONTHS = 36

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Weighted:
    items: tuple[str, ...]
    cum: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, float]]) -> Weighted:
        items: list[str] = []
        cum: list[float] = []
        total = 0.0
        for item, weight in pairs:
            total += weight
            items.append(item)
            cum.append(total)
        scaled = [c / total for c in cum]
        scaled[-1] = 1.0  # r() < 1.0, so bisect never runs past the last item
        return cls(tuple(items), tuple(scaled))

    def pick(self, r: Callable[[], float]) -> str:
        return self.items[bisect(self.cum, r())]


W_PC_EM = Weighted.of(PC_EM)
W_SPEC_EM = Weighted.of(SPECIALIST_EM)
W_NON_PC = Weighted.of(NON_PC)
W_EXTRA = Weighted.of(EXTRA_LINE)
W_FULL = Weighted.of(FULL_DUAL)
W_PARTIAL = Weighted.of(PARTIAL_DUAL)
W_MA = Weighted.of(MA_HMO)
W_INTEGRATED = Weighted.of(INTEGRATED)
W_NF_EM = Weighted.of(NF_EM)
#: Visit codes that a nursing-facility visit replaces for a nursing facility resident.
PC_SPECIALTY_EM = frozenset(code for code, _ in PC_EM if code not in ("99495", "99496", "99490"))
W_OFFICE_POS = Weighted.of(OFFICE_POS)
W_PC_SPEC = Weighted.of(list(zip(PC_SPECIALTIES, map(float, PC_SPECIALTY_WEIGHTS), strict=True)))
W_OTHER_SPEC = Weighted.of(list(zip(OTHER_SPECIALTIES, map(float, OTHER_SPECIALTY_WEIGHTS), strict=True)))


def random_digits(rng: random.Random, k: int) -> str:
    return str(rng.randrange(10**k)).zfill(k)


def new_tin(rng: random.Random, taken: set[str]) -> str:
    while True:
        tin = rng.choice(EIN_PREFIXES) + random_digits(rng, 7)
        if tin not in taken:
            taken.add(tin)
            return tin


def new_npi(rng: random.Random, taken: set[str]) -> str:
    """A 10-digit NPI with a valid Luhn check digit (prefix 80840)."""
    while True:
        base = rng.choice("12") + random_digits(rng, 8)
        total = 0
        for pos, ch in enumerate(reversed("80840" + base)):
            d = int(ch)
            if pos % 2 == 0:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        npi = base + str((10 - total % 10) % 10)
        if npi not in taken:
            taken.add(npi)
            return npi


def make_mbi(index: int, offset: int) -> str:
    """An MBI-shaped identifier, a bijection of the record index (unique)."""
    x = (index * MBI_MULTIPLIER + offset) % MBI_SPACE
    out: list[str] = []
    for chars in reversed(MBI_POSITIONS):
        x, digit = divmod(x, len(chars))
        out.append(chars[digit])
    return "".join(reversed(out))


def new_plan_id(state: str, rng: random.Random) -> str:
    return f"{state}-MCO-{rng.randrange(1, 10_000):04d}"


def new_ma_plan_id(rng: random.Random) -> str:
    return f"H{rng.randrange(1000, 10_000)}-{rng.randrange(1, 1000):03d}"


