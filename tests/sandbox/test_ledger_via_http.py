"""The ground-truth ledger recomputed through the Square emulator's HTTP API only.

A client that knows nothing of the generator pages through SearchOrders (every state, every
location) and ListPaymentRefunds, reads the locations' time zones from ListLocations, and applies
the definitions of ``docs/sandbox.md`` with its own arithmetic (integer minor units, summed once):

* ``business_date`` = local date of ``closed_at`` in the location's zone;
* ``sales_count`` = COMPLETED orders that are not return orders; ``void_count`` = CANCELED orders;
* ``items_quantity`` = Σ line quantities of completed sales; ``gross_sales`` = Σ line
  ``gross_sales_money``; discount, service charge, tax, tip and total from the order totals;
* ``refund_count`` / ``refund_amount`` = COMPLETED PaymentRefunds on the local date of the
  refund's ``created_at``; ``net_amount`` = total − refunds.

The result must equal ``compute_truth(world)['daily']`` for the Square locations, field by field,
for a plain window, one crossing the European DST change (29 March 2026) and with the clock
moved to the middle of the window (over HTTP, ``POST /_sandbox/clock``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from support.accounts import manifest_account
from support.worlds import mid_window, sandbox_world

from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SQUARE_VERSION = "2025-08-20"
AMOUNT_FIELDS = ("gross_sales", "discount_amount", "service_charge_amount", "tax_amount", "tip_amount",
                 "total_amount", "refund_amount", "net_amount")
COUNT_FIELDS = ("sales_count", "void_count", "refund_count")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cents(money: dict[str, Any] | None) -> int:
    if not money:
        return 0
    assert isinstance(money["amount"], int), money  # Square money: integer minor units
    return int(money["amount"])


class SquareReader:
    """A plain HTTP client of the emulator (no pos_sandbox internals)."""

    def __init__(self, base_url: str, access_token: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, headers={
            "Authorization": f"Bearer {access_token}", "Square-Version": SQUARE_VERSION})

    def close(self) -> None:
        self.http.close()

    def locations(self) -> list[dict[str, Any]]:
        r = self.http.get("/v2/locations")
        r.raise_for_status()
        return list(r.json()["locations"])

    def all_orders(self, location_ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        pages = 0
        while True:
            body: dict[str, Any] = {
                "location_ids": location_ids, "limit": 50,
                "query": {"filter": {"state_filter": {"states": ["OPEN", "COMPLETED", "CANCELED", "DRAFT"]}},
                          "sort": {"sort_field": "CREATED_AT", "sort_order": "ASC"}},
            }
            if cursor:
                body["cursor"] = cursor
            r = self.http.post("/v2/orders/search", json=body)
            r.raise_for_status()
            page = r.json()
            out.extend(page.get("orders", []))
            pages += 1
            cursor = page.get("cursor")
            if not cursor:
                break
        assert pages > 1, "the test must exercise SearchOrders pagination"
        return out

    def all_refunds(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 20, "sort_order": "ASC"}
            if cursor:
                params["cursor"] = cursor
            r = self.http.get("/v2/refunds", params=params)
            r.raise_for_status()
            page = r.json()
            out.extend(page.get("refunds", []))
            cursor = page.get("cursor")
            if not cursor:
                return out


class Day:
    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(COUNT_FIELDS, 0)
        self.cents: dict[str, int] = defaultdict(int)
        self.quantity = Decimal(0)
        self.currency: str | None = None


def ledger_via_http(base_url: str, access_token: str) -> tuple[dict[tuple[str, str], Day], Counter[str]]:
    """({(location_id, business_date): Day}, refunds per status) from the API alone."""
    reader = SquareReader(base_url, access_token)
    try:
        locations = reader.locations()
        zones = {loc["id"]: ZoneInfo(loc["timezone"]) for loc in locations}
        currencies = {loc["id"]: loc["currency"] for loc in locations}
        orders = reader.all_orders(sorted(zones))
        refunds = reader.all_refunds()
    finally:
        reader.close()
    assert len({o["id"] for o in orders}) == len(orders), "SearchOrders served an order twice"
    assert len({r["id"] for r in refunds}) == len(refunds), "ListPaymentRefunds served a refund twice"

    days: dict[tuple[str, str], Day] = defaultdict(Day)

    def day_of(location_id: str, instant: str) -> Day:
        local = _instant(instant).astimezone(zones[location_id]).date().isoformat()
        d = days[(location_id, local)]
        d.currency = currencies[location_id]
        return d

    for order in orders:
        if order.get("returns"):  # a return order (a refund's): counts nowhere as a sale
            continue
        loc = order["location_id"]
        d = day_of(loc, order["closed_at"])
        if order["state"] == "CANCELED":
            d.counts["void_count"] += 1
            continue
        if order["state"] != "COMPLETED":
            continue
        d.counts["sales_count"] += 1
        for line in order.get("line_items", []):
            d.quantity += Decimal(line["quantity"])
            d.cents["gross_sales"] += _cents(line.get("gross_sales_money"))
        d.cents["discount_amount"] += _cents(order.get("total_discount_money"))
        d.cents["service_charge_amount"] += _cents(order.get("total_service_charge_money"))
        d.cents["tax_amount"] += _cents(order.get("total_tax_money"))
        d.cents["tip_amount"] += _cents(order.get("total_tip_money"))
        d.cents["total_amount"] += _cents(order.get("total_money"))
        assert order["total_money"]["currency"] == currencies[loc]

    for refund in refunds:
        if refund["status"] != "COMPLETED":
            continue
        d = day_of(refund["location_id"], refund["created_at"])
        d.counts["refund_count"] += 1
        d.cents["refund_amount"] += _cents(refund.get("amount_money"))

    for d in days.values():
        d.cents["net_amount"] = d.cents["total_amount"] - d.cents["refund_amount"]
    return days, Counter(r["status"] for r in refunds)


def assert_equals_truth(days: dict[tuple[str, str], Day], truth: dict[str, Any]) -> None:
    expected = {(r["location_id"], r["business_date"]): r for r in truth["daily"] if r["provider"] == "square"}
    assert expected, "the world has Square rows"
    assert sorted(days) == sorted(expected)
    for key, row in expected.items():
        got = days[key]
        assert row["currency"] == got.currency, key
        for name in COUNT_FIELDS:
            assert got.counts[name] == row[name], (key, name)
        assert got.quantity == Decimal(row["items_quantity"]), (key, "items_quantity")
        for name in AMOUNT_FIELDS:
            text = row[name]
            assert len(text.split(".")[1]) == 2, (key, name, text)  # EUR: two decimals, exact
            assert Decimal(got.cents[name]).scaleb(-2) == Decimal(text), (key, name)


def _world(start: date, seed: int) -> World:
    return sandbox_world(seed, "square", start=start)


@pytest.mark.parametrize(("start", "seed"), [(date(2026, 3, 2), 17), (date(2026, 3, 27), 21)],
                         ids=["plain-window", "european-dst-change"])
def test_daily_ledger_recomputed_through_http_equals_truth(start: date, seed: int) -> None:
    world = _world(start, seed)
    if start == date(2026, 3, 27):  # the window really contains the change (CET → CEST, WET → WEST)
        madrid = ZoneInfo("Europe/Madrid")
        offsets = {datetime(2026, 3, 28, 12, tzinfo=madrid).utcoffset(), datetime(2026, 3, 29, 12, tzinfo=madrid).utcoffset()}
        assert offsets == {timedelta(hours=1), timedelta(hours=2)}
    with SandboxServer(world) as server:
        square = manifest_account(server, "square")
        days, _ = ledger_via_http(square["base_url"], square["access_token"])
        truth = httpx.get(f"{server.base_url}/_sandbox/truth", timeout=30).json()
    assert truth == compute_truth(world)  # the served truth is the ledger's
    assert_equals_truth(days, truth)
    # refunds and voids are really exercised
    totals = {name: sum(r[name] for r in truth["daily"]) for name in COUNT_FIELDS}
    assert totals["sales_count"] > 50 and totals["refund_count"] > 0 and totals["void_count"] > 0


def test_daily_ledger_via_http_at_mid_window_clock_positions() -> None:
    world = _world(date(2026, 3, 27), 26)
    mid = mid_window(world) + timedelta(hours=3)
    # an instant when a refund exists but is still PENDING (it must count nowhere yet)
    refund = min((s.refund for loc in world.locations for s in world.iter_sales(loc.location_id)
                  if s.refund is not None and s.refund.created_at > mid and s.refund.created_at < world.window_end_utc),
                 key=lambda r: r.created_at)
    pending_at = refund.created_at + (refund.completed_at - refund.created_at) / 2
    full = compute_truth(world, world.window_end_utc)
    with SandboxServer(world) as server:
        square = manifest_account(server, "square")
        for when, pending in ((mid, False), (pending_at, True)):
            moved = httpx.post(f"{server.base_url}/_sandbox/clock", json={"now": when.isoformat()}, timeout=30)
            assert moved.status_code == 200
            days, statuses = ledger_via_http(square["base_url"], square["access_token"])
            truth = compute_truth(world)
            assert truth["world"]["as_of"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))
            assert_equals_truth(days, truth)
            assert (statuses["PENDING"] > 0) == pending
            # the clock hides the future: fewer sales than at the end of the window
            assert sum(r["sales_count"] for r in truth["daily"]) < sum(r["sales_count"] for r in full["daily"])
