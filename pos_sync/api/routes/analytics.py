"""Analytics: the tenant's sync dashboard, per-account sync health and unmapped revenue.

Both read app-store tables only — the accounts, and what the Dagster monitoring assets published
(``pos_sync_health``, ``pos_transaction_volume``) — never the warehouse a run may be writing. Every
query is scoped to the calling tenant. "Today" is the business date equal to the connector's
clock's UTC date (``POS_NOW`` when injected, else now)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from pos_sync.api.deps import Store, Tenant
from pos_sync.api.mapping_schemas import UnmappedRevenue, UnmappedRevenueOut
from pos_sync.appstore import product_stats
from pos_sync.appstore.monitoring import accounts_overview, read_sync_health, read_transaction_volume

router = APIRouter(prefix="/api/v1/pos/analytics", tags=["analytics"])


# ------------------------------------------------------------------------------------------ bodies
class Counts(BaseModel):
    transactions: int  # completed sales
    refunds: int  # completed refunds
    revenue_cents: dict[str, int]  # currency -> completed sales − completed refunds, integer cents


class AccountsSummary(BaseModel):
    total: int
    by_status: dict[str, int]
    by_provider: dict[str, int]


class LastSync(BaseModel):
    account_id: str
    provider: str
    name: str | None
    status: str
    sync_enabled: bool
    last_sync_at: datetime | None
    last_successful_sync_at: datetime | None
    last_sync_status: str | None  # from the published sync health (None until it covers the account)
    freshness: str | None  # ok | warn | error | disabled (idem)


class VolumePoint(Counts):
    start: datetime  # the bucket: a business date at 00:00 UTC, or a UTC hour


class VolumeSeries(BaseModel):
    daily: list[VolumePoint]
    hourly: list[VolumePoint]


class Dashboard(BaseModel):
    tenant_id: str
    as_of: datetime  # the connector's clock when answered
    today: date
    accounts: AccountsSummary
    transactions_today: Counts
    transactions_7d: Counts
    last_sync: list[LastSync]
    volume: VolumeSeries
    volume_published_at: datetime | None  # when transaction_volume last published (None: not yet)


class ApiPace(BaseModel):
    requests: int  # attempts sent to the provider
    retries: int
    rate_limited: int  # 429 answers
    server_errors: int  # retried 5xx
    transport_errors: int  # timeouts, refused or broken connections
    error_rate: float | None  # (429 + 5xx + transport) / attempts
    avg_response_ms: float | None  # mean time from an attempt's send to its answer
    waited_seconds: float  # slept before retries and held by rate limits


class AccountHealth(BaseModel):
    account_id: str
    provider: str
    name: str | None
    status: str
    sync_enabled: bool
    sync_frequency_minutes: int
    last_sync_at: datetime | None
    last_sync_status: str | None
    last_success_at: datetime | None
    newest_source_at: datetime | None
    lag_seconds: int | None
    error_streak: int
    freshness: str
    freshness_age_seconds: int | None
    syncs_counted: int  # the latest closed syncs the averages cover
    rows_per_sync: float | None
    rows_last_sync: int | None
    avg_sync_seconds: float | None
    api: ApiPace
    evaluated_at: datetime
    published_at: datetime


class ProviderHealth(BaseModel):
    provider: str
    accounts: int
    api: ApiPace


class SyncHealth(BaseModel):
    tenant_id: str
    freshness: dict[str, int]  # ok / warn / error / disabled -> accounts
    accounts: list[AccountHealth]
    providers: list[ProviderHealth]


# ------------------------------------------------------------------------------------------ helpers
def _counts(rows: list[dict[str, Any]]) -> Counts:
    revenue: dict[str, int] = defaultdict(int)
    for r in rows:
        revenue[r["currency"]] += int(r["revenue_cents"])
    return Counts(transactions=sum(int(r["transactions"]) for r in rows),
                  refunds=sum(int(r["refunds"]) for r in rows), revenue_cents=dict(sorted(revenue.items())))


def _series(rows: list[dict[str, Any]]) -> list[VolumePoint]:
    buckets: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        buckets[r["bucket_start"]].append(r)
    return [VolumePoint(start=start, **_counts(group).model_dump()) for start, group in sorted(buckets.items())]


def _pace(rows: list[dict[str, Any]]) -> ApiPace:
    def total(key: str) -> Any:
        return sum(r[key] for r in rows)

    requests = int(total("api_requests"))
    failed = int(total("api_rate_limited") + total("api_server_errors") + total("api_transport_errors"))
    return ApiPace(requests=requests, retries=int(total("api_retries")), rate_limited=int(total("api_rate_limited")),
                   server_errors=int(total("api_server_errors")), transport_errors=int(total("api_transport_errors")),
                   error_rate=round(failed / requests, 4) if requests else None,
                   avg_response_ms=round(1000 * total("api_response_seconds") / requests, 1) if requests else None,
                   waited_seconds=round(float(total("api_waited_seconds")), 3))


def _account(r: dict[str, Any]) -> AccountHealth:
    n = r["syncs_counted"]
    return AccountHealth(
        account_id=r["pos_account_id"], provider=r["pos_provider"], name=r["account_name"],
        status=r["account_status"], sync_enabled=r["sync_enabled"], sync_frequency_minutes=r["sync_frequency_minutes"],
        last_sync_at=r["last_sync_at"], last_sync_status=r["last_sync_status"], last_success_at=r["last_success_at"],
        newest_source_at=r["newest_source_at"], lag_seconds=r["lag_seconds"], error_streak=r["error_streak"],
        freshness=r["freshness"], freshness_age_seconds=r["freshness_age_seconds"], syncs_counted=n,
        rows_per_sync=round(r["rows_synced"] / n, 2) if n else None, rows_last_sync=r["rows_last_sync"],
        avg_sync_seconds=round(r["sync_seconds"] / n, 3) if n else None, api=_pace([r]),
        evaluated_at=r["evaluated_at"], published_at=r["published_at"])


# ------------------------------------------------------------------------------------------ routes
@router.get("/dashboard", response_model=Dashboard, summary="POS sync dashboard")
def dashboard(store: Store, tenant: Tenant, days: int = Query(30, ge=1, le=90),
              hours: int = Query(48, ge=1, le=168)) -> Dashboard:
    settings = store.settings
    now = settings.utcnow()
    today = now.astimezone(UTC).date()
    accounts = accounts_overview(tenant, settings=settings)
    health = {r["pos_account_id"]: r for r in read_sync_health(tenant, settings=settings)}
    first = today - timedelta(days=max(days, 7) - 1)
    daily = read_transaction_volume(tenant, "day", datetime.combine(first, time(), UTC), settings=settings)
    hour_now = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hourly = read_transaction_volume(tenant, "hour", hour_now - timedelta(hours=hours - 1), settings=settings)
    week = [r for r in daily if today - timedelta(days=6) <= r["bucket_start"].date() <= today]
    shown = today - timedelta(days=days - 1)
    published = [r["published_at"] for r in daily + hourly]
    return Dashboard(
        tenant_id=tenant, as_of=now, today=today,
        accounts=AccountsSummary(total=len(accounts), by_status=dict(Counter(a["status"] for a in accounts)),
                                 by_provider=dict(Counter(a["provider"] for a in accounts))),
        transactions_today=_counts([r for r in daily if r["bucket_start"].date() == today]),
        transactions_7d=_counts(week),
        last_sync=[LastSync(**a, last_sync_status=(health.get(a["account_id"]) or {}).get("last_sync_status"),
                            freshness=(health.get(a["account_id"]) or {}).get("freshness")) for a in accounts],
        volume=VolumeSeries(daily=_series([r for r in daily if shown <= r["bucket_start"].date() <= today]),
                            hourly=_series([r for r in hourly if r["bucket_start"] <= hour_now])),
        volume_published_at=max(published) if published else None)


@router.get("/sync-health", response_model=SyncHealth, summary="Sync health metrics")
def sync_health(store: Store, tenant: Tenant) -> SyncHealth:
    rows = read_sync_health(tenant, settings=store.settings)
    by_provider: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_provider[r["pos_provider"]].append(r)
    states = Counter(r["freshness"] for r in rows)
    return SyncHealth(
        tenant_id=tenant, freshness={s: states.get(s, 0) for s in ("ok", "warn", "error", "disabled")},
        accounts=[_account(r) for r in rows],
        providers=[ProviderHealth(provider=p, accounts=len(group), api=_pace(group))
                   for p, group in sorted(by_provider.items())])


@router.get("/unmapped-revenue", response_model=UnmappedRevenue,
            summary="Revenue of POS products without a mapping, per account (last 7 and 30 days, integer cents)")
def unmapped_revenue(store: Store, tenant: Tenant) -> UnmappedRevenue:
    shares = product_stats.unmapped_revenue(tenant, settings=store.settings)
    return UnmappedRevenue(warn_share=store.settings.unmapped_revenue_warn_share,
                           accounts=[UnmappedRevenueOut.model_validate(s.to_dict()) for s in shares])
