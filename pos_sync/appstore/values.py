"""What the app store returns: frozen dataclasses, never ORM objects, never secrets except
:class:`AccountCredentials` (whose ``repr`` hides them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pos_sync.appstore.models import PosAccount, PosSyncLog


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class LocationInfo:
    location_id: str
    name: str | None
    timezone: str | None
    currency: str | None
    enabled: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "location_id": self.location_id,
            "name": self.name,
            "timezone": self.timezone,
            "currency": self.currency,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class AccountInfo:
    """An account without any secret (safe to print, log and serialise)."""

    id: str
    tenant_id: str
    provider: str
    name: str | None
    merchant_id: str
    base_url: str | None
    client_id: str | None
    extra: dict[str, Any]
    locations: tuple[LocationInfo, ...]
    status: str
    error_message: str | None
    error_count: int
    last_error_at: datetime | None
    sync_enabled: bool
    sync_frequency_minutes: int
    historical_import_days: int | None
    historical_import_done_at: datetime | None
    last_sync_at: datetime | None
    last_successful_sync_at: datetime | None
    next_sync_at: datetime | None
    token_expires_at: datetime | None
    has_access_token: bool
    has_refresh_token: bool
    webhook_id: str | None
    webhook_url: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def location_ids(self) -> list[str]:
        return [loc.location_id for loc in self.locations]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO-8601 timestamps); the shape of ``pos-sync accounts list --json``."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "provider": self.provider,
            "name": self.name,
            "merchant_id": self.merchant_id,
            "base_url": self.base_url,
            "client_id": self.client_id,
            "extra": dict(self.extra),
            "location_ids": self.location_ids,
            "locations": [loc.to_dict() for loc in self.locations],
            "status": self.status,
            "error_message": self.error_message,
            "error_count": self.error_count,
            "last_error_at": _iso(self.last_error_at),
            "sync_enabled": self.sync_enabled,
            "sync_frequency_minutes": self.sync_frequency_minutes,
            "historical_import_days": self.historical_import_days,
            "historical_import_done_at": _iso(self.historical_import_done_at),
            "last_sync_at": _iso(self.last_sync_at),
            "last_successful_sync_at": _iso(self.last_successful_sync_at),
            "next_sync_at": _iso(self.next_sync_at),
            "token_expires_at": _iso(self.token_expires_at),
            "has_access_token": self.has_access_token,
            "has_refresh_token": self.has_refresh_token,
            "webhook_id": self.webhook_id,
            "webhook_url": self.webhook_url,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class AccountCredentials:
    """Decrypted credentials of one account, for the dlt sources. ``repr`` hides the secrets."""

    account_id: str
    tenant_id: str
    provider: str
    merchant_id: str
    base_url: str | None
    client_id: str | None
    token_expires_at: datetime | None
    extra: dict[str, Any]
    location_ids: tuple[str, ...]
    access_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    client_secret: str | None = field(repr=False)
    webhook_signature_key: str | None = field(repr=False)


@dataclass(frozen=True)
class SyncLogInfo:
    id: str
    tenant_id: str
    account_id: str
    sync_type: str
    status: str
    sync_started_at: datetime
    sync_completed_at: datetime | None
    sync_duration_seconds: float | None
    error_message: str | None
    error_type: str | None
    failed_step: str | None
    transactions_fetched: int
    transactions_processed: int
    transactions_failed: int
    new_products_discovered: int
    unmapped_products_count: int
    dagster_run_id: str | None
    api_stats: dict[str, Any] | None = None  # the provider API during the run: requests, retries, 429s, waits
    partial_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "account_id": self.account_id,
            "sync_type": self.sync_type,
            "status": self.status,
            "sync_started_at": _iso(self.sync_started_at),
            "sync_completed_at": _iso(self.sync_completed_at),
            "sync_duration_seconds": self.sync_duration_seconds,
            "error_message": self.error_message,
            "error_type": self.error_type,
            "failed_step": self.failed_step,
            "transactions_fetched": self.transactions_fetched,
            "transactions_processed": self.transactions_processed,
            "transactions_failed": self.transactions_failed,
            "new_products_discovered": self.new_products_discovered,
            "unmapped_products_count": self.unmapped_products_count,
            "dagster_run_id": self.dagster_run_id,
            "api_stats": self.api_stats,
            "partial_reason": self.partial_reason,
        }


@dataclass(frozen=True)
class RemovedAccount:
    id: str
    tenant_id: str
    provider: str
    merchant_id: str
    location_ids: tuple[str, ...]
    purged: bool
    purge_result: Any = None


def account_info(acc: PosAccount) -> AccountInfo:
    return AccountInfo(
        id=acc.id,
        tenant_id=acc.tenant_id,
        provider=acc.pos_provider,
        name=acc.account_name,
        merchant_id=acc.merchant_id,
        base_url=acc.base_url,
        client_id=acc.client_id,
        extra=dict(acc.extra or {}),
        locations=tuple(
            LocationInfo(
                location_id=loc.location_id,
                name=loc.name,
                timezone=loc.timezone,
                currency=loc.currency,
                enabled=loc.enabled,
            )
            for loc in sorted(acc.locations, key=lambda loc: loc.location_id)
        ),
        status=acc.status,
        error_message=acc.error_message,
        error_count=acc.error_count,
        last_error_at=acc.last_error_at,
        sync_enabled=acc.sync_enabled,
        sync_frequency_minutes=acc.sync_frequency_minutes,
        historical_import_days=acc.historical_import_days,
        historical_import_done_at=acc.historical_import_done_at,
        last_sync_at=acc.last_sync_at,
        last_successful_sync_at=acc.last_successful_sync_at,
        next_sync_at=acc.next_sync_at,
        token_expires_at=acc.token_expires_at,
        has_access_token=acc.access_token_enc is not None,
        has_refresh_token=acc.refresh_token_enc is not None,
        webhook_id=acc.webhook_id,
        webhook_url=acc.webhook_url,
        created_at=acc.created_at,
        updated_at=acc.updated_at,
    )


def log_info(log: PosSyncLog) -> SyncLogInfo:
    return SyncLogInfo(
        id=log.id,
        tenant_id=log.tenant_id,
        account_id=log.pos_account_id,
        sync_type=log.sync_type,
        status=log.status,
        sync_started_at=log.sync_started_at,
        sync_completed_at=log.sync_completed_at,
        sync_duration_seconds=log.sync_duration_seconds,
        error_message=log.error_message,
        error_type=log.error_type,
        failed_step=log.failed_step,
        transactions_fetched=log.transactions_fetched,
        transactions_processed=log.transactions_processed,
        transactions_failed=log.transactions_failed,
        new_products_discovered=log.new_products_discovered,
        unmapped_products_count=log.unmapped_products_count,
        dagster_run_id=log.dagster_run_id,
        api_stats=log.api_stats,
        partial_reason=log.partial_reason,
    )
