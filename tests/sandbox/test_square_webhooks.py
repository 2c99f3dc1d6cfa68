"""Square webhooks: the Webhook Subscriptions API (personal access token only), signed deliveries
of every object change as the clock moves (checked against the world, the REST API and the spec's
event schemas), retries with Square's headers, key rotation, and ``oauth.authorization.revoked``."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from square_emulator_support import validate
from webhook_support import (
    Received,
    advance,
    creds,
    receiving,
    sandbox,
    settle,
    square_subscribe,
    square_valid,
    tiny_world,
)

from pos_sandbox.square_events import square_signature
from pos_sandbox.world import World

VECTOR_KEY = "Ibxx_5AKakO-3qeNVR61Dw"
VECTOR_URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
VECTOR_BODY = (b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-'
               b'a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"'
               b'bc368e64-01aa-407e-b46e-3231809b1129"}}')
VECTOR_SIGNATURE = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="
EVENT_SCHEMAS = {
    "payment.created": "PaymentCreatedEvent", "payment.updated": "PaymentUpdatedEvent",
    "refund.created": "RefundCreatedEvent", "refund.updated": "RefundUpdatedEvent",
    "order.created": "OrderCreatedEvent", "order.updated": "OrderUpdatedEvent",
    "catalog.version.updated": "CatalogVersionUpdatedEvent",
    "oauth.authorization.revoked": "OauthAuthorizationRevokedEvent",
}


def test_signature_matches_squares_verified_test_vector() -> None:
    assert square_signature(VECTOR_KEY, VECTOR_URL, VECTOR_BODY) == VECTOR_SIGNATURE
    rec = Received("/", {"x-square-hmacsha256-signature": VECTOR_SIGNATURE}, VECTOR_BODY, 0.0)
    assert square_valid(VECTOR_KEY, VECTOR_URL, rec)  # the tests' own check agrees with Square's vector
    assert not square_valid(VECTOR_KEY, VECTOR_URL + "/", rec)


def validate_event(body: dict) -> None:
    """Against the spec's event schema; the two fields its examples have and its schemas lack (a
    refund's ``version``, a catalog event's ``data.id``) are checked here and set aside."""
    body = json.loads(json.dumps(body))
    if body["type"].startswith("refund."):
        assert body["data"]["object"]["refund"].pop("version") in (1, 2)
    if body["type"] == "catalog.version.updated":
        assert body["data"].pop("id")
    validate(EVENT_SCHEMAS[body["type"]], body)


def test_subscriptions_crud_with_the_applications_personal_access_token() -> None:
    world = tiny_world(3, "square", days=1)
    with sandbox(world) as srv:
        sq = creds(srv, "square")
        base = f"{srv.provider_url('square')}/v2/webhooks"
        app = {"Authorization": f"Bearer {sq.app_access_token}"}
        new = {"subscription": {"name": "pos-sync", "event_types": ["payment.created", "order.updated"],
                                "notification_url": "https://hooks.example/square"}}

        refused = httpx.post(f"{base}/subscriptions", json=new, headers={"Authorization": f"Bearer {sq.access_token}"})
        assert refused.status_code == 403
        assert refused.json()["errors"][0] | {"detail": ""} == {"category": "AUTHENTICATION_ERROR", "code": "FORBIDDEN",
                                                                 "detail": ""}
        assert httpx.get(f"{base}/subscriptions", headers={"Authorization": "Bearer EAAAnope"}).status_code == 401
        assert httpx.get(f"{base}/subscriptions").json()["errors"][0]["code"] == "UNAUTHORIZED"

        created = httpx.post(f"{base}/subscriptions", json=new | {"idempotency_key": "k1"}, headers=app)
        assert created.status_code == 200, created.text
        validate("CreateWebhookSubscriptionResponse", created.json())
        sub = created.json()["subscription"]
        assert sub["id"].startswith("wbhk_") and sub["enabled"] is True and sub["api_version"] == "2025-08-20"
        assert sub["signature_key"] == sq.webhook_signature_key  # the manifest's key is the first subscription's
        assert httpx.post(f"{base}/subscriptions", json=new | {"idempotency_key": "k1"},
                          headers=app).json()["subscription"]["id"] == sub["id"]
        for body, code in (({"subscription": {"event_types": ["payment.creatd"], "notification_url": "https://x.io"}},
                            "INVALID_VALUE"),
                           ({"subscription": {"event_types": ["payment.created"]}}, "MISSING_REQUIRED_PARAMETER"),
                           ({"subscription": {"event_types": ["payment.created"], "notification_url": "x.io"}},
                            "INVALID_VALUE"),
                           (new | {"extra": 1}, "BAD_REQUEST")):
            resp = httpx.post(f"{base}/subscriptions", json=body, headers=app)
            assert (resp.status_code, resp.json()["errors"][0]["code"]) == (400, code)
        second = httpx.post(f"{base}/subscriptions", headers=app, json={
            "subscription": {"event_types": ["refund.updated"], "notification_url": "https://hooks.example/2"}}).json()
        assert second["subscription"]["signature_key"] != sub["signature_key"]

        listed = httpx.get(f"{base}/subscriptions", headers=app).json()
        validate("ListWebhookSubscriptionsResponse", listed)
        assert [s["id"] for s in listed["subscriptions"]] == [sub["id"], second["subscription"]["id"]]
        assert all("signature_key" not in s for s in listed["subscriptions"])
        page = httpx.get(f"{base}/subscriptions", params={"limit": 1, "sort_order": "DESC"}, headers=app).json()
        assert [s["id"] for s in page["subscriptions"]] == [second["subscription"]["id"]] and page["cursor"]
        ignored = httpx.get(f"{base}/subscriptions", params={"color": "red"}, headers=app)  # unknown: ignored
        assert ignored.status_code == 200 and ignored.json() == listed

        got = httpx.get(f"{base}/subscriptions/{sub['id']}", headers=app).json()
        validate("RetrieveWebhookSubscriptionResponse", got)
        assert got["subscription"]["signature_key"] == sub["signature_key"]

        updated = httpx.put(f"{base}/subscriptions/{sub['id']}", headers=app,
                            json={"subscription": {"enabled": False, "name": "paused"}})
        validate("UpdateWebhookSubscriptionResponse", updated.json())
        assert updated.json()["subscription"]["enabled"] is False
        assert [s["id"] for s in httpx.get(f"{base}/subscriptions", headers=app).json()["subscriptions"]] == \
            [second["subscription"]["id"]]
        assert len(httpx.get(f"{base}/subscriptions", params={"include_disabled": "true"},
                             headers=app).json()["subscriptions"]) == 2

        rotated = httpx.post(f"{base}/subscriptions/{sub['id']}/signature-key", headers=app,
                             json={"idempotency_key": "r1"}).json()
        validate("UpdateWebhookSubscriptionSignatureKeyResponse", rotated)
        assert rotated["signature_key"] != sub["signature_key"]
        assert httpx.get(f"{base}/subscriptions/{sub['id']}", headers=app).json()["subscription"]["signature_key"] \
            == rotated["signature_key"]

        deleted = httpx.delete(f"{base}/subscriptions/{sub['id']}", headers=app)
        assert (deleted.status_code, deleted.json()) == (200, {})
        gone = httpx.get(f"{base}/subscriptions/{sub['id']}", headers=app)
        assert (gone.status_code, gone.json()["errors"][0]["code"]) == (404, "NOT_FOUND")

        types = httpx.get(f"{base}/event-types", headers=app).json()
        validate("ListWebhookEventTypesResponse", types)
        assert {"payment.created", "oauth.authorization.revoked"} <= set(types["event_types"])
        older = httpx.get(f"{base}/event-types", params={"api_version": "2020-01-01"}, headers=app).json()
        assert "payment.created" not in older["event_types"]  # introduced 2020-02-26


def expected_events(world: World, start, end) -> Counter:  # noqa: ANN001
    """(type, data.id) of every Square event in (start, end], from the world's objects."""
    out: Counter = Counter()
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            if start < sale.closed_at <= end:
                out[("order.created", sale.id)] += 1
                for tender in sale.tenders:
                    out[("payment.created", tender.id)] += 1
            if sale.tip_edit is not None and start < sale.tip_edit.at <= end:
                out[("payment.updated", sale.tip_edit.tender_id)] += 1
                out[("order.updated", sale.id)] += 1
            refund = sale.refund
            if refund is not None:
                if start < refund.created_at <= end:
                    out[("refund.created", refund.id)] += 1
                    out[("payment.updated", refund.tender_id)] += 1
                    out[("order.created", refund.return_order_id)] += 1
                if start < refund.completed_at <= end:
                    out[("refund.updated", refund.id)] += 1
                    out[("payment.updated", refund.tender_id)] += 1
                    out[("order.updated", refund.return_order_id)] += 1
    return out


