"""dlt performance settings of the POS pipelines (measured in ``bench/square_import.py``).

They change how fast and in how much memory a run goes, never what lands in the warehouse:

* ``SOURCES__DATA_WRITER__DISABLE_COMPRESSION``: extract writes its intermediate jsonl files
  uncompressed (gzip was ~25 % of the Square payments extract; the files are deleted after
  normalize). Loader files are untouched (parquet compresses itself; csv/insert_values are
  written by normalize, another config section).
* ``SOURCES__DATA_WRITER__FILE_MAX_ITEMS``: extract rotates its files every 50 000 rows.
* ``NORMALIZE__WORKERS`` (1): dlt normalises in the run's own process. Two workers paid while
  dlt's per-row Python normaliser (~30 µs per row) was the largest step after the HTTP extract;
  since the transactional streams of every provider reach dlt as Arrow tables, normalize is a
  small share of an import (2.1 s of 56 s at Square chain × 90), and a worker costs every run that
  has rows a process start (spawned, as dlt does under Dagster: dlt and pyarrow imported again —
  1.6–7 s of the raw step in 6 of 6 alternated runs of ``bench/end_to_end_import``'s sync, small ×
  14 days, load 3–5; see ``bench/README.md``). Set ``NORMALIZE__WORKERS=2`` for the old behaviour.
  An incremental sync — a few rows since the last mark, a webhook-triggered one a single sale —
  normalises in-process whatever the setting (:data:`SMALL_LOAD`, :func:`scoped_dlt_config`).
* ``EXTRACT__WORKERS`` (10, dlt's default 5): the threads that step the sources' parallel
  resources (dlt ``parallelized``: Lightspeed's 9 feeds, Square's 7 streams, Toast's 5): each
  stream gets one, so a long stream never waits for a short one to free a thread, and under a
  rate-limit storm every stream waits out its ``Retry-After`` at the same time
  (``bench/storm.py``). They spend their time waiting for the API, not computing.

* ``LOAD__TRUNCATE_STAGING_DATASET``: dlt empties the merge's staging tables once a package is
  loaded (it empties them before each load anyway). With the database held open through the load
  (:func:`duckdb_kept_open`) DuckDB then never writes the staged copy into its file: at Square
  chain x 14 the warehouse after a first import is 60 MB instead of 116 MB, and the checkpoint at
  the end of the load has half the data to compress. What lands in the raw tables is the same.

And one privacy default: ``LOAD__DELETE_COMPLETED_JOBS`` (dlt keeps every loaded package's files
in the pipeline's working folder otherwise: a second copy of the rows, outside the warehouse, that
an erasure would have to find).

Applied with ``os.environ.setdefault`` so an explicit environment or ``config.toml`` value wins.

And the DuckDB destination's ``memory_limit`` (:func:`duckdb_destination`): DuckDB's default is
80 % of the machine's RAM, and its buffer cache grew the import process to 1.3 GiB while merging
3 M order rows. Capped (the product's ``POS_DUCKDB_MEMORY_LIMIT``, default 256MB), DuckDB spills to disk
instead (measured in ``bench/square_import.py``). 256MB rather than 512MB: a first load's rows stay in
DuckDB's memory until they are merged and checkpointed, so the load added ~480 MiB to the process at
Square chain × 14 days (~620 MiB at chain × 90) with 512MB against ~325 MiB (~370 MiB) with 256MB,
for a load ~1.2–1.6 s longer at chain × 14 (``bench/README.md``, "raw load memory").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PERFORMANCE_DEFAULTS: dict[str, str] = {
    "SOURCES__DATA_WRITER__DISABLE_COMPRESSION": "true",
    "SOURCES__DATA_WRITER__FILE_MAX_ITEMS": "50000",
    "NORMALIZE__WORKERS": "1",
    "EXTRACT__WORKERS": "10",
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
}
PRIVACY_DEFAULTS: dict[str, str] = {"LOAD__DELETE_COMPLETED_JOBS": "true"}


def apply_performance_defaults() -> None:
    """Set :data:`PERFORMANCE_DEFAULTS` and :data:`PRIVACY_DEFAULTS` in the environment unless already set (before ``pipeline.run``)."""
    set_dlt_config(PERFORMANCE_DEFAULTS, override=False)
    set_dlt_config(PRIVACY_DEFAULTS, override=False)


# a small load (an incremental sync): normalised in this process, no worker booted for a few rows
SMALL_LOAD: dict[str, str] = {"NORMALIZE__WORKERS": "1"}


@contextmanager
def scoped_dlt_config(values: dict[str, str]) -> Iterator[None]:
    """``values`` in dlt's configuration (the environment) for the block, the previous ones after."""
    before = {key: os.environ.get(key) for key in values}
    set_dlt_config(values, override=True)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def set_dlt_config(values: dict[str, str], *, override: bool) -> None:
    """dlt reads its configuration from the process environment: the one place that writes it
    (``override``: replace a value already set, for settings the pipelines rely on)."""
    for key, value in values.items():
        if override:
            os.environ[key] = value
        else:
            os.environ.setdefault(key, value)


