"""Request and response bodies of the API (what ``/openapi.json`` documents)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocationOut(BaseModel):
    location_id: str
    name: str | None
    timezone: str | None
    currency: str | None
    enabled: bool


class AccountOut(BaseModel):
    """An account as the API shows it: never a token or secret."""

    id: str
    tenant_id: str
    provider: str
    name: str | None
    merchant_id: str
    base_url: str | None
    client_id: str | None
    extra: dict[str, Any]
    location_ids: list[str]
    locations: list[LocationOut]
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


class AccountCreate(Body):
    """Connect an account with credentials in hand. Toast: ``client_id``, ``client_secret`` and
    ``restaurant_guids``; Square: ``access_token`` (and ``refresh_token``); Lightspeed:
    ``domain_prefix``, ``access_token``, ``refresh_token``. Square and Lightspeed merchants are
    normally linked through OAuth instead (``/api/v1/pos/oauth/{provider}/authorize``)."""

    provider: str = Field(examples=["toast"])
    name: str | None = None
    sync_frequency_minutes: int | None = Field(default=None, ge=1)
    historical_days: int | None = Field(default=None, ge=0)
    client_id: str | None = None
    client_secret: str | None = None
    restaurant_guids: list[str] | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    domain_prefix: str | None = None
    base_url: str | None = None
    location_ids: list[str] | None = None


class AccountUpdate(Body):
    name: str | None = Field(default=None, min_length=1)
    sync_frequency_minutes: int | None = Field(default=None, ge=1)
    sync_enabled: bool | None = None
    location_ids: list[str] | None = Field(default=None, description="exactly the locations to sync")


class Removed(BaseModel):
    id: str
    provider: str
    removed: bool
    purged: bool
    warehouse_data: str


class WebhookRegistrationIn(Body):
    signature_key: str | None = Field(None, description="Toast: the signing secret of the subscription Toast set up")
    subscription_id: str | None = Field(None, description="Toast: that subscription's guid")


class WebhookRegistrationOut(BaseModel):
    account_id: str
    provider: str
    notification_url: str = Field(description="where the provider sends this account's events")
    scope: str = Field(description="app: the application's subscription; account: the store's own webhooks")
    subscription_ids: list[str]
    event_types: list[str]
    created: bool = Field(description="false: an existing subscription was found (and updated where needed)")
    signature: str = Field(description="what signs the events")


class SyncAccepted(BaseModel):
    request_id: str
    account_id: str
    kind: str
    status: str
    status_url: str


class HistoricalRequest(Body):
    start_date: date | None = Field(None, description="first day (default: the account's history start — the "
                                                       "first day its historical import covered)")
    end_date: date | None = Field(None, description="last day (default: today, UTC)")


class SyncRequestOut(BaseModel):
    id: str
    account_id: str
    kind: str
    start_date: date | None
    end_date: date | None
    status: str
    run_ids: list[str]
    error_message: str | None
    requested_at: datetime
    launched_at: datetime | None


class SyncLogOut(BaseModel):
    id: str
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
    api_stats: dict[str, Any] | None = Field(None, description="the provider's API during the run: requests, "
                                                               "retries, 429s, 5xx, seconds waited")
    partial_reason: str | None = Field(None, description="status partial: the streams that stopped early (their "
                                                         "rest follows in the next sync)")


class SyncStatus(BaseModel):
    account_id: str
    provider: str
    status: str
    error_message: str | None
    sync_enabled: bool
    sync_frequency_minutes: int
    last_sync_at: datetime | None
    last_successful_sync_at: datetime | None
    next_sync_at: datetime | None
    running: bool
    last_sync: SyncLogOut | None
    requests: list[SyncRequestOut]


class SyncHistory(BaseModel):
    account_id: str
    limit: int
    offset: int
    items: list[SyncLogOut]


class ConnectLink(BaseModel):
    url: str
    expires_in: int
