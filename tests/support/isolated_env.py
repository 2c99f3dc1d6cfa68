"""The environment every test runs in: its own POS_HOME and dlt data dir, no outside Dagster home or
databases, telemetry off (``tests/conftest.py``'s autouse fixture, and module fixtures built before it)."""

from __future__ import annotations

from pathlib import Path

import pytest


def isolate_env(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    monkeypatch.setenv("POS_HOME", str(tmp / "pos-home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("POS_DATABASE_URL", raising=False)
    monkeypatch.delenv("POS_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp / "dlt"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    # tiny test worlds: normalising in-process beats spawning dlt's worker processes (about a second
    # each per sync); the product's default of 2 workers is measured in bench/square_import.py
    monkeypatch.setenv("NORMALIZE__WORKERS", "1")
    # one attempt per sync: tests of a failure see that failure; test_sync_retries covers the retries
    monkeypatch.setenv("MAX_SYNC_RETRIES", "0")
