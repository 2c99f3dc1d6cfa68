"""Publishing the outbox to the real RabbitMQ: persistent messages on the topic exchange, with the
event's id as ``message_id``; each event goes out once (a second run and a re-closed sync publish
no duplicate ``event_id``); an outage loses nothing (a closed port: the events stay with the
attempt and the error recorded, one line said) and they go out once the broker is back; without
``RABBITMQ_URL`` nothing is published and it is said once (CLI and Dagster sensor)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from events_support import CLOSED_URL, Broker, World, validate
from test_outbox import sync

from pos_sync.appstore.outbox import outbox_counts, pending_events
from pos_sync.events.amqp import run
from pos_sync.events.publisher import NOT_CONFIGURED, publish_pending
from pos_sync.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def use_broker(monkeypatch: pytest.MonkeyPatch, broker: Broker, url: str | None) -> str:
    """RABBITMQ_URL (None: unset) and a test-only events exchange; the exchange's name."""
    exchange = broker.name("pos")
    if url is None:
        monkeypatch.delenv("RABBITMQ_URL", raising=False)
    else:
        monkeypatch.setenv("RABBITMQ_URL", url)
    monkeypatch.setenv("POS_EVENTS_EXCHANGE", exchange)
    broker.track_exchange(exchange)
    return exchange


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pos_sync.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_events_are_published_once_persistent_with_their_id(world: World, broker: Broker,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = use_broker(monkeypatch, broker, broker.url)
    queue = broker.capture(exchange, "pos.#")
    sync(world, world.square, processed=45, new_products=3)
    sync(world, world.toast, "failed", minutes=1, error_message="OAuth token expired",
         error_type="authentication_failed")
    outbox = {e.event_id: e for e in pending_events(settings=load_settings())}

    report = run(publish_pending(load_settings()))
    assert (report.published, report.failed, report.pending, report.error) == (2, 0, 0, None)
    again = run(publish_pending(load_settings()))  # a second run: nothing left to send
    assert (again.published, again.failed) == (0, 0)

    got = broker.take(queue)
    assert sorted(m.message_id for m in got) == sorted(outbox)  # each event once, message_id = event_id
    for message in got:
        event = outbox[message.message_id or ""]
        assert message.routing_key == event.routing_key
        assert message.body.decode() == event.payload  # byte for byte what the outbox holds
        assert (message.content_type, message.delivery_mode) == ("application/json", 2)
        assert validate(message.routing_key, message.body)["event_id"] == message.message_id
    assert outbox_counts(settings=load_settings()) == {"pending": 0, "published": 2}


def test_rerunning_a_sync_publishes_no_duplicate_event_id(world: World, broker: Broker,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = use_broker(monkeypatch, broker, broker.url)
    queue = broker.capture(exchange, "pos.#")
    store = world.store
    log_id = sync(world, world.square, processed=2)
    run(publish_pending(load_settings()))
    store.finish_sync_log(log_id, "success", processed=2)  # type: ignore[attr-defined]  # the run retried its close
    store.finish_sync_log(log_id, "failed", error_message="x", error_type="internal_error")  # type: ignore[attr-defined]
    sync(world, world.square, processed=0, minutes=15)  # the next sync: a new state change, a new event
    run(publish_pending(load_settings()))
    ids = [m.message_id for m in broker.take(queue)]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_an_outage_keeps_the_events_and_they_go_out_once_when_the_broker_is_back(
        world: World, broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = use_broker(monkeypatch, broker, CLOSED_URL)
    queue = broker.capture(exchange, "pos.#")
    for n in range(3):
        sync(world, world.square, minutes=n, processed=n)
    expected = {e.event_id for e in pending_events(settings=load_settings())}

    for attempt in (1, 2):
        done = cli("events", "publish", "--once")
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr  # one clear line, no traceback
        assert lines[0].startswith("error: cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/")
        assert lines[0].endswith("3 event(s) kept in the outbox")
        rows = pending_events(settings=load_settings())
        assert {r.event_id for r in rows} == expected
        assert all(r.attempts == attempt and "cannot reach RabbitMQ" in (r.last_error or "") for r in rows)
    assert broker.count(queue) == 0

    monkeypatch.setenv("RABBITMQ_URL", broker.url)
    done = cli("events", "publish", "--once", "--json")
    assert done.returncode == 0, done.stderr
    assert '"published": 3' in done.stdout
    assert cli("events", "publish", "--once").returncode == 0  # nothing more
    got = broker.take(queue)
    assert sorted(m.message_id or "" for m in got) == sorted(expected)  # exactly once per event_id
    assert outbox_counts(settings=load_settings()) == {"pending": 0, "published": 3}


def test_the_product_exchange_is_pos_durable_topic(world: World, broker: Broker,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_URL", broker.url)
    monkeypatch.delenv("POS_EVENTS_EXCHANGE", raising=False)
    assert load_settings().events_exchange == "pos"
    queue = broker.capture("pos", "pos.sync_completed")
    sync(world, world.square)
    [event_id] = [e.event_id for e in pending_events(settings=load_settings())]
    assert run(publish_pending(load_settings())).published == 1
    assert broker.exchange_info("pos")  # a durable topic exchange: the publisher's declaration matches
    assert event_id in {m.message_id for m in broker.take(queue)}


def test_without_a_broker_the_outbox_keeps_everything_and_says_so_once(world: World, broker: Broker,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_dagster.defs.automation.events import evaluate

    use_broker(monkeypatch, broker, None)
    sync(world, world.square)
    report = run(publish_pending(load_settings()))
    assert (report.published, report.pending, report.error) == (0, 1, NOT_CONFIGURED)
    done = cli("events", "publish", "--once")
    assert done.returncode == 0 and done.stderr.strip() == f"events: {NOT_CONFIGURED} (1 pending)"

    said: list[str] = []

    class Log:
        def info(self, text: str) -> None:
            said.append(text)

        warning = info

    cursor = None
    now = datetime.now(UTC)
    for tick in range(3):
        text, cursor, _ = evaluate(load_settings(), cursor, now + timedelta(seconds=10 * tick), Log())  # type: ignore[arg-type]
        assert text.startswith(NOT_CONFIGURED)
    assert said == [f"{NOT_CONFIGURED}; 1 event(s) kept in the outbox"]  # once, not every tick
    assert pending_events(settings=load_settings())[0].attempts == 0  # nothing was tried


def test_the_sensor_publishes_says_an_outage_once_and_the_recovery(world: World, broker: Broker,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from pos_dagster.definitions import defs
    from pos_dagster.defs.automation.events import evaluate

    sensor = defs.get_repository_def().get_sensor_def("events_outbox_sensor")
    assert sensor.description and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    exchange = use_broker(monkeypatch, broker, CLOSED_URL)
    queue = broker.capture(exchange, "pos.#")
    sync(world, world.square)
    [event_id] = [e.event_id for e in pending_events(settings=load_settings())]
    said: list[str] = []

    class Log:
        def info(self, text: str) -> None:
            said.append(f"info: {text}")

        def warning(self, text: str) -> None:
            said.append(f"warning: {text}")

    cursor, now = None, datetime.now(UTC)
    for tick in range(2):
        text, cursor, report = evaluate(load_settings(), cursor, now + timedelta(seconds=10 * tick), Log())  # type: ignore[arg-type]
        assert report.published == 0 and "kept in the outbox" in text
    assert len(said) == 1 and said[0].startswith("warning: cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/")
    monkeypatch.setenv("RABBITMQ_URL", broker.url)
    text, cursor, report = evaluate(load_settings(), cursor, now + timedelta(seconds=30), Log())  # type: ignore[arg-type]
    assert (report.published, text) == (1, "published 1 event(s)")
    assert said[1] == "info: RabbitMQ is reachable again; the events kept in the outbox are published"
    assert [m.message_id for m in broker.take(queue)] == [event_id]
    assert outbox_counts(settings=load_settings()) == {"pending": 0, "published": 1}
