"""Fixtures of the Dagster tests (helpers in ``dagster_sync_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_sync_support import EnvFactory, env_factory


@pytest.fixture()
def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[EnvFactory]:
    """``make_env(warehouse="duckdb"|"postgres", world=…, faults=…, now=…)`` → a linked account."""
    yield from env_factory(tmp_path, monkeypatch, request)
