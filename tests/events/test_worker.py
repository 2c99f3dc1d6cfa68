"""The long-running workers (``pos-sync events publish`` / ``consume`` without ``--once``): the
broker goes away and comes back while the worker runs — a loopback TCP relay to the real RabbitMQ
that is not listening at first — and the publisher says the outage once, keeps every event, says
the recovery once and publishes each event exactly once; the consumer turns a message into its
sync request as it arrives."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from events_support import Broker, World
from test_outbox import sync

from pos_sync.appstore.outbox import outbox_counts, pending_events
from pos_sync.appstore.sync_requests import pending_sync_requests
from pos_sync.events.amqp import run
from pos_sync.events.commands import DAILY_SYNC
from pos_sync.events.worker import consume_forever, publish_forever
from pos_sync.settings import load_settings

BROKER_PORT = 5672


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def relay(port: int) -> asyncio.Server:
    """A TCP relay on ``port`` to the broker (what coming back looks like to the worker)."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection("127.0.0.1", BROKER_PORT)
        await asyncio.gather(pipe(client_r, broker_w), pipe(broker_r, client_w))

    return await asyncio.start_server(serve, "127.0.0.1", port)


async def until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Wait for ``check`` (run in a thread: it may use the synchronous helpers)."""
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_the_publisher_rides_out_an_outage(world: World, broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = broker.name("pos")
    monkeypatch.setenv("POS_EVENTS_EXCHANGE", exchange)
    broker.track_exchange(exchange)
    queue = broker.capture(exchange, "pos.#")
    for n in range(4):
        sync(world, world.square, minutes=n)
    expected = {e.event_id for e in pending_events(settings=load_settings())}
    port = free_port()
    settings = dataclasses.replace(load_settings(), rabbitmq_url=f"amqp://guest:guest@127.0.0.1:{port}/")
    said: list[str] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(publish_forever(settings, said.append, idle=0.1, stop=stop))
        await until(lambda: any("cannot reach RabbitMQ" in line for line in said))
        await asyncio.sleep(1.5)  # a retry or two while the broker is still away
        assert outbox_counts(settings=settings)["pending"] == 4
        server = await relay(port)
        await until(lambda: outbox_counts(settings=settings)["pending"] == 0)
        sync(world, world.toast)  # a new event while the worker runs
        await until(lambda: outbox_counts(settings=settings)["pending"] == 0)
        stop.set()
        await worker
        server.close()

    run(scenario())
    outage = [line for line in said if "cannot reach RabbitMQ" in line]
    assert len(outage) == 1 and outage[0].endswith("4 event(s) kept in the outbox; retrying every 30 s at most")
    assert f"amqp://guest:***@127.0.0.1:{port}/" in outage[0]
    assert said.count("events: RabbitMQ is reachable again; publishing the events kept in the outbox") == 1
    got = [m.message_id for m in broker.take(queue)]
    assert len(got) == 5 and len(set(got)) == 5 and expected < set(got)  # each exactly once


def test_the_consumer_worker_records_messages_as_they_arrive(world: World, broker: Broker,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    queue = broker.name("commands")
    monkeypatch.setenv("RABBITMQ_URL", broker.url)
    monkeypatch.setenv("POS_COMMANDS_QUEUE", queue)
    broker.track_queue(queue, f"{queue}.dead")
    for exchange in (f"{queue}.dlx", "orchestrator", "sales"):
        broker.track_exchange(exchange)
    settings = load_settings()
    said: list[str] = []

    async def scenario(publish: Callable[[], Awaitable[None]]) -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(consume_forever(settings, said.append, stop=stop))
        await until(lambda: broker_has(queue))
        await publish()
        await until(lambda: len(pending_sync_requests(settings=settings)) == 3)
        stop.set()
        await worker

    def broker_has(name: str) -> bool:
        try:
            broker.count(name)
        except Exception:  # noqa: BLE001 - not declared yet
            return False
        return True

    async def publish() -> None:
        await asyncio.to_thread(broker.publish, "orchestrator", DAILY_SYNC,
                                {"event_type": "daily_sync", "event_id": str(uuid.uuid4()), "tenant_id": world.tenant})

    run(scenario(publish))
    assert len(said) == 1 and said[0].startswith("events: orchestrator.daily_sync ") and "3 sync request(s)" in said[0]
    assert broker.count(queue) == 0
