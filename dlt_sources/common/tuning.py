"""dlt performance settings of the POS pipelines (measured in ``bench/square_import.py``).

They change how fast and in how much memory a run goes, never what lands in the warehouse:

* ``SOURCES__DATA_WRITER__DISABLE_COMPRESSION``: extract writes its intermediate jsonl files
  uncompressed (gzip was ~25 % of the Square payments extract; the files are deleted after
  normalize). Loader files are untouched (parquet compresses itself; csv/insert_values are
  written by normalize, another config section).
* ``SOURCES__DATA_WRITER__FILE_MAX_ITEMS``: extract rotates its files every 50 000 rows, so
* ``NORMALIZE__WORKERS`` (2) can normalise a big stream's files in two processes: dlt's
  normalize (the Python relational normaliser, ~30 µs per row) is the largest step after the
  HTTP extract, and the API server is idle meanwhile. Cost: every run that has rows to normalise
  hands them to a worker process (forked: milliseconds; spawned, as dlt does under Dagster: the
  time to import dlt in the worker, about a second). A no-change sync has none and stays in-process.

Applied with ``os.environ.setdefault`` so an explicit environment or ``config.toml`` value wins.
"""

from __future__ import annotations

import os

PERFORMANCE_DEFAULTS: dict[str, str] = {
    "SOURCES__DATA_WRITER__DISABLE_COMPRESSION": "true",
    "SOURCES__DATA_WRITER__FILE_MAX_ITEMS": "50000",
    "NORMALIZE__WORKERS": "2",
}


def apply_performance_defaults() -> None:
    """Set :data:`PERFORMANCE_DEFAULTS` in the environment unless already set (before ``pipeline.run``)."""
    for key, value in PERFORMANCE_DEFAULTS.items():
        os.environ.setdefault(key, value)
