"""What the publisher and the consumer share about the broker: connecting (one clear error when
it cannot be reached), the URL without its password, one-line reasons, and running a coroutine
(on uvloop when it is installed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import aio_pika

T = TypeVar("T")
CONNECT_TIMEOUT_SECONDS = 10.0


class BrokerUnavailable(ConnectionError):
    """RabbitMQ cannot be reached or refused us (the message says where and why, in one line)."""


class _TransportNoise(logging.Filter):
    """aiormq logs its own line for a refused connection; pos-sync says it once, with what it means."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error when creating transport")


logging.getLogger("aiormq.connection").addFilter(_TransportNoise())


def safe_amqp_url(url: str) -> str:
    """The broker URL with its password masked."""
    from yarl import URL

    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else str(parsed)


def reason(exc: BaseException) -> str:
    """One line saying why (the exception's type and first words)."""
    if isinstance(exc, ExceptionGroup) and exc.exceptions:
        return reason(exc.exceptions[0])
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def connect(url: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> aio_pika.abc.AbstractConnection:
    """A connection to the broker, or :class:`BrokerUnavailable` naming it (password masked)."""
    connection = aio_pika.Connection(aio_pika.connection.make_url(url))
    try:
        await connection.connect(timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - refused, timed out, bad credentials: the broker is not usable
        with contextlib.suppress(Exception):  # a half-open connection must not linger until GC
            await connection.close()
        raise BrokerUnavailable(f"cannot reach RabbitMQ at {safe_amqp_url(url)} ({reason(exc)})") from exc
    return connection


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion in a new event loop (uvloop's when installed)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with the server extras
        return asyncio.run(coro)
    return uvloop.run(coro)


