"""Shared fixtures.

PostgreSQL: tests that need it use ``pg_url``. An unreachable server is an error, never a skip
(point ``POS_TEST_PG_DSN`` at one). Each test session gets its own database, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from support.isolated_env import isolate_env

PG_ADMIN_DSN = os.environ.get("POS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``make test``'s ``--dist loadfile``: the long files go first (``support.scheduling``)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from support.scheduling import LongestFirstScheduling

    return LongestFirstScheduling(config, log)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One Playwright + chromium per browser test module (``support.browser``: the sync API allows
    one per thread at a time); its tests open their own contexts and pages from it. Not per session:
    while Playwright runs, its event loop is the thread's running loop, so every later test in that
    pytest-xdist worker would find one (``asyncio.run()`` fails, Dagster cannot close its own)."""
    from support.browser import launched_chromium

    with launched_chromium() as browser:
        yield browser


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch) -> None:
    """Every test gets its own POS_HOME and dlt data dir; telemetry off."""
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=5) as conn:
            conn.execute("select 1")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_DSN} (set POS_TEST_PG_DSN): {exc}", pytrace=False)
    return PG_ADMIN_DSN


@pytest.fixture(scope="session")
def pg_database(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; yields its URL (postgresql://...)."""
    import psycopg

    name = f"pos_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    base = pg_admin_dsn.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture()
def pg_url(pg_database: str) -> Iterator[str]:
    """A clean schema state per test: drops every non-system schema's tables afterwards."""
    yield pg_database
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        schemas = [
            r[0]
            for r in conn.execute(
                "select schema_name from information_schema.schemata "
                "where schema_name not in ('pg_catalog','information_schema','pg_toast') "
                "and schema_name not like 'pg_temp%' and schema_name not like 'pg_toast_temp%'"
            )
        ]
        for schema in schemas:
            conn.execute(f'drop schema "{schema}" cascade')
        conn.execute("create schema public")
