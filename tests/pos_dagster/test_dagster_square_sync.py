"""The Square assets of one account partition, materialized through Dagster's own APIs
(``defs.resolve_job_def('square_sync').execute_in_process``) against a real sandbox server, on
DuckDB and on PostgreSQL (warehouse and app store): the historical import equals the ledger, a
no-change sync writes nothing, a clock advance loads exactly the new and changed objects; and
the account × day backfill job loads one day without touching the incremental cursor."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from dagster_sync_support import (
    QUIET,
    TRANSACTION_TABLES,
    EnvFactory,
    changed_ids,
    expected_objects,
    make_world,
)
from support.worlds import mid_window

from pos_sandbox.faults import FaultPlan

WAREHOUSES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def _requests_per_route(plan: FaultPlan) -> Counter[str]:
    out: Counter[str] = Counter()
    for key, n in plan.per_key.items():
        method_path = key.split("?", 1)[0]
        out[method_path.split("/square", 1)[-1] if "/square/" in method_path else method_path] += n
    return out


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_import_then_no_change_then_clock_advance(make_env: EnvFactory, warehouse: str) -> None:

    world = make_world()
    mid = mid_window(world)
    counter = FaultPlan(probabilities={"slow": 0.0})  # injects nothing, counts every request
    env = make_env(warehouse, world=world, faults=counter, now=mid)

    # 1. historical import (the account's first sync) == the ledger as of the clock
    first = env.sync()
    assert first.success and first.log.status == "success" and first.log.sync_type == "historical"
    env.assert_matches_ledger()
    truth = expected_objects(env.truth())
    assert first.rows_loaded["raw/square/payments"] == sum(o["payments"] for o in truth.values())
    assert first.rows_loaded["raw/square/orders"] == sum(o["orders"] for o in truth.values())
    # a sale counts once (its payment, not its order too); processed = what reached pos.*
    assert first.log.transactions_fetched == first.rows_loaded["raw/square/payments"] + first.rows_loaded.get(
        "raw/square/refunds", 0)
    built = env.query("SELECT COUNT(*) FROM pos.pos_transactions WHERE pos_provider = 'square'")[0][0]
    assert first.log.transactions_processed == built > 0
    account = env.account()
    assert account.status == "active" and account.historical_import_done_at is not None
    assert env.instance.get_dynamic_partitions("square_accounts") == [env.account_id]
    latest = env.instance.get_latest_materialization_event(dg.AssetKey(["raw", "square", "payments"]))
    assert latest is not None and latest.asset_materialization is not None
    assert latest.asset_materialization.partition == env.account_id
    run = env.instance.get_run_by_id(first.result.run_id)
    assert run is not None and run.tags.get("pos/warehouse-writer") == "1"
    assert run.tags.get("dagster/partition") == env.account_id

    # 2. no new data: one request per stream per location (batch), no row written, log success
    loads_before = env.data_load_ids()
    counter.reset()
    second = env.sync()
    assert second.success and second.log.status == "success" and second.log.sync_type == "incremental"
    # raw assets materialize every sync (rows_loaded says how much changed); the canonical ones
    # are skippable and stay quiet when no raw load was new
    assert set(second.rows_loaded.values()) == {0}, second.rows_loaded
    assert not {k for k in second.materialized if k.startswith("pos/")}
    assert second.log.transactions_fetched == second.log.transactions_processed == 0
    assert second.log.error_message is None
    assert env.data_load_ids() == loads_before
    locations = len(env.credentials["location_ids"])
    per_route = _requests_per_route(counter)
    assert per_route == Counter({"GET /v2/locations": 1, "GET /v2/payments": locations, "GET /v2/refunds": locations,
                                 "POST /v2/orders/search": 1, "POST /v2/catalog/search": 1,
                                 "POST /v2/team-members/search": 1,  # ListCustomers: 100 profiles a page
                                 "GET /v2/customers": -(-len(world.customers[world.accounts[0].account_id]) // 100)}), per_route
    env.assert_matches_ledger()

    # 3. the clock advances past the window (late refunds, tip edits): exactly the new and changed objects
    stored = {t: env.versions(t) for t in TRANSACTION_TABLES}
    until = world.window_end_utc + timedelta(days=2)
    env.set_now(until)
    third = env.sync()
    assert third.success and third.log.status == "success" and third.log.sync_type == "incremental"
    new_loads = env.data_load_ids() - loads_before
    assert len(new_loads) == 1
    expected = changed_ids(world, mid, until)
    assert all(expected[t] for t in TRANSACTION_TABLES), expected  # the scenario really changes each stream
    for table in TRANSACTION_TABLES:
        loaded = env.ids_in_load(table, new_loads)
        assert loaded == expected[table], table
        now_stored = env.versions(table)
        differs = {i for i, v in now_stored.items() if stored[table].get(i) != v}
        assert loaded == differs, table  # nothing unchanged was rewritten
        assert third.rows_loaded.get(f"raw/square/{table}", 0) == len(expected[table])
    assert third.log.transactions_fetched == len(expected["payments"]) + len(expected["refunds"])
    env.assert_matches_ledger()


def _created_at(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def test_backfill_window_job_loads_one_day_and_leaves_the_cursor(make_env: EnvFactory) -> None:
    from pos_dagster.definitions import defs
    from pos_sync import appstore
    from pos_sync.warehouse.pipelines import pipeline_name
    env = make_env()
    env.instance.add_dynamic_partitions("square_accounts", [env.account_id])
    day = env.world.start + timedelta(days=1)
    key = dg.MultiPartitionKey({"account": env.account_id, "date": day.isoformat()})
    job = defs.resolve_job_def("square_historical_backfill")
    result = job.execute_in_process(partition_key=key, instance=env.instance, raise_on_error=False, run_config=QUIET)
    assert result.success
    mats = {tuple(e.event_specific_data.materialization.asset_key.path): e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()}
    assert ("raw", "square", "payments") in mats and mats[("raw", "square", "payments")].partition == env.account_id
    log = appstore.sync_history(env.account_id, limit=1)[0]
    assert log.sync_type == "backfill" and log.status == "success"
    start = datetime.combine(day, datetime.min.time(), UTC)
    window = {t: {str(i) for i, c in env.query(f"select id, created_at from {t}")
                  if start <= _created_at(c) < start + timedelta(days=1)} for t in TRANSACTION_TABLES}
    loaded = {t: {str(r[0]) for r in env.query(f"select id from {t}")} for t in TRANSACTION_TABLES}
    assert loaded == window and loaded["payments"] and loaded["orders"]  # only that day's objects
    # a window run never moves the incremental cursor: the account's pipeline has no state yet
    incremental = pipeline_name("square", env.account_id)
    states = {str(r[0]) for r in env.query("select pipeline_name from _dlt_pipeline_state")}
    assert incremental not in states and any(s.startswith(incremental + "__window_") for s in states)
    assert env.account().historical_import_done_at is None

    # the regular sync afterwards imports everything once: no duplicates, the ledger's counts
    sync = env.sync()
    assert sync.success and sync.log.sync_type == "historical"
    env.assert_matches_ledger()
    full = {t: {str(i) for i, c in env.query(f"select id, created_at from {t}")
                if start <= _created_at(c) < start + timedelta(days=1)} for t in TRANSACTION_TABLES}
    assert full == loaded


def test_the_first_sync_loads_with_the_warehouse_open_and_leaves_no_staged_copy(
        make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The raw step of a historical import on DuckDB: dlt's pool would close the warehouse (and DuckDB
    checkpoint it) whenever no load job held a connection; the step holds it open, so each load job
    (one at a time here) finds the earlier jobs' commits still in the WAL. After the load the merge's
    staging tables are empty (dlt empties them; they held a second copy of the import), and the
    transactional tables — appended by a first load — were never staged at all."""
    from pathlib import Path

    from support.duckdb_wal import wal_at_each_load_job

    from pos_sync.settings import load_settings

    monkeypatch.setenv("LOAD__WORKERS", "1")
    env = make_env("duckdb")
    seen = wal_at_each_load_job(monkeypatch, Path(f"{load_settings().warehouse_path}.wal"))
    first = env.sync()
    assert first.success and first.log.sync_type == "historical"
    assert len(seen) > 10, seen  # a job per table file, then the merges
    assert all(seen[1:]), f"the warehouse was checkpointed (closed) between load jobs: {seen}"
    env.assert_matches_ledger()
    staged = {r[0] for r in env.query("select table_name from information_schema.tables "
                                       "where table_schema = 'raw_square_staging'")}
    for table in ("payments", "orders", "orders__line_items"):
        assert table not in staged, table  # appended straight into the raw table
        assert env.query(f"select count(*) from {table}")[0][0] > 0
    for table in ("locations", "catalog"):
        assert table in staged and env.query(f"select count(*) from raw_square_staging.{table}") == [(0,)], table


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_repeats_of_a_first_load_that_failed_before_dropping_them_are_dropped_by_the_next_sync(
        make_env: EnvFactory, warehouse: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first load appends; its repeats go after the load. When the run dies between the two (here:
    a load file copied twice, as a load resumed after a crash leaves it, and the drop failing), the
    load is in and the pipeline's state with it: the next sync is incremental with nothing pending,
    and must still drop them — until a sync of the account succeeded whole."""
    from pos_sync.ingest.sync import AccountSync

    world = make_world()
    env = make_env(warehouse, world=world, now=mid_window(world))
    original = AccountSync.drop_repeats
    calls: list[str] = []

    def dies_after_the_load(self: AccountSync, pipeline: Any) -> Any:
        calls.append(pipeline.pipeline_name)
        if len(calls) == 1:  # the first load's rows: one file of payments copied again, then the process "dies"
            env_sql = ("insert into payments select * from payments where id in "
                       "(select id from payments order by id limit 5)")
            from pos_sync.warehouse.sql import Warehouse

            wh = Warehouse()
            try:
                with wh.transaction():
                    wh.execute(env_sql.replace("payments", "raw_square.payments"))
            finally:
                wh.close()
            raise RuntimeError("the process died after the load")
        return original(self, pipeline)

    monkeypatch.setattr(AccountSync, "drop_repeats", dies_after_the_load)
    first = env.sync()
    assert not first.success and first.log.sync_type == "historical"
    assert env.query("select count(*) - count(distinct id) from payments") == [(5,)]
    assert env.account().last_successful_sync_at is None

    second = env.sync()
    assert second.success and second.log.sync_type == "incremental" and len(calls) == 2
    env.assert_matches_ledger()  # one row per payment again, every figure the ledger's
    assert env.account().last_successful_sync_at is not None
    third = env.sync()  # a sync after one that succeeded whole drops nothing (no scan either)
    assert third.success and len(calls) == 2
