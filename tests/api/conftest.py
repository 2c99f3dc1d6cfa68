"""Fixtures of the API tests (helpers in ``api_support``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import Api, make_api


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield from make_api(monkeypatch, request.param, request)


@pytest.fixture()
def sqlite_api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield from make_api(monkeypatch, "sqlite", request)
