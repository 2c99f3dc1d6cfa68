"""Fixtures of the canonical-model tests (helpers in ``canonical_support``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from canonical_support import CanonicalEnv, env_factory
from support.postgres import use_postgres_warehouse


@pytest.fixture()
def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CanonicalEnv]]:
    """``make_env(world=…, now=…)`` → a sandbox and a linked Square account (nothing loaded yet)."""
    yield from env_factory(tmp_path, monkeypatch)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A connection to the warehouse of the test's POS_HOME: the embedded DuckDB, then PostgreSQL."""
    if request.param == "postgres":
        use_postgres_warehouse(monkeypatch, request.getfixturevalue("pg_url"))
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    yield wh
    wh.close()
