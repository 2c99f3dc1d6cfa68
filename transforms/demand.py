"""The demand history forecasting reads: pure functions, no I/O.

One row per tenant × location × business date × product, where the product is the bakery's own
(``mapped_product_id``) when the POS product is mapped, else the POS product (``is_mapped`` false;
``pos_item_id``, ``(custom)`` for lines without one). Units and money come from
``pos.daily_product_sales`` (money turned into exact integer cents here, never floats); counts of
distinct sale and refund transactions from the lines themselves (two POS products mapped to one
bakery product in one sale are one transaction).

**Refunds stay on their own business date** (the convention of ``daily_product_sales`` and of the
sandbox ledger): ``units_sold`` of a day never changes when a refund arrives later, the refund's
units and money land on the day it was made. For a bakery the forecast target is the units that
left the shelf on the sale day — a croissant refunded two days later was baked and taken; netting
it out of its sale day would under-forecast production and restate old days. ``units_refunded``,
``refund_cents`` and ``net_revenue_cents`` (sales − refunds of the day) are there for revenue.

The **calendar** of each location-day: weekday, public holiday (Spain's national holidays and
those of the location's autonomous community, from the ``holidays`` library with ``subdiv``; the
community from the postal code's province, else the time zone — ``Atlantic/Canary`` is the Canary
Islands) and **opening status**: a day without a single completed sale, between the location's
first trading day and the account's last trading day, is *closed* — not a day of zero demand
(``closure_reason``: ``holiday``, ``no_trading``; ``no_sales`` when only refunds or voids were made).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from transforms.canonical import Table
from transforms.money import exponent

CALENDAR_VERSION = "1"  # bump when a calendar rule changes: every location-day is recomputed
CUSTOM = "(custom)"

# Spain: the province (first two digits of the postal code, the INE code) → autonomous community
# (ISO 3166-2:ES, the ``subdiv`` codes of the holidays library)
SPAIN_PROVINCES: dict[str, str] = {
    "01": "PV", "02": "CM", "03": "VC", "04": "AN", "05": "CL", "06": "EX", "07": "IB", "08": "CT", "09": "CL",
    "10": "EX", "11": "AN", "12": "VC", "13": "CM", "14": "AN", "15": "GA", "16": "CM", "17": "CT", "18": "AN",
    "19": "CM", "20": "PV", "21": "AN", "22": "AR", "23": "AN", "24": "CL", "25": "CT", "26": "RI", "27": "GA",
    "28": "MD", "29": "AN", "30": "MC", "31": "NC", "32": "GA", "33": "AS", "34": "CL", "35": "CN", "36": "GA",
    "37": "CL", "38": "CN", "39": "CB", "40": "CL", "41": "AN", "42": "CL", "43": "CT", "44": "AR", "45": "CM",
    "46": "VC", "47": "CL", "48": "PV", "49": "CL", "50": "AR", "51": "CE", "52": "ML",
}
ZONE_REGIONS: dict[str, str] = {"Atlantic/Canary": "CN"}  # Africa/Ceuta is Ceuta and Melilla: ambiguous


def region_of(country: str | None, timezone: str | None, postal_code: str | None = None) -> str | None:
    """The location's holiday subdivision: Spain's autonomous community from the postal code's
    province, else from the time zone (Canary Islands); None elsewhere (national holidays only)."""
    if (country or "").upper() != "ES":
        return None
    code = (postal_code or "").strip()
    if len(code) == 5 and code.isdigit() and code[:2] in SPAIN_PROVINCES:
        return SPAIN_PROVINCES[code[:2]]
    return ZONE_REGIONS.get(timezone or "")


@dataclass(frozen=True)
class Holiday:
    name: str
    scope: str  # national | regional


@cache
def _holidays(country: str, subdiv: str | None, year: int) -> dict[date, Holiday]:
    import holidays

    try:
        national = holidays.country_holidays(country, years=year)
    except NotImplementedError:  # a country the library does not know: no holidays
        return {}
    days = {d: Holiday(str(n), "national") for d, n in national.items()}
    if subdiv:
        for d, n in holidays.country_holidays(country, subdiv=subdiv, years=year).items():
            days.setdefault(d, Holiday(str(n), "regional"))
    return days


def holiday(country: str | None, subdiv: str | None, day: date) -> Holiday | None:
    """The public holiday on ``day`` where the location is (national first, else regional)."""
    if not country:
        return None
    return _holidays(country.upper(), subdiv, day.year).get(day)


@dataclass(frozen=True)
class LocationInfo:
    tenant_id: str
    pos_provider: str
    pos_account_id: str
    location_id: str
    country: str | None
    timezone: str | None
    postal_code: str | None = None

    @property
    def region(self) -> str | None:
        return region_of(self.country, self.timezone, self.postal_code)


def calendar_row(loc: LocationInfo, day: date, sales: int, refunds: int, voids: int, fingerprint: str) -> dict[str, Any]:
    """One ``pos.demand_calendar`` row: weekday, holiday, opening status of a location-day."""
    hol = holiday(loc.country, loc.region, day)
    is_open = sales > 0
    if is_open:
        reason = None
    elif refunds or voids:  # the till was used, nothing was sold (e.g. refunds after the last trading day)
        reason = "no_sales"
    else:
        reason = "holiday" if hol else "no_trading"
    return {
        "tenant_id": loc.tenant_id, "pos_provider": loc.pos_provider, "pos_account_id": loc.pos_account_id,
        "location_id": loc.location_id, "business_date": day, "weekday": day.weekday(),
        "region": loc.region, "is_holiday": hol is not None, "holiday_name": hol.name if hol else None,
        "holiday_scope": hol.scope if hol else None, "is_open": is_open,
        "closure_reason": reason,
        "sales": sales, "refunds": refunds, "voids": voids, "source_fingerprint": fingerprint,
    }


def trading_range(first_days: Mapping[str, date], last_day: date | None) -> dict[str, list[date]]:
    """Each location's calendar: every day from its first trading day to the account's last
    trading day (a closure is known once a later day has sales somewhere in the account)."""
    if last_day is None:
        return {}
    return {loc: [first + timedelta(days=i) for i in range((last_day - first).days + 1)]
            for loc, first in first_days.items() if first <= last_day}


def fingerprint(*parts: object) -> str:
    """A short digest of a location-day's source rows: a day is recomputed when it changes."""
    return hashlib.sha256("\x1f".join([CALENDAR_VERSION, *map(str, parts)]).encode()).hexdigest()[:32]