def test_a_clock_move_delivers_one_signed_event_per_object_change() -> None:
    world = tiny_world(17, "square", days=3)  # a seed with refunds and tip edits inside the window
    start = world.window_start_utc
    world.set_now(start)
    with receiving() as rx, sandbox(world) as srv:
        sub = square_subscribe(srv, rx.url("/square"))
        end = start + timedelta(days=3)
        srv.world.set_now(end)
        log = settle(srv)
        got = rx.on("/square")
        bodies = [r.json() for r in got]
        assert all(square_valid(sub["signature_key"], rx.url("/square"), r) for r in got)
        assert all(r.headers["square-environment"] == "Sandbox" and "square-retry-number" not in r.headers
                   and r.headers["content-type"] == "application/json" for r in got)
        assert len({b["event_id"] for b in bodies}) == len(bodies)
        received = Counter((b["type"], b["data"]["id"]) for b in bodies if b["type"] != "catalog.version.updated")
        expected = expected_events(world, start, end)
        assert received == expected
        kinds = Counter(t for t, _ in expected)
        assert kinds["refund.created"] and kinds["refund.updated"] and kinds["order.updated"], kinds
        catalog_instants = {s.at for item in world.items[world.accounts[0].account_id] for s in item.history
                            if start < s.at <= end}
        assert sorted(b["data"]["object"]["catalog_version"]["updated_at"] for b in bodies
                      if b["type"] == "catalog.version.updated") == \
            sorted(i.isoformat().replace("+00:00", ".000Z") for i in catalog_instants)
        assert {b["merchant_id"] for b in bodies} == {world.accounts[0].account_id}
        validated: Counter = Counter()
        for body in bodies:  # schema validation is slow: up to 12 bodies of each type
            if validated[body["type"]] < 12:
                validate_event(body)
                validated[body["type"]] += 1
        assert log["counters"]["acknowledged"] == len(got) == log["counters"]["deliveries"]

        # the last event of each payment carries the payment as the REST API shows it afterwards
        last: dict[str, dict] = {}
        for body in sorted((b for b in bodies if b["data"]["type"] == "payment"), key=lambda b: b["created_at"]):
            last[body["data"]["id"]] = body["data"]["object"]["payment"]
        headers = {"Authorization": f"Bearer {creds(srv, 'square').access_token}"}
        for payment_id in list(last)[:20]:
            rest = httpx.get(f"{srv.provider_url('square')}/v2/payments/{payment_id}", headers=headers).json()
            assert rest["payment"] == last[payment_id]


