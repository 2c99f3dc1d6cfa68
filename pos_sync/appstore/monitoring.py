"""The monitoring tables: what the Dagster ``sync_health`` and ``transaction_volume`` assets
publish (each materialization replaces the table's rows in one transaction) and what the analytics
API reads (always tenant-scoped). Also the per-account facts ``sync_health`` is computed from (the
accounts and their closed sync logs) and the sensor's marker of "a sync closed since"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pos_sync.appstore.access import use_session
from pos_sync.appstore.models import (
    PosAccount,
    PosSyncHealth,
    PosSyncLog,
    PosTransactionVolume,
    SyncStatus,
    aware_utc,
    utcnow,
)
from pos_sync.settings import Settings

HEALTH_WINDOW_SYNCS = 20  # rows per sync, durations and the API's pace: over the latest closed logs
API_KEYS = ("requests", "retries", "rate_limited", "server_errors", "transport_errors", "waited_seconds",
            "response_seconds")


@dataclass(frozen=True)
class AccountSyncFacts:
    """One account and what its sync logs say (the inputs of a ``pos_sync_health`` row)."""

    account_id: str
    tenant_id: str
    provider: str
    name: str | None
    status: str
    sync_enabled: bool
    sync_frequency_minutes: int
    linked_at: datetime
    last_sync_at: datetime | None  # completion of the latest closed log
    last_sync_status: str | None
    last_success_at: datetime | None  # completion of the latest successful log
    error_streak: int  # failed logs closed since the latest success or partial
    syncs_counted: int
    rows_synced: int
    rows_last_sync: int | None
    sync_seconds: float
    api: dict[str, float]  # API_KEYS summed over the window's logs


def _api_sums(stats: Iterable[Mapping[str, Any] | None]) -> dict[str, float]:
    sums = dict.fromkeys(API_KEYS, 0.0)
    for one in stats:
        for key in API_KEYS:
            value = (one or {}).get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                sums[key] += float(value)
    return sums


def account_sync_facts(*, window: int = HEALTH_WINDOW_SYNCS, settings: Settings | None = None) -> list[AccountSyncFacts]:
    """Every account's facts: a handful of queries per account over its (pruned) logs."""
    from pos_sync.events.emit import consecutive_failures  # the same streak pos.error reports

    closed = PosSyncLog.status != SyncStatus.IN_PROGRESS.value
    out = []
    with use_session(None, settings, readonly=True) as s:
        for acc in s.execute(sa.select(PosAccount).order_by(PosAccount.tenant_id, PosAccount.id)).scalars():
            logs = s.execute(sa.select(PosSyncLog).where(PosSyncLog.pos_account_id == acc.id, closed)
                             .order_by(PosSyncLog.sync_completed_at.desc(), PosSyncLog.created_at.desc())
                             .limit(max(1, window))).scalars().all()
            last_ok = s.execute(sa.select(sa.func.max(PosSyncLog.sync_completed_at)).where(
                PosSyncLog.pos_account_id == acc.id, PosSyncLog.status == SyncStatus.SUCCESS.value)).scalar_one()
            out.append(AccountSyncFacts(
                account_id=acc.id, tenant_id=acc.tenant_id, provider=acc.pos_provider, name=acc.account_name,
                status=acc.status, sync_enabled=bool(acc.sync_enabled),
                sync_frequency_minutes=int(acc.sync_frequency_minutes), linked_at=aware_utc(acc.created_at),  # type: ignore[arg-type]
                last_sync_at=logs[0].sync_completed_at if logs else None,
                last_sync_status=logs[0].status if logs else None,
                last_success_at=aware_utc(last_ok) or aware_utc(acc.last_successful_sync_at),
                error_streak=consecutive_failures(s, acc.id) if logs else 0,
                syncs_counted=len(logs), rows_synced=sum(int(log.transactions_processed or 0) for log in logs),
                rows_last_sync=int(logs[0].transactions_processed or 0) if logs else None,
                sync_seconds=sum(float(log.sync_duration_seconds or 0.0) for log in logs),
                api=_api_sums(log.api_stats for log in logs)))
    return out


