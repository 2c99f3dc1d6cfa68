"""The events tests' helpers: a real RabbitMQ (``POS_TEST_AMQP_URL``, default the local broker on
127.0.0.1:5672) driven synchronously, every name unique to the test and removed afterwards, and a
small app store world (tenants, accounts, sync logs closed through the product's own functions).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from pos_sync.events.amqp import run

AMQP_URL = os.environ.get("POS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
CLOSED_URL = "amqp://guest:guest@127.0.0.1:1/"  # nothing listens on port 1
SCHEMAS = Path(__file__).resolve().parents[2] / "pos_sync" / "events" / "schemas"


@dataclass(frozen=True)
class Received:
    routing_key: str
    body: bytes
    message_id: str | None
    content_type: str | None
    delivery_mode: int | None
    headers: dict[str, Any]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Broker:
    """Synchronous helpers over a real broker; whatever they declare is deleted at the end."""

    url: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    queues: list[str] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=list)
    shared_exchanges: set[str] = field(default_factory=set)  # the product's names: deleted only if unused

    def name(self, what: str) -> str:
        return f"pos-test-{self.tag}-{what}"

    async def _channel(self) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractChannel]:
        connection = await aio_pika.connect(self.url, timeout=10)
        return connection, await connection.channel(publisher_confirms=True)

    def capture(self, exchange: str, binding: str = "#") -> str:
        """A queue bound to the topic ``exchange`` (declared like the product does): its name."""
        queue = self.name(f"capture-{len(self.queues)}")

        async def go() -> None:
            connection, channel = await self._channel()
            async with connection:
                source = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
                declared = await channel.declare_queue(queue, durable=False)
                await declared.bind(source, binding)

        run(go())
        self.queues.append(queue)
        self.track_exchange(exchange)
        return queue

    def track_exchange(self, exchange: str) -> None:
        if exchange.startswith("pos-test-"):
            if exchange not in self.exchanges:
                self.exchanges.append(exchange)
        else:
            self.shared_exchanges.add(exchange)

    def track_queue(self, *queues: str) -> None:
        self.queues += [q for q in queues if q not in self.queues]

    def take(self, queue: str) -> list[Received]:
        """Every message waiting in ``queue`` (acknowledged)."""

        async def go() -> list[Received]:
            connection, channel = await self._channel()
            out = []
            async with connection:
                declared = await channel.get_queue(queue, ensure=True)
                while (message := await declared.get(no_ack=False, fail=False)) is not None:
                    out.append(Received(message.routing_key or "", message.body, message.message_id,
                                        message.content_type, int(message.delivery_mode or 0) or None,
                                        dict(message.headers or {})))
                    await message.ack()
            return out

        return run(go())

    def count(self, queue: str) -> int:
        async def go() -> int:
            connection, channel = await self._channel()
            async with connection:
                declared = await channel.declare_queue(queue, passive=True)
                return int(declared.declaration_result.message_count or 0)

        return run(go())

    def publish(self, exchange: str, routing_key: str, body: bytes | dict[str, Any], **properties: Any) -> None:
        """One persistent message, confirmed (``exchange`` "" is the default exchange)."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body

        async def go() -> None:
            connection, channel = await self._channel()
            async with connection:
                target = channel.default_exchange if exchange == "" else await channel.declare_exchange(
                    exchange, aio_pika.ExchangeType.TOPIC, durable=True)
                await target.publish(aio_pika.Message(raw, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                                      content_type="application/json", **properties),
                                     routing_key, mandatory=False)

        run(go())
        if exchange:
            self.track_exchange(exchange)

    def exchange_info(self, exchange: str) -> bool:
        """Whether ``exchange`` exists as a durable topic exchange (a conflicting declare fails)."""

        async def go() -> bool:
            connection, channel = await self._channel()
            async with connection:
                await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True, passive=True)
                # re-declaring with the product's properties succeeds only if they are the same
                await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
                return True

        return run(go())

    def cleanup(self) -> None:
        async def go() -> None:
            connection = await aio_pika.connect(self.url, timeout=10)
            async with connection:
                for queue in self.queues:
                    channel = await connection.channel()
                    await channel.queue_delete(queue)
                for exchange in self.exchanges:
                    channel = await connection.channel()
                    await channel.exchange_delete(exchange)
                for exchange in sorted(self.shared_exchanges):  # the platform's names: only if nothing uses them
                    channel = await connection.channel()
                    # someone else's queue bound to it: not ours to remove
                    with contextlib.suppress(aio_pika.exceptions.ChannelPreconditionFailed):
                        await channel.exchange_delete(exchange, if_unused=True)

        run(go())


def reachable_broker() -> Iterator[Broker]:
    """The fixture's body: a :class:`Broker`, failing (never skipping) when RabbitMQ is unreachable."""

    async def probe() -> None:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
        await connection.close()

    try:
        run(probe())
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"RabbitMQ not reachable at {AMQP_URL} (set POS_TEST_AMQP_URL): {exc}", pytrace=False)
    broker = Broker(AMQP_URL)
    try:
        yield broker
    finally:
        broker.cleanup()


def schema(routing_key: str) -> dict[str, Any]:
    """The JSON schema of ``routing_key`` (its numbers as Decimal: ``multipleOf 0.01`` stays exact)."""
    from pos_sync.events.jsonenc import loads

    return loads((SCHEMAS / f"{routing_key}.json").read_text())


def validate(routing_key: str, body: str | bytes) -> dict[str, Any]:
    """The body parsed (numbers with a fraction as Decimal), validated against its JSON schema."""
    import jsonschema

    from pos_sync.events.jsonenc import loads

    document = loads(body)
    jsonschema.validate(document, schema(routing_key), format_checker=jsonschema.FormatChecker())
    return document


@dataclass
class World:
    """Two tenants; the first has a Square, a Toast and a Lightspeed account, the second one Square."""

    store: object  # pos_sync.appstore.AppStore
    tenant: str
    other_tenant: str
    square: str
    toast: str
    lightspeed: str
    other_square: str


def make_world() -> World:
    from pos_sync.appstore import AppStore
    from pos_sync.settings import load_settings

    store = AppStore(load_settings())
    tenant, _ = store.create_tenant("Panadería Sol")
    other, _ = store.create_tenant("Hornos Luna")

    def account(tenant_id: str, provider: str, merchant: str, name: str) -> str:
        extra = {"domain_prefix": merchant.lower()} if provider == "lightspeed" else {}
        account_id, _ = store.upsert_account(
            tenant_id=tenant_id, provider=provider, merchant_id=merchant, access_token="secret-access",
            refresh_token="secret-refresh", client_id="cid" if provider == "toast" else None,
            client_secret="secret-client" if provider == "toast" else None, extra=extra,
            locations=[{"location_id": f"{merchant}-L1", "name": name}])
        return account_id

    return World(store, tenant, other, account(tenant, "square", "SQ1", "VUE Madrid - Centro"),
                 account(tenant, "toast", "TO1", "VUE Madrid - Norte"),
                 account(tenant, "lightspeed", "LS1", "VUE Las Palmas"),
                 account(other, "square", "SQ2", "Hornos Luna - Sur"))