def test_retries_after_an_error_and_a_too_slow_answer_carry_squares_retry_headers() -> None:
    attempts: Counter = Counter()

    def behaviour(n: int, rec: Received) -> tuple[int, float]:
        event_id = rec.json()["event_id"]
        attempts[event_id] += 1
        return {1: (500, 0.0), 2: (200, 1.5)}.get(attempts[event_id], (200, 0.0))  # 1 s deadline

    world = tiny_world(5, "square", days=1)
    with receiving(behaviour) as rx, sandbox(world) as srv:
        sub = square_subscribe(srv, rx.url("/sq"), ["payment.created"])
        resp = httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"})
        assert resp.status_code == 200, resp.text
        log = settle(srv)
        got = rx.on("/sq")
        by_event: dict[str, list[Received]] = {}
        for rec in got:
            by_event.setdefault(rec.json()["event_id"], []).append(rec)
        assert len(by_event) == len(resp.json()["sale"]["tender_ids"])
        for first, second, third in by_event.values():
            assert "square-retry-number" not in first.headers
            assert (second.headers["square-retry-number"], second.headers["square-retry-reason"]) == \
                ("1", "http_error")
            assert (third.headers["square-retry-number"], third.headers["square-retry-reason"]) == \
                ("2", "http_timeout")
            assert first.headers["square-initial-delivery-timestamp"] == \
                third.headers["square-initial-delivery-timestamp"]
            assert first.body == second.body == third.body
        assert all(square_valid(sub["signature_key"], rx.url("/sq"), r) for r in got)
        delivery = log["deliveries"][0]
        assert delivery["status"] == "acknowledged" and len(delivery["attempts"]) == 3
        assert [a.get("status_code") for a in delivery["attempts"]] == [500, None, 200]
        assert delivery["attempts"][1]["error"] == "http_timeout"
        assert delivery["latency_ms"] >= 1000
        assert log["counters"]["retries"] == 2 * len(got) // 3