def last_close(*, settings: Settings | None = None) -> tuple[str, int]:
    """``(latest completion time, closed logs)`` of all sync logs: changes whenever a sync closes
    (the sensor's "something new" marker; the count catches two closes at one instant)."""
    with use_session(None, settings, readonly=True) as s:
        latest, n = s.execute(sa.select(sa.func.max(PosSyncLog.sync_completed_at), sa.func.count())
                              .where(PosSyncLog.status != SyncStatus.IN_PROGRESS.value)).one()
        return (aware_utc(latest).isoformat() if latest else "", int(n))  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------- publish
def _replace_published(model: Any, rows: Iterable[Mapping[str, Any]], settings: Settings | None) -> int:
    """Replace the table of ``model`` with ``rows`` stamped ``published_at`` (accounts removed
    meanwhile are left out); the number of rows written."""
    now = utcnow()
    with use_session(None, settings) as s:
        known = set(s.execute(sa.select(PosAccount.id)).scalars())
        s.execute(sa.delete(model))
        batch = [{**row, "published_at": now} for row in rows if row["pos_account_id"] in known]
        if batch:
            s.execute(sa.insert(model), batch)
        return len(batch)


def publish_sync_health(rows: Iterable[Mapping[str, Any]], *, settings: Settings | None = None) -> int:
    """Replace ``pos_sync_health`` with ``rows`` (accounts removed meanwhile are left out)."""
    return _replace_published(PosSyncHealth, rows, settings)


def publish_transaction_volume(rows: Iterable[Mapping[str, Any]], *, settings: Settings | None = None) -> int:
    """Replace ``pos_transaction_volume`` with ``rows`` (accounts removed meanwhile are left out)."""
    return _replace_published(PosTransactionVolume, rows, settings)


# ---------------------------------------------------------------------------------------- read
def _as_dict(row: Any, columns: Iterable[str]) -> dict[str, Any]:
    return {c: getattr(row, c) for c in columns}


HEALTH_COLUMNS = tuple(c.name for c in PosSyncHealth.__table__.columns)
VOLUME_COLUMNS = tuple(c.name for c in PosTransactionVolume.__table__.columns)


def read_sync_health(tenant_id: str, *, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The tenant's published ``pos_sync_health`` rows (by provider, then account)."""
    with use_session(None, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosSyncHealth).where(PosSyncHealth.tenant_id == tenant_id)
                         .order_by(PosSyncHealth.pos_provider, PosSyncHealth.pos_account_id)).scalars()
        return [_as_dict(r, HEALTH_COLUMNS) for r in rows]


def read_transaction_volume(tenant_id: str, granularity: str, since: datetime, *,
                            settings: Settings | None = None) -> list[dict[str, Any]]:
    """The tenant's published volume rows of one granularity from ``since`` on, oldest first."""
    with use_session(None, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosTransactionVolume).where(
            PosTransactionVolume.tenant_id == tenant_id, PosTransactionVolume.granularity == granularity,
            PosTransactionVolume.bucket_start >= since)
            .order_by(PosTransactionVolume.bucket_start, PosTransactionVolume.pos_account_id)).scalars()
        return [_as_dict(r, VOLUME_COLUMNS) for r in rows]


def accounts_overview(tenant_id: str, *, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The tenant's accounts as the app store has them now (status, last sync times)."""
    with use_session(None, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosAccount).where(PosAccount.tenant_id == tenant_id)
                         .order_by(PosAccount.pos_provider, PosAccount.id)).scalars()
        return [{"account_id": a.id, "provider": a.pos_provider, "name": a.account_name, "status": a.status,
                 "sync_enabled": bool(a.sync_enabled), "last_sync_at": a.last_sync_at,
                 "last_successful_sync_at": a.last_successful_sync_at} for a in rows]
