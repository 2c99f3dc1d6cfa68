"""Whether DuckDB's write-ahead log was there as each dlt load job started: a load job that finds
the WAL of the jobs before it was not preceded by a checkpoint (dlt's pool closing the database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def wal_at_each_load_job(monkeypatch: pytest.MonkeyPatch, wal: Path) -> list[bool]:
    """A list that gets, as each load job starts, whether ``wal`` exists (for the test's duration)."""
    from dlt.common.destination.client import RunnableLoadJob

    seen: list[bool] = []
    run = RunnableLoadJob.run_managed

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(wal.exists())
        return run(self, *args, **kwargs)

    monkeypatch.setattr(RunnableLoadJob, "run_managed", spy)
    return seen
