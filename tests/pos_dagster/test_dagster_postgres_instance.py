"""A Dagster instance on PostgreSQL (dagster-postgres), configured exactly by
``deploy/dagster.postgres.yaml`` (copied into a fresh DAGSTER_HOME, ``DAGSTER_PG_URL`` pointing at
the test database), executes the sync job; runs, events and pool limits live in PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster_sync_support import EnvFactory

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def test_postgres_instance_from_deploy_yaml_executes_the_sync_job(
        make_env: EnvFactory, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster-pg-home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # dagster-postgres runs on psycopg2: with SQLAlchemy 2.1 a bare postgresql:// URL picks psycopg 3,
    # on which Dagster's event writes fail (NOTIFY with a bound parameter) — the deploy yaml says so
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        env = make_env(instance=instance)  # DuckDB warehouse, SQLite app store
        first = env.sync()
        assert first.success and first.log.status == "success"
        env.assert_matches_ledger()
        assert env.sync().success  # a second run on the same instance (cursor restored, nothing new)

        with psycopg.connect(pg_url) as conn:
            runs = dict(conn.execute("select run_id, status from runs").fetchall())
            materialized = conn.execute("select count(*) from event_logs where dagster_event_type = "
                                        "'ASSET_MATERIALIZATION'").fetchone()
            partitions = [r[0] for r in conn.execute("select partition from dynamic_partitions")]
        assert runs == {o.result.run_id: "SUCCESS" for o in env.outcomes}
        assert materialized is not None and materialized[0] >= 12  # 6 raw assets per run, canonical ones
        assert partitions == [env.account_id]
        # deploy yaml: pools.default_limit 4, but the DuckDB warehouse has one writer whatever launches a
        # step (a UI Materialize too): the sensor's tick sets the writer pool's own limit
        from pos_dagster.definitions import defs
        from pos_dagster.lib.resources import pos_resources

        assert instance.event_log_storage.get_concurrency_info("duckdb_writer").using_default_limit
        with dg.build_sensor_context(instance=instance, resources=pos_resources()) as tick:
            defs.get_sensor_def("account_sync_sensor")(tick)
        pool = instance.event_log_storage.get_concurrency_info("duckdb_writer")
        assert pool.slot_count == 1 and not pool.using_default_limit and not pool.claimed_slots
    finally:
        instance.dispose()
