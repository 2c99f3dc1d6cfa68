"""``POST /_sandbox/sales``: a sale made now at a location, drawn by the world's own generator,
counted exactly by the ledger, served by every emulator, reproducible for a seed."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from webhook_support import creds, sandbox, tiny_world

from pos_sandbox.ledger import compute_truth
from pos_sandbox.live_sales import LiveSaleRequest, make_live_sale


def rows(truth: dict, location_id: str) -> dict[str, dict]:
    return {r["business_date"]: r for r in truth["daily"] if r["location_id"] == location_id}


def test_a_live_sale_is_in_the_ledger_and_every_emulator() -> None:
    world = tiny_world(6, days=2)
    world.set_now(world.window_start_utc + timedelta(hours=30))
    with sandbox(world, rate_limits=[]) as srv:
        made = {}
        for provider in ("square", "toast", "lightspeed"):
            loc = next(loc for loc in world.locations if loc.provider == provider)
            before = rows(httpx.get(f"{srv.base_url}/_sandbox/truth").json(), loc.location_id)
            resp = httpx.post(f"{srv.base_url}/_sandbox/sales", json={"location_id": loc.location_id})
            assert resp.status_code == 200, resp.text
            sale = resp.json()["sale"]
            assert resp.json()["now"] == sale["closed_at"]  # the clock moved to the close
            after = rows(httpx.get(f"{srv.base_url}/_sandbox/truth").json(), loc.location_id)
            day = sale["business_date"]
            was = before.get(day, {"sales_count": 0, "total_amount": "0"})  # maybe the day's first sale
            assert after[day]["sales_count"] == was["sales_count"] + 1
            cents = round(float(after[day]["total_amount"]) * 100) - round(float(was["total_amount"]) * 100)
            assert cents == sale["total_cents"]
            made[provider] = sale

        sq = creds(srv, "square")
        order = httpx.get(f"{srv.provider_url('square')}/v2/orders/{made['square']['sale_id']}",
                          headers={"Authorization": f"Bearer {sq.access_token}"}).json()["order"]
        assert order["total_money"]["amount"] == made["square"]["total_cents"] and order["state"] == "COMPLETED"
        ls = creds(srv, "lightspeed")
        got = httpx.get(f"{srv.provider_url('lightspeed')}/api/2.0/sales/{made['lightspeed']['sale_id']}",
                        headers={"Authorization": f"Bearer {ls.access_token}"}).json()["data"]
        assert got["status"] == "CLOSED"
        toast = creds(srv, "toast")
        token = httpx.post(f"{srv.provider_url('toast')}/authentication/v1/authentication/login", json={
            "clientId": toast.client_id, "clientSecret": toast.client_secret,
            "userAccessType": "TOAST_MACHINE_CLIENT"}).json()["token"]["accessToken"]
        restaurant = next(loc.location_id for loc in world.locations if loc.provider == "toast")
        check = httpx.get(f"{srv.provider_url('toast')}/orders/v2/orders/{made['toast']['sale_id']}",
                          headers={"Authorization": f"Bearer {token}",
                                   "Toast-Restaurant-External-ID": restaurant}).json()["checks"][0]
        assert check["guid"] == made["toast"]["check_id"]
        assert httpx.get(f"{srv.base_url}/_sandbox/world").json()["live_sales"] == 3


def test_refunds_tip_edits_and_voids_on_demand_counted_as_they_happen() -> None:
    world = tiny_world(6, "square", days=1)
    loc = world.locations[0].location_id
    sale = make_live_sale(world, LiveSaleRequest(loc, refund_after_seconds=600, tip_edit_after_seconds=60))
    voided = make_live_sale(world, LiveSaleRequest(loc, at=sale.closed_at + timedelta(seconds=1), state="voided"))
    assert sale.refund is not None and sale.tip_edit is not None and voided.state == "voided"
    at_close = rows(compute_truth(world, voided.closed_at), loc)
    later = rows(compute_truth(world, sale.refund.completed_at), loc)
    day = sale.local_date.isoformat()
    refund_day = world.business_date(world.location_by_id[loc], sale.refund.created_at).isoformat()
    assert later[refund_day]["refund_count"] == at_close.get(refund_day, {}).get("refund_count", 0) + 1
    assert at_close[voided.local_date.isoformat()]["void_count"] >= 1
    tip_delta = sale.tip_edit.new_tip_cents - sale.tenders[0].tip_cents
    assert round(float(later[day]["tip_amount"]) * 100) - round(float(at_close[day]["tip_amount"]) * 100) == tip_delta


def test_live_sales_are_reproducible_and_checked() -> None:
    def draw() -> list[tuple]:
        world = tiny_world(6, "lightspeed", days=1)  # clock at the end of the window: the sale is on the next day
        loc = world.locations[0].location_id
        out = []
        for _ in range(3):
            sale = make_live_sale(world, LiveSaleRequest(loc))
            world.set_now(sale.closed_at)
            out.append((sale.id, sale.closed_at, sale.total_as_of(sale.closed_at), sale.receipt_number))
        assert compute_truth(world)["daily"][-1]["business_date"] == world.end.isoformat()
        return out

    first = draw()
    assert first == draw() and len({s[0] for s in first}) == 3
    world = tiny_world(6, "lightspeed", days=1)
    loc = world.locations[0].location_id
    for bad in (LiveSaleRequest("nowhere"), LiveSaleRequest(loc, state="deleted"),
                LiveSaleRequest(loc, at=world.now - timedelta(seconds=1)), LiveSaleRequest(loc, refund_after_seconds=0)):
        with pytest.raises(ValueError):
            make_live_sale(world, bad)


def test_the_control_validates_its_body() -> None:
    world = tiny_world(6, "square", days=1)
    with sandbox(world) as srv:
        for body in ({}, {"location_id": "nowhere"}, {"provider": "square", "colour": "red"},
                     {"provider": "square", "at": "2020-01-01T00:00:00Z"}):
            resp = httpx.post(f"{srv.base_url}/_sandbox/sales", json=body)
            assert resp.status_code == 400 and resp.json()["error"]
        now = httpx.get(f"{srv.base_url}/_sandbox/clock").json()["now"]
        kept = httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square", "advance": False}).json()
        assert kept["now"] == now and kept["sale"]["closed_at"] > now
