"""Settings: the one module that reads the environment.

Every local file lives under ``POS_HOME`` (default ``./.pos-sync``) so a checkout runs with
nothing to start: the app store is SQLite there, the warehouse DuckDB, Dagster's instance under
``$POS_HOME/dagster``. Production points the URLs at PostgreSQL instead.

:func:`load_settings` parses and validates the environment once (the result is cached for as
long as the environment stays the same: a process reads it once; tests that change a variable get
fresh settings) and raises :class:`SettingsError` with one line naming the variable at fault.
Nothing else in ``pos_sync``, ``pos_dagster``, ``dlt_sources`` or ``transforms`` reads
``os.environ`` (dlt's own configuration shims in ``dlt_sources.common`` aside).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

DEFAULT_DUCKDB_MEMORY_LIMIT = "256MB"
# the warehouse connection (canonical build, demand feed, reads): its one-transaction build keeps what
# it wrote in DuckDB's memory until the commit; 256MB holds the chain × 30 days build under 0.75 GiB
# of process RSS (DuckDB spills the rest to disk)
DEFAULT_WAREHOUSE_MEMORY_LIMIT = "256MB"


class SettingsError(ValueError):
    """An environment variable has a value pos-sync cannot use (the message names it)."""


def _bool(name: str, value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    text = value.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean (use true or false)")


def _int(name: str, value: str | None, default: int, *, minimum: int = 0) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a whole number") from None
    if number < minimum:
        raise SettingsError(f"{name}={value!r} must be at least {minimum}")
    return number


def _name(name: str, value: str | None, default: str) -> str:
    """An AMQP exchange or queue name (at most 255 bytes, no spaces)."""
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    if len(text.encode()) > 255 or any(c.isspace() for c in text) or text.startswith("amq."):
        raise SettingsError(f"{name}={value!r} is not a usable AMQP name (no spaces, at most 255 bytes, "
                            "not starting with amq.)")
    return text


def _amqp_url(name: str, value: str | None) -> str | None:
    """A broker URL (``amqp://user:password@host:5672/vhost`` or ``amqps://…``); unset: None."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not text.lower().startswith(("amqp://", "amqps://")):
        raise SettingsError(f"{name} must be an amqp:// or amqps:// URL (e.g. amqp://guest:guest@127.0.0.1:5672/), "
                            f"got {text.split('://')[0] + '://…' if '://' in text else 'something else'}")
    return text


def parse_instant(name: str, value: str) -> datetime:
    """An RFC 3339 instant with its UTC offset (``2026-03-05T00:00:00Z``) as aware UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not an RFC 3339 instant (e.g. 2026-03-05T00:00:00Z)") from None
    if parsed.tzinfo is None or "T" not in text:
        raise SettingsError(f"{name}={value!r} needs a date, a time and a UTC offset "
                            "(e.g. 2026-03-05T00:00:00Z)")
    return parsed.astimezone(UTC)


def _share(name: str, value: str | None, default: float) -> float:
    """A share from 0 to 1 (``0.05`` is 5 %)."""
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a number (a share from 0 to 1, e.g. 0.05)") from None
    if not 0 <= number <= 1:
        raise SettingsError(f"{name}={value!r} must be from 0 to 1 (0.05 is 5 %)")
    return number


def _date(name: str, value: str | None, default: date) -> date:
    if value is None or value.strip() == "":
        return default
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a date (YYYY-MM-DD)") from None


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
    now: datetime | None = None  # POS_NOW: the connector's injected clock
    # POS_STORE_CUSTOMER_PII_TENANTS: tenants that opted in to clear storage of customer data
    store_customer_pii_tenants: frozenset[str] = frozenset()
    backfill_start_date: date = date(2024, 1, 1)  # first day the backfill partitions offer
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT  # POS_DUCKDB_MEMORY_LIMIT: the raw loads (dlt)
    warehouse_memory_limit: str = DEFAULT_WAREHOUSE_MEMORY_LIMIT  # POS_WAREHOUSE_MEMORY_LIMIT: pos_sync.warehouse.sql
    debug: bool = False  # POS_DEBUG: full tracebacks from the CLI
    port: int = 8013  # PORT: the HTTP API's port
    web_concurrency: int = 1  # WEB_CONCURRENCY: uvicorn worker processes of `pos-sync api serve`
    public_url: str | None = None  # POS_PUBLIC_URL: the API as browsers and providers reach it (OAuth redirects)
    api_secret: str | None = None  # POS_API_SECRET: signs short-lived links (else a key under POS_HOME)
    jwt_secret: str | None = None  # POS_JWT_SECRET: HS256 key of the platform's JWTs
    jwt_public_key: str | None = None  # POS_JWT_PUBLIC_KEY: RS256 public key (PEM) of the platform's JWTs
    oauth_success_url: str | None = None  # POS_OAUTH_SUCCESS_URL: where a linked merchant lands
    enable_webhooks: bool = True  # ENABLE_WEBHOOKS: the receivers and their registration
    webhook_max_bytes: int = 2 * 1024 * 1024  # POS_WEBHOOK_MAX_BYTES: larger bodies are refused (413)
    webhook_retention_days: int = 30  # POS_WEBHOOK_RETENTION_DAYS: settled inbox rows are pruned after
    webhook_sensor_interval_seconds: int = 2  # POS_WEBHOOK_SENSOR_INTERVAL_SECONDS: the inbox sensor's tick
    demand_sensor_interval_seconds: int = 5  # POS_DEMAND_SENSOR_INTERVAL_SECONDS: demand_history_sensor's tick
    sync_log_retention_days: int = 90  # POS_SYNC_LOG_RETENTION_DAYS: closed sync logs are pruned after
    sync_retry_budget_seconds: int = 900  # POS_SYNC_RETRY_BUDGET_SECONDS: how long one request waits out an outage
    sync_retry_delay_seconds: int = 60  # POS_SYNC_RETRY_DELAY_SECONDS: first wait before a failed sync runs again
    http_timeout_seconds: int = 60  # POS_HTTP_TIMEOUT_SECONDS: a provider request with no answer by then is retried
    rabbitmq_url: str | None = None  # RABBITMQ_URL: the broker events go to (None: the outbox keeps them)
    events_exchange: str = "pos"  # POS_EVENTS_EXCHANGE: the topic exchange events are published to
    commands_queue: str = "pos-sync.commands"  # POS_COMMANDS_QUEUE: the durable queue of consumed events
    events_retention_days: int = 30  # POS_EVENTS_RETENTION_DAYS: published outbox rows are pruned after
    auto_mapping_enabled: bool = True  # AUTO_MAPPING_ENABLED: auto-map writes mappings (false: suggestions only)
    auto_mapping_threshold: float = 0.80  # AUTO_MAPPING_CONFIDENCE_THRESHOLD: confidence an auto mapping needs
    alert_on_unmapped_products: bool = True  # ALERT_ON_UNMAPPED_PRODUCTS: pos.mapping_needed when new ones appear
    unmapped_revenue_warn_share: float = 0.05  # POS_UNMAPPED_REVENUE_WARN_SHARE: the 7-day check warns above it
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def warehouse_path(self) -> Path:
        return self.pos_home / "warehouse.duckdb"

    @property
    def warehouse_libpq_url(self) -> str | None:
        """``POS_WAREHOUSE_URL`` as libpq (psycopg, dlt) takes it: no SQLAlchemy driver suffix."""
        return self.warehouse_url.replace("postgresql+psycopg://", "postgresql://") if self.warehouse_url else None

    @property
    def key_file(self) -> Path:
        return self.pos_home / "secret.key"

    def keeps_customer_pii(self, tenant_id: str) -> bool:
        """Whether this tenant's customer data is stored in clear (an opt-in: ``POS_STORE_CUSTOMER_PII``
        for every tenant, or the tenant named in ``POS_STORE_CUSTOMER_PII_TENANTS``)."""
        return self.store_customer_pii or tenant_id in self.store_customer_pii_tenants

    def utcnow(self) -> datetime:
        """The connector's "now": ``POS_NOW`` when injected, else real UTC time."""
        return self.now or datetime.now(UTC)

    def env(self, name: str) -> str | None:
        """A provider's own variable (named by its registry entry, e.g. ``SQUARE_BASE_URL``)."""
        return self.environ.get(name) or None

    def app_credentials(self, env_names: tuple[str, str] | None) -> tuple[str | None, str | None]:
        """An OAuth app's client id and secret from the variables a provider names (e.g.
        ``SQUARE_APP_ID``/``SQUARE_APP_SECRET``)."""
        if env_names is None:
            return None, None
        return self.environ.get(env_names[0]) or None, self.environ.get(env_names[1]) or None


