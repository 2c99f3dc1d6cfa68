"""Concurrency pools of the steps that write the warehouse.

DuckDB has one writer per file. A run tag limit only holds for the runs that carry the tag (the
sync and backfill jobs), not for a Materialize clicked in the UI, which runs through Dagster's
asset job; a pool is on the step itself, so it holds however the run was launched. On DuckDB every
warehouse-writing step (raw load, canonical build, backfill window) shares :data:`DUCKDB_WRITER` —
one writer at a time, which also keeps each provider's API to one caller. On PostgreSQL steps
write concurrently and a raw step takes its provider's API pool (``square_api``…), so rate limits
hold when many accounts sync at once."""

from __future__ import annotations

from pos_sync.providers import ProviderSpec
from pos_sync.settings import load_settings
from pos_sync.warehouse.pipelines import warehouse_kind

DUCKDB_WRITER = "duckdb_writer"


def _duckdb() -> bool:
    return warehouse_kind(load_settings()) == "duckdb"


def api_step_pool(spec: ProviderSpec) -> str:
    """The pool of a step that calls the provider's API and writes the warehouse."""
    return DUCKDB_WRITER if _duckdb() else spec.pool


def warehouse_step_pool() -> str | None:
    """The pool of a step that only writes the warehouse (None: unlimited)."""
    return DUCKDB_WRITER if _duckdb() else None


def ensure_writer_limit(instance: object) -> None:
    """On DuckDB, the writer pool's limit is 1 on ``instance`` whatever its ``default_limit`` says
    (Dagster sets per-pool limits in the instance, not in ``dagster.yaml``): called by the sensors
    and the CLI's runner before they launch anything. A no-op on PostgreSQL warehouses."""
    storage = getattr(instance, "event_log_storage", None)
    if not _duckdb() or storage is None or not storage.supports_global_concurrency_limits:
        return
    info = storage.get_concurrency_info(DUCKDB_WRITER)
    if info.using_default_limit or info.slot_count != 1:
        storage.set_concurrency_slots(DUCKDB_WRITER, 1)