def cents(amount: Decimal | int | str | None, currency: str | None) -> int:
    """Exact major-unit decimal → integer minor units (refuses a fraction of a cent)."""
    value = Decimal(0 if amount is None else amount).scaleb(exponent(currency or "EUR"))
    if value != value.to_integral_value():
        raise ValueError(f"{amount} {currency} is not a whole number of minor units")
    return int(value)


def product_key(pos_item_id: str | None, mapped_product_id: str | None) -> tuple[str, bool]:
    """(product key, is_mapped): the bakery product when mapped, else the POS product."""
    if mapped_product_id:
        return mapped_product_id, True
    return pos_item_id or CUSTOM, False


def demand_rows(daily: Iterable[Mapping[str, Any]], counts: Mapping[tuple[str, date, str, bool], tuple[int, int]],
                calendar: Mapping[tuple[str, date], Mapping[str, Any]], account_id: str) -> list[dict[str, Any]]:
    """``pos.demand_history`` rows from ``daily_product_sales`` rows of some location-days.

    ``counts``: (location, date, product key, is_mapped) → (distinct sales, distinct refunds);
    ``calendar``: (location, date) → its ``demand_calendar`` row (weekday, holiday, open)."""
    out: dict[tuple[str, str, str, date, str, bool], dict[str, Any]] = {}
    for d in daily:
        key, mapped = product_key(d["pos_item_id"], d.get("mapped_product_id"))
        day = d["business_date"]
        k = (d["tenant_id"], d["pos_provider"], d["location_id"], day, key, mapped)
        row = out.get(k)
        if row is None:
            cal = calendar.get((d["location_id"], day), {})
            sales, refunds = counts.get((d["location_id"], day, key, mapped), (0, 0))
            row = out[k] = {
                "tenant_id": d["tenant_id"], "pos_provider": d["pos_provider"], "pos_account_id": account_id,
                "location_id": d["location_id"], "business_date": day, "product_key": key, "is_mapped": mapped,
                "mapped_product_id": d.get("mapped_product_id") if mapped else None,
                "pos_item_ids": [], "product_name": d.get("product_name"), "currency": d.get("currency"),
                "units_sold": Decimal(0), "units_refunded": Decimal(0), "gross_sales_cents": 0,
                "discount_cents": 0, "refund_cents": 0, "net_revenue_cents": 0,
                "transactions": sales, "refunds": refunds,
                "weekday": day.weekday(), "is_holiday": bool(cal.get("is_holiday")),
                "is_open": bool(cal.get("is_open", True)),
            }
        cur = d.get("currency")
        row["pos_item_ids"].append(d["pos_item_id"])
        row["units_sold"] += Decimal(d["quantity_sold"] or 0)
        row["units_refunded"] += Decimal(d["quantity_refunded"] or 0)
        row["gross_sales_cents"] += cents(d["gross_sales"], cur)
        row["discount_cents"] += cents(d["discount_amount"], cur)
        row["refund_cents"] += cents(d["refund_amount"], cur)
        row["net_revenue_cents"] += cents(d["net_revenue"], cur)
    rows = []
    for row in out.values():
        row["pos_item_ids"] = ",".join(sorted(row["pos_item_ids"]))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["location_id"], r["business_date"], r["product_key"]))


