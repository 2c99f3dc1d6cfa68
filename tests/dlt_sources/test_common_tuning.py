"""``dlt_sources.common.tuning``: the product's DuckDB destination caps DuckDB's memory."""

from __future__ import annotations

import dlt
import pytest

from pos_sync.warehouse.pipelines import dlt_destination


def _memory_limit(pipeline: dlt.Pipeline) -> str:
    with pipeline.sql_client() as client:
        return str(client.execute_sql("select current_setting('memory_limit')")[0][0])


@pytest.mark.parametrize(("env", "expected"), [(None, "488.2 MiB"), ("1GB", "953.6 MiB")])
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


def test_the_warehouse_held_open_spans_dlts_opens_and_is_released_after(tmp_path) -> None:
    """Without the held connection, dlt's last close of each stage shuts the database down (a
    checkpoint folds the WAL into the file, the next stage reads the catalog again). Held open,
    the loads of a run stay in the WAL until the block ends, and then the file is free for another
    process, with every row in it."""
    import subprocess
    import sys

    from dlt_sources.common.tuning import duckdb_destination, duckdb_held_open

    db = tmp_path / "w.duckdb"
    wal = tmp_path / "w.duckdb.wal"
    pipeline = dlt.pipeline("held", destination=duckdb_destination(str(db)), dataset_name="raw",
                            pipelines_dir=str(tmp_path / "p"))
    pipeline.run([{"id": i} for i in range(100)], table_name="t").raise_on_failed_jobs()
    assert not wal.exists()  # not held: dlt's last close shut the database down
    with duckdb_held_open(str(db)):
        pipeline.run([{"id": i} for i in range(100, 300)], table_name="t").raise_on_failed_jobs()
        assert wal.exists() and wal.stat().st_size > 0  # the instance outlived dlt's closes
    assert not wal.exists()
    count = subprocess.run([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                            "print(c.execute('select count(*) from raw.t').fetchone()[0])", str(db)],
                           capture_output=True, text=True, timeout=60)
    assert count.returncode == 0, count.stderr[-2000:]
    assert count.stdout.strip() == "300"
