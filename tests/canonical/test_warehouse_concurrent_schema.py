"""Many runs build the warehouse schema of a fresh PostgreSQL warehouse at once (the first syncs of
every account of a deployment start together): every one succeeds. ``CREATE … IF NOT EXISTS`` alone
is not safe there — the loser of a race fails on the catalog's unique index
(``pg_namespace_nspname_index``) — so the build takes an advisory lock (found by the 90-account soak:
a Lightspeed run failed in its demand-history step)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from support.postgres import use_postgres_warehouse

from transforms.canonical import SCHEMA, TABLES


def test_concurrent_schema_builds_on_a_fresh_postgres_warehouse_all_succeed(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_postgres_warehouse(monkeypatch, pg_url)
    from pos_sync.warehouse.sql import Warehouse

    workers = 8
    barrier = threading.Barrier(workers)
    errors: list[str] = []

    def build() -> None:
        wh: Any = Warehouse()
        try:
            barrier.wait(timeout=30)
            wh.ensure_schema()
        except Exception as exc:  # noqa: BLE001 — every failure is the test's finding
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            wh.close()

    threads = [threading.Thread(target=build) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    wh = Warehouse()
    try:
        assert all(wh.table_exists(SCHEMA, t.name) for t in TABLES)
        # the lock is released: another session takes it at once
        assert wh.scalar("select pg_try_advisory_lock(%s)", (0x706F735F64646C,)) is True
    finally:
        wh.close()


def test_a_built_schema_is_not_built_again_so_it_takes_no_lock_on_the_tables(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the schema exists, ``ensure_schema`` runs no CREATE on it: a ``CREATE INDEX IF NOT EXISTS``
    takes a SHARE lock on its table even when the index exists, and waiting for it behind another
    account's canonical build deadlocked a demand step in the topology test."""
    use_postgres_warehouse(monkeypatch, pg_url)
    from pos_sync.warehouse.sql import Warehouse

    first: Any = Warehouse()
    try:
        first.ensure_schema()
    finally:
        first.close()
    wh: Any = Warehouse()
    statements: list[str] = []
    original = wh.execute

    def recording(sql: str, params: Any = ()) -> None:
        statements.append(sql)
        original(sql, params)

    monkeypatch.setattr(wh, "execute", recording)
    try:
        wh.ensure_schema()
    finally:
        wh.close()
    assert [s for s in statements if s.lstrip().upper().startswith(("CREATE TABLE", "CREATE INDEX", "CREATE UNIQUE"))] == []
