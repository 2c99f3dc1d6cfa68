"""Lightspeed emulator behaviour over loopback HTTP: version change feeds (every object exactly
once, exclusive ``after``, ``before``, page sizes), clock-driven changes (tip edits, returns,
soft deletes) bumping versions, category paging, auth and rate limiting."""

from __future__ import annotations

import email.utils
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lightspeed_emulator_support import Served, loads, make_world, served

from pos_sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def ls() -> Served:
    with served(make_world(seed=7, days=7, scale="tiny")) as s:
        yield s


def world_sale_ids(ls: Served, now: datetime) -> set[str]:
    ids = set()
    for loc in ls.world.locations:
        for sale in ls.world.iter_sales(loc.location_id):
            if sale.closed_at <= now:
                ids.add(sale.id)
            if sale.refund is not None and sale.refund.created_at <= now:
                ids.add(sale.refund.return_order_id)
    return ids


@pytest.mark.parametrize("page_size", [1, 7, 100, 10_000])
def test_version_paging_yields_every_sale_exactly_once(ls: Served, page_size: int) -> None:
    sales, pages = ls.feed("/api/2.0/sales", page_size=page_size)
    ids = [s["id"] for s in sales]
    assert len(ids) == len(set(ids))
    assert set(ids) == world_sale_ids(ls, ls.world.now)
    assert pages == -(-len(ids) // page_size) + 1  # full pages + the empty one that ends the feed


def test_default_page_size_is_100_and_after_is_exclusive(ls: Served) -> None:
    body = loads(ls.get("/api/2.0/sales"))
    assert len(body["data"]) == 100
    first = body["data"][0]["version"]
    again = loads(ls.get("/api/2.0/sales", after=first, page_size=1))
    assert again["data"][0]["version"] > first and again["data"][0]["id"] == body["data"][1]["id"]
    capped = loads(ls.get("/api/2.0/sales", page_size=50_000))
    assert len(capped["data"]) == len(world_sale_ids(ls, ls.world.now))  # clamped to max_page_size, not refused


def test_before_is_an_exclusive_upper_bound(ls: Served) -> None:
    everything, _ = ls.feed("/api/2.0/sales", page_size=1000)
    cut = everything[50]["version"]
    below = loads(ls.get("/api/2.0/sales", before=cut, page_size=1000))["data"]
    assert [s["id"] for s in below] == [s["id"] for s in everything[:50]]


def test_versions_follow_the_clock_and_changes_reappear_in_the_feed() -> None:
    world = make_world(seed=7, days=7, scale="tiny")
    sales = [s for loc in world.locations for s in world.iter_sales(loc.location_id)]
    edited, refunded = next(
        (e, r) for e in sales if e.tip_edit is not None for r in sales
        if r.refund is not None and r.refund.created_at - r.closed_at > timedelta(hours=12)
        and max(e.closed_at, r.closed_at) < min(e.tip_edit.at, r.refund.created_at))
    world.set_now(max(edited.closed_at, refunded.closed_at))
    with served(world) as ls:
        first, _ = ls.feed("/api/2.0/sales", page_size=500)
        hwm = max(s["version"] for s in first)
        by_id = {s["id"]: s for s in first}
        assert refunded.refund.return_order_id not in by_id  # type: ignore[union-attr]
        # nothing changed: the feed from the high-water mark is empty
        assert loads(ls.get("/api/2.0/sales", after=hwm))["data"] == []
        world.set_now(max(edited.tip_edit.at, refunded.refund.completed_at) + timedelta(seconds=1))  # type: ignore[union-attr]
        changes, _ = ls.feed("/api/2.0/sales", after=hwm, page_size=500)
        changed = {s["id"]: s for s in changes}
        # the tip edit bumps the sale: new version, updated_at, TIP adjustment and payment amount
        new = changed[edited.id]
        old = by_id[edited.id]
        assert new["version"] > old["version"] > 0 and new["updated_at"] > old["updated_at"]
        tip = next(a for a in new["adjustments"] if a["type"] == "TIP")["value"]
        assert tip * 100 == edited.tip_edit.new_tip_cents  # type: ignore[union-attr]
        assert new["total_price"] - old["total_price"] == tip - sum(
            (a["value"] for a in old["adjustments"] if a["type"] == "TIP"), start=0)
        # the return days later: a new CLOSED sale with return_for and negative lines; the original is bumped
        ret = changed[refunded.refund.return_order_id]  # type: ignore[union-attr]
        assert ret["return_for"] == refunded.id and ret["status"] == "CLOSED"
        assert all(li["quantity"] < 0 and li["is_return"] for li in ret["line_items"])
        assert ret["payments"][0]["amount"] * 100 == -refunded.refund.amount_cents  # type: ignore[union-attr]
        assert refunded.id in changed and changed[refunded.id]["total_price"] == by_id[refunded.id]["total_price"]
        # every version of the new page is above everything seen before
        assert min(s["version"] for s in changes) > hwm
        # version >= the change instant in µs, consistent with updated_at
        for s in changes:
            stamp = datetime.fromisoformat(s["updated_at"])
            assert s["version"] >= int(stamp.timestamp()) * 1_000_000


def test_return_goes_saved_then_closed_with_a_version_bump() -> None:
    world = make_world(seed=7, days=5, scale="tiny")
    sale = next(s for loc in world.locations for s in world.iter_sales(loc.location_id) if s.refund is not None)
    refund = sale.refund
    assert refund is not None
    with served(world) as ls:
        world.set_now(refund.created_at)
        saved = loads(ls.get(f"/api/2.0/sales/{refund.return_order_id}"))["data"]
        world.set_now(refund.completed_at)
        closed = loads(ls.get(f"/api/2.0/sales/{refund.return_order_id}"))["data"]
        world.set_now(refund.created_at - timedelta(seconds=1))
        assert ls.get(f"/api/2.0/sales/{refund.return_order_id}").status_code == 404
    assert (saved["status"], closed["status"]) == ("SAVED", "CLOSED")
    assert closed["version"] > saved["version"]
    assert saved["total_price"] == closed["total_price"] and saved["payments"] == closed["payments"]


def test_soft_deleted_products_need_deleted_true_and_come_with_deleted_at(ls: Served) -> None:
    plain, _ = ls.feed("/api/2.0/products", page_size=10)
    full, _ = ls.feed("/api/2.0/products", page_size=10, deleted="true")
    deleted = [p for p in full if p["deleted_at"]]
    assert len(deleted) == 1 and not deleted[0]["active"]
    assert {p["id"] for p in plain} == {p["id"] for p in full} - {deleted[0]["id"]}
    assert Counter(p["id"] for p in full).most_common(1)[0][1] == 1
    items = ls.world.items[ls.creds.account_id]
    assert len(full) == sum(1 for it in items if it.created_at <= ls.world.now)


def test_products_change_feed_shows_edits_and_the_deletion_once(ls: Served) -> None:
    world = ls.world
    before = world.now
    try:
        world.set_now(world.window_start_utc)
        first, _ = ls.feed("/api/2.0/products", deleted="true", page_size=1000)
        hwm = max(p["version"] for p in first)
        world.set_now(before)
        later, _ = ls.feed("/api/2.0/products", deleted="true", after=hwm, page_size=1000)
    finally:
        world.set_now(before)
    items = world.items[ls.creds.account_id]
    expected = {it.item_id for it in items if any(world.window_start_utc < s.at <= before for s in it.history)}
    assert {p["id"] for p in later} == expected and len(later) == len(expected)
    assert any(p["deleted_at"] for p in later)


def test_product_categories_page_by_last_seen_id(ls: Served) -> None:
    seen, after = [], None
    while True:
        body = loads(ls.get("/api/2.0/product_categories", page_size=2, after=after))
        seen += [c["name"] for c in body["data"]["categories"]]
        if not body["page_info"]["has_next"]:
            break
        after = body["page_info"]["last_seen"]
    assert seen == sorted(seen, key=str.lower) and len(seen) == len(set(seen)) == 5


def test_unknown_query_parameters_are_ignored(ls: Served) -> None:
    """X-Series ignores date filters on /sales (a classic connector bug): the emulator too."""
    a = loads(ls.get("/api/2.0/sales", page_size=5))
    b = loads(ls.get("/api/2.0/sales", page_size=5, date_from="2030-01-01T00:00:00Z", outlet_id="x"))
    assert a == b


def test_auth_errors(ls: Served) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        resp = ls.client.get("/api/2.0/sales", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"] == "Access token is not valid"
    token = ls.client.post("/api/1.0/token", data={
        "grant_type": "authorization_code", "code": "x", "client_id": ls.creds.client_id,
        "client_secret": "wrong"})
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"


def test_rate_limit_answers_429_with_an_http_date_retry_after() -> None:
    with served(make_world(seed=7, days=1), rate_limit=(3, 1.0)) as ls:
        statuses = [ls.get("/api/2.0/outlets") for _ in range(5)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
        limited = statuses[3]
        assert limited.headers["x-ratelimit-limit"] == "3" and limited.headers["x-ratelimit-remaining"] == "0"
        when = email.utils.parsedate_to_datetime(limited.headers["retry-after"])
        assert limited.headers["retry-after"].endswith(" GMT") and when.tzinfo is not None
        assert 0 <= (when - datetime.now(UTC)).total_seconds() <= 2.5
        assert limited.json()["error"] == "Too Many Requests"
        time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 0.05)
        assert ls.get("/api/2.0/outlets").status_code == 200


def test_default_rate_limit_is_300_per_register_plus_50() -> None:
    with served(make_world(seed=7, days=1)) as ls:
        assert ls.get("/api/2.0/outlets").headers["x-ratelimit-limit"] == str(300 * 2 + 50)


def test_mounted_in_the_sandbox_server_at_lightspeed() -> None:
    world = make_world(seed=7, days=1)
    with SandboxServer(world) as server:
        manifest = server.manifest()
        acct = next(a for a in manifest["accounts"] if a["provider"] == "lightspeed")
        assert acct["base_url"].endswith("/lightspeed")
        resp = httpx.get(acct["base_url"] + "/api/2.0/outlets",
                         headers={"Authorization": f"Bearer {acct['access_token']}"})
        assert resp.status_code == 200 and resp.json()["data"][0]["id"] == acct["location_ids"][0]
        page = httpx.get(acct["base_url"] + "/connect", params={"client_id": acct["client_id"]})
        assert page.status_code == 200 and "/lightspeed/connect/decision?" in page.text


def test_customers_feed_names_every_sale_customer(ls: Served) -> None:
    """``/customers`` (a version feed like the others) holds the customer behind each sale's ``customer_id``."""
    customers, _ = ls.feed("/api/2.0/customers", page_size=50)
    world_customers = {c.id: c for c in ls.world.customers[ls.creds.account_id]}
    assert {c["id"] for c in customers} == set(world_customers)
    for c in customers:
        person = world_customers[c["id"]]
        assert (c["first_name"], c["last_name"], c["name"], c["email"], c["phone"]) == (
            person.given_name, person.family_name, f"{person.given_name} {person.family_name}", person.email,
            person.phone)
        assert c["deleted_at"] is None and person.given_name.lower() not in c["customer_code"].lower()
    sales, _ = ls.feed("/api/2.0/sales", page_size=1000)
    referenced = {s["customer_id"] for s in sales if s.get("customer_id")}
    assert referenced and referenced <= {c["id"] for c in customers}
    assert ls.get("/api/2.0/customers", deleted="maybe").status_code == 400
