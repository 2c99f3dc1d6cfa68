"""The daily ledger recomputed through the Toast emulator's HTTP API, with independent decimal
arithmetic (each double's decimal text rounded half-up to cents), equals ``compute_truth``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from toast_emulator_support import daily_from_orders, make_world, served, validate, window_params

from pos_sandbox.ledger import compute_truth
from pos_sandbox.world import World


def _truth_rows(world: World, location_id: str) -> list[dict[str, Any]]:
    return [r for r in compute_truth(world)["daily"] if r["location_id"] == location_id]


def _objects(orders: list[dict[str, Any]]) -> dict[str, int]:
    checks = [c for o in orders for c in o["checks"]]
    selections = [s for c in checks for s in c["selections"]]
    payments = [p for c in checks for p in c["payments"]]
    return {
        "orders": len(orders), "checks": len(checks), "deleted_checks": sum(c["deleted"] for c in checks),
        "payments": len(payments), "selections": len(selections),
        "voided_selections": sum(1 for c in checks if not c["voided"] for s in c["selections"] if s["voided"]),
        "refunded_payments": sum(1 for p in payments if p["refundStatus"] != "NONE"),
        "voided_orders": sum(o["voided"] for o in orders),
    }


@pytest.mark.parametrize(("seed", "start", "days"), [(39, date(2026, 3, 2), 4), (7, date(2026, 3, 6), 4)],
                         ids=["plain", "dst-2026-03-08"])
def test_daily_ledger_through_the_api_equals_truth(seed: int, start: date, days: int) -> None:
    world = make_world(seed=seed, start=start, days=days)
    loc = world.locations[0]
    clocks = [world.window_end_utc, world.window_start_utc + timedelta(days=2, hours=15, minutes=7),
              world.window_end_utc + timedelta(days=7)]  # the last one brings every late refund and tip edit
    with served(world) as s:
        for now in clocks:
            world.set_now(now)
            orders = s.all_orders(**window_params(world), pageSize=50)
            validate("orders", "Order", orders, array=True)
            assert daily_from_orders(orders, loc.location_id, loc.currency) == _truth_rows(world, loc.location_id)
            truth_objects = next(r for r in compute_truth(world)["objects"] if r["location_id"] == loc.location_id)
            assert _objects(orders) == {k: truth_objects[k] for k in _objects(orders)}
    if start == date(2026, 3, 6):  # the window crosses the US change to daylight time
        zone = world.zone(loc.timezone)
        offsets = {datetime.combine(start + timedelta(days=d), time(12), zone).utcoffset() for d in range(days)}
        assert len(offsets) == 2


def test_business_date_queries_add_up_to_the_same_ledger() -> None:
    world = make_world(seed=39)
    loc = world.locations[0]
    with served(world) as s:
        orders: list[dict[str, Any]] = []
        for d in range(-1, world.days + 1):
            day = world.start + timedelta(days=d)
            orders += s.all_orders(businessDate=day.strftime("%Y%m%d"))
        truth = _truth_rows(world, loc.location_id)
        assert len({o["guid"] for o in orders}) == len(orders)
        assert daily_from_orders(orders, loc.location_id, loc.currency) == truth
