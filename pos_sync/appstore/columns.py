"""Column types and small values the app-store models share: aware-UTC timestamps, the portable
JSON type, ids, and the status enums."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def aware_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC (like the columns do); aware ones converted to UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts and only returns aware UTC datetimes.

    Naive values written to it are taken to be UTC already (``datetime.utcnow()`` style).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = aware_utc(value)
        if dialect.name == "sqlite":
            # SQLite has no timezone type: store naive UTC so text ordering stays chronological.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return aware_utc(value)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


ACCOUNT_ID_NAMESPACE = uuid.UUID("0b6f3c2e-8d0e-5b8a-9a57-2f6b4c1d9e30")


def account_id_for(tenant_id: str, provider: str, merchant_id: str) -> str:
    """The id of the account of one store: derived from ``(tenant, provider, merchant id)``, so
    adding a store again — after ``accounts remove`` without ``--purge``, or after the app store
    was lost — gives the same id, hence the same dlt pipeline (its cursor) and the same canonical
    rows: the history continues instead of starting over beside itself."""
    return str(uuid.uuid5(ACCOUNT_ID_NAMESPACE, f"{tenant_id}|{provider}|{merchant_id}"))


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    DISCONNECTED = "disconnected"
    ERROR = "error"
    REAUTH_REQUIRED = "reauth_required"


class SyncType(enum.StrEnum):
    INCREMENTAL = "incremental"
    HISTORICAL = "historical"
    BACKFILL = "backfill"


class SyncStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"
