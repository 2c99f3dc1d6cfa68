"""Webhook receivers under attack, per provider: a genuine event is stored once (a replay is a
duplicate), and no signature, a wrong key, one altered byte, another URL, a 10 MB body, invalid
JSON and an unknown account are each rejected or acknowledged as documented — counted, with
nothing enqueued twice and no traceback. The signatures here are computed independently of the
service (the providers' published recipes); Square's is checked against its published test
vector. Then the inbox sensor turns the stored events into one targeted sync per account."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlencode

import dagster as dg
import pytest
from api_support import Api, add_account, make_api

NOTIFY = "https://pos.example.com/api/v1/pos/webhooks/square"
SQUARE_KEY, TOAST_SECRET, LIGHTSPEED_SECRET = "sq-signature-key", "toast-subscription-secret", "ls-client-secret"


def b64_hmac(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def test_square_signature_matches_the_published_test_vector() -> None:
    from pos_sync.providers.square.webhooks import signature

    body = (b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-'
            b'a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":'
            b'"bc368e64-01aa-407e-b46e-3231809b1129"}}')
    assert signature("Ibxx_5AKakO-3qeNVR61Dw", "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
                     body) == "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="


@pytest.fixture(params=["sqlite", "postgres"])
def hooks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("LIGHTSPEED_CLIENT_SECRET", LIGHTSPEED_SECRET)
    for api in make_api(monkeypatch, request.param, request):
        from pos_sync.appstore.webhooks import save_subscription

        save_subscription("square", NOTIFY, ["payment.updated"], signature_key=SQUARE_KEY)
        save_subscription("toast", "", ["order_updated"], signature_key=TOAST_SECRET)
        yield api


def square_event(merchant: str, event_id: str = "ev-1") -> bytes:
    return json.dumps({"merchant_id": merchant, "type": "payment.updated", "event_id": event_id,
                       "created_at": "2026-03-02T10:00:00Z",
                       "data": {"type": "payment", "id": "P1", "object": {"payment": {"id": "P1"}}}}).encode()


def toast_event(restaurant: str, guid: str = "tev-1") -> bytes:
    return json.dumps({"timestamp": "2026-03-02T10:00:00.000Z", "eventCategory": "orders", "eventType": "order_updated",
                       "guid": guid, "details": {"restaurantGuid": restaurant, "order": {"guid": "O1"}}}).encode()


def lightspeed_event(prefix: str, sale: str = "S1") -> bytes:
    return urlencode({"payload": json.dumps({"id": sale, "status": "CLOSED", "register_sale_products": []}),
                      "domain_prefix": prefix, "type": "sale.update"}).encode()


def sign(provider: str, body: bytes, key: str | None = None, url: str = NOTIFY) -> dict[str, str]:
    if provider == "square":
        return {"x-square-hmacsha256-signature": b64_hmac(key or SQUARE_KEY, url.encode() + body),
                "content-type": "application/json"}
    if provider == "toast":
        try:
            stamp = json.loads(body)["timestamp"].encode()
        except ValueError:
            stamp = b""  # an unreadable body has no timestamp
        return {"toast-signature": b64_hmac(key or TOAST_SECRET, body + stamp), "content-type": "application/json"}
    digest = hmac.new((key or LIGHTSPEED_SECRET).encode(), body, hashlib.sha256).hexdigest()
    return {"x-signature": f"signature={digest},algorithm=HMAC-SHA256",
            "content-type": "application/x-www-form-urlencoded"}


EVENTS = {"square": (square_event, "M1"), "toast": (toast_event, "T1-L1"), "lightspeed": (lightspeed_event, "store1")}


def post(api: Api, provider: str, body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return api.client.post(f"/api/v1/pos/webhooks/{provider}", content=body, headers=headers)


@pytest.mark.parametrize("provider", ["square", "toast", "lightspeed"])
def test_genuine_events_are_stored_once_and_attacks_are_refused(hooks: Api, provider: str) -> None:
    from pos_sync.api.metrics import webhook_counts
    from pos_sync.appstore.webhooks import inbox_counts, pending_events

    api = hooks
    make, key = EVENTS[provider]
    account_id = add_account(api, provider=provider, merchant="store1" if provider == "lightspeed" else
                             ("M1" if provider == "square" else "T1"))
    body = make(key)
    before = webhook_counts()

    assert post(api, provider, body, sign(provider, body)).json() == {"status": "accepted"}
    assert post(api, provider, body, sign(provider, body)).json() == {"status": "duplicate"}  # a replay
    refused = {
        "no signature": post(api, provider, body, {"content-type": sign(provider, body)["content-type"]}),
        "wrong key": post(api, provider, body, sign(provider, body, key="not-the-key")),
        "altered byte": post(api, provider, body.replace(b"1", b"2", 1), sign(provider, body)),
        "10 MB body": post(api, provider, body + b" " * (10 * 1024 * 1024), sign(provider, body)),
    }
    if provider == "square":  # signed for another notification URL
        refused["other URL"] = post(api, provider, body, sign(provider, body, url="https://evil.example/hook"))
    statuses = {name: r.status_code for name, r in refused.items()}
    assert statuses == {name: 413 if name == "10 MB body" else 401 for name in refused}, statuses
    for response in refused.values():
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "Traceback" not in response.text
    garbage = b"{not json" if provider != "lightspeed" else b"payload=%7Bnot+json"
    assert post(api, provider, garbage, sign(provider, garbage)).status_code == 400  # signed, but unreadable
    stranger = make("NOT-OURS", "other-event")  # a new event of a store we do not have
    assert post(api, provider, stranger, sign(provider, stranger)).json() == {"status": "unroutable"}

    [event] = pending_events()  # exactly one event to sync, for the right account
    assert event.account_id == account_id and event.provider == provider
    assert inbox_counts() == {"pending": 1, "unroutable": 1}
    counted = {k[1]: n - before.get(k, 0) for k, n in webhook_counts().items()
               if k[0] == provider and n - before.get(k, 0)}
    assert counted["accepted"] == 1 and counted["duplicate"] == 1 and counted["too_large"] == 1
    assert counted["bad_signature"] == len(refused) - 1 and counted["malformed"] == 1


def test_the_inbox_sensor_requests_one_targeted_sync_per_account(hooks: Api) -> None:
    from pos_dagster.defs.automation.webhooks import evaluate
    from pos_sync.appstore.webhooks import inbox_counts, settle_events

    api = hooks
    square = add_account(api, provider="square", merchant="M1")
    for n in range(3):  # three events of one account: one run
        body = square_event("M1", f"ev-{n}")
        assert post(api, "square", body, sign("square", body)).status_code == 200
    revoked = json.dumps({"merchant_id": "M9", "type": "oauth.authorization.revoked", "event_id": "rv-1",
                          "created_at": "2026-03-02T10:00:00Z", "data": {}}).encode()
    other = add_account(api, provider="square", merchant="M9")
    assert post(api, "square", revoked, sign("square", revoked)).status_code == 200
    from datetime import UTC, datetime

    with dg.instance_for_test() as instance:
        [run] = evaluate(instance, api.store, datetime.now(UTC))
        assert (run.job_name, run.partition_key, run.tags["pos/trigger"]) == ("square_sync", square, "webhook")
        assert evaluate(instance, api.store, datetime.now(UTC)) == []  # claimed: not asked for twice
    assert api.store.get_account(other).status == "disconnected"  # revoked at once
    assert inbox_counts()["queued"] == 3
    late = square_event("M1", "ev-late")  # arrives after the sensor's tick, before the run starts
    assert post(api, "square", late, sign("square", late)).status_code == 200
    assert inbox_counts()["pending"] == 1
    failed = settle_events(run.tags["pos/webhook-batch"], error="boom", covered=(square, datetime.now(UTC)))
    assert failed == 3 and inbox_counts()["pending"] == 4  # a failed run covers nothing: all back
    with dg.instance_for_test() as instance:
        [run] = evaluate(instance, api.store, datetime.now(UTC))  # the retry claims all four
    assert settle_events(run.tags["pos/webhook-batch"]) == 4  # what the run does when it succeeded
    assert inbox_counts()["processed"] == 5
    # a success settles the account's events that arrived before the run started (the sync read
    # them): none asks for another sync; one that arrived later stays pending
    before, after = square_event("M1", "ev-b"), square_event("M1", "ev-a")
    assert post(api, "square", before, sign("square", before)).status_code == 200
    started = datetime.now(UTC)
    assert post(api, "square", after, sign("square", after)).status_code == 200
    assert settle_events("another-run", covered=(square, started)) == 1
    assert inbox_counts()["processed"] == 6 and inbox_counts()["pending"] == 1


@pytest.mark.parametrize("provider", ["square", "toast", "lightspeed"])
def test_a_store_linked_by_two_tenants_gets_each_event_for_both(hooks: Api, provider: str) -> None:
    """Each tenant's account of the store gets the event (a row and a targeted sync each); a replay
    is a duplicate for both; the tenants' rows are their own."""
    from datetime import UTC, datetime

    from pos_dagster.defs.automation.webhooks import evaluate
    from pos_sync.appstore.webhooks import inbox_counts, pending_events

    api = hooks
    make, key = EVENTS[provider]
    merchant = "store1" if provider == "lightspeed" else ("M1" if provider == "square" else "T1")
    mine = add_account(api, provider=provider, merchant=merchant)
    theirs = add_account(api, tenant=api.other_tenant, provider=provider, merchant=merchant)
    body = make(key)
    assert post(api, provider, body, sign(provider, body)).json() == {"status": "accepted"}
    assert post(api, provider, body, sign(provider, body)).json() == {"status": "duplicate"}
    pending = pending_events()
    assert sorted((e.account_id, e.tenant_id) for e in pending) == sorted(
        [(mine, api.tenant), (theirs, api.other_tenant)])
    assert len({e.event_id for e in pending}) == 1 and inbox_counts() == {"pending": 2}
    with dg.instance_for_test() as instance:
        runs = evaluate(instance, api.store, datetime.now(UTC))
    assert sorted(r.partition_key for r in runs) == sorted([mine, theirs])  # a targeted sync each


