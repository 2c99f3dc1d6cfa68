"""The webhook delivery engine, provider-neutral behaviour (checked through Square): the options and
their spec string, seeded duplicates / reordering / drops reproducible for a seed, delay, the log
and wait controls, clock rewinds, deleted subscriptions cancelling their retries."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from webhook_support import FAST, receiving, sandbox, settle, square_subscribe, tiny_world

from pos_sandbox.webhook_options import DEFAULT_SCHEDULES, WebhookOptions, parse_duration


def test_options_default_to_each_providers_deadline_and_retry_schedule() -> None:
    opts = WebhookOptions()
    assert dict(opts.timeouts) == {"square": 10.0, "toast": 2.0, "lightspeed": 5.0}
    square = DEFAULT_SCHEDULES["square"]
    assert square[:6] == (60, 120, 240, 480, 960, 1920) and set(square[6:]) == {3600}
    assert sum(square) <= 24 * 3600 < sum(square) + 3600
    assert DEFAULT_SCHEDULES["toast"] == (300, 600)
    lightspeed = DEFAULT_SCHEDULES["lightspeed"]
    assert len(lightspeed) == 20 and 47 * 3600 < sum(lightspeed) < 49 * 3600
    assert opts.retry_delay("toast", 1) == 300 and opts.retry_delay("toast", 3) is None


def test_spec_strings() -> None:
    opts = WebhookOptions.parse("dup:0.1,reorder:0.2,delay:2s,drop:0.05,seed=3")
    assert (opts.dup, opts.reorder, opts.delay, opts.drop, opts.seed) == (0.1, 0.2, 2.0, 0.05, 3)
    opts = WebhookOptions.parse("scale=0.001,timeout=500ms,timeout.toast=2s,jitter:1m,hold=250ms,"
                                "retries.square=1s/2s,retries.toast=none,lightspeed.signature=BASE64,"
                                "lightspeed.signed=payload")
    assert opts.retry_delay("square", 1) == pytest.approx(0.001) and opts.retry_delay("square", 3) is None
    assert opts.retry_delay("toast", 1) is None
    assert dict(opts.timeouts) == {"square": 0.5, "toast": 2.0, "lightspeed": 0.5}
    assert (opts.jitter, opts.hold, opts.lightspeed_signature, opts.lightspeed_signed) == (60, 0.25, "base64",
                                                                                           "payload")
    assert WebhookOptions.parse("off").enabled is False
    assert WebhookOptions.parse("", seed=9).seed == 9
    assert [parse_duration(t) for t in ("1.5", "20ms", "3s", "2m", "1h")] == [1.5, 0.02, 3, 120, 3600]
    for bad in ("dup:2", "loss:0.1", "seed", "color=red", "timeout.clover=1s", "lightspeed.signature=md5",
                "delay:soon", "scale=0"):
        with pytest.raises(ValueError):
            WebhookOptions.parse(bad)
    draws = [WebhookOptions(seed=3).draw("dup", "sub", f"e{i}") for i in range(200)]
    assert draws == [WebhookOptions(seed=3).draw("dup", "sub", f"e{i}") for i in range(200)]
    assert draws != [WebhookOptions(seed=4).draw("dup", "sub", f"e{i}") for i in range(200)]
    assert 0.4 < sum(draws) / len(draws) < 0.6


def run_faulty(seed: int) -> tuple[list[str], dict]:
    """One day of a tiny Square world delivered with dup/reorder/drop; the arrival order and log."""
    world = tiny_world(17, "square", days=1)
    world.set_now(world.window_start_utc)
    with receiving() as rx, sandbox(world, webhooks=f"{FAST},dup:0.2,reorder:0.2,drop:0.1,hold=300ms,"
                                                    f"seed={seed}") as srv:
        square_subscribe(srv, rx.url("/sq"), ["payment.created", "order.created"])
        world.set_now(world.window_end_utc)
        log = settle(srv)
        return [r.json()["event_id"] for r in rx.on("/sq")], log


def test_duplicates_reordering_and_drops_as_configured_and_reproducible_for_a_seed() -> None:
    arrivals, log = run_faulty(3)
    deliveries = log["deliveries"]
    originals = [d for d in deliveries if not d["duplicate"]]
    order = [d["event_id"] for d in originals]  # the events in the order they happened
    dropped = {d["event_id"] for d in originals if d["status"] == "dropped"}
    duplicated = {d["event_id"] for d in deliveries if d["duplicate"]}
    reordered = {d["event_id"] for d in originals if d["reordered"] and d["status"] != "dropped"}
    assert dropped and duplicated and reordered
    counters = log["counters"]
    assert counters["dropped"] == len(dropped) and counters["duplicates"] == len(duplicated)
    summary = log["events"]  # per event id
    assert {e for e, s in summary.items() if s["dropped"]} == dropped
    assert {e for e, s in summary.items() if s["duplicates"]} == duplicated
    assert all(s["acknowledged"] == s["deliveries"] - s["dropped"] for s in summary.values())
    assert counters["deliveries"] == len(order) + len(duplicated) and counters["pending"] == 0

    assert not dropped & set(arrivals)  # a dropped event never arrives (nor its duplicate)
    assert {e: arrivals.count(e) for e in duplicated} == dict.fromkeys(duplicated, 2)
    assert set(arrivals) == set(order) - dropped
    first_seen = list(dict.fromkeys(arrivals))
    in_time = [e for e in order if e not in dropped and e not in reordered]
    assert first_seen[: len(in_time)] == in_time  # held-back events arrive after the rest of their batch
    assert set(first_seen[len(in_time):]) == reordered

    again, log_again = run_faulty(3)
    assert again == arrivals  # same seed, same world: the same deliveries in the same order
    assert [(d["event_id"], d["status"], d["duplicate"], d["reordered"]) for d in log_again["deliveries"]] == \
        [(d["event_id"], d["status"], d["duplicate"], d["reordered"]) for d in deliveries]
    other, _ = run_faulty(4)
    assert other != arrivals


def test_delay_and_the_log_and_wait_controls() -> None:
    world = tiny_world(5, "square", days=1)
    with receiving() as rx, sandbox(world, webhooks=f"{FAST},delay:300ms") as srv:
        square_subscribe(srv, rx.url("/sq"), ["payment.created"])
        sale = httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"}).json()["sale"]
        waited = httpx.post(f"{srv.base_url}/_sandbox/webhooks/wait", json={"timeout": 10}).json()
        assert waited["idle"] is True and waited["counters"]["acknowledged"] == len(sale["tender_ids"])
        log = httpx.get(f"{srv.base_url}/_sandbox/webhooks", params={"provider": "square"}).json()
        delivery = log["deliveries"][0]
        assert delivery["latency_ms"] >= 300 and delivery["event_type"] == "payment.created"
        assert delivery["event_at"] == sale["closed_at"] and delivery["object_id"] == sale["tender_ids"][0]
        attempt = delivery["attempts"][0]
        assert attempt["status_code"] == 200 and attempt["acknowledged"] and attempt["sent_at"].endswith("Z")
        assert log["subscriptions"][0]["event_types"] == ["payment.created"]
        assert "secret" not in log["subscriptions"][0]
        one = httpx.get(f"{srv.base_url}/_sandbox/webhooks", params={"event_id": delivery["event_id"]}).json()
        assert [d["seq"] for d in one["deliveries"]] == [delivery["seq"]]
        assert httpx.get(f"{srv.base_url}/_sandbox/webhooks", params={"since": delivery["seq"] + 100}).json()[
            "deliveries"] == []
        assert httpx.get(f"{srv.base_url}/_sandbox/webhooks", params={"status": "dropped"}).json()["deliveries"] == []
        assert len(rx.on("/sq")) == len(sale["tender_ids"])


def test_an_event_fires_once_even_when_the_clock_is_set_back() -> None:
    world = tiny_world(5, "square", days=1)
    noon = world.window_start_utc + timedelta(hours=12)
    world.set_now(noon - timedelta(hours=2))
    with receiving() as rx, sandbox(world) as srv:
        square_subscribe(srv, rx.url("/sq"), ["order.created"])
        world.set_now(noon)
        settle(srv)
        first = len(rx.on("/sq"))
        assert first > 0
        world.set_now(noon - timedelta(hours=2))
        world.set_now(noon)
        settle(srv)
        assert len(rx.on("/sq")) == first
        world.set_now(noon + timedelta(hours=2))
        settle(srv)
        later = len(rx.on("/sq"))
        assert later > first
        assert len({r.json()["event_id"] for r in rx.on("/sq")}) == later
        world.set_now(noon)  # a live sale made while the clock is behind still fires: it closes after the mark
        sale = httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"}).json()["sale"]
        assert sale["closed_at"] > (noon + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
        settle(srv)
        assert rx.on("/sq")[-1].json()["data"]["id"] == sale["sale_id"] and len(rx.on("/sq")) == later + 1


def test_deleting_a_subscription_cancels_its_pending_retries() -> None:
    world = tiny_world(5, "square", days=1)
    with receiving(lambda n, r: (500, 0.0)) as rx, sandbox(world, webhooks="scale=0.01,timeout=1s") as srv:
        sub = square_subscribe(srv, rx.url("/sq"), ["payment.created"])
        httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"})
        httpx.delete(f"{srv.provider_url('square')}/v2/webhooks/subscriptions/{sub['id']}",
                     headers={"Authorization": f"Bearer {srv.credentials[world.accounts[0].account_id].app_access_token}"})
        log = settle(srv)
        assert {d["status"] for d in log["deliveries"]} == {"canceled"}
        assert log["counters"]["canceled"] == len(log["deliveries"])
        assert len(rx.on("/sq")) <= len(log["deliveries"])  # at most the first attempts went out


def test_gives_up_when_the_schedule_is_exhausted() -> None:
    world = tiny_world(5, "square", days=1)
    with receiving(lambda n, r: (502, 0.0)) as rx, \
            sandbox(world, webhooks="retries.square=10ms/10ms,timeout=1s") as srv:
        square_subscribe(srv, rx.url("/sq"), ["order.created"])
        httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "square"})
        log = settle(srv)
        (delivery,) = log["deliveries"]
        assert delivery["status"] == "gave_up" and len(delivery["attempts"]) == 3 == len(rx.on("/sq"))
        assert log["counters"]["failed_attempts"] == 3 and log["counters"]["retries"] == 2
