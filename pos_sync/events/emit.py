"""Events into the outbox, in the caller's session: the transaction of the state they describe.

* :func:`emit_sync_closed` — a sync log closed: ``pos.sync_completed`` (success, partial) or
  ``pos.error`` (failed). Its id is derived from the log, so a log closes into one event, however
  often its closing is recorded or a run is retried.
* :func:`emit_mapping_needed` — POS products without a mapping (the mapping work calls it; its
  ``subject`` names the state change, e.g. the sync log that found them).
* :func:`emit_sales_updated` — a tenant's demand history changed (the ``demand_history_sensor``
  calls it for the batch of changes it hands the forecasting run; one event per tenant and batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.models import PosAccount, PosSyncLog, SyncStatus, utcnow
from pos_sync.appstore.outbox import add_event
from pos_sync.events import payloads
from pos_sync.events.jsonenc import dumps


def _add(session: Session, routing_key: str, body: Mapping[str, Any]) -> str | None:
    """Add ``body`` to the outbox; its event id, or None when that event was already there."""
    added = add_event(str(body["event_id"]), routing_key, dumps(body), session=session)
    return str(body["event_id"]) if added else None


def location_name(account: PosAccount) -> str | None:
    """The spec's ``location_name``: the account's enabled locations' names (", "-joined), else
    the account's name."""
    names = [loc.name or loc.location_id for loc in account.locations if loc.enabled]
    return ", ".join(names) if names else account.account_name


def consecutive_failures(session: Session, account_id: str) -> int:
    """The account's failed sync logs closed since its last success or partial (the one just
    closed included)."""
    ok = session.execute(sa.select(sa.func.max(PosSyncLog.sync_completed_at)).where(
        PosSyncLog.pos_account_id == account_id,
        PosSyncLog.status.in_([SyncStatus.SUCCESS.value, SyncStatus.PARTIAL.value]))).scalar_one_or_none()
    query = sa.select(sa.func.count()).where(PosSyncLog.pos_account_id == account_id,
                                             PosSyncLog.status == SyncStatus.FAILED.value)
    if ok is not None:
        query = query.where(PosSyncLog.sync_completed_at > ok)
    return int(session.execute(query).scalar_one())


def emit_sync_closed(session: Session, log: PosSyncLog, account: PosAccount) -> str | None:
    """The event of ``log``'s closing (flushed first); its id, or None if it was already emitted."""
    session.flush()
    when = log.sync_completed_at or utcnow()
    if log.status == SyncStatus.FAILED.value:
        key = payloads.ERROR
        body = payloads.error(
            event_id=payloads.sync_log_event_id(log.id), tenant_id=log.tenant_id, pos_account_id=log.pos_account_id,
            pos_provider=account.pos_provider, error_type=log.error_type or "internal_error",
            error_message=log.error_message or "the sync failed", when=when,
            consecutive_failures=consecutive_failures(session, log.pos_account_id))
    elif log.status in (SyncStatus.SUCCESS.value, SyncStatus.PARTIAL.value):
        key = payloads.SYNC_COMPLETED
        body = payloads.sync_completed(
            event_id=payloads.sync_log_event_id(log.id), tenant_id=log.tenant_id, pos_account_id=log.pos_account_id,
            pos_provider=account.pos_provider, location_name=location_name(account),
            transactions_processed=log.transactions_processed, transactions_failed=log.transactions_failed,
            new_products_discovered=log.new_products_discovered,
            sync_duration_seconds=log.sync_duration_seconds or 0.0, when=when)
    else:
        return None
    return _add(session, key, body)


def emit_mapping_needed(session: Session, *, tenant_id: str, pos_account_id: str, unmapped_products_count: int,
                        unmapped_revenue_euros: Decimal | int, sample_unmapped_products: Iterable[Mapping[str, Any]],
                        subject: str, when: datetime | None = None) -> str | None:
    """``pos.mapping_needed`` for the account, once per ``subject`` (the state change it reports,
    e.g. the id of the sync log that found the products); its event id, or None if already there."""
    key = payloads.MAPPING_NEEDED
    body = payloads.mapping_needed(
        event_id=payloads.event_id(key, f"{pos_account_id}|{subject}"), tenant_id=tenant_id,
        pos_account_id=pos_account_id, unmapped_products_count=unmapped_products_count,
        unmapped_revenue_euros=unmapped_revenue_euros, sample_unmapped_products=sample_unmapped_products,
        when=when or utcnow())
    return _add(session, key, body)


def emit_sales_updated(session: Session, *, tenant_id: str, changes: Iterable[Mapping[str, Any]], batch: str,
                       when: datetime | None = None) -> str | None:
    """``pos.sales_updated`` for the tenant's changed (location, date range)s of ``batch`` (the
    sensor's run key): once per tenant and batch; its event id, or None if already there."""
    key = payloads.SALES_UPDATED
    body = payloads.sales_updated(event_id=payloads.event_id(key, f"{tenant_id}|{batch}"), tenant_id=tenant_id,
                                  changes=changes, batch=batch, when=when or utcnow())
    return _add(session, key, body)
