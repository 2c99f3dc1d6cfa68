"""``dlt_sources.common.tuning``: the product's DuckDB destination caps DuckDB's memory."""

from __future__ import annotations

import dlt
import pytest

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