def test_rotated_key_signs_new_events_while_in_flight_retries_keep_the_old_one() -> None:
    world = tiny_world(5, "square", days=1)
    with receiving(lambda n, r: (503, 0.0) if n == 1 else (200, 0.0)) as rx, \
            sandbox(world, webhooks="scale=0.01,timeout=1s") as srv:  # first retry after 0.6 s
        sub = square_subscribe(srv, rx.url("/sq"), ["order.created"])
        old_key = sub["signature_key"]
        httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"})
        new_key = httpx.post(f"{srv.provider_url('square')}/v2/webhooks/subscriptions/{sub['id']}/signature-key",
                             headers={"Authorization": f"Bearer {creds(srv, 'square').app_access_token}"},
                             json={}).json()["signature_key"]
        settle(srv)
        httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"})
        settle(srv)
        first, retry, later = rx.on("/sq")
        assert retry.headers["square-retry-number"] == "1"
        assert square_valid(old_key, rx.url("/sq"), first) and square_valid(old_key, rx.url("/sq"), retry)
        assert square_valid(new_key, rx.url("/sq"), later) and not square_valid(old_key, rx.url("/sq"), later)


def test_revoking_the_authorization_sends_oauth_authorization_revoked_and_stops_the_sellers_events() -> None:
    world = tiny_world(5, "square", days=1)
    with receiving() as rx, sandbox(world) as srv:
        sq = creds(srv, "square")
        sub = square_subscribe(srv, rx.url("/sq"))
        revoked = httpx.post(f"{srv.provider_url('square')}/oauth2/revoke",
                             headers={"Authorization": f"Client {sq.client_secret}"},
                             json={"client_id": sq.client_id, "merchant_id": sq.account_id})
        assert revoked.json() == {"success": True}
        settle(srv)
        (event,) = rx.on("/sq")
        body = event.json()
        validate_event(body)
        assert body["type"] == "oauth.authorization.revoked" and body["merchant_id"] == sq.account_id
        assert body["data"]["type"] == "revocation"
        assert body["data"]["object"]["revocation"]["revoker_type"] == "APPLICATION"
        assert square_valid(sub["signature_key"], rx.url("/sq"), event)
        advance(srv, 3600)
        httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"})
        settle(srv)
        assert len(rx.on("/sq")) == 1  # no scope granted any more: no payment or order events


@pytest.mark.parametrize("enabled", [False, True])
def test_only_enabled_subscriptions_get_only_their_event_types(enabled: bool) -> None:
    world = tiny_world(5, "square", days=1)
    with receiving() as rx, sandbox(world) as srv:
        square_subscribe(srv, rx.url("/sq"), ["payment.created"], enabled=enabled)
        sale = httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"}).json()["sale"]
        settle(srv)
        got = [r.json() for r in rx.on("/sq")]
        if not enabled:
            assert got == []
        else:
            assert [(b["type"], b["data"]["id"]) for b in got] == [("payment.created", t) for t in sale["tender_ids"]]
