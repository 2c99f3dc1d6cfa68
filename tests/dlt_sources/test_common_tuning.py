"""``dlt_sources.common.tuning``: the product's DuckDB destination caps DuckDB's memory."""

from __future__ import annotations

import subprocess
import sys

import dlt
import pytest
from support.duckdb_wal import wal_at_each_load_job

from pos_sync.warehouse.pipelines import dlt_destination


def _memory_limit(pipeline: dlt.Pipeline) -> str:
    with pipeline.sql_client() as client:
        return str(client.execute_sql("select current_setting('memory_limit')")[0][0])


@pytest.mark.parametrize(("env", "expected"), [(None, "244.1 MiB"), ("1GB", "953.6 MiB")])
def test_the_warehouse_destination_sets_duckdbs_memory_limit(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                                              env: str | None, expected: str) -> None:
    if env is None:
        monkeypatch.delenv("POS_DUCKDB_MEMORY_LIMIT", raising=False)
    else:
        monkeypatch.setenv("POS_DUCKDB_MEMORY_LIMIT", env)
    pipeline = dlt.pipeline("memcap", destination=dlt_destination(), dataset_name="raw",
                            pipelines_dir=str(tmp_path / "p"))
    pipeline.run([{"id": 1}], table_name="t").raise_on_failed_jobs()
    assert _memory_limit(pipeline) == expected  # DuckDB's default would be 80 % of RAM


def _normalize_workers() -> int:
    """What dlt's normalize step resolves (``normalize.workers``; 1 when unset: in-process)."""
    return int(dlt.config.get("normalize.workers") or 1)


def test_an_incremental_sync_normalises_in_process_and_an_import_keeps_the_workers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawning a normalize worker costs about a second under Dagster: most of the load of a sync of a
    few rows (a webhook-triggered one). An incremental sync's load resolves one worker (in-process)
    whatever the environment says, a historical import keeps the setting, and it is back after."""
    from pos_sync.ingest.sync import load_config

    monkeypatch.setenv("NORMALIZE__WORKERS", "2")
    with load_config("incremental"):
        assert _normalize_workers() == 1
    assert _normalize_workers() == 2
    with load_config("historical"):
        assert _normalize_workers() == 2
    monkeypatch.delenv("NORMALIZE__WORKERS")
    with load_config("incremental"):
        assert _normalize_workers() == 1
    import os

    assert "NORMALIZE__WORKERS" not in os.environ  # nothing left behind


# ---------------------------------------------------------------------- the raw load's database
def _orders(ids: range, amount: int = 1):  # type: ignore[no-untyped-def]
    """A merge resource with a child table (as the providers' orders and line items)."""
    @dlt.resource(name="orders", primary_key="id", write_disposition="merge")
    def orders():  # type: ignore[no-untyped-def]
        yield [{"id": f"o{k}", "amount_cents": k * amount, "lines": [{"sku": f"s{k}", "qty": q} for q in (1, 2)]}
               for k in ids]
    return orders()


def _account_pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path, warehouse_url: str | None = None) -> dlt.Pipeline:
    from pos_sync.warehouse.pipelines import account_pipeline

    monkeypatch.setenv("POS_HOME", str(tmp_path / "home"))
    if warehouse_url:
        monkeypatch.setenv("POS_WAREHOUSE_URL", warehouse_url)
    else:
        monkeypatch.delenv("POS_WAREHOUSE_URL", raising=False)
    return account_pipeline("tuningtest", f"acct-{tmp_path.name}")


def _rows(pipeline: dlt.Pipeline, table: str, *, staging: bool = False) -> list[tuple]:
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(table, quote=True)
        if staging:
            with client.with_staging_dataset():
                name = client.make_qualified_table_name(table, quote=True)
        return sorted(tuple(str(v) for v in r) for r in client.execute_sql(f"select * from {name}"))


