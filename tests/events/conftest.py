"""Fixtures of the events tests: the app store on SQLite or PostgreSQL (an unreachable PostgreSQL
fails), a real RabbitMQ with names unique to the test (removed afterwards), and a small world of
tenants and accounts written through the app store's own functions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from events_support import Broker, World, make_world, reachable_broker


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


@pytest.fixture()
def world(backend: str) -> World:
    return make_world()
