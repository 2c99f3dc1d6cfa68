"""Fixtures of the events tests: the app store on SQLite or PostgreSQL (an unreachable PostgreSQL
fails), a real RabbitMQ with names unique to the test (removed afterwards), and a small world of
tenants and accounts written through the app store's own functions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from events_support import Broker, reachable_broker


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app store's backend for this test (``POS_DATABASE_URL`` set for PostgreSQL)."""
    from pos_sync.appstore import dispose_engines

    if request.param == "postgres":
        monkeypatch.setenv("POS_DATABASE_URL", str(request.getfixturevalue("pg_url")))
    yield str(request.param)
    dispose_engines()


@pytest.fixture()
def broker() -> Iterator[Broker]:
    yield from reachable_broker()


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


@pytest.fixture()
def world(backend: str) -> World:
    return make_world()
