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
