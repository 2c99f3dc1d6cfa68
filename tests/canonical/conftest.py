"""Fixtures of the canonical-model tests (helpers in ``canonical_support``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from canonical_support import CanonicalEnv, env_factory


@pytest.fixture()
def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CanonicalEnv]]:
    """``make_env(world=…, now=…)`` → a sandbox and a linked Square account (nothing loaded yet)."""
    yield from env_factory(tmp_path, monkeypatch)
