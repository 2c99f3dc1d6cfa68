"""A linking environment: the sandbox (all three providers) on loopback, the API served for real
(uvicorn on loopback) with the sandbox as each provider's host and the emulators' OAuth apps as
the service's, and a tenant with an API key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from support.serve import serve_app
from support.worlds import sandbox_world

from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World


@dataclass
class Linking:
    world: World
    server: SandboxServer
    api_url: str
    tenant: str
    key: str
    store: Any  # pos_sync.appstore.AppStore

    def cred(self, provider: str) -> dict[str, Any]:
        return next(a for a in self.server.manifest()["accounts"] if a["provider"] == provider)

    def client(self) -> httpx.Client:
        return httpx.Client(timeout=30, follow_redirects=False)

    def connect_link(self) -> str:
        with self.client() as c:
            response = c.post(f"{self.api_url}/api/v1/pos/oauth/links", headers={"Authorization": f"Bearer {self.key}"})
        assert response.status_code == 200, response.text
        return str(response.json()["url"])

    def authorize(self, provider: str) -> str:
        """The provider's consent URL the API redirects to (state included)."""
        link = parse_qs(urlsplit(self.connect_link()).query)["link"][0]
        with self.client() as c:
            response = c.get(f"{self.api_url}/api/v1/pos/oauth/{provider}/authorize", params={"link": link})
        assert response.status_code == 302, response.text
        return str(response.headers["location"])

    def consent(self, consent_url: str, decision: str = "allow") -> str:
        """What the merchant's click on the emulator's consent page leads to: the callback URL."""
        with self.client() as c:
            page = c.get(consent_url)
            assert page.status_code == 200, page.text
            href = page.text.split(f'id="{decision}" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
            answer = c.get(httpx.URL(consent_url).join(href))
        assert answer.status_code == 302, answer.text
        return str(answer.headers["location"])


@contextmanager
def linking_env(monkeypatch: pytest.MonkeyPatch, providers: tuple[str, ...] = ("square", "toast", "lightspeed"),
                scale: str = "tiny") -> Iterator[Linking]:
    from pos_sync.api.app import create_app
    from pos_sync.appstore import AppStore, dispose_engines
    from pos_sync.settings import load_settings

    world = sandbox_world(10, *providers, scale=scale)
    server = SandboxServer(world).start()
    try:
        for cred in server.manifest()["accounts"]:
            name = cred["provider"].upper()
            monkeypatch.setenv(f"{name}_BASE_URL", cred["base_url"])
            app_id, app_secret = {"SQUARE": ("SQUARE_APP_ID", "SQUARE_APP_SECRET")}.get(
                name, (f"{name}_CLIENT_ID", f"{name}_CLIENT_SECRET"))
            monkeypatch.setenv(app_id, cred["client_id"])
            monkeypatch.setenv(app_secret, cred["client_secret"])
        monkeypatch.setenv("POS_NOW", world.now.isoformat())
        store = AppStore(load_settings())
        tenant, key = store.create_tenant("Panadería Sol", world.tenant_id)  # the ledger is per world tenant
        with serve_app(create_app(load_settings())) as api_url:
            yield Linking(world, server, api_url, tenant, key, store)
    finally:
        server.stop()
        dispose_engines()
