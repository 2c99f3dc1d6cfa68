"""What ``/metrics`` reads from the app store at scrape time: a handful of aggregate queries in one
read-only transaction — never a row per sync log. The collector (:mod:`pos_sync.metrics.collector`)
turns the snapshot into metric families."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.access import use_session
from pos_sync.appstore.metric_totals import BUCKET_COLUMNS
from pos_sync.appstore.models import (
    PosAccount,
    PosSyncErrorTotals,
    PosSyncLog,
    PosSyncTotals,
    PosWebhook,
    SyncStatus,
)
from pos_sync.settings import Settings


@dataclass(frozen=True)
class SyncTotals:
    tenant_id: str
    provider: str
    syncs: int
    transactions_synced: int
    duration_sum: float
    buckets: tuple[tuple[float, int], ...]  # (upper bound in seconds, syncs that took at most that long)


@dataclass(frozen=True)
class MetricsSnapshot:
    accounts: list[tuple[str, str, str, int]]  # tenant, provider, status, accounts
    sync_totals: list[SyncTotals]
    errors: list[tuple[str, str, str, int]]  # tenant, provider, error type, errors
    unmapped: list[tuple[str, str, int]]  # tenant, account id, products without mapping
    webhook_inbox: list[tuple[str, str, int]]  # provider, processing status, events


def accounts_by_status(session: Session) -> list[tuple[str, str, str, int]]:
    rows = session.execute(sa.select(PosAccount.tenant_id, PosAccount.pos_provider, PosAccount.status,
                                     sa.func.count()).group_by(PosAccount.tenant_id, PosAccount.pos_provider,
                                                               PosAccount.status))
    return [(t, p, s, int(n)) for t, p, s, n in rows]


def sync_totals(session: Session) -> list[SyncTotals]:
    columns = [PosSyncTotals.__table__.c[name] for name in BUCKET_COLUMNS.values()]
    rows = session.execute(sa.select(PosSyncTotals.tenant_id, PosSyncTotals.pos_provider, PosSyncTotals.syncs,
                                     PosSyncTotals.transactions_synced, PosSyncTotals.duration_seconds_sum,
                                     *columns))
    return [SyncTotals(t, p, int(syncs), int(transactions), float(total),
                       tuple(zip(BUCKET_COLUMNS, (int(n) for n in counts), strict=True)))
            for t, p, syncs, transactions, total, *counts in rows]


def error_totals(session: Session) -> list[tuple[str, str, str, int]]:
    rows = session.execute(sa.select(PosSyncErrorTotals.tenant_id, PosSyncErrorTotals.pos_provider,
                                     PosSyncErrorTotals.error_type, PosSyncErrorTotals.errors))
    return [(t, p, e, int(n)) for t, p, e, n in rows]


def unmapped_products_by_account(session: Session) -> list[tuple[str, str, int]]:
    """Products without mapping, per account: for now the unmapped counter of the account's latest
    closed sync log (one index probe per account). The product mapping feature will answer this
    from its own table: swap this function, nothing else changes. Accounts with no closed log yet
    have no value (unknown is not 0)."""
    latest = (sa.select(PosSyncLog.unmapped_products_count)
              .where(PosSyncLog.pos_account_id == PosAccount.id, PosSyncLog.status != SyncStatus.IN_PROGRESS.value)
              .order_by(PosSyncLog.sync_started_at.desc(), PosSyncLog.created_at.desc())
              .limit(1).scalar_subquery())
    rows = session.execute(sa.select(PosAccount.tenant_id, PosAccount.id, latest))
    return [(t, a, int(n)) for t, a, n in rows if n is not None]


def webhook_inbox(session: Session) -> list[tuple[str, str, int]]:
    rows = session.execute(sa.select(PosWebhook.pos_provider, PosWebhook.processing_status, sa.func.count())
                           .group_by(PosWebhook.pos_provider, PosWebhook.processing_status))
    return [(p, s, int(n)) for p, s, n in rows]


def metrics_snapshot(settings: Settings | None = None, *, session: Session | None = None) -> MetricsSnapshot:
    """Everything the app-store metrics expose, read in one transaction."""
    with use_session(session, settings, readonly=True) as s:
        return MetricsSnapshot(accounts_by_status(s), sync_totals(s), error_totals(s),
                               unmapped_products_by_account(s), webhook_inbox(s))
