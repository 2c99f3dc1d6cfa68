"""``transforms.demand``: the refund convention, the product key, exact cents, holiday regions
(a Canary-only holiday), the calendar's opening status."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from transforms.demand import (
    LocationInfo,
    calendar_row,
    cents,
    demand_rows,
    fingerprint,
    holiday,
    product_key,
    region_of,
    trading_range,
)

MADRID = LocationInfo("t", "square", "acc", "MAD", "ES", "Europe/Madrid", "28013")
LAS_PALMAS = LocationInfo("t", "square", "acc", "LPA", "ES", "Atlantic/Canary", "35002")
SALE_DAY, REFUND_DAY = date(2026, 3, 2), date(2026, 3, 4)


def dps(day: date, item: str, sold: str, refunded: str, gross: str, refund: str, net: str, txns: int,
        mapped: str | None = None) -> dict[str, Any]:
    return {"tenant_id": "t", "pos_provider": "square", "location_id": "MAD", "business_date": day,
            "pos_item_id": item, "product_name": item, "mapped_product_id": mapped, "currency": "EUR",
            "quantity_sold": Decimal(sold), "quantity_refunded": Decimal(refunded), "gross_sales": Decimal(gross),
            "discount_amount": Decimal("0.00"), "refund_amount": Decimal(refund), "net_revenue": Decimal(net),
            "transactions": txns}


def test_a_late_refund_stays_on_its_own_day_and_the_sale_day_is_unchanged() -> None:
    sale = dps(SALE_DAY, "CROISSANT", "3", "0", "4.50", "0.00", "4.50", 2)
    before = demand_rows([sale], {}, {}, "acc")
    refund = dps(REFUND_DAY, "CROISSANT", "0", "1", "0.00", "1.50", "-1.50", 0)
    after = demand_rows([sale, refund], {("MAD", REFUND_DAY, "CROISSANT", False): (0, 1)}, {}, "acc")
    by_day = {r["business_date"]: r for r in after}
    assert by_day[SALE_DAY] == before[0]  # the sale's day is not restated
    assert by_day[SALE_DAY]["units_sold"] == 3 and by_day[SALE_DAY]["net_revenue_cents"] == 450
    r = by_day[REFUND_DAY]
    assert (r["units_sold"], r["units_refunded"], r["refund_cents"], r["net_revenue_cents"], r["refunds"]) == (
        0, 1, 150, -150, 1)


def test_mapped_products_are_the_bakery_product_unmapped_stay_pos_products() -> None:
    assert product_key("VAR1", "prod-9") == ("prod-9", True)
    assert product_key("VAR1", None) == ("VAR1", False) and product_key(None, None) == ("(custom)", False)
    rows = demand_rows([dps(SALE_DAY, "BARRA", "2", "0", "2.00", "0.00", "2.00", 2, mapped="prod-barra"),
                        dps(SALE_DAY, "BARRA GRANDE", "1", "0", "1.50", "0.00", "1.50", 1, mapped="prod-barra"),
                        dps(SALE_DAY, "ROSCON", "1", "0", "18.90", "0.00", "18.90", 1)],
                       {("MAD", SALE_DAY, "prod-barra", True): (2, 0)}, {}, "acc")
    barra, roscon = (next(r for r in rows if r["product_key"] == k) for k in ("prod-barra", "ROSCON"))
    assert (barra["product_key"], barra["is_mapped"], barra["units_sold"], barra["gross_sales_cents"]) == (
        "prod-barra", True, 3, 350)
    assert barra["pos_item_ids"] == "BARRA,BARRA GRANDE"
    assert barra["transactions"] == 2  # distinct sales (one sale had both POS items), not 2 + 1
    assert (roscon["product_key"], roscon["is_mapped"], roscon["mapped_product_id"]) == ("ROSCON", False, None)


def test_money_is_exact_integer_cents() -> None:
    assert cents(Decimal("12.34"), "EUR") == 1234 and cents(Decimal("-0.05"), "USD") == -5
    assert cents(Decimal("1200"), "JPY") == 1200
    with pytest.raises(ValueError):
        cents(Decimal("0.005"), "EUR")


def test_holiday_region_from_postal_code_else_time_zone() -> None:
    assert MADRID.region == "MD" and LAS_PALMAS.region == "CN"
    assert region_of("ES", "Europe/Madrid", "08002") == "CT"  # Barcelona
    assert region_of("ES", "Atlantic/Canary", None) == "CN"  # no postal code: the zone says Canaries
    assert region_of("ES", "Europe/Madrid", None) is None  # national holidays only
    assert region_of("US", "America/New_York", "10014") is None


def test_national_and_canary_only_holidays() -> None:
    canarias = date(2026, 5, 30)  # Día de Canarias: a holiday in the Canary Islands only
    assert holiday("ES", "CN", canarias).scope == "regional"  # type: ignore[union-attr]
    assert holiday("ES", "MD", canarias) is None and holiday("ES", None, canarias) is None
    assert holiday("ES", "MD", date(2026, 5, 2)).scope == "regional"  # type: ignore[union-attr]  # Madrid's own
    assert holiday("ES", "CN", date(2026, 5, 2)) is None
    epiphany = holiday("ES", "CN", date(2026, 1, 6))
    assert epiphany is not None and epiphany.scope == "national"
    assert holiday("US", None, date(2026, 7, 4)) is not None and holiday(None, None, date(2026, 7, 4)) is None


def test_calendar_flags_closed_days_not_zero_demand() -> None:
    closed = calendar_row(LAS_PALMAS, date(2026, 1, 4), 0, 0, 0, "fp")  # a Sunday without a single sale
    assert (closed["is_open"], closed["closure_reason"], closed["weekday"], closed["is_holiday"]) == (
        False, "no_trading", 6, False)
    holiday_closed = calendar_row(LAS_PALMAS, date(2026, 5, 30), 0, 0, 0, "fp")
    assert (holiday_closed["is_open"], holiday_closed["closure_reason"], holiday_closed["holiday_scope"]) == (
        False, "holiday", "regional")
    assert calendar_row(MADRID, date(2026, 5, 30), 25, 1, 0, "fp")["is_open"]  # Madrid trades that day
    assert calendar_row(MADRID, date(2026, 3, 9), 0, 2, 0, "fp")["closure_reason"] == "no_sales"
    days = trading_range({"MAD": date(2026, 1, 2), "LPA": date(2026, 1, 5)}, date(2026, 1, 6))
    assert days == {"MAD": [date(2026, 1, d) for d in range(2, 7)], "LPA": [date(2026, 1, 5), date(2026, 1, 6)]}
    assert trading_range({"MAD": date(2026, 1, 2)}, None) == {}
    assert fingerprint("a", 1) == fingerprint("a", 1) != fingerprint("a", 2)
