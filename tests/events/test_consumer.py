"""Consumed messages, through the real RabbitMQ: the orchestrator's daily trigger and the sales
service's discrepancy become exactly the sync requests they ask for (a redelivered message asks
nothing more), which the account sync sensor turns into the runs they ask for; a message is
acknowledged only once its requests are committed (an app store failure leaves it queued); poison
messages are dead-lettered with a reason header. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from events_support import Broker, World, schema

from pos_sync.appstore.sync_requests import pending_sync_requests
from pos_sync.events.amqp import run
from pos_sync.events.commands import DAILY_SYNC, DISCREPANCY
from pos_sync.events.consumer import REASON_HEADER, CommandConsumer, Outcome
from pos_sync.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime.now(UTC).date()


@pytest.fixture()
def queue(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> str:
    """A commands queue of this test's own (declared, with its dead-letter queue, by a first drain)."""
    name = broker.name("commands")
    monkeypatch.setenv("RABBITMQ_URL", broker.url)
    monkeypatch.setenv("POS_COMMANDS_QUEUE", name)
    broker.track_queue(name, f"{name}.dead")
    broker.track_exchange(f"{name}.dlx")
    broker.track_exchange("orchestrator")
    broker.track_exchange("sales")
    return name


def drain(settings: Settings | None = None) -> list[Outcome]:
    async def go() -> list[Outcome]:
        settings_ = settings or load_settings()
        async with CommandConsumer(str(settings_.rabbitmq_url), settings_) as consumer:
            return await consumer.drain()

    return run(go())


def daily(tenant_id: str | None, event_id: str | None = None) -> dict[str, object]:
    return {"event_type": "daily_sync", "event_id": event_id or str(uuid.uuid4()), "tenant_id": tenant_id,
            "timestamp": "2026-03-02T03:00:00Z"}


def discrepancy(tenant_id: str, account_id: str, start: date, end: date) -> dict[str, object]:
    return {"event_type": "sales_discrepancy_detected", "event_id": str(uuid.uuid4()), "tenant_id": tenant_id,
            "pos_account_id": account_id, "start_date": start.isoformat(), "end_date": end.isoformat(),
            "reason": "daily totals differ by 12.40 EUR", "timestamp": "2026-03-02T08:00:00Z"}


def requests() -> list:
    return pending_sync_requests(1000, settings=load_settings())


def test_the_documented_examples_match_their_schemas() -> None:
    import jsonschema

    for routing_key, body in ((DAILY_SYNC, daily("t1")), (DAILY_SYNC, daily(None)),
                              (DISCREPANCY, discrepancy("t1", str(uuid.uuid4()), TODAY, TODAY))):
        jsonschema.validate(body, schema(routing_key), format_checker=jsonschema.FormatChecker())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**daily("t1"), "event_type": "other"}, schema(DAILY_SYNC))


def test_daily_trigger_requests_a_sync_of_each_active_account_of_the_tenant_once(
        world: World, broker: Broker, queue: str) -> None:
    store = world.store
    store.mark_account_error(world.toast, "reauth_required", "the refresh token was revoked")  # type: ignore[attr-defined]
    disabled, _ = store.upsert_account(tenant_id=world.tenant, provider="square", merchant_id="SQ9",  # type: ignore[attr-defined]
                                       access_token="a", sync_enabled=False)
    assert drain() == []  # declares the queue and its bindings
    message = daily(world.tenant)
    broker.publish("orchestrator", DAILY_SYNC, message)
    broker.publish("orchestrator", DAILY_SYNC, message)  # redelivered / sent twice: the same event_id
    first, second = drain()
    assert first.handled is not None and second.handled is not None
    assert sorted(r.account_id for r in first.handled.created) == sorted([world.square, world.lightspeed])
    assert first.handled.skipped == [world.toast]  # waiting to be reconnected
    assert (second.handled.created, second.handled.repeated) == ([], 2)
    made = requests()
    assert sorted(r.account_id for r in made) == sorted([world.square, world.lightspeed])  # not disabled, not other
    assert disabled not in {r.account_id for r in made}
    assert {(r.kind, r.event_id, r.tenant_id) for r in made} == {("sync", message["event_id"], world.tenant)}
    assert broker.count(queue) == 0 and broker.count(f"{queue}.dead") == 0  # acknowledged


def test_daily_trigger_without_a_tenant_syncs_every_tenant(world: World, broker: Broker, queue: str) -> None:
    drain()
    broker.publish("orchestrator", DAILY_SYNC, daily(None))
    [outcome] = drain()
    assert outcome.handled is not None
    assert sorted(r.account_id for r in requests()) == sorted(
        [world.square, world.toast, world.lightspeed, world.other_square])


