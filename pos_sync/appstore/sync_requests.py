"""Syncs asked for through the API or by a consumed message (``pos_sync.events.commands``). They
only write a request (the core never starts a run); the Dagster ``account_sync_sensor`` turns
pending requests into runs within seconds, so the daemon runs them under the same pools and tag
limits as every other sync, and writes the run ids back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.access import load_account, use_session
from pos_sync.appstore.errors import AppStoreError
from pos_sync.appstore.models import PosSyncRequest, utcnow
from pos_sync.settings import Settings

PENDING, LAUNCHED, FAILED = "pending", "launched", "failed"
KINDS = ("sync", "historical", "reread", "restate")


class SyncRequestNotFound(AppStoreError, LookupError):
    pass


@dataclass(frozen=True)
class SyncRequestInfo:
    id: str
    tenant_id: str
    account_id: str
    kind: str  # sync | historical | reread
    start_date: date | None
    end_date: date | None
    status: str
    run_ids: tuple[str, ...]
    error_message: str | None
    requested_at: datetime
    launched_at: datetime | None
    event_id: str | None = None  # the consumed message that asked (None: the API)
    pos_product_ids: tuple[str, ...] = ()  # a restatement: the POS products whose mapping changed

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "account_id": self.account_id, "kind": self.kind,
                "start_date": self.start_date.isoformat() if self.start_date else None,
                "end_date": self.end_date.isoformat() if self.end_date else None, "status": self.status,
                "run_ids": list(self.run_ids), "error_message": self.error_message,
                "requested_at": self.requested_at.isoformat(),
                "launched_at": self.launched_at.isoformat() if self.launched_at else None,
                **({"pos_product_ids": list(self.pos_product_ids)} if self.kind == "restate" else {})}


def _info(row: PosSyncRequest) -> SyncRequestInfo:
    return SyncRequestInfo(row.id, row.tenant_id, row.pos_account_id, row.kind, row.start_date, row.end_date,
                           row.status, tuple(row.run_ids or ()), row.error_message, row.requested_at, row.launched_at,
                           row.event_id, tuple(row.pos_product_ids or ()))


def request_sync(account_id: str, tenant_id: str, kind: str = "sync", start: date | None = None,
                 end: date | None = None, *, session: Session | None = None,
                 settings: Settings | None = None) -> SyncRequestInfo:
    """Ask for a sync of the tenant's account (``historical``: a backfill of the days
    ``start``..``end``; ``reread``: a re-read of the account's whole change feed, for providers
    without day windows, ``start``..``end`` kept as the days it was asked for; ``restate``: see
    :func:`request_restatement`)."""
    return request_sync_once(account_id, tenant_id, kind, start, end, session=session, settings=settings)[0]


def request_sync_once(account_id: str, tenant_id: str, kind: str = "sync", start: date | None = None,
                      end: date | None = None, *, event_id: str | None = None, session: Session | None = None,
                      settings: Settings | None = None) -> tuple[SyncRequestInfo, bool]:
    """:func:`request_sync` for a consumed message ``event_id``: once per (message, account) —
    a redelivered message gets the request it already made (``False``: not new)."""
    if kind not in KINDS:
        raise AppStoreError(f"unknown sync request kind {kind!r}")
    with use_session(session, settings) as s:
        load_account(s, account_id, tenant_id)
        if event_id is not None:
            existing = s.execute(sa.select(PosSyncRequest).where(
                PosSyncRequest.event_id == event_id, PosSyncRequest.pos_account_id == account_id)).scalar_one_or_none()
            if existing is not None:
                return _info(existing), False
        row = PosSyncRequest(tenant_id=tenant_id, pos_account_id=account_id, kind=kind, start_date=start,
                             end_date=end, run_ids=[], event_id=event_id)
        s.add(row)
        s.flush()
        return _info(row), True


def request_restatement(account_id: str, tenant_id: str, pos_product_ids: list[str], *,
                        session: Session | None = None, settings: Settings | None = None) -> SyncRequestInfo:
    """Ask for the account's canonical rows of ``pos_product_ids`` to follow their mappings as they
    are when the run starts (no API call: the warehouse's rows of those products only)."""
    with use_session(session, settings) as s:
        load_account(s, account_id, tenant_id)
        row = PosSyncRequest(tenant_id=tenant_id, pos_account_id=account_id, kind="restate", run_ids=[],
                             pos_product_ids=sorted(set(pos_product_ids)))
        s.add(row)
        s.flush()
        return _info(row)


def get_sync_request(request_id: str, *, session: Session | None = None,
                     settings: Settings | None = None) -> SyncRequestInfo:
    with use_session(session, settings, readonly=True) as s:
        row = s.get(PosSyncRequest, request_id)
        if row is None:
            raise SyncRequestNotFound(f"no sync request {request_id}")
        return _info(row)


def pending_sync_requests(limit: int = 100, *, session: Session | None = None,
                          settings: Settings | None = None) -> list[SyncRequestInfo]:
    with use_session(session, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosSyncRequest).where(PosSyncRequest.status == PENDING)
                         .order_by(PosSyncRequest.requested_at).limit(limit)).scalars()
        return [_info(r) for r in rows]


def settle_sync_request(request_id: str, *, run_ids: list[str] | None = None, error: str | None = None,
                        session: Session | None = None, settings: Settings | None = None) -> None:
    """The sensor's answer: the runs it launched, or why it could not."""
    with use_session(session, settings) as s:
        row = s.get(PosSyncRequest, request_id)
        if row is None:
            raise SyncRequestNotFound(f"no sync request {request_id}")
        row.status = FAILED if error else LAUNCHED
        row.run_ids = list(run_ids or [])
        row.error_message = error
        row.launched_at = utcnow()


def latest_sync_requests(account_id: str, tenant_id: str, limit: int = 5, *, session: Session | None = None,
                         settings: Settings | None = None) -> list[SyncRequestInfo]:
    with use_session(session, settings, readonly=True) as s:
        load_account(s, account_id, tenant_id)
        rows = s.execute(sa.select(PosSyncRequest).where(PosSyncRequest.pos_account_id == account_id)
                         .order_by(PosSyncRequest.requested_at.desc()).limit(limit)).scalars()
        return [_info(r) for r in rows]
