"""The warehouse: the dlt destination (DuckDB file by default, PostgreSQL in production) and
one dlt pipeline per (provider, account, mode).

* DuckDB: ``$POS_HOME/warehouse.duckdb`` — always an explicit path (dlt would otherwise create
  ``<pipeline_name>.duckdb`` in the working directory, one file per account) — with DuckDB's
  ``memory_limit`` at ``POS_DUCKDB_MEMORY_LIMIT`` (default 256MB, from the settings; see
  ``dlt_sources.common.tuning``).
* PostgreSQL: ``POS_WAREHOUSE_URL=postgresql://…``.

Raw data lands in one dataset per provider (``raw_square``…); every account has its own pipeline
name, so its dlt state (incremental cursors) is isolated and restored from the destination.
Window (backfill) runs use a separate ``…__window`` pipeline that never touches the cursor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dlt

from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination, duckdb_kept_open
from pos_sync.settings import Settings, load_settings


def dlt_postgres_url(url: str) -> str:
    """dlt's PostgresCredentials insist on a password; a server with trust/peer auth (local dev,
    CI) has none, so a placeholder is put in the URL — such a server ignores it, and a server that
    needs one gets the real password from the URL as usual."""
    from urllib.parse import urlsplit, urlunsplit

    url = url.replace("postgresql+psycopg://", "postgresql://")
    parts = urlsplit(url)
    if parts.password is None and parts.username:
        host = parts.netloc.split("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username}:no-password@{host}")
    return urlunsplit(parts)


def dlt_destination(settings: Settings | None = None, *, pipeline_name: str | None = None) -> Any:
    """The raw warehouse as a dlt destination. On PostgreSQL, a pipeline's merge loads go through a
    staging dataset of its own (:func:`staging_layout`)."""
    settings = settings or load_settings()
    if settings.warehouse_url:
        extra = {"staging_dataset_name_layout": staging_layout(pipeline_name)} if pipeline_name else {}
        return dlt.destinations.postgres(dlt_postgres_url(settings.warehouse_url), **extra)
    settings.pos_home.mkdir(parents=True, exist_ok=True)
    return duckdb_destination(str(settings.warehouse_path), memory_limit=settings.duckdb_memory_limit)


def staging_layout(pipeline_name: str) -> str:
    """dlt's staging dataset for one pipeline: ``raw_square_stg_<12 hex>``. dlt merges by loading
    the package into ``<dataset>_staging``, then deleting and inserting from it, and it empties the
    staging tables at the start of every load — so two accounts' syncs of one provider running at
    once on PostgreSQL would share (and truncate) each other's staged rows: the later merge fails on
    a duplicate ``_dlt_id`` or a deadlock, or merges nothing of its own. Measured with 6 concurrent
    first loads into one dataset: failures in 3 rounds out of 3 with the shared staging dataset,
    none with one per pipeline (tests/canonical/test_concurrent_raw_loads.py). The hash keeps the
    name within PostgreSQL's 63 characters."""
    import hashlib

    return "%s_stg_" + hashlib.sha1(pipeline_name.encode()).hexdigest()[:12]


def is_staging_schema(schema: str, provider: str) -> bool:
    """Whether ``schema`` is one of dlt's staging copies of ``provider``'s raw dataset: a pipeline's own
    (:func:`staging_layout`) or the one shared ``raw_<provider>_staging`` of earlier versions and DuckDB."""
    return re.fullmatch(rf"raw_{re.escape(provider)}_(staging|stg_[0-9a-f]{{12}})", schema) is not None


SCHEMA_CONFLICT_RETRIES = 3


def schema_conflict_pause(retry: int = 0) -> float:
    """Seconds to wait before loading again after the ``retry``-th schema conflict in a row (0: the
    first): random, so the syncs that collided do not collide again, and doubling with each retry
    (:func:`run_pipeline` also takes its retries one at a time: :func:`schema_retries_one_at_a_time`)."""
    import random

    return random.uniform(0.2, 1.0) * 2**retry