def parse_settings(env: Mapping[str, str]) -> Settings:
    """Settings from an environment mapping (raises :class:`SettingsError`)."""
    pos_home = Path(env.get("POS_HOME") or "./.pos-sync").expanduser().resolve()
    dagster_home = Path(env.get("DAGSTER_HOME") or pos_home / "dagster").expanduser().resolve()
    database_url = env.get("POS_DATABASE_URL") or env.get("DATABASE_URL") or f"sqlite:///{pos_home / 'appstore.sqlite'}"
    injected = env.get("POS_NOW")
    return Settings(
        pos_home=pos_home,
        dagster_home=dagster_home,
        database_url=database_url,
        warehouse_url=env.get("POS_WAREHOUSE_URL") or None,
        encryption_key=env.get("POS_ENCRYPTION_KEY") or None,
        default_sync_frequency_minutes=_int("DEFAULT_SYNC_FREQUENCY_MINUTES", env.get("DEFAULT_SYNC_FREQUENCY_MINUTES"),
                                            15, minimum=1),
        historical_import_days=_int("HISTORICAL_IMPORT_DAYS", env.get("HISTORICAL_IMPORT_DAYS"), 90),
        max_sync_retries=_int("MAX_SYNC_RETRIES", env.get("MAX_SYNC_RETRIES"), 3),
        pii_key=env.get("POS_PII_KEY") or None,
        store_customer_pii=_bool("POS_STORE_CUSTOMER_PII", env.get("POS_STORE_CUSTOMER_PII"), False),
        store_customer_pii_tenants=frozenset(
            t.strip() for t in (env.get("POS_STORE_CUSTOMER_PII_TENANTS") or "").split(",") if t.strip()),
        now=parse_instant("POS_NOW", injected) if injected else None,
        backfill_start_date=_date("POS_BACKFILL_START_DATE", env.get("POS_BACKFILL_START_DATE"), date(2024, 1, 1)),
        duckdb_memory_limit=env.get("POS_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT,
        warehouse_memory_limit=env.get("POS_WAREHOUSE_MEMORY_LIMIT") or DEFAULT_WAREHOUSE_MEMORY_LIMIT,
        debug=_bool("POS_DEBUG", env.get("POS_DEBUG"), False),
        port=_int("PORT", env.get("PORT"), 8013),
        web_concurrency=_int("WEB_CONCURRENCY", env.get("WEB_CONCURRENCY"), 1, minimum=1),
        public_url=(env.get("POS_PUBLIC_URL") or "").rstrip("/") or None,
        api_secret=env.get("POS_API_SECRET") or None,
        jwt_secret=env.get("POS_JWT_SECRET") or None,
        jwt_public_key=env.get("POS_JWT_PUBLIC_KEY") or None,
        oauth_success_url=env.get("POS_OAUTH_SUCCESS_URL") or None,
        enable_webhooks=_bool("ENABLE_WEBHOOKS", env.get("ENABLE_WEBHOOKS"), True),
        webhook_max_bytes=_int("POS_WEBHOOK_MAX_BYTES", env.get("POS_WEBHOOK_MAX_BYTES"), 2 * 1024 * 1024,
                               minimum=1024),
        webhook_retention_days=_int("POS_WEBHOOK_RETENTION_DAYS", env.get("POS_WEBHOOK_RETENTION_DAYS"), 30,
                                    minimum=1),
        webhook_sensor_interval_seconds=_int("POS_WEBHOOK_SENSOR_INTERVAL_SECONDS",
                                             env.get("POS_WEBHOOK_SENSOR_INTERVAL_SECONDS"), 2, minimum=1),
        demand_sensor_interval_seconds=_int("POS_DEMAND_SENSOR_INTERVAL_SECONDS",
                                            env.get("POS_DEMAND_SENSOR_INTERVAL_SECONDS"), 5, minimum=1),
        sync_retry_budget_seconds=_int("POS_SYNC_RETRY_BUDGET_SECONDS", env.get("POS_SYNC_RETRY_BUDGET_SECONDS"), 900,
                                       minimum=1),
        sync_retry_delay_seconds=_int("POS_SYNC_RETRY_DELAY_SECONDS", env.get("POS_SYNC_RETRY_DELAY_SECONDS"), 60,
                                      minimum=0),
        http_timeout_seconds=_int("POS_HTTP_TIMEOUT_SECONDS", env.get("POS_HTTP_TIMEOUT_SECONDS"), 60, minimum=1),
        sync_log_retention_days=_int("POS_SYNC_LOG_RETENTION_DAYS", env.get("POS_SYNC_LOG_RETENTION_DAYS"), 90,
                                     minimum=1),
        rabbitmq_url=_amqp_url("RABBITMQ_URL", env.get("RABBITMQ_URL")),
        events_exchange=_name("POS_EVENTS_EXCHANGE", env.get("POS_EVENTS_EXCHANGE"), "pos"),
        commands_queue=_name("POS_COMMANDS_QUEUE", env.get("POS_COMMANDS_QUEUE"), "pos-sync.commands"),
        events_retention_days=_int("POS_EVENTS_RETENTION_DAYS", env.get("POS_EVENTS_RETENTION_DAYS"), 30,
                                   minimum=1),
        auto_mapping_enabled=_bool("AUTO_MAPPING_ENABLED", env.get("AUTO_MAPPING_ENABLED"), True),
        auto_mapping_threshold=_share("AUTO_MAPPING_CONFIDENCE_THRESHOLD", env.get("AUTO_MAPPING_CONFIDENCE_THRESHOLD"),
                                      0.80),
        alert_on_unmapped_products=_bool("ALERT_ON_UNMAPPED_PRODUCTS", env.get("ALERT_ON_UNMAPPED_PRODUCTS"), True),
        unmapped_revenue_warn_share=_share("POS_UNMAPPED_REVENUE_WARN_SHARE",
                                           env.get("POS_UNMAPPED_REVENUE_WARN_SHARE"), 0.05),
        environ=dict(env),
    )


@lru_cache(maxsize=8)
def _cached(snapshot: tuple[tuple[str, str], ...]) -> Settings:
    return parse_settings(dict(snapshot))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The process's settings (parsed once per distinct environment)."""
    if environ is not None:
        return parse_settings(environ)
    return _cached(tuple(sorted(os.environ.items())))


def ensure_home(settings: Settings) -> None:
    """Create POS_HOME and DAGSTER_HOME (Dagster needs an absolute, existing home)."""
    settings.pos_home.mkdir(parents=True, exist_ok=True)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