def test_the_raw_load_keeps_the_duckdb_file_open_between_its_jobs(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path) -> None:
    """dlt's DuckDB pool closes the database whenever no load job holds a connection, and DuckDB
    folds its WAL into the file (a checkpoint) at every close. ``run_pipeline`` holds the file open
    for the run: a load job finds the previous jobs' commits still in the WAL (not checkpointed in
    between). One load worker, so the jobs run one after the other."""
    from pos_sync.warehouse.pipelines import run_pipeline

    monkeypatch.setenv("LOAD__WORKERS", "1")
    pipeline = _account_pipeline(monkeypatch, tmp_path)
    wal = tmp_path / "home" / "warehouse.duckdb.wal"
    seen = wal_at_each_load_job(monkeypatch, wal)
    run_pipeline(pipeline, _orders(range(5)), loader_file_format="parquet").raise_on_failed_jobs()
    assert len(seen) >= 2, seen  # orders and orders__lines
    assert all(seen[1:]), f"the database was checkpointed (closed) between load jobs: {seen}"
    assert not wal.exists()  # folded at the end of the run
    import duckdb

    duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True).close()  # and released


def test_a_new_pipeline_whose_name_is_no_schema_name_keeps_the_file_open_too(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path) -> None:
    """A re-read's pipeline (``<provider>__<account>__reread_<request>``, over dlt's 64-character
    schema names) has no schema before its first run: holding the file open must not ask dlt for a
    client (which makes a schema of the pipeline's name and fails), and the run loads."""
    from pos_sync.warehouse.pipelines import account_pipeline, duckdb_kept_open, run_pipeline

    monkeypatch.setenv("POS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("POS_WAREHOUSE_URL", raising=False)
    pipeline = account_pipeline("lightspeed", "edb721dc16405e4eb497dcece6ae0dd8", mode="reread_71c8e5f133c8")
    assert len(pipeline.pipeline_name) > 64 and not pipeline.default_schema_name
    with duckdb_kept_open(pipeline):  # held: another process cannot open the file now
        other = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])",
                                str(tmp_path / "home" / "warehouse.duckdb")], capture_output=True, text=True)
        assert other.returncode != 0 and "lock" in other.stderr.lower(), other.stderr[-500:]
    run_pipeline(pipeline, _orders(range(3)), loader_file_format="parquet").raise_on_failed_jobs()
    assert len(_rows(pipeline, "orders")) == 3


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_a_merge_load_leaves_its_staging_tables_empty_and_merges_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path, request: pytest.FixtureRequest, warehouse: str) -> None:
    """The merge's staging copy is emptied once the package is loaded (it held a second copy of the
    rows; DuckDB then never writes it into its file); the raw tables are what the merge made, and
    a second load with changed and new rows merges them without duplicates."""
    from pos_sync.warehouse.pipelines import run_pipeline

    url = request.getfixturevalue("pg_url") if warehouse == "postgres" else None
    pipeline = _account_pipeline(monkeypatch, tmp_path, url)
    try:
        fmt = {"loader_file_format": "parquet"} if warehouse == "duckdb" else {}  # the product's formats
        run_pipeline(pipeline, _orders(range(5)), **fmt).raise_on_failed_jobs()
        assert _rows(pipeline, "orders", staging=True) == []
        assert _rows(pipeline, "orders__lines", staging=True) == []
        run_pipeline(pipeline, _orders(range(3, 8), amount=10), **fmt).raise_on_failed_jobs()
        assert _rows(pipeline, "orders", staging=True) == []
        orders = _rows(pipeline, "orders")
        assert [(r[0], r[1]) for r in orders] == [("o0", "0"), ("o1", "1"), ("o2", "2"), ("o3", "30"),
                                                  ("o4", "40"), ("o5", "50"), ("o6", "60"), ("o7", "70")]
        assert len(_rows(pipeline, "orders__lines")) == 16  # two lines per order, the replaced ones gone
    finally:
        if url:
            with pipeline.sql_client() as client:
                client.drop_dataset()
                with client.with_staging_dataset():
                    client.drop_dataset()
