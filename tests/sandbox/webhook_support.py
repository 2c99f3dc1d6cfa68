"""Helpers of the webhook tests: a loopback receiver, a sandbox with fast retries, subscribing per
provider, and signature checks written independently of ``pos_sandbox`` (the recipes of
``shared/providers.md`` §1.10, §2.9 and §3A)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from support.serve import serve_app
from support.worlds import sandbox_world

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

FAST = "scale=0.0005,timeout=1s"  # retries 2000x sooner (Square's first retry after 30 ms), 1 s deadline
SQUARE_TYPES = ["payment.created", "payment.updated", "refund.created", "refund.updated", "order.created",
                "order.updated", "catalog.version.updated", "oauth.authorization.revoked"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


# behaviour(request number for this path (1-based), received) -> (status, seconds to wait first)
Behaviour = Callable[[int, Received], tuple[int, float]]


@dataclass
class Receiver:
    """Records every POST; answers as ``behaviour`` says (default: 200 at once)."""

    behaviour: Behaviour = lambda n, r: (200, 0.0)  # noqa: E731
    received: list[Received] = field(default_factory=list)
    base_url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    async def _handle(self, request: Request) -> Response:
        rec = Received(request.url.path, {k.lower(): v for k, v in request.headers.items()}, await request.body(),
                       time.time())
        with self._lock:
            self.received.append(rec)
            self._counts[rec.path] = n = self._counts.get(rec.path, 0) + 1
        status, wait = self.behaviour(n, rec)
        if wait:
            await asyncio.sleep(wait)
        return Response("ok" if status < 300 else "no", status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@contextmanager
def receiving(behaviour: Behaviour | None = None) -> Iterator[Receiver]:
    receiver = Receiver(behaviour) if behaviour is not None else Receiver()
    with serve_app(receiver.app()) as base_url:
        receiver.base_url = base_url
        yield receiver


def tiny_world(seed: int = 7, *providers: str, days: int = 2) -> World:
    return sandbox_world(seed, *providers, days=days)


@contextmanager
def sandbox(world: World, webhooks: str = FAST, **options: Any) -> Iterator[SandboxServer]:
    with SandboxServer(world, webhooks=webhooks, **options) as server:
        yield server


def creds(server: SandboxServer, provider: str) -> DemoCredentials:
    return next(c for c in server.credentials.values() if c.provider == provider)


# ---------------------------------------------------------------------- subscribing
def square_subscribe(server: SandboxServer, url: str, types: list[str] | None = None, **fields: Any) -> dict:
    resp = httpx.post(f"{server.provider_url('square')}/v2/webhooks/subscriptions",
                      headers={"Authorization": f"Bearer {creds(server, 'square').app_access_token}",
                               "Square-Version": "2025-08-20"},
                      json={"subscription": {"event_types": types or SQUARE_TYPES, "notification_url": url,
                                             **fields}})
    assert resp.status_code == 200, resp.text
    return resp.json()["subscription"]


def toast_subscribe(server: SandboxServer, url: str, **fields: Any) -> dict:
    resp = httpx.post(f"{server.provider_url('toast')}/_sandbox/toast/webhooks", json={"url": url, **fields})
    assert resp.status_code == 200, resp.text
    return resp.json()


def lightspeed_subscribe(server: SandboxServer, url: str, type_: str = "sale.update", active: bool = True) -> dict:
    resp = httpx.post(f"{server.provider_url('lightspeed')}/api/webhooks",
                      headers={"Authorization": f"Bearer {creds(server, 'lightspeed').access_token}"},
                      data={"data": json.dumps({"url": url, "active": active, "type": type_})})
    assert resp.status_code == 200, resp.text
    return resp.json()


def advance(server: SandboxServer, seconds: float) -> None:
    resp = httpx.post(f"{server.base_url}/_sandbox/clock", json={"advance_seconds": seconds})
    assert resp.status_code == 200, resp.text


def settle(server: SandboxServer, timeout: float = 20.0) -> dict:
    """Wait until every delivery is final; the log."""
    assert server.webhooks.wait_idle(timeout), server.webhooks.snapshot()["counters"]
    return httpx.get(f"{server.base_url}/_sandbox/webhooks").json()


# ---------------------------------------------------------------------- signatures (independent)
def square_valid(key: str, url: str, rec: Received) -> bool:
    expected = base64.b64encode(hmac.new(key.encode(), url.encode() + rec.body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, rec.headers["x-square-hmacsha256-signature"])


def toast_valid(secret: str, rec: Received) -> bool:
    message = rec.body + rec.json()["timestamp"].encode()
    expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, rec.headers["toast-signature"])


def lightspeed_valid(secret: str, rec: Received, *, encoding: str = "hex", signed: str = "body") -> bool:
    header = dict(part.split("=", 1) for part in rec.headers["x-signature"].split(","))
    assert header["algorithm"] == "HMAC-SHA256"
    message = rec.body if signed == "body" else rec.form()["payload"].encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    expected = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return hmac.compare_digest(expected, header["signature"])
