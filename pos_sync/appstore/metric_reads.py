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
    PosProductMapping,
    PosProductStats,
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
    """Products without mapping, per account: its published POS products (``pos_product_stats``)
    that have no mapping to a bakery product and are not rejected — one grouped query. An account
    with nothing published yet falls back to the unmapped counter of its latest closed sync log;
    one with neither has no value (unknown is not 0)."""
    m = PosProductMapping
    mapped = sa.or_(sa.and_(m.status.in_(["manual", "auto"]), m.bakery_product_id.is_not(None)), m.status == "rejected")
    published = session.execute(
        sa.select(PosProductStats.tenant_id, PosProductStats.pos_account_id,
                  sa.func.sum(sa.case((mapped, 0), else_=1)))
        .outerjoin(m, sa.and_(m.tenant_id == PosProductStats.tenant_id, m.pos_provider == PosProductStats.pos_provider,
                              m.pos_product_id == PosProductStats.pos_product_id))
        .group_by(PosProductStats.tenant_id, PosProductStats.pos_account_id))
    out = {a: (t, int(n or 0)) for t, a, n in published}
    latest = (sa.select(PosSyncLog.unmapped_products_count)
              .where(PosSyncLog.pos_account_id == PosAccount.id, PosSyncLog.status != SyncStatus.IN_PROGRESS.value)
              .order_by(PosSyncLog.sync_started_at.desc(), PosSyncLog.created_at.desc())
              .limit(1).scalar_subquery())
    rows = session.execute(sa.select(PosAccount.tenant_id, PosAccount.id, latest))
    for t, a, n in rows:
        if a not in out and n is not None:
            out[a] = (t, int(n))
    return [(t, a, n) for a, (t, n) in sorted(out.items())]


def webhook_inbox(session: Session) -> list[tuple[str, str, int]]:
    rows = session.execute(sa.select(PosWebhook.pos_provider, PosWebhook.processing_status, sa.func.count())
                           .group_by(PosWebhook.pos_provider, PosWebhook.processing_status))
    return [(p, s, int(n)) for p, s, n in rows]


def metrics_snapshot(settings: Settings | None = None, *, session: Session | None = None) -> MetricsSnapshot:
    """Everything the app-store metrics expose, read in one transaction."""
    with use_session(session, settings, readonly=True) as s:
        return MetricsSnapshot(accounts_by_status(s), sync_totals(s), error_totals(s),
                               unmapped_products_by_account(s), webhook_inbox(s))
