"""Days a shop of the bakery world is closed: no sales, no refunds at its till.

Deterministic, from the world's layout alone (no seed, no RNG draw: every other day of the world
stays byte for byte what it was). The sandbox keeps its own list of Spain's national holidays
(it must not agree with the product's holiday library); the ledger lists the closed days
(``compute_truth(...)["closures"]``) so tests can tell "closed" from "no demand".

* every location: 1 January and 25 December (the world's own holiday factors are 0 on them);
* Spanish locations, by their position among the world's Spanish locations (``i % 3``):

  ====  =================================================================
  0     closed on Spain's national holidays
  1     closed on the 1st and 3rd Sunday of each month and on national holidays
  2     open every other day
  ====  =================================================================

  ``small``: Madrid 0, Las Palmas 1, Barcelona 2; ``chain``: Madrid 1–3 0/1/2, Las Palmas 0,
  Santa Cruz 1, Barcelona 2, Valencia 0, Sevilla 1.
* US locations: only the two world-wide days.

A refund whose instant falls on a closed day of its location moves to the same hour of the next
open day (the shop is shut; the customer comes back).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache
from typing import Protocol

ALWAYS = {(1, 1): "new_year", (12, 25): "christmas"}
# Spain's national holidays on fixed dates (Good Friday is added per year: Easter-dependent)
SPAIN_NATIONAL = {(1, 6): "epifania", (5, 1): "dia_del_trabajo", (8, 15): "asuncion", (10, 12): "fiesta_nacional",
                  (11, 1): "todos_los_santos", (12, 6): "constitucion", (12, 8): "inmaculada"}
HOLIDAYS, SUNDAYS, NONE = "holidays", "sundays_1_3_and_holidays", "open"
POLICIES = (HOLIDAYS, SUNDAYS, NONE)


class _Loc(Protocol):
    location_id: str
    country: str


def easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def spain_national(year: int) -> dict[date, str]:
    days = {date(year, m, d): name for (m, d), name in SPAIN_NATIONAL.items()}
    days[easter(year) - timedelta(days=2)] = "viernes_santo"
    return days


def policies(locations: Iterable[_Loc]) -> dict[str, str]:
    """Each location's closing policy (Spanish locations by position, others ``open``)."""
    out, spanish = {}, 0
    for loc in locations:
        if loc.country == "ES":
            out[loc.location_id] = POLICIES[spanish % len(POLICIES)]
            spanish += 1
        else:
            out[loc.location_id] = NONE
    return out


def closure_reason(policy: str, country: str, day: date) -> str | None:
    """Why a location with ``policy`` is closed on its local ``day`` (None: it trades)."""
    if (reason := ALWAYS.get((day.month, day.day))) is not None:
        return reason
    if country != "ES" or policy == NONE:
        return None
    if (reason := spain_national(day.year).get(day)) is not None:
        return f"national_holiday:{reason}"
    if policy == SUNDAYS and day.weekday() == 6 and (day.day - 1) // 7 in (0, 2):
        return "sunday"
    return None


def next_open(policy: str, country: str, local: datetime) -> datetime:
    """``local`` (an aware local instant) moved day by day to the first day the location trades."""
    while closure_reason(policy, country, local.date()) is not None:
        local = (local + timedelta(days=1)).replace(tzinfo=local.tzinfo)
    return local
