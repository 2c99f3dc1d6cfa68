"""Toast webhooks: subscriptions through the sandbox control (Toast configures them out of band),
``order_updated`` with the order as ``/orders/v2`` renders it (minus guest PII), ``menus_updated``,
Toast's signature and headers, its retry policy and back-off."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import httpx
from toast_emulator_support import validate, validate_error
from webhook_support import (
    Received,
    creds,
    receiving,
    sandbox,
    settle,
    tiny_world,
    toast_subscribe,
    toast_valid,
)

from pos_sandbox.toast_webhooks import ToastWebhooks
from pos_sandbox.webhook_model import Subscription


def test_subscriptions_are_a_sandbox_control_with_a_secret_each() -> None:
    world = tiny_world(4, "toast", days=1)
    with sandbox(world) as srv:
        base = f"{srv.provider_url('toast')}/_sandbox/toast/webhooks"
        first = toast_subscribe(srv, "https://hooks.example/toast")
        assert first["secret"] == creds(srv, "toast").webhook_signature_key  # the manifest's key
        assert first["event_types"] == ["order_updated", "menus_updated"]
        assert first["restaurant_guids"] == list(world.accounts[0].location_ids)
        second = toast_subscribe(srv, "https://hooks.example/2", event_types=["menus_updated"])
        assert second["secret"] != first["secret"]
        for body in ({"url": "hooks.example"}, {"url": "https://x.io", "event_types": ["order_created"]},
                     {"url": "https://x.io", "restaurant_guids": ["not-ours"]}):
            bad = httpx.post(base, json=body)
            assert bad.status_code == 400
            validate_error(bad.json())
        assert [s["guid"] for s in httpx.get(base).json()["subscriptions"]] == [first["guid"], second["guid"]]
        assert httpx.delete(f"{base}/{first['guid']}").json() == {"deleted": True, "guid": first["guid"]}
        assert httpx.delete(f"{base}/{first['guid']}").status_code == 404
        assert httpx.post(f"{base}/{second['guid']}/restart").json()["state"] == "active"


def test_order_updated_per_order_change_signed_and_shaped_as_the_orders_api() -> None:
    world = tiny_world(39, "toast", days=3)  # a seed with a void, a deletion, a tip edit and a refund in the window
    start = world.window_start_utc
    end = world.window_end_utc
    world.set_now(start)
    with receiving() as rx, sandbox(world, rate_limits=[]) as srv:
        sub = toast_subscribe(srv, rx.url("/toast"))
        world.set_now(end)
        settle(srv)
        got = rx.on("/toast")
        assert got and all(toast_valid(sub["secret"], r) for r in got)
        restaurant = world.accounts[0].location_ids[0]
        for rec in got:
            body = rec.json()
            assert list(body) == ["timestamp", "eventCategory", "eventType", "guid", "details"]
            assert rec.headers["toast-event-type"] == body["eventType"]
            assert rec.headers["toast-event-category"] == body["eventCategory"]
            assert rec.headers["toast-restaurant-external-id"] == restaurant == body["details"]["restaurantGuid"]
            assert rec.headers["toast-attempt-number"] == "1"
            assert rec.headers["content-type"] == "application/json"
            assert rec.headers["user-agent"].startswith("Apache-HttpClient/")
        orders = [r.json() for r in got if r.json()["eventType"] == "order_updated"]
        expected: Counter = Counter()
        for sale in world.iter_sales(restaurant):
            instants = [sale.closed_at, sale.deleted_at, sale.tip_edit.at if sale.tip_edit else None,
                        sale.refund.completed_at if sale.refund else None]
            expected[sale.id] += sum(1 for t in instants if t is not None and start < t <= end)
        assert Counter(o["details"]["order"]["guid"] for o in orders) == +expected
        kinds = {"deleted": any(o["details"]["order"]["deleted"] for o in orders),
                 "voided": any(o["details"]["order"]["voided"] for o in orders),
                 "refunded": any(p.get("refundStatus") not in (None, "NONE") for o in orders
                                 for c in o["details"]["order"]["checks"] for p in c["payments"])}
        assert all(kinds.values()), kinds
        menus = [r.json() for r in got if r.json()["eventType"] == "menus_updated"]
        catalog = {s.at for item in world.items[world.accounts[0].account_id] for s in item.history
                   if start < s.at <= end}
        assert len(menus) == len(catalog) > 0
        assert all(m["eventCategory"] == "menus" and m["details"]["publishedDate"].endswith("+0000") for m in menus)

        # the order of each event is the orders API's at that instant, without guest PII
        tok = httpx.post(f"{srv.provider_url('toast')}/authentication/v1/authentication/login", json={
            "clientId": creds(srv, "toast").client_id, "clientSecret": creds(srv, "toast").client_secret,
            "userAccessType": "TOAST_MACHINE_CLIENT"}).json()["token"]["accessToken"]
        headers = {"Authorization": f"Bearer {tok}", "Toast-Restaurant-External-ID": restaurant}
        with_customer = 0
        for event in orders[:30]:
            order = json.loads(json.dumps(event["details"]["order"]))
            assert order.pop("externalId") is None
            validate("orders", "Order", order)
            world.set_now(datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")))  # back to the event
            rest = httpx.get(f"{srv.provider_url('toast')}/orders/v2/orders/{order['guid']}", headers=headers).json()
            for check in rest["checks"]:
                with_customer += check.pop("customer", None) is not None
            assert order == rest
            assert event["details"]["appliedPackagingInfo"] is None
        assert with_customer  # the API shows guests, the webhooks leave their PII out


def test_retries_on_timeout_404_429_5xx_only_with_the_attempt_number() -> None:
    answers = {"/retry": [503, 200], "/slow": [200, 200], "/final": [400]}

    def behaviour(n: int, rec: Received) -> tuple[int, float]:
        if rec.path == "/slow":
            return (200, 1.5) if n == 1 else (200, 0.0)  # past the 1 s deadline, then in time
        statuses = answers[rec.path]
        return statuses[min(n, len(statuses)) - 1], 0.0

    world = tiny_world(4, "toast", days=1)
    with receiving(behaviour) as rx, sandbox(world) as srv:
        subs = {path: toast_subscribe(srv, rx.url(path), event_types=["order_updated"]) for path in answers}
        httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "toast"})
        log = settle(srv)
        for path in ("/retry", "/slow"):
            first, second = rx.on(path)
            assert (first.headers["toast-attempt-number"], second.headers["toast-attempt-number"]) == ("1", "2")
            assert first.body == second.body and toast_valid(subs[path]["secret"], second)
        assert len(rx.on("/final")) == 1  # 400 is not retried
        status = {d["url"].rsplit("/", 1)[-1]: d["status"] for d in log["deliveries"]}
        assert status == {"retry": "acknowledged", "slow": "acknowledged", "final": "gave_up"}


def test_back_off_pauses_after_50_errors_in_5_minutes_and_stops_after_9_pauses() -> None:
    world = tiny_world(4, "toast", days=1)
    with sandbox(world) as srv:
        adapter: ToastWebhooks = srv.app.state.webhooks.providers["toast"]
        sub = Subscription("toast", "s", "https://x.io", ("order_updated",), "k", world.accounts[0].account_id)
        now = 1000.0
        for _ in range(49):
            adapter.note_result(sub, False, now, 1.0)
            now += 1
        assert sub.state == "active" and sub.paused_until == 0
        adapter.note_result(sub, False, now, 1.0)
        assert sub.state == "paused" and sub.paused_until == now + 60
        for _ in range(8 * 50):
            now += 0.1
            adapter.note_result(sub, False, now, 1.0)
        assert sub.state == "stopped"  # Toast support has to restart it
        adapter.note_result(sub, True, now, 1.0)
        assert sub.state == "stopped"


def test_a_live_sale_fires_order_updated_at_once_and_later_changes_fire_again() -> None:
    world = tiny_world(4, "toast", days=1)
    with receiving() as rx, sandbox(world) as srv:
        toast_subscribe(srv, rx.url("/t"), event_types=["order_updated"])
        sale = httpx.post(f"{srv.base_url}/_sandbox/sales", json={
            "provider": "toast", "tip_edit_after_seconds": 60, "refund_after_seconds": 120}).json()["sale"]
        settle(srv)
        assert [r.json()["details"]["order"]["guid"] for r in rx.on("/t")] == [sale["sale_id"]]
        world.set_now(world.now + timedelta(seconds=60))
        settle(srv)
        world.set_now(world.now + timedelta(hours=1))  # the refund completes within 10 minutes of its creation
        settle(srv)
        orders = [r.json()["details"]["order"] for r in rx.on("/t")]
        assert [o["guid"] for o in orders] == [sale["sale_id"]] * 3
        payments = [o["checks"][0]["payments"][0] for o in orders]
        assert payments[0]["tipAmount"] < payments[1]["tipAmount"]
        assert payments[2]["refundStatus"] in ("FULL", "PARTIAL")