DUCKDB_MEMORY_LIMIT = "256MB"


def duckdb_destination(path: str, memory_limit: str = DUCKDB_MEMORY_LIMIT) -> Any:
    """dlt's DuckDB destination on the file ``path`` with DuckDB's ``memory_limit`` set (a DuckDB
    size such as ``1GB``; the product passes its ``POS_DUCKDB_MEMORY_LIMIT`` setting)."""
    import dlt
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    return dlt.destinations.duckdb(DuckDbCredentials(path, global_config={"memory_limit": memory_limit}))


@contextmanager
def duckdb_kept_open(pipeline: Any) -> Iterator[None]:
    """The DuckDB database of ``pipeline``'s destination held open for the block (nothing for
    another destination, or a connection the caller passed in).

    dlt's DuckDB pool opens the database when a load job borrows a connection and closes it when no
    job holds one, and DuckDB checkpoints at every close (folds its WAL into the file, compressing
    every table written since, the staging copies too) and reads its catalog again at the next open:
    a first import's load (36 copy jobs, then the merges) paid that between most jobs. DuckDB keeps
    one database instance per file in a process; with a connection held here the pool's connections
    attach to that instance and its closes close only themselves. The same statements run in the same
    transactions, each commit is in the WAL as before (a crash replays it at the next open); what
    changes is when the WAL is folded: when it outgrows ``checkpoint_threshold``, and at the close at
    the end of the block. Another process cannot open the file meanwhile: the product holds it for
    a sync's whole run (its extract opens it too, for the state and the version guard); on DuckDB the
    product's warehouse steps take turns anyway (the one-writer pool, ``pos_dagster/lib/pools.py``)
    and the API process does not open the warehouse."""
    credentials = _duckdb_credentials(pipeline)
    if credentials is None:
        yield
        return
    import duckdb

    conn = duckdb.connect(str(credentials.database))
    try:
        for key, value in (credentials.global_config or {}).items():  # as dlt's pool sets them
            conn.execute(f"SET GLOBAL {key} = ?", [value])
        yield
    finally:
        conn.close()


def _duckdb_credentials(pipeline: Any) -> Any:
    """The resolved DuckDB credentials of ``pipeline``'s destination when it is a DuckDB file dlt
    opens itself; else None."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    destination = pipeline.destination
    if destination is None or not str(destination.destination_type).endswith(".duckdb"):
        return None
    # the product's destination carries its credentials (duckdb_destination): no schema needed.
    # dlt's destination_client() needs one, and a pipeline that has none yet gets an ad hoc schema
    # named after the pipeline, which fails for a name that is no valid schema name (over 64
    # characters: a re-read's pipeline, lightspeed__<account>__reread_<request>)
    credentials = (getattr(destination, "config_params", None) or {}).get("credentials")
    if not isinstance(credentials, DuckDbCredentials) or not credentials.database:
        if not pipeline.default_schema_name:
            return None  # nothing to resolve the destination's configuration with: dlt's pool as before
        credentials = pipeline.destination_client().config.credentials
    if credentials.external_conn() is not None or str(credentials.database) in (":memory:", ":external:"):
        return None
    return credentials
