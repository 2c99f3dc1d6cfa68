"""The warehouse connection (canonical build, demand feed, reads) is bounded by its own limit,
POS_WAREHOUSE_MEMORY_LIMIT (default 256MB), apart from the raw loads' POS_DUCKDB_MEMORY_LIMIT."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from canonical_support import make_world

from pos_sync.settings import parse_settings
from pos_sync.warehouse.sql import KEY_INDEX_BYTES_PER_KEY, Warehouse
from transforms.canonical import SCHEMA, TABLES

TOO_SMALL = "1MB"  # a tiny world's build needs more (its key indexes alone)


def _limit(env: dict[str, str]) -> str:
    wh = Warehouse(parse_settings(env))
    try:
        return str(wh.conn.execute("select current_setting('memory_limit')").fetchall()[0][0])
    finally:
        wh.close()


def test_warehouse_connection_carries_its_memory_limit(tmp_path: Path) -> None:
    for limit, shown in (("300MB", "286.1 MiB"), ("1GB", "953.6 MiB")):
        assert _limit({"POS_HOME": str(tmp_path / limit), "POS_WAREHOUSE_MEMORY_LIMIT": limit,
                       "POS_DUCKDB_MEMORY_LIMIT": "2GB"}) == shown


def test_the_default_is_256mb_whatever_the_raw_loads_limit(tmp_path: Path) -> None:
    assert _limit({"POS_HOME": str(tmp_path / "a")}) == "244.1 MiB"
    assert _limit({"POS_HOME": str(tmp_path / "b"), "POS_DUCKDB_MEMORY_LIMIT": "1GB"}) == "244.1 MiB"
    assert parse_settings({"POS_HOME": str(tmp_path), "POS_DUCKDB_MEMORY_LIMIT": "1GB"}).duckdb_memory_limit == "1GB"


def test_a_build_that_outgrows_the_limit_runs_again_with_more_memory_and_reconciles(
        make_env: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The canonical tables' key indexes stay in DuckDB's memory while the build's one transaction
    writes them, and they grow with the history: a limit too small for them must not fail the
    build (it did at chain × 90 days with the 256MB default) — it is rolled back whole and run again
    with twice the memory, with one warning naming the setting."""
    env = make_env()
    env.ingest()
    monkeypatch.setenv("POS_WAREHOUSE_MEMORY_LIMIT", TOO_SMALL)
    with caplog.at_level(logging.WARNING, logger="pos_sync.canonical.build"):
        result = env.build()
    assert result.memory_limit_raised_to is not None and result.memory_limit_raised_to > 1_000_000
    assert result.loads == 1 and result.transactions > 0
    monkeypatch.delenv("POS_WAREHOUSE_MEMORY_LIMIT")  # the checks' own connections
    assert env.reconcile() == []
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "pos_sync.canonical.build"]
    assert "POS_WAREHOUSE_MEMORY_LIMIT" in warning and env.account_id in warning
    assert env.build().loads == 0  # processed once


def test_raise_memory_limit_doubles_up_to_duckdbs_default(tmp_path: Path) -> None:
    wh = Warehouse(parse_settings({"POS_HOME": str(tmp_path), "POS_WAREHOUSE_MEMORY_LIMIT": "100MB"}))
    try:
        start = wh.memory_limit_bytes()
        raised = wh.raise_memory_limit()
        assert raised == wh.memory_limit_bytes() and abs(raised - 2 * start) < start / 100  # DuckDB rounds
        while (raised := wh.raise_memory_limit()) is not None:
            assert raised == wh.memory_limit_bytes()
        wh.conn.execute("reset memory_limit")
        assert wh.memory_limit_bytes() > start  # the ceiling is DuckDB's own default, then no more
    finally:
        wh.close()


