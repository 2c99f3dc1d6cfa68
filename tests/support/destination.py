"""Reading back what a test loaded: SQL on a dlt pipeline's dataset, the rows of one load, the
raw dataset of the configured warehouse, and the canonical warehouse (``pos_sync.warehouse``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt


def query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on the pipeline's dataset."""
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql) or []]


def data_row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows the last run normalised per data table (dlt's own tables and empty ones left out)."""
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {t: n for t, n in counts.items() if not t.startswith("_dlt") and n}


def rows_in_load(pipeline: dlt.Pipeline, table: str, load_id: str) -> int:
    """Rows a load wrote to ``table`` (exact even where dlt's csv row_counts are not, dlt#4461)."""
    return int(query(pipeline, f"select count(*) from {table} where _dlt_load_id = '{load_id}'")[0][0])


def raw_query(provider: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on the ``raw_<provider>`` dataset of the configured warehouse (DuckDB or
    PostgreSQL); a table that does not exist yet (nothing of that kind was loaded) gives []."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    from pos_sync.warehouse.pipelines import account_pipeline

    pipeline = account_pipeline(provider, "tests-inspect", mode="inspect")
    try:
        return query(pipeline, sql)
    except DatabaseUndefinedRelation:
        return []


@contextmanager
def open_warehouse() -> Iterator[Any]:
    """The configured warehouse (``pos_sync.warehouse.sql.Warehouse``), closed afterwards."""
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    try:
        yield wh
    finally:
        wh.close()


def warehouse_query(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """The rows of ``sql`` on the configured warehouse, as dicts."""
    with open_warehouse() as wh:
        return wh.query(sql, params)
