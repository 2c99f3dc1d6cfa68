"""Sync logs: open one per run (closing any a killed run left open), close it with its outcome
and counters (updating the account's sync times and, in the same transaction, the running totals
behind the Prometheus counters: :mod:`pos_sync.appstore.metric_totals`), read an account's
history, and prune closed logs older than ``POS_SYNC_LOG_RETENTION_DAYS`` (each account keeps its
latest success and every log after it)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from pos_sync.appstore.access import count, load_account, use_session
from pos_sync.appstore.errors import AppStoreError, SyncLogNotFound
from pos_sync.appstore.metric_totals import count_first_close, count_reclose
from pos_sync.appstore.models import PosAccount, PosSyncLog, SyncStatus, SyncType, aware_utc, utcnow
from pos_sync.appstore.values import SyncLogInfo, log_info
from pos_sync.settings import Settings, load_settings

logger = logging.getLogger(__name__)

STALE_SYNC_MESSAGE = "run ended without closing its sync log (killed?)"
STALE_ERROR_TYPE = "interrupted"


def _emit(session: Session, log: PosSyncLog, account: PosAccount) -> None:
    """The closing's event (``pos.sync_completed`` or ``pos.error``) into the outbox, in this
    transaction: one event per log (a log closed again emits nothing new)."""
    from pos_sync.events.emit import emit_sync_closed  # pos_sync.events builds on the app store

    emit_sync_closed(session, log, account)


def _close(log: PosSyncLog, status: str, when: datetime, message: str | None) -> None:
    log.status = status
    log.sync_completed_at = when
    log.sync_duration_seconds = max(0.0, (when - log.sync_started_at).total_seconds())
    log.error_message = message


def start_sync_log(
    account_id: str,
    sync_type: str = SyncType.INCREMENTAL.value,
    dagster_run_id: str | None = None,
    *,
    started_at: datetime | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> str:
    """Open an ``in_progress`` sync log and return its id.

    Any log of the same account still ``in_progress`` is first closed as ``failed`` with
    :data:`STALE_SYNC_MESSAGE` (a run that died without closing it). The account row is locked
    meanwhile (``SELECT ... FOR UPDATE`` / SQLite write transaction), so two starts serialise.
    The account's closed logs that started more than ``POS_SYNC_LOG_RETENTION_DAYS`` before this
    one are pruned (its latest closed log is kept).
    """
    try:
        sync_type = SyncType(sync_type).value
    except ValueError:
        raise AppStoreError(
            f"unknown sync type {sync_type!r} (known: {', '.join(t.value for t in SyncType)})"
        ) from None
    now = aware_utc(started_at) or utcnow()
    retention = timedelta(days=(settings or load_settings()).sync_log_retention_days)
    with use_session(session, settings) as s:
        acc = load_account(s, account_id, for_update=True)
        stale = s.execute(
            sa.select(PosSyncLog).where(
                PosSyncLog.pos_account_id == acc.id, PosSyncLog.status == SyncStatus.IN_PROGRESS.value
            )
        ).scalars().all()
        for log in stale:
            logger.warning("closing stale sync log %s of account %s as failed", log.id, acc.id)
            _close(log, SyncStatus.FAILED.value, max(now, log.sync_started_at), STALE_SYNC_MESSAGE)
            log.error_type = STALE_ERROR_TYPE
            count_first_close(s, log, acc.pos_provider)
            _emit(s, log, acc)
        _prune(s, now - retention, acc.id)
        new = PosSyncLog(
            tenant_id=acc.tenant_id,
            pos_account_id=acc.id,
            sync_type=sync_type,
            sync_started_at=now,
            status=SyncStatus.IN_PROGRESS.value,
            dagster_run_id=dagster_run_id,
        )
        s.add(new)
        s.flush()
        return new.id


_COUNTERS = {"fetched": "transactions_fetched", "processed": "transactions_processed",
             "failed": "transactions_failed", "new_products": "new_products_discovered",
             "unmapped_products": "unmapped_products_count"}


def _counts(**given: int | None) -> dict[str, int]:
    return {_COUNTERS[name]: count(value, name) for name, value in given.items() if value is not None}


def record_sync_counts(log_id: str, *, session: Session | None = None, settings: Settings | None = None,
                       api_stats: dict[str, Any] | None = None, partial_reason: str | None = None,
                       **counters: int | None) -> None:
    """Store counters of a sync still in progress (its first step's), closing nothing; with
    ``api_stats`` how the provider's API behaved, with ``partial_reason`` why the run loaded only
    part of what was due (the log then closes as ``partial``)."""
    values = _counts(**counters)
    with use_session(session, settings) as s:
        log = s.get(PosSyncLog, log_id)
        if log is None:
            raise SyncLogNotFound(f"no sync log {log_id}")
        for key, value in values.items():
            setattr(log, key, value)
        if api_stats is not None:
            log.api_stats = dict(api_stats)
        if partial_reason:
            log.partial_reason = partial_reason


def _partial_error_type(api_stats: dict[str, Any] | None) -> str:
    """A partial run's kind: the provider kept answering 429, or it was unavailable."""
    return "rate_limited" if (api_stats or {}).get("rate_limited") else "provider_unavailable"


def open_log_of_run(account_id: str, dagster_run_id: str, *, session: Session | None = None,
                    settings: Settings | None = None) -> str | None:
    """The id of the account's log still ``in_progress`` that run ``dagster_run_id`` opened, if any."""
    with use_session(session, settings, readonly=True) as s:
        return s.execute(
            sa.select(PosSyncLog.id).where(
                PosSyncLog.pos_account_id == account_id, PosSyncLog.dagster_run_id == dagster_run_id,
                PosSyncLog.status == SyncStatus.IN_PROGRESS.value)
        ).scalar_one_or_none()


def last_log_of_run(account_id: str, dagster_run_id: str, *, session: Session | None = None,
                    settings: Settings | None = None) -> str | None:
    """The id of the newest log run ``dagster_run_id`` wrote for the account (closed or not)."""
    with use_session(session, settings, readonly=True) as s:
        return s.execute(
            sa.select(PosSyncLog.id).where(PosSyncLog.pos_account_id == account_id,
                                           PosSyncLog.dagster_run_id == dagster_run_id)
            .order_by(PosSyncLog.sync_started_at.desc()).limit(1)
        ).scalar_one_or_none()


def finish_sync_log(
    log_id: str,
    status: str,
    *,
    fetched: int | None = None,
    processed: int | None = None,
    failed: int | None = None,
    new_products: int | None = None,
    unmapped_products: int | None = None,
    error_message: str | None = None,
    error_type: str | None = None,
    failed_step: str | None = None,
    completed_at: datetime | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> SyncLogInfo:
    """Close a sync log as ``success`` | ``partial`` | ``failed`` with its counters (a counter left
    None keeps what :func:`record_sync_counts` recorded), and for a failure its message, its kind
    (``error_type``) and the step that failed. A ``success`` of a run that recorded a
    ``partial_reason`` closes as ``partial``, with that reason and ``rate_limited`` or
    ``provider_unavailable`` as its kind.

    Also updates the account: ``last_sync_at`` = completion time (any outcome);
    ``last_successful_sync_at`` = the *start* of this sync when it succeeded (a safe incremental
    lower bound: everything before it was fetched); ``next_sync_at`` = completion +
    ``sync_frequency_minutes`` when sync is enabled; ``historical_import_done_at`` after a
    successful historical sync. A log already closed (e.g. as stale) is overwritten with the real
    outcome, with a warning.

    In the same transaction, the closing's event goes into the outbox (:mod:`pos_sync.events.emit`):
    ``pos.sync_completed`` for a success or partial, ``pos.error`` for a failure — once per log
    (a log closed again, e.g. after being closed as stale, emits nothing new).
    """
    allowed = {SyncStatus.SUCCESS.value, SyncStatus.PARTIAL.value, SyncStatus.FAILED.value}
    if status not in allowed:
        raise AppStoreError(f"finish_sync_log status must be one of {sorted(allowed)}, got {status!r}")
    counts = _counts(fetched=fetched, processed=processed, failed=failed, new_products=new_products,
                     unmapped_products=unmapped_products)
    now = aware_utc(completed_at) or utcnow()
    with use_session(session, settings) as s:
        log = s.get(PosSyncLog, log_id)
        if log is None:
            raise SyncLogNotFound(f"no sync log {log_id}")
        acc = load_account(s, log.pos_account_id, for_update=True)
        s.refresh(log)
        was_open, processed_before = log.status == SyncStatus.IN_PROGRESS.value, log.transactions_processed
        if not was_open:
            logger.warning("sync log %s was already closed as %s; recording the real outcome", log.id, log.status)
        if status == SyncStatus.SUCCESS.value and log.partial_reason:  # a stream stopped early: not all was loaded
            status = SyncStatus.PARTIAL.value
            error_message = error_message or log.partial_reason
            error_type = error_type or _partial_error_type(log.api_stats)
        _close(log, status, max(now, log.sync_started_at), error_message)
        log.error_type, log.failed_step = error_type, failed_step
        for key, value in counts.items():
            setattr(log, key, value)
        if was_open:
            count_first_close(s, log, acc.pos_provider)
        else:
            count_reclose(s, log, acc.pos_provider, processed_before)
        completed = log.sync_completed_at or now
        acc.last_sync_at = completed
        if status == SyncStatus.SUCCESS.value:
            if acc.last_successful_sync_at is None or log.sync_started_at > acc.last_successful_sync_at:
                acc.last_successful_sync_at = log.sync_started_at
            if log.sync_type == SyncType.HISTORICAL.value:
                acc.historical_import_done_at = completed
        if acc.sync_enabled:
            acc.next_sync_at = completed + timedelta(minutes=acc.sync_frequency_minutes)
        _emit(s, log, acc)
        return log_info(log)


def sync_history(
    account_id: str,
    limit: int = 20,
    *,
    offset: int = 0,
    tenant_id: str | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> list[SyncLogInfo]:
    """The account's latest sync logs, newest first."""
    with use_session(session, settings, readonly=True) as s:
        load_account(s, account_id, tenant_id)
        logs = s.execute(
            sa.select(PosSyncLog)
            .where(PosSyncLog.pos_account_id == account_id)
            .order_by(PosSyncLog.sync_started_at.desc(), PosSyncLog.created_at.desc())
            .offset(max(0, int(offset)))
            .limit(max(1, int(limit)))
        ).scalars()
        return [log_info(log) for log in logs]


def _prune(session: Session, before: datetime, account_id: str | None = None) -> int:
    # only logs older than the account's latest success: its latest closed log and a failure streak
    # still running are kept (pos.error's consecutive_failures counts that streak)
    closed = PosSyncLog.status != SyncStatus.IN_PROGRESS.value
    later = aliased(PosSyncLog)
    latest_ok = (sa.select(sa.func.max(later.sync_started_at))
                 .where(later.pos_account_id == PosSyncLog.pos_account_id,
                        later.status.in_([SyncStatus.SUCCESS.value, SyncStatus.PARTIAL.value]))
                 .scalar_subquery())
    stmt = sa.delete(PosSyncLog).where(closed, PosSyncLog.sync_started_at < before,
                                       PosSyncLog.sync_started_at < latest_ok)
    if account_id is not None:
        stmt = stmt.where(PosSyncLog.pos_account_id == account_id)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def prune_sync_logs(before: datetime | None = None, *, account_id: str | None = None,
                    session: Session | None = None, settings: Settings | None = None) -> int:
    """Delete closed sync logs that started before ``before`` (default: now less
    ``POS_SYNC_LOG_RETENTION_DAYS``), of one account or all; each account keeps its latest
    successful (or partial) log and every log after it — a failure streak is kept whole — and logs
    in progress are never touched. The Prometheus totals are not changed (they were
    counted when each log closed). Returns how many were deleted."""
    settings = settings or load_settings()
    cutoff = aware_utc(before) or utcnow() - timedelta(days=settings.sync_log_retention_days)
    with use_session(session, settings) as s:
        return _prune(s, cutoff, account_id)
