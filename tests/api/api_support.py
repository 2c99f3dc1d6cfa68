"""The API tests' helpers: the real app (``create_app``) driven with httpx (Starlette's
TestClient), on a SQLite or PostgreSQL app store, two tenants with API keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient


@dataclass
class Api:
    client: TestClient
    store: Any  # pos_sync.appstore.AppStore
    tenant: str
    key: str
    other_tenant: str
    other_key: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def get(self, path: str, key: str | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers={**self.headers(key), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, key: str | None = None, **kw: Any) -> Any:
        return self.client.post(path, headers={**self.headers(key), **kw.pop("headers", {})}, **kw)

    def put(self, path: str, key: str | None = None, **kw: Any) -> Any:
        return self.client.put(path, headers={**self.headers(key), **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, key: str | None = None, **kw: Any) -> Any:
        return self.client.delete(path, headers={**self.headers(key), **kw.pop("headers", {})}, **kw)


def make_api(monkeypatch: pytest.MonkeyPatch, backend: str, request: pytest.FixtureRequest) -> Iterator[Api]:
    if backend == "postgres":
        monkeypatch.setenv("POS_DATABASE_URL", str(request.getfixturevalue("pg_url")))
    from pos_sync.api.app import create_app
    from pos_sync.appstore import AppStore, dispose_engines
    from pos_sync.settings import load_settings

    store = AppStore(load_settings())
    tenant, key = store.create_tenant("Panadería Sol")
    other, other_key = store.create_tenant("Hornos Luna")
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Api(client, store, tenant, key, other, other_key)
    dispose_engines()


def add_account(api: Api, tenant: str | None = None, provider: str = "square", merchant: str = "M1") -> str:
    """An account straight in the app store (what linking would have stored)."""
    account_id, _ = api.store.upsert_account(
        tenant_id=tenant or api.tenant, provider=provider, merchant_id=merchant, access_token="secret-access-token",
        refresh_token="secret-refresh-token", client_secret="secret-client-secret",
        locations=[{"location_id": f"{merchant}-L1", "name": "Centro"}, {"location_id": f"{merchant}-L2"}])
    return account_id
