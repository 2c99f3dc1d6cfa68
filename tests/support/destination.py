"""Reading back what a test loaded: SQL on a dlt pipeline's dataset, the rows of one load, the
raw dataset of the configured warehouse, and the canonical warehouse (``pos_sync.warehouse``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import dlt


def query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on the pipeline's dataset."""
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql) or []]


@contextmanager
def reader(pipeline: dlt.Pipeline) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
    """:func:`query` for several reads in a row (nothing written in between) on one connection of
    the pipeline's sql client: opening one (DuckDB) costs ~35 ms, more than a check's query."""
    with pipeline.sql_client() as client:
        yield lambda sql: [tuple(r) for r in client.execute_sql(sql) or []]


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

    from pos_sync.settings import load_settings

    settings = load_settings()
    client = _inspect_client(provider, settings.warehouse_url, str(settings.warehouse_path), str(settings.pos_home),
                             settings.duckdb_memory_limit)
    try:
        with client:  # a connection of its own per query, as before
            return [tuple(r) for r in client.execute_sql(sql) or []]
    except DatabaseUndefinedRelation:
        return []


@lru_cache(maxsize=4)
def _inspect_client(provider: str, warehouse_url: str | None, warehouse_path: str, pos_home: str,
                    memory_limit: Any) -> Any:
    """The sql client of an inspecting pipeline on ``raw_<provider>`` of the warehouse the arguments
    name (the settings it is built from): building the pipeline and its client took ~0.2 s a query,
    most of a test's reading back; opening a connection with it ~0.05 s."""
    from pos_sync.warehouse.pipelines import account_pipeline

    return account_pipeline(provider, "tests-inspect", mode="inspect").sql_client()


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
