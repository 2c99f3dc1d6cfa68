"""Environment-driven settings shared by the CLI, the app store and the Dagster definitions.

Every local file lives under ``POS_HOME`` (default ``./.pos-sync``) so a checkout runs with
nothing to start: the app store is SQLite there, the warehouse DuckDB, Dagster's instance under
``$POS_HOME/dagster``. Production points the URLs at PostgreSQL instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    pos_home: Path
    dagster_home: Path
    database_url: str
    warehouse_url: str | None
    encryption_key: str | None
    default_sync_frequency_minutes: int
    historical_import_days: int
    max_sync_retries: int
    pii_key: str | None
    store_customer_pii: bool

    @property
    def warehouse_path(self) -> Path:
        return self.pos_home / "warehouse.duckdb"

    @property
    def key_file(self) -> Path:
        return self.pos_home / "secret.key"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    pos_home = Path(env.get("POS_HOME") or "./.pos-sync").expanduser().resolve()
    dagster_home = Path(env.get("DAGSTER_HOME") or pos_home / "dagster").expanduser().resolve()
    database_url = env.get("POS_DATABASE_URL") or f"sqlite:///{pos_home / 'appstore.sqlite'}"
    return Settings(
        pos_home=pos_home,
        dagster_home=dagster_home,
        database_url=database_url,
        warehouse_url=env.get("POS_WAREHOUSE_URL") or None,
        encryption_key=env.get("POS_ENCRYPTION_KEY") or None,
        default_sync_frequency_minutes=int(env.get("DEFAULT_SYNC_FREQUENCY_MINUTES") or 15),
        historical_import_days=int(env.get("HISTORICAL_IMPORT_DAYS") or 90),
        max_sync_retries=int(env.get("MAX_SYNC_RETRIES") or 3),
        pii_key=env.get("POS_PII_KEY") or None,
        store_customer_pii=_bool(env.get("POS_STORE_CUSTOMER_PII"), False),
    )


def ensure_home(settings: Settings) -> None:
    """Create POS_HOME and DAGSTER_HOME (Dagster needs an absolute, existing home)."""
    settings.pos_home.mkdir(parents=True, exist_ok=True)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