def test_a_build_over_a_long_history_gets_room_for_its_key_indexes_before_it_starts(
        make_env: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The key indexes of the history already built are loaded whole by the next build's writes: when
    they would take more than half of POS_WAREHOUSE_MEMORY_LIMIT, the build starts with twice their
    estimate instead of failing once and running again (each sync of a chain x 90 days account did)."""
    world = make_world()
    env = make_env(world=world, now=world.window_start_utc + timedelta(days=1, hours=12))
    env.ingest()
    first = env.build()
    assert first.loads == 1 and first.memory_limit_sized_to is None  # the default leaves room

    wh = Warehouse()
    try:
        keys = sum(int(wh.scalar(f'select count(*) from {SCHEMA}."{t.name}"')) for t in TABLES)  # a primary key a row
        assert keys > 100 and wh.key_index_bytes() == keys * KEY_INDEX_BYTES_PER_KEY
    finally:
        wh.close()

    env.set_now(world.window_end_utc)
    env.ingest()
    # a tiny world's history scaled up: each key as big as a chain x 90 history's thousands, so its
    # indexes would take more than half of the 256MB default (a limit that small breaks every query)
    per_key = 1_000_000
    monkeypatch.setattr("pos_sync.warehouse.sql.KEY_INDEX_BYTES_PER_KEY", per_key)
    with caplog.at_level(logging.INFO, logger="pos_sync.canonical.build"):
        second = env.build()
    assert second.loads == 1 and second.transactions > 0
    assert second.memory_limit_raised_to is None  # no failed attempt
    sized = second.memory_limit_sized_to
    # before the build, room for the history's keys; before its inserts, for theirs too (each of the
    # three tables has a primary key; no UNIQUE on DuckDB). DuckDB shows the limit to 0.1 of its unit
    inserted = second.transactions + second.items + second.tenders
    assert sized is not None and abs(sized - 2 * (keys + inserted) * per_key) < 0.06 * sized
    assert [r.levelname for r in caplog.records if r.name == "pos_sync.canonical.build"] == ["INFO", "INFO"]
    assert env.reconcile() == []
    assert env.build().loads == 0


def test_a_first_build_of_a_long_history_gets_room_for_the_keys_it_inserts(
        make_env: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A first build has no committed history to size DuckDB's ``memory_limit`` from: at chain × 90
    days its ~1.8 M keys outgrew the 256MB default, and every first import's build failed, rolled
    back and ran again (half of its time) with a warning asking the user to set
    POS_WAREHOUSE_MEMORY_LIMIT. The writer counts the keys of the rows it is about to insert and
    makes room for them first: no failed attempt, no warning, the limit twice their estimate."""
    env = make_env()
    env.ingest()
    per_key = 1_000_000  # a tiny world's keys, each as big as a chain × 90 history's thousands
    monkeypatch.setattr("pos_sync.warehouse.sql.KEY_INDEX_BYTES_PER_KEY", per_key)
    with caplog.at_level(logging.INFO, logger="pos_sync.canonical.build"):
        first = env.build()
    assert first.loads == 1 and first.transactions > 0
    assert first.memory_limit_raised_to is None  # no failed attempt
    inserted = first.transactions + first.items + first.tenders  # a primary key each
    # room for them: twice their estimate, or more when the estimate before the intermediate tables
    # (KEYS_PER_OBJECT a sale) was higher (DuckDB shows the limit to 0.1 of its unit)
    assert first.memory_limit_sized_to is not None and first.memory_limit_sized_to > 0.94 * 2 * inserted * per_key
    (info,) = [r.getMessage() for r in caplog.records if r.name == "pos_sync.canonical.build"]
    assert f"its {inserted} keys" in info and "memory_limit" in info
    assert env.reconcile() == []
    assert env.build().loads == 0


def test_the_room_is_made_before_the_set_based_builds_intermediate_tables(
        make_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long history's intermediate tables can outgrow the limit before any insert (Square at chain
    × 90 days: its temporary transactions table at 256MB, then a second attempt): the writer makes
    room for an estimate of the keys (KEYS_PER_OBJECT a sale) before the first of them."""
    env = make_env()
    env.ingest()
    per_key = 1_000_000
    monkeypatch.setattr("pos_sync.warehouse.sql.KEY_INDEX_BYTES_PER_KEY", per_key)
    monkeypatch.setattr("transforms.build.SET_BASED_MIN", 0)  # the set-based build, however few the sales
    limits_at_temp_tables: list[int] = []
    execute = Warehouse.execute

    def watched(self: Warehouse, sql: str, *args: Any, **kwargs: Any) -> Any:
        if sql.lstrip().upper().startswith("CREATE OR REPLACE TEMP TABLE"):
            limits_at_temp_tables.append(self.memory_limit_bytes())
        return execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(Warehouse, "execute", watched)
    first = env.build()
    assert first.memory_limit_raised_to is None and first.transactions > 0
    # raised before the first of them, from the 256MB default (244.1 MiB as DuckDB shows it)
    assert limits_at_temp_tables and min(limits_at_temp_tables) > 256 << 20


def test_the_set_based_build_lets_go_of_the_changed_ids_before_its_sql(
        make_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ids of the changed sales are ≈ 100 MiB of Python strings at chain × 90 days (364 k Square
    orders): once in the warehouse's key table, the set holding them is emptied, not kept alive
    beside DuckDB's memory through the build's SQL (the sync's peak RSS)."""
    square_build = importlib.import_module("transforms.square.build")  # (the package exports its build())
    env = make_env()
    env.ingest()
    monkeypatch.setattr("transforms.build.SET_BASED_MIN", 0)  # the set-based build, however few the sales
    handed: list[set[str]] = []
    sizes_at_sql: list[int] = []
    set_based_first = square_build.set_based_first

    def keeps_hold(out: Any, ids: set[str], *args: Any) -> set[str]:
        handed.append(ids)
        sizes_at_sql.append(len(ids))  # before the build's SQL
        return set_based_first(out, ids, *args)

    execute = Warehouse.execute

    def watched(self: Warehouse, sql: str, *args: Any, **kwargs: Any) -> Any:
        if handed and sql.lstrip().upper().startswith("CREATE OR REPLACE TEMP TABLE"):
            sizes_at_sql.append(len(handed[0]))
        return execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(square_build, "set_based_first", keeps_hold)
    monkeypatch.setattr(Warehouse, "execute", watched)
    first = env.build()
    assert first.transactions > 0 and len(sizes_at_sql) > 1
    assert sizes_at_sql[0] > 0 and set(sizes_at_sql[1:]) == {0}  # emptied before the first statement
    assert env.reconcile() == []


@pytest.mark.parametrize("values", [{"b", "a", None}, ["x"] * 3, [3, 1, 2], []])
def test_a_key_column_holds_the_values_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, values: Any) -> None:
    monkeypatch.setenv("POS_HOME", str(tmp_path))
    wh = Warehouse()
    try:
        name = wh.temp_key_column("id", values)
        assert sorted(wh.column(f"select id from {name}"), key=str) == sorted(values, key=str)
    finally:
        wh.close()