# ---------------------------------------------------------------------- tables (schema pos)
DEMAND_HISTORY = Table(
    "demand_history",
    (
        ("tenant_id", "TEXT"), ("pos_provider", "TEXT"), ("pos_account_id", "TEXT"), ("location_id", "TEXT"),
        ("business_date", "DATE"), ("product_key", "TEXT"), ("is_mapped", "BOOLEAN"),
        ("mapped_product_id", "TEXT"), ("pos_item_ids", "TEXT"), ("product_name", "TEXT"), ("currency", "TEXT"),
        ("units_sold", "NUMERIC(14,3)"), ("units_refunded", "NUMERIC(14,3)"),
        ("gross_sales_cents", "BIGINT"), ("discount_cents", "BIGINT"), ("refund_cents", "BIGINT"),
        ("net_revenue_cents", "BIGINT"), ("transactions", "INTEGER"), ("refunds", "INTEGER"),
        ("weekday", "INTEGER"), ("is_holiday", "BOOLEAN"), ("is_open", "BOOLEAN"),
    ),
    key=("tenant_id", "pos_provider", "location_id", "business_date", "product_key", "is_mapped"),
)

DEMAND_CALENDAR = Table(
    "demand_calendar",
    (
        ("tenant_id", "TEXT"), ("pos_provider", "TEXT"), ("pos_account_id", "TEXT"), ("location_id", "TEXT"),
        ("business_date", "DATE"), ("weekday", "INTEGER"), ("region", "TEXT"), ("is_holiday", "BOOLEAN"),
        ("holiday_name", "TEXT"), ("holiday_scope", "TEXT"), ("is_open", "BOOLEAN"), ("closure_reason", "TEXT"),
        ("sales", "INTEGER"), ("refunds", "INTEGER"), ("voids", "INTEGER"), ("source_fingerprint", "TEXT"),
    ),
    key=("tenant_id", "pos_provider", "location_id", "business_date"),
)

DEMAND_FORECAST = Table(
    "demand_forecast",
    (
        ("tenant_id", "TEXT"), ("pos_provider", "TEXT"), ("pos_account_id", "TEXT"), ("location_id", "TEXT"),
        ("product_key", "TEXT"), ("is_mapped", "BOOLEAN"), ("forecast_date", "DATE"), ("horizon_days", "INTEGER"),
        ("origin_date", "DATE"), ("units", "DOUBLE"), ("open_probability", "DOUBLE"), ("is_holiday", "BOOLEAN"),
        ("method", "TEXT"), ("generated_at", "TIMESTAMPTZ"),
    ),
    key=("tenant_id", "pos_provider", "location_id", "product_key", "is_mapped", "forecast_date"),
)

DEMAND_TABLES: tuple[Table, ...] = (DEMAND_HISTORY, DEMAND_CALENDAR, DEMAND_FORECAST)
