"""The outbox to RabbitMQ: the topic exchange ``pos`` (durable), persistent messages
(``delivery_mode`` 2), ``message_id`` = the event's id, ``application/json``, publisher confirms.

A batch is taken from the outbox in one transaction (rows locked: a second publisher skips them),
published as a pipeline — every message of the batch is sent before the first confirm is awaited,
so the broker confirms many at once — and in the same transaction the confirmed rows are marked
published and the others get their failed attempt recorded. A row is marked only after its
confirm: a crash between the confirm and the commit sends it again later (at least once; the
``event_id`` lets consumers drop the repeat).

Client: aio-pika (over aiormq), for its pipelined confirms; see ``docs/events.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from pos_sync.appstore.db import session_scope
from pos_sync.appstore.outbox import (
    OutboxEvent,
    count_pending,
    mark_published,
    pending_events,
    record_failure,
    take_pending,
)
from pos_sync.events.amqp import BrokerUnavailable, connect, reason
from pos_sync.events.payloads import EVENT_TYPES
from pos_sync.settings import Settings

BATCH = 500
CONFIRM_TIMEOUT_SECONDS = 10.0  # a batch's transaction lasts at most this long
NOT_CONFIGURED = "RABBITMQ_URL is not set: events stay in the outbox and nothing is published"


@dataclass
class PublishReport:
    published: int = 0
    failed: int = 0
    pending: int = 0  # left in the outbox afterwards
    error: str | None = None  # why events were kept (the broker unreachable, not configured, …)

    def to_dict(self) -> dict[str, Any]:
        return {"published": self.published, "failed": self.failed, "pending": self.pending, "error": self.error}


class Publisher:
    """One connection and one confirming channel to the events exchange (``async with``)."""

    def __init__(self, url: str, exchange: str = "pos", *, connect_timeout: float = 10.0,
                 confirm_timeout: float = CONFIRM_TIMEOUT_SECONDS) -> None:
        self.url = url
        self.exchange_name = exchange
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self.connection: AbstractConnection | None = None
        self.channel: AbstractChannel | None = None
        self.exchange: AbstractExchange | None = None

    async def __aenter__(self) -> Publisher:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self) -> None:
        self.connection = await connect(self.url, self.connect_timeout)
        try:
            self.channel = await self.connection.channel(publisher_confirms=True)
            self.exchange = await self.channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC,
                                                                durable=True)
        except Exception as exc:  # noqa: BLE001 - e.g. the exchange exists with other properties
            await self.close()
            raise BrokerUnavailable(f"RabbitMQ refused the exchange {self.exchange_name!r} ({reason(exc)})") from exc

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.is_closed and self.channel is not None \
            and not self.channel.is_closed

    async def close(self) -> None:
        connection, self.connection, self.channel, self.exchange = self.connection, None, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
                await connection.close()

    def message(self, event: OutboxEvent) -> aio_pika.Message:
        return aio_pika.Message(event.payload.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                message_id=event.event_id, content_type="application/json",
                                content_encoding="utf-8", type=EVENT_TYPES.get(event.routing_key, event.routing_key),
                                timestamp=event.created_at, app_id="pos-sync")

    async def _send(self, event: OutboxEvent) -> None:
        assert self.exchange is not None
        await self.exchange.publish(self.message(event), event.routing_key, mandatory=False,
                                    timeout=self.confirm_timeout)

    async def publish(self, events: Sequence[OutboxEvent]) -> tuple[list[int], dict[int, str]]:
        """Send ``events`` and wait for their confirms: (confirmed row ids, {row id: why not})."""
        results = await asyncio.gather(*(self._send(e) for e in events), return_exceptions=True)
        confirmed = [e.id for e, r in zip(events, results, strict=True) if not isinstance(r, BaseException)]
        failed = {e.id: reason(r) for e, r in zip(events, results, strict=True) if isinstance(r, BaseException)}
        return confirmed, failed


def _record(failed: dict[int, str], where: str, session: Any) -> None:
    by_reason: dict[str, list[int]] = defaultdict(list)
    for row_id, why in failed.items():
        by_reason[f"{where}: {why}"].append(row_id)
    for why, ids in by_reason.items():
        record_failure(ids, why, session=session)


async def publish_batch(publisher: Publisher, settings: Settings, batch: int = BATCH) -> PublishReport:
    """One batch: take the oldest pending rows, publish them, mark them — one transaction, opened
    once the broker is connected (it lasts one batch's confirms: at most the confirm timeout)."""
    if not publisher.connected:
        try:
            await publisher.connect()
        except BrokerUnavailable as exc:
            return keep_pending(settings, str(exc), batch)
    report = PublishReport()
    with session_scope(settings) as session:
        events = take_pending(batch, session=session)
        if not events:
            return report
        confirmed, failed = await publisher.publish(events)
        mark_published(confirmed, session=session)
        _record(failed, f"publishing to {publisher.exchange_name}", session)
        report.published, report.failed = len(confirmed), len(failed)
        if failed and report.error is None:
            report.error = f"{len(failed)} event(s) not confirmed by RabbitMQ ({next(iter(failed.values()))})"
    return report


def keep_pending(settings: Settings, error: str, batch: int = BATCH) -> PublishReport:
    """The broker is unreachable: the oldest pending rows get the failed attempt recorded."""
    with session_scope(settings) as session:
        events = take_pending(batch, session=session)
        record_failure([e.id for e in events], error, session=session)
    return PublishReport(failed=len(events), pending=count_pending(settings=settings), error=error)


async def drain(publisher: Publisher, settings: Settings, *, batch: int = BATCH,
                max_batches: int | None = None) -> PublishReport:
    """Publish batches until the outbox is empty (or ``max_batches``, or a batch fails)."""
    total = PublishReport()
    done = 0
    while max_batches is None or done < max_batches:
        report = await publish_batch(publisher, settings, batch)
        done += 1
        total.published += report.published
        total.failed += report.failed
        total.error = report.error or total.error
        if report.error or report.published + report.failed < batch:
            break
    total.pending = count_pending(settings=settings)
    return total


async def publish_pending(settings: Settings, *, batch: int = BATCH, max_batches: int | None = None,
                          url: str | None = None) -> PublishReport:
    """Connect, publish what is pending, disconnect. Without a broker (``RABBITMQ_URL`` unset) the
    events stay (``error`` says so); with an unreachable one they stay with the attempt recorded."""
    url = url or settings.rabbitmq_url
    if url is None:
        return PublishReport(pending=count_pending(settings=settings), error=NOT_CONFIGURED)
    if not pending_events(1, settings=settings):
        return PublishReport()
    publisher = Publisher(url, settings.events_exchange)
    try:
        return await drain(publisher, settings, batch=batch, max_batches=max_batches)
    finally:
        await publisher.close()
