"""One provider emulator of ``pos_sandbox`` served alone on loopback (no ``SandboxServer``), with an
HTTP client for it: what the emulator tests of each provider build on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from pos_sandbox.credentials import DemoCredentials, demo_credentials
from pos_sandbox.world import World
from support.serve import serve_app


def emulator_credentials(world: World, provider: str) -> tuple[dict[str, DemoCredentials], DemoCredentials]:
    """Every demo credential of ``world`` (what an emulator app is built with) and ``provider``'s."""
    creds = demo_credentials(world)
    return creds, next(c for c in creds.values() if c.provider == provider)


@contextmanager
def serve_emulator(app: Any, headers: dict[str, str] | None = None) -> Iterator[tuple[str, httpx.Client]]:
    """``app`` on a loopback port: its base URL and a client for it sending ``headers``."""
    with serve_app(app) as base_url, \
            httpx.Client(base_url=base_url, headers=headers or {}, timeout=30) as client:
        yield base_url, client


@dataclass
class Served:
    """A served emulator: its world, app, base URL, the provider's credentials and a client."""

    world: World
    app: Any
    base_url: str
    creds: DemoCredentials
    client: httpx.Client

    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET ``path`` with the ``params`` that are not None."""
        return self.client.get(path, params={k: v for k, v in params.items() if v is not None})
