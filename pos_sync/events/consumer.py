"""The commands queue: a durable queue (``pos-sync.commands``) bound to the orchestrator's daily
trigger and the sales service's discrepancy message (:data:`~pos_sync.events.commands.BINDINGS`).

Each message is acknowledged only after its sync requests are committed
(:func:`~pos_sync.events.commands.handle`). A poison message is republished, with confirms, to the
dead-letter exchange ``<queue>.dlx`` (a durable fanout into the queue ``<queue>.dead``) with the
header ``x-pos-sync-reason`` saying why — and where it came from — then acknowledged. A database
failure leaves the message unacknowledged: it goes back to the queue (``nack``, requeue) and the
worker backs off. The queue also names the dead-letter exchange as its own
``x-dead-letter-exchange``, so a message rejected any other way lands there too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import TracebackType

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)

from pos_sync.events import commands
from pos_sync.events.amqp import BrokerUnavailable, connect, reason
from pos_sync.settings import Settings

REASON_HEADER = "x-pos-sync-reason"
PREFETCH = 50


@dataclass(frozen=True)
class Outcome:
    routing_key: str
    message_id: str | None
    handled: commands.Handled | None = None
    poison: str | None = None  # why it was dead-lettered

    def line(self) -> str:
        if self.handled is not None:
            return self.handled.summary()
        return f"{self.routing_key} {self.message_id or '(no id)'}: dead-lettered ({self.poison})"


def dead_letter_names(queue: str) -> tuple[str, str]:
    """(dead-letter exchange, dead-letter queue) of ``queue``."""
    return f"{queue}.dlx", f"{queue}.dead"


class CommandConsumer:
    """One connection, one confirming channel, the queue and its dead-letter queue (``async with``)."""

    def __init__(self, url: str, settings: Settings, queue: str | None = None) -> None:
        self.url = url
        self.settings = settings
        self.queue_name = queue or settings.commands_queue
        self.connection: AbstractConnection | None = None
        self.channel: AbstractChannel | None = None
        self.queue: AbstractQueue | None = None
        self.dlx: AbstractExchange | None = None

    async def __aenter__(self) -> CommandConsumer:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self) -> None:
        self.connection = await connect(self.url)
        try:
            self.channel = await self.connection.channel(publisher_confirms=True)
            await self.channel.set_qos(prefetch_count=PREFETCH)
            dlx_name, dead_name = dead_letter_names(self.queue_name)
            self.dlx = await self.channel.declare_exchange(dlx_name, aio_pika.ExchangeType.FANOUT, durable=True)
            dead = await self.channel.declare_queue(dead_name, durable=True)
            await dead.bind(self.dlx)
            self.queue = await self.channel.declare_queue(self.queue_name, durable=True,
                                                          arguments={"x-dead-letter-exchange": dlx_name})
            for exchange_name, routing_key in commands.BINDINGS:
                source = await self.channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
                await self.queue.bind(source, routing_key)
        except Exception as exc:  # noqa: BLE001 - e.g. the queue exists with other arguments
            await self.close()
            raise BrokerUnavailable(f"RabbitMQ refused the queue {self.queue_name!r} or its bindings "
                                    f"({reason(exc)})") from exc

    async def close(self) -> None:
        connection, self.connection, self.channel, self.queue, self.dlx = self.connection, None, None, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
                await connection.close()

    async def dead_letter(self, message: AbstractIncomingMessage, why: str) -> None:
        """Republish ``message`` to the dead-letter exchange with the reason (confirmed)."""
        assert self.dlx is not None
        headers = dict(message.headers or {})
        headers.update({REASON_HEADER: why, "x-pos-sync-exchange": message.exchange or "",
                        "x-pos-sync-routing-key": message.routing_key or ""})
        await self.dlx.publish(aio_pika.Message(message.body, headers=headers, message_id=message.message_id,
                                                content_type=message.content_type,
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               routing_key=message.routing_key or "", mandatory=False)

    async def process(self, message: AbstractIncomingMessage) -> Outcome:
        """Record what ``message`` asks, then acknowledge it (poison: dead-letter, then acknowledge)."""
        routing_key = message.routing_key or ""
        try:
            handled = commands.handle(routing_key, message.body, self.settings, message_id=message.message_id)
        except commands.Poison as poison:
            await self.dead_letter(message, str(poison))
            await message.ack()
            return Outcome(routing_key, message.message_id, poison=str(poison))
        except Exception:
            await message.nack(requeue=True)
            raise
        await message.ack()
        return Outcome(routing_key, message.message_id, handled=handled)

    async def drain(self, limit: int | None = None) -> list[Outcome]:
        """Process the messages waiting now (at most ``limit``), then return."""
        assert self.queue is not None
        outcomes: list[Outcome] = []
        while limit is None or len(outcomes) < limit:
            message = await self.queue.get(no_ack=False, fail=False)
            if message is None:
                break
            outcomes.append(await self.process(message))
        return outcomes
