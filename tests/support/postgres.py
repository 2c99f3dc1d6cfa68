"""The session's PostgreSQL test database (``pg_url`` of ``tests/conftest.py``) as the warehouse,
the app store or a dlt destination.

dlt's PostgresCredentials insist on a password that the trust-auth test server does not need:
:func:`pos_sync.warehouse.pipelines.dlt_postgres_url` (the product's own rule) puts a placeholder
in the URL wherever dlt is handed one.
"""

from __future__ import annotations

from typing import Any

import pytest

from pos_sync.warehouse.pipelines import dlt_postgres_url


def postgres_destination(url: str) -> Any:
    """A dlt PostgreSQL destination on ``url``."""
    import dlt

    return dlt.destinations.postgres(dlt_postgres_url(url))


def use_postgres_warehouse(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """The warehouse of the settings (``POS_WAREHOUSE_URL``) on ``url``; the app store stays put."""
    monkeypatch.setenv("POS_WAREHOUSE_URL", dlt_postgres_url(url))


def use_postgres(monkeypatch: pytest.MonkeyPatch, url: str) -> str:
    """Warehouse and app store (``POS_DATABASE_URL``) on ``url``; returns ``url``."""
    use_postgres_warehouse(monkeypatch, url)
    monkeypatch.setenv("POS_DATABASE_URL", url)
    return url
