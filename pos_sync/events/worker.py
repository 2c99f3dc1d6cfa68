"""The long-running workers behind ``pos-sync events publish`` and ``pos-sync events consume``.

Both say an outage once (one line: where, why, what is kept) and once when the broker is back,
retry with a backoff (1 s doubling to 30 s), and stop when ``stop`` is set (tests) or the process
is interrupted. The publisher polls the outbox every ``idle`` seconds and prunes published events
older than ``POS_EVENTS_RETENTION_DAYS`` once an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import timedelta

from pos_sync.appstore.models import utcnow
from pos_sync.appstore.outbox import pending_events, prune_published
from pos_sync.events.amqp import BrokerUnavailable, reason
from pos_sync.events.consumer import CommandConsumer
from pos_sync.events.publisher import BATCH, NOT_CONFIGURED, Publisher, drain
from pos_sync.settings import Settings

Say = Callable[[str], None]
MAX_BACKOFF_SECONDS = 30.0
PRUNE_EVERY_SECONDS = 3600.0


def prune(settings: Settings) -> int:
    """Delete published events older than the retention; how many."""
    return prune_published(utcnow() - timedelta(days=settings.events_retention_days), settings=settings)


async def _sleep(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class _Outage:
    """Says an outage once and the recovery once; the backoff between retries."""

    def __init__(self, say: Say, what: str) -> None:
        self.say, self.what, self.error, self.backoff = say, what, None, 1.0

    def down(self, error: str, kept: str = "") -> float:
        if self.error is None:
            self.say(f"events: {error}{kept}; retrying every {int(MAX_BACKOFF_SECONDS)} s at most")
        self.error = error
        wait, self.backoff = self.backoff, min(self.backoff * 2, MAX_BACKOFF_SECONDS)
        return wait

    def up(self) -> None:
        if self.error is not None:
            self.say(f"events: RabbitMQ is reachable again; {self.what}")
        self.error, self.backoff = None, 1.0


async def publish_forever(settings: Settings, say: Say, *, batch: int = BATCH, idle: float = 1.0,
                          stop: asyncio.Event | None = None) -> None:
    """Publish the outbox as events arrive, until ``stop``."""
    stop = stop or asyncio.Event()
    if settings.rabbitmq_url is None:
        say(f"events: {NOT_CONFIGURED} ({len(pending_events(batch, settings=settings))} pending)")
        return
    publisher = Publisher(settings.rabbitmq_url, settings.events_exchange)
    outage = _Outage(say, "publishing the events kept in the outbox")
    pruned_at = 0.0
    try:
        while not stop.is_set():
            if time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
                pruned_at = time.monotonic()
                if removed := prune(settings):
                    say(f"events: pruned {removed} published event(s) older than "
                        f"{settings.events_retention_days} days")
            report = await drain(publisher, settings, batch=batch)
            if report.error:
                await publisher.close()
                await _sleep(outage.down(report.error, f"; {report.pending} event(s) kept in the outbox"), stop)
                continue
            outage.up()
            if report.published:
                say(f"events: published {report.published} event(s) to {settings.events_exchange}")
            if report.pending == 0:
                await _sleep(idle, stop)
    finally:
        await publisher.close()


async def _consume(consumer: CommandConsumer, say: Say) -> None:
    assert consumer.queue is not None
    async with consumer.queue.iterator() as messages:
        async for message in messages:
            say(f"events: {(await consumer.process(message)).line()}")


async def consume_forever(settings: Settings, say: Say, *, stop: asyncio.Event | None = None) -> None:
    """Turn consumed messages into sync requests, until ``stop``."""
    stop = stop or asyncio.Event()
    if settings.rabbitmq_url is None:
        raise BrokerUnavailable("RABBITMQ_URL is not set: there is no broker to consume from")
    outage = _Outage(say, f"consuming {settings.commands_queue}")
    while not stop.is_set():
        consumer = CommandConsumer(settings.rabbitmq_url, settings)
        try:
            await consumer.connect()
            outage.up()
            work, stopped = asyncio.create_task(_consume(consumer, say)), asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            error = work.exception() if work in done else None
            for task in (work, stopped):
                task.cancel()
            await asyncio.gather(work, stopped, return_exceptions=True)  # what cancelling raised: nothing to say
            if error is not None:
                raise error
        except BrokerUnavailable as exc:
            await _sleep(outage.down(str(exc)), stop)
        except Exception as exc:  # noqa: BLE001 - the connection dropped, or the app store failed (message nacked)
            await _sleep(outage.down(f"consuming {settings.commands_queue} failed ({reason(exc)})"), stop)
        finally:
            await consumer.close()