def test_registration_is_tenant_scoped_and_says_what_is_missing(hooks: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api = hooks
    square = add_account(api, provider="square", merchant="M1")
    toast = add_account(api, provider="toast", merchant="R1")
    path = "/api/v1/pos/accounts/{}/webhooks/register"
    assert api.post(path.format(square), key=api.other_key).status_code == 404  # another tenant's account
    # without POS_PUBLIC_URL only a loopback service registers at the address it was asked at: a
    # subscription carries every merchant's events, so never at the host a request's Host header names
    unset = api.post(path.format(toast), json={"signature_key": TOAST_SECRET})
    assert unset.status_code == 409 and "POS_PUBLIC_URL" in unset.json()["detail"]
    settings = api.client.app.state.settings  # the service's, read once when it starts
    api.client.app.state.settings = replace(settings, public_url="https://pos.example.org")
    monkeypatch.delenv("SQUARE_APP_ACCESS_TOKEN", raising=False)
    missing = api.post(path.format(square))
    assert missing.status_code == 422 and "SQUARE_APP_ACCESS_TOKEN" in missing.json()["detail"]
    toast_missing = api.post(path.format(toast), json={})
    assert toast_missing.status_code == 422 and "signature_key" in toast_missing.json()["detail"]
    recorded = api.post(path.format(toast), json={"signature_key": TOAST_SECRET, "subscription_id": "sub-1"})
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["scope"] == "app" and recorded.json()["subscription_ids"] == ["sub-1"]
    assert recorded.json()["notification_url"] == "https://pos.example.org/api/v1/pos/webhooks/toast"
    from pos_sync.appstore.webhooks import signature_keys

    assert ("https://pos.example.org/api/v1/pos/webhooks/toast", TOAST_SECRET) in signature_keys("toast")
    assert TOAST_SECRET not in recorded.text  # keys are never answered back
    # Toast's key signs every merchant's events: another tenant's restaurant cannot replace it
    other_toast = add_account(api, tenant=api.other_tenant, provider="toast", merchant="R2")
    hijack = api.post(path.format(other_toast), json={"signature_key": "attacker-key"}, key=api.other_key)
    assert hijack.status_code == 409 and "operator" in hijack.json()["detail"]
    assert api.post(path.format(other_toast), json={"signature_key": TOAST_SECRET}, key=api.other_key).status_code == 200
    assert [k for _u, k in signature_keys("toast")] == [TOAST_SECRET]
    api.client.app.state.settings = replace(  # the operator rotates it
        api.client.app.state.settings,
        environ={**api.client.app.state.settings.environ, "POS_ALLOW_APP_WEBHOOK_KEY_CHANGE": "true"})
    assert api.post(path.format(toast), json={"signature_key": "toast-secret-2"}).status_code == 200
    assert [k for _u, k in signature_keys("toast")] == ["toast-secret-2", TOAST_SECRET]  # the old one while in flight


def test_the_inbox_sensor_ticks_as_often_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_dagster.defs.automation.webhooks import webhook_inbox_sensor
    from pos_sync.settings import SettingsError

    assert webhook_inbox_sensor().minimum_interval_seconds == 2
    monkeypatch.setenv("POS_WEBHOOK_SENSOR_INTERVAL_SECONDS", "1")
    assert webhook_inbox_sensor().minimum_interval_seconds == 1
    monkeypatch.setenv("POS_WEBHOOK_SENSOR_INTERVAL_SECONDS", "0")
    with pytest.raises(SettingsError):
        webhook_inbox_sensor()


def test_kept_keys_never_refuse_a_key_registered_a_moment_ago(hooks: Api) -> None:
    """The receiver keeps the signing keys for a few seconds; a signature they do not verify is
    checked again with the app store's keys (a new subscription, a rotated key)."""
    from pos_sync.appstore.webhooks import inbox_counts, save_subscription

    api = hooks
    add_account(api, provider="square", merchant="M1")
    first = square_event("M1", "ev-kept-1")
    assert post(api, "square", first, sign("square", first)).json() == {"status": "accepted"}  # keys now kept
    save_subscription("square", NOTIFY, ["payment.updated"], signature_key="sq-rotated-key")
    rotated = square_event("M1", "ev-kept-2")
    assert post(api, "square", rotated, sign("square", rotated, key="sq-rotated-key")).json() == {"status": "accepted"}
    forged = square_event("M1", "ev-kept-3")
    assert post(api, "square", forged, sign("square", forged, key="never-registered")).status_code == 401
    assert inbox_counts() == {"pending": 2}


def _run_of(instance: dg.DagsterInstance, request: dg.RunRequest, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """The run the daemon would have made of ``request``, in ``status``."""
    run = dg.DagsterRun(job_name=request.job_name or "", run_id=str(uuid.uuid4()), tags=dict(request.tags),
                        status=status)
    instance.add_run(run)
    return run


def test_a_stream_of_events_gets_targeted_runs_and_its_downstream_once_quiet(hooks: Api) -> None:
    """While an account's sync runs, or one was requested less than QUIET_AFTER ago, the next one is
    targeted (raw + canonical only: what lands the sale); the downstream assets it skipped are owed in
    the cursor and asked for once, when the account is quiet again — or every DOWNSTREAM_EVERY while
    the stream goes on."""
    from datetime import UTC, datetime, timedelta

    from pos_dagster.defs.automation.webhooks import DOWNSTREAM_EVERY, QUIET_AFTER, evaluate_tick
    from pos_dagster.defs.ingest.jobs import downstream_keys, targeted_keys
    from pos_sync.appstore.webhooks import inbox_counts, settle_events
    from pos_sync.providers import registry

    api = hooks
    square = add_account(api, provider="square", merchant="M1")
    spec = registry.get("square")
    now = datetime.now(UTC)
    quiet_after = QUIET_AFTER.total_seconds()

    def tick(seconds: float, cursor: str | None) -> tuple[list[dg.RunRequest], str]:
        return evaluate_tick(instance, api.store, now + timedelta(seconds=seconds), cursor)

    def event(name: str) -> None:
        body = square_event("M1", name)
        assert post(api, "square", body, sign("square", body)).status_code == 200

    def owed(cursor: str) -> set[str]:
        return set(json.loads(cursor)["owed"])

    with dg.instance_for_test() as instance:
        event("ev-0")
        [first], cursor = tick(0, None)  # nothing of the account runs: the whole job
        assert first.asset_selection is None and first.tags["pos/webhook-scope"] == "full"
        assert owed(cursor) == set()
        running = _run_of(instance, first, dg.DagsterRunStatus.STARTED)
        event("ev-1")
        [second], cursor = tick(1, cursor)  # its sync runs: the next one is targeted, the rest owed
        assert second.asset_selection == targeted_keys(spec)
        assert second.tags["pos/webhook-scope"] == "targeted" and second.tags["pos/trigger"] == "webhook"
        assert owed(cursor) == {square}
        assert tick(2, cursor)[0] == []  # a sync of it still in flight: nothing more
        instance.report_run_failed(running, "ended")  # (the outcome does not matter here)
        queued = _run_of(instance, second, dg.DagsterRunStatus.NOT_STARTED)  # queued
        assert tick(3, cursor)[0] == []
        instance.report_run_failed(queued, "ended")
        assert settle_events(second.tags["pos/webhook-batch"]) == 1 and settle_events(
            first.tags["pos/webhook-batch"]) == 1
        event("ev-1b")  # nothing of it runs, but its last sync was asked for a moment ago: still a stream
        [again], cursor = tick(4, cursor)
        assert again.asset_selection == targeted_keys(spec) and owed(cursor) == {square}
        assert settle_events(again.tags["pos/webhook-batch"]) == 1
        assert tick(4 + quiet_after - 1, cursor)[0] == []  # not quiet for long enough yet
        [down], quiet = tick(4 + quiet_after, cursor)  # quiet: the downstream assets, once
        assert down.asset_selection == downstream_keys(spec) and down.partition_key == square
        assert down.tags["pos/trigger"] == "webhook-downstream" and "pos/webhook-batch" not in down.tags
        assert owed(quiet) == set() and tick(5 + quiet_after, quiet)[0] == []

        # a stream that does not stop: its downstream every DOWNSTREAM_EVERY, never two in flight
        downstream = _run_of(instance, down, dg.DagsterRunStatus.NOT_STARTED)  # queued
        event("ev-2")
        start = 6 + quiet_after
        [third], cursor = tick(start, quiet)  # a queued downstream run reads no events: a sync is asked for
        assert third.tags["pos/webhook-batch"] and third.asset_selection is None
        instance.report_run_failed(downstream, "ended")
        _run_of(instance, third, dg.DagsterRunStatus.STARTED)
        event("ev-3")
        [fourth], cursor = tick(start + 1, cursor)
        assert fourth.asset_selection == targeted_keys(spec)
        _run_of(instance, fourth, dg.DagsterRunStatus.NOT_STARTED)  # queued
        late = start + 1 + DOWNSTREAM_EVERY.total_seconds()
        assert tick(late - 1, cursor)[0] == []
        [overdue], cursor = tick(late, cursor)
        assert overdue.asset_selection == downstream_keys(spec) and owed(cursor) == set()
        assert inbox_counts()["queued"] == 2


def test_webhook_syncs_go_first_in_the_run_queue_until_another_run_waited_a_minute(hooks: Api) -> None:
    """A webhook sync carries ``dagster/priority`` 1 (the queue takes it before monitoring or
    forecasting runs, which share the one DuckDB writer), unless a run without it has been queued for
    YIELD_AFTER: then the next sync queues behind it, so nothing starves during a stream of sales."""
    from datetime import UTC, datetime, timedelta

    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from pos_dagster.defs.automation.webhooks import YIELD_AFTER, evaluate

    api = hooks
    add_account(api, provider="square", merchant="M1")
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="pos_dagster.definitions")), "__repository__"), "monitoring_job")
    with dg.instance_for_test() as instance:
        instance.add_run(dg.DagsterRun(job_name="monitoring_job", run_id=str(uuid.uuid4()), remote_job_origin=origin,
                                       status=dg.DagsterRunStatus.QUEUED, tags={"pos/warehouse-writer": "1"}))
        body = square_event("M1", "ev-0")
        assert post(api, "square", body, sign("square", body)).status_code == 200
        [first] = evaluate(instance, api.store, datetime.now(UTC))
        assert first.tags["dagster/priority"] == "1"  # the monitoring run has only just been queued
        body = square_event("M1", "ev-1")
        assert post(api, "square", body, sign("square", body)).status_code == 200
        [second] = evaluate(instance, api.store, datetime.now(UTC) + YIELD_AFTER + timedelta(seconds=1))
        assert "dagster/priority" not in second.tags  # it waited long enough: its turn first


def test_a_lightspeed_event_is_its_payload_whatever_unsigned_fields_come_with_it() -> None:
    """Lightspeed may sign only the form's ``payload``: a genuine event re-sent with an added field
    or another ``domain_prefix`` was a new event (the raw body's hash its id), routed to that store."""
    from pos_sync.providers.lightspeed.webhooks import parse

    payload = json.dumps({"id": "S1", "status": "CLOSED", "register_sale_products": [],
                          "retailer": {"domain_prefix": "store1"}})
    genuine = urlencode({"payload": payload, "domain_prefix": "store1", "type": "sale.update"}).encode()
    event = parse(genuine, {})
    for replay in (genuine + b"&x=1", urlencode({"payload": payload, "domain_prefix": "storeb"}).encode()):
        again = parse(replay, {})
        assert (again.event_id, again.merchant_id, again.event_type) == (event.event_id, "store1", "sale.update")
    bare = urlencode({"payload": json.dumps({"id": "S1"}), "domain_prefix": "Store2"}).encode()
    assert parse(bare, {}).merchant_id == "store2"  # a payload that names no store: the form's