def test_a_discrepancy_becomes_a_backfill_or_a_reread_and_the_sensor_runs_exactly_that(
        world: World, broker: Broker, queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.sensor import tick

    monkeypatch.delenv("POS_NOW", raising=False)
    start, end = TODAY - timedelta(days=3), TODAY - timedelta(days=1)
    drain()
    broker.publish("sales", DISCREPANCY, discrepancy(world.tenant, world.square, start, end))
    broker.publish("sales", DISCREPANCY, discrepancy(world.tenant, world.lightspeed, start, end))
    outcomes = drain()
    assert [len(o.handled.created) for o in outcomes if o.handled] == [1, 1]
    made = {r.account_id: r for r in requests()}
    assert (made[world.square].kind, made[world.square].start_date, made[world.square].end_date) == \
        ("historical", start, end)
    assert (made[world.lightspeed].kind, made[world.lightspeed].start_date) == ("reread", start)

    with dg.instance_for_test() as instance:
        result = tick(instance)
    asked = [r for r in result.run_requests or [] if "pos/sync-request" in r.tags]
    square = sorted((r for r in asked if r.tags["pos/account"] == world.square), key=lambda r: str(r.partition_key))
    assert [r.job_name for r in square] == ["square_historical_backfill"] * 3  # one run per day of the range
    assert [r.partition_key.keys_by_dimension for r in square] == [  # type: ignore[union-attr]
        {"account": world.square, "date": (start + timedelta(days=n)).isoformat()} for n in range(3)]
    [reread] = [r for r in asked if r.tags["pos/account"] == world.lightspeed]
    assert (reread.job_name, reread.partition_key) == ("lightspeed_sync", world.lightspeed)
    assert reread.tags["pos/reread"] == made[world.lightspeed].id and reread.tags["pos/trigger"] == "event"
    assert len(asked) == 4


@pytest.mark.parametrize(("exchange", "routing_key", "body", "reason"), [
    ("sales", DISCREPANCY, b"{not json", "invalid JSON"),
    ("sales", DISCREPANCY, b"[1, 2]", "invalid payload: a JSON object is expected"),
    ("sales", DISCREPANCY, "unknown-account", "unknown account"),
    ("sales", DISCREPANCY, "wrong-tenant", "does not belong to tenant"),
    ("sales", DISCREPANCY, "reversed-dates", "is before start_date"),
    ("orchestrator", DAILY_SYNC, "unknown-tenant", "unknown tenant"),
    ("orchestrator", DAILY_SYNC, "wrong-type", "event_type must be 'daily_sync'"),
    ("", "<queue>", "direct", "unknown routing key"),
])
def test_poison_messages_are_dead_lettered_with_a_reason(world: World, broker: Broker, queue: str, exchange: str,
                                                         routing_key: str, body: bytes | str, reason: str) -> None:
    day = TODAY - timedelta(days=1)
    bodies: dict[str, dict[str, object]] = {
        "unknown-account": discrepancy(world.tenant, str(uuid.uuid4()), day, day),
        "wrong-tenant": discrepancy(world.tenant, world.other_square, day, day),
        "reversed-dates": discrepancy(world.tenant, world.square, day, day - timedelta(days=1)),
        "unknown-tenant": daily(str(uuid.uuid4())),
        "wrong-type": {**daily(world.tenant), "event_type": "pos_sync_completed"},
        "direct": daily(world.tenant),
    }
    raw = body if isinstance(body, bytes) else json.dumps(bodies[body]).encode()
    drain()
    broker.publish(exchange, queue if routing_key == "<queue>" else routing_key, raw, message_id="m-1")
    [outcome] = drain()
    assert outcome.handled is None and reason in (outcome.poison or "")
    [dead] = broker.take(f"{queue}.dead")
    assert dead.body == raw and dead.message_id == "m-1"
    assert reason in dead.headers[REASON_HEADER]
    assert dead.headers["x-pos-sync-exchange"] == exchange
    assert broker.count(queue) == 0  # acknowledged after dead-lettering
    assert requests() == []


def test_a_message_is_acknowledged_only_after_its_requests_are_recorded(world: World, broker: Broker,
                                                                        queue: str) -> None:
    import dataclasses

    drain()
    broker.publish("sales", DISCREPANCY, discrepancy(world.tenant, world.square, TODAY, TODAY))
    unreachable = dataclasses.replace(load_settings(), database_url="postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(Exception, match="127.0.0.1"):  # the app store is down: nothing recorded …
        drain(unreachable)
    assert broker.count(queue) == 1  # … so the message is still there (nacked, requeued)
    assert requests() == []
    [outcome] = drain()
    assert outcome.handled is not None and len(requests()) == 1
    assert broker.count(queue) == 0


def test_cli_consume_once(world: World, broker: Broker, queue: str) -> None:
    drain()
    broker.publish("orchestrator", DAILY_SYNC, daily(world.tenant))
    broker.publish("sales", DISCREPANCY, b"{oops")
    done = subprocess.run([sys.executable, "-m", "pos_sync.cli", "events", "consume", "--once", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [len(r["requests"]) for r in report] == [3, 0]
    assert report[1]["dead_lettered"].startswith("invalid JSON")
    assert len(requests()) == 3


@pytest.fixture()
def no_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    yield


def test_consume_without_a_broker_is_one_line(no_broker: None) -> None:
    done = subprocess.run([sys.executable, "-m", "pos_sync.cli", "events", "consume", "--once"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: RABBITMQ_URL is not set: there is no broker to consume from"