def test_a_build_whose_commit_runs_out_of_memory_runs_again_on_a_new_connection(
        make_env: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """DuckDB reports a commit that ran out of memory as a ``TransactionException`` ("Failed to
    commit: could not allocate block …") and invalidates the database: the build's retry must
    recognise it and run again on a new connection, with twice the memory — not fail the sync (and
    every later one: the same build, the same limit). Here the commit's limit is cut to what the
    transaction already uses (or less), once."""
    import duckdb

    env = make_env()
    env.ingest()
    # the writer sizes the limit for the keys it inserts (as at chain × 90 days): the retry doubles
    # the limit the commit ran out at, not the one the attempt started with
    monkeypatch.setattr("pos_sync.warehouse.sql.KEY_INDEX_BYTES_PER_KEY", 400_000)
    sized: list[int] = []
    fit = Warehouse.fit_memory_limit_to_keys

    def recorded(self: Warehouse, pending_keys: int = 0) -> int | None:
        if (raised := fit(self, pending_keys)) is not None:
            sized.append(raised)
        return raised

    monkeypatch.setattr(Warehouse, "fit_memory_limit_to_keys", recorded)
    commit = Warehouse.commit
    failures: list[str] = []

    def starved(self: Warehouse) -> None:
        if not failures and self.dialect == "duckdb" and self.table_exists(SCHEMA, "transform_loads") and self.scalar(
                f"select count(*) from {SCHEMA}.transform_loads") > 0:  # the build's: its loads recorded
            used = int(self.scalar("select sum(memory_usage_bytes) from duckdb_memory()"))
            # as little as DuckDB can free down to; set on a cursor of the instance (the limit is
            # the instance's): a SET that fails there leaves the build's transaction alone
            probe = self.conn.cursor()
            for share in [n / 100 for n in range(10, 101, 2)]:  # the lowest DuckDB accepts
                with contextlib.suppress(duckdb.OutOfMemoryException):
                    probe.execute(f"set memory_limit = '{int(used * share)}B'")
                    break
            probe.close()
            try:
                commit(self)
            except duckdb.TransactionException as exc:
                failures.append(str(exc))
                raise
        commit(self)

    monkeypatch.setattr(Warehouse, "commit", starved)
    with caplog.at_level(logging.WARNING, logger="pos_sync.canonical.build"):
        first = env.build()
    assert failures and "Failed to commit" in failures[0]  # the commit did run out, once
    assert sized, "the writer sized the failed attempt's limit"
    assert first.memory_limit_raised_to is not None and first.transactions > 0
    assert first.memory_limit_raised_to >= 0.99 * 2 * sized[0]  # (DuckDB shows 0.1 of a unit)
    assert any("built again" in r.getMessage() for r in caplog.records)
    assert env.reconcile() == []
    assert env.build().loads == 0


def test_a_warehouse_whose_commit_ran_out_is_reopened_as_it_was_before_the_transaction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit that runs out of memory while writing a large transaction (row groups written ahead,
    a key index) makes DuckDB invalidate the database: the connection runs nothing more. The build
    recognises the error and continues on a new connection (``_reopened``), which reads the
    warehouse as it was before the transaction, with the failed attempt's limit."""
    import duckdb

    from pos_sync.canonical.build import _commit_ran_out, _reopened

    monkeypatch.setenv("POS_HOME", str(tmp_path))
    settings = parse_settings(dict(os.environ))
    wh = Warehouse(settings)
    wh.execute("create table t (id varchar primary key, v varchar)")
    wh.execute("insert into t select 'kept' || i, 'x' from range(1000) r(i)")
    wh.commit()
    wh.set_memory_limit(50 << 20)
    limit = wh.memory_limit_bytes()
    with pytest.raises(duckdb.TransactionException) as failed, wh.transaction():
        wh.execute("insert into t select uuid()::varchar, repeat('y', 50) from range(400000)")
    assert _commit_ran_out(failed.value), failed.value
    with pytest.raises(duckdb.FatalException):  # invalidated
        wh.execute("select 1")
    fresh = _reopened(wh, settings, limit)
    try:
        assert fresh.scalar("select count(*) from t") == 1000
        assert fresh.memory_limit_bytes() == limit
    finally:
        fresh.close()
