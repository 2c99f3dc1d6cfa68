"""Closed days of the bakery world: no sales and no refunds there, and the ledger lists them."""

from __future__ import annotations

from datetime import date

from pos_sandbox.closures import closure_reason, easter, spain_national
from pos_sandbox.ledger import compute_truth
from pos_sandbox.world import World


def test_easter_and_national_holidays() -> None:
    assert easter(2026) == date(2026, 4, 5) and easter(2025) == date(2025, 4, 20)
    assert spain_national(2026)[date(2026, 4, 3)] == "viernes_santo"
    assert closure_reason("open", "US", date(2026, 12, 25)) == "christmas"
    assert closure_reason("open", "ES", date(2026, 1, 6)) is None
    assert closure_reason("holidays", "ES", date(2026, 1, 6)) == "national_holiday:epifania"
    assert closure_reason("holidays", "ES", date(2026, 1, 4)) is None  # a Sunday
    assert closure_reason("sundays_1_3_and_holidays", "ES", date(2026, 1, 4)) == "sunday"  # 1st Sunday
    assert closure_reason("sundays_1_3_and_holidays", "ES", date(2026, 1, 11)) is None  # 2nd
    assert closure_reason("sundays_1_3_and_holidays", "ES", date(2026, 1, 18)) == "sunday"  # 3rd


def test_closed_days_have_no_sales_no_refunds_and_are_in_the_truth() -> None:
    world = World(seed=10, start=date(2026, 1, 2), days=6, scale="tiny")  # Sun 4 Jan, Epiphany 6 Jan
    truth = compute_truth(world)
    closed = {(c["location_id"], c["business_date"]): c["reason"] for c in truth["closures"]}
    by_name = {loc.name: loc.location_id for loc in world.locations}
    madrid, las_palmas = by_name["Horno San Bartolo - Madrid 1"], by_name["Horno San Bartolo - Las Palmas"]
    barcelona = by_name["Forn San Bartolo - Barcelona"]
    assert closed == {(madrid, "2026-01-06"): "national_holiday:epifania",
                      (las_palmas, "2026-01-04"): "sunday", (las_palmas, "2026-01-06"): "national_holiday:epifania"}
    assert barcelona not in {loc for loc, _ in closed}
    days = {(r["location_id"], r["business_date"]) for r in truth["daily"]}
    assert not set(closed) & days  # no sale, no refund, no void on a closed day
    assert (madrid, "2026-01-04") in days  # Madrid trades on Sundays
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            if sale.refund is not None:
                assert world.closure(loc, world.business_date(loc, sale.refund.created_at)) is None