def is_schema_conflict(exc: BaseException) -> bool:
    """A load that failed changing the raw tables' schema (creating a table, adding a column) — on
    PostgreSQL, typically because another account's sync of the same provider made the same change
    at the same moment (a duplicate key on ``pg_type``). dlt documents a retry as safe: it reads the
    destination again and applies only what is still missing; the load package stays pending."""
    from dlt.pipeline.helpers import retry_schema_update

    conflict = retry_schema_update()
    seen: BaseException | None = exc
    for _ in range(5):  # dlt's own chain, and whatever wrapped it on the way (dagster-dlt)
        if seen is None:
            return False
        if conflict(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def run_pipeline(pipeline: dlt.Pipeline, data: Any, **kwargs: Any) -> Any:
    """``pipeline.run`` that loads its package again after a schema conflict
    (:func:`is_schema_conflict`), up to :data:`SCHEMA_CONFLICT_RETRIES` times. On DuckDB the
    warehouse file stays open for the run (:func:`~dlt_sources.common.tuning.duckdb_kept_open`):
    dlt's pool would close it, and DuckDB checkpoint it, between load jobs. A working folder a
    killed run left half made is dropped first (:func:`has_pending_data`: dlt's run fails on it)."""
    import time

    has_pending_data(pipeline)
    with duckdb_kept_open(pipeline):
        for attempt in range(SCHEMA_CONFLICT_RETRIES + 1):
            try:
                if attempt == 0:
                    return pipeline.run(data, **kwargs)
                with schema_retries_one_at_a_time(pipeline.dataset_name):
                    return pipeline.load()
            except Exception as exc:
                if attempt == SCHEMA_CONFLICT_RETRIES or not is_schema_conflict(exc):
                    raise
                logging.getLogger(__name__).warning(
                    "raw schema changed by another sync at the same time; loading the package again")
                time.sleep(schema_conflict_pause(attempt))
    raise AssertionError("unreachable")


@contextmanager
def schema_retries_one_at_a_time(dataset: str, settings: Settings | None = None) -> Iterator[None]:
    """On PostgreSQL, the retried loads of one raw dataset one at a time (a session advisory lock
    named after the dataset), so a retry after a schema conflict can only meet a first attempt,
    never another retry: six first loads of one provider on a busy machine otherwise kept colliding
    (``pg_type`` duplicates, deadlocks) until one ran out of retries. Nothing on DuckDB (one writer)."""
    settings = settings or load_settings()
    if not settings.warehouse_url:
        yield
        return
    import zlib

    import psycopg

    key = zlib.crc32(f"pos_raw_schema:{dataset}".encode())
    with psycopg.connect(settings.warehouse_libpq_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def warehouse_kind(settings: Settings | None = None) -> str:
    settings = settings or load_settings()
    return "postgres" if settings.warehouse_url else "duckdb"


def loader_file_format(settings: Settings | None = None) -> str | None:
    """Fast load path (``dagster_dlt.md`` §2.6b): parquet into DuckDB (≈6x ``insert_values``);
    PostgreSQL keeps dlt's default (measured in ``bench/``)."""
    return "parquet" if warehouse_kind(settings) == "duckdb" else None


def pipelines_dir(settings: Settings | None = None) -> Path:
    settings = settings or load_settings()
    path = settings.pos_home / "dlt" / "pipelines"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pipeline_name(provider: str, account_id: str, mode: str = "incremental") -> str:
    slug = re.sub(r"[^a-zA-Z0-9]", "", account_id).lower()
    suffix = "" if mode == "incremental" else f"__{mode}"
    return f"{provider}__{slug}{suffix}"


class _NoActionDltWarnings(logging.Filter):
    """dlt warns, for every load, about columns a provider sends only as null ("did not receive
    any data … these columns will not be materialized"): nothing a user can act on, and ~20 lines
    per Lightspeed sync. The columns appear by themselves once a value arrives."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "did not receive any data during this load" not in record.getMessage()


_QUIET = _NoActionDltWarnings()


def quiet_dlt() -> None:
    dlt_logger = logging.getLogger("dlt")
    if _QUIET not in dlt_logger.filters:
        dlt_logger.addFilter(_QUIET)


def account_pipeline(provider: str, account_id: str, mode: str = "incremental",
                     settings: Settings | None = None) -> dlt.Pipeline:
    settings = settings or load_settings()
    apply_performance_defaults()
    quiet_dlt()
    name = pipeline_name(provider, account_id, mode)
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt_destination(settings, pipeline_name=name),
        dataset_name=f"raw_{provider}",
        pipelines_dir=str(pipelines_dir(settings)),
    )


def has_pending_data(pipeline: dlt.Pipeline) -> bool:
    """Whether an earlier run left load packages in the pipeline's working folder (dlt's
    ``has_pending_data``) — or left the folder half made: a process killed while dlt created its
    storages, or while dagster-dlt deleted the folder (it drops it before every run), leaves a
    storage without its package folders, and dlt fails listing them (``FileNotFoundError``), as
    would every later sync of the account. Such a folder is dropped — the destination keeps the
    state and schemas dlt restores from — and counts as pending: a package may have gone with it,
    so the run merges, as after a killed load."""
    try:
        return pipeline.has_pending_data
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "pipeline %s: its working folder was left half made (%s: %s); dropped, state restored from "
            "the warehouse", pipeline.pipeline_name, type(exc).__name__, exc)
        pipeline.drop()
        return True


def has_sync_state(pipeline: dlt.Pipeline) -> bool:
    """Whether the pipeline's incremental state (its cursors) exists, locally or in the
    destination (where dlt restores it from when the local working folder is gone): a sync of
    such a pipeline continues a history instead of importing one."""
    if pipeline.state.get("sources"):
        return True
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("_dlt_pipeline_state")
            rows = client.execute_sql(f"select count(*) from {table} where pipeline_name = %s",
                                      pipeline.pipeline_name)
    except DatabaseUndefinedRelation:
        return False
    return bool(rows and rows[0][0])
