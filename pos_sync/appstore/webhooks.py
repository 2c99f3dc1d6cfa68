"""The webhook inbox and the keys that sign webhooks.

Inbox: one row per verified provider event and tenant it routes to, unique on (provider, event
id, tenant) — a duplicate or a replay is recognised by the database, not a cache; a store two
tenants linked gets a row, and a targeted sync, for each. The receiver stores its events in batches
(:func:`record_events`: one transaction, one set-based insert that skips the ids already there). ``pending`` rows are claimed by the Dagster
sensor for one targeted sync of their account (``queued``, with the run's key); the sync settles
them (``processed``, or back to ``pending`` with a retry count, ``failed`` after
:data:`MAX_RETRIES`). Events no account claims are kept as ``unroutable`` (acknowledged, so the
provider stops retrying). Rows older than the retention are pruned.

Subscriptions: where a provider's webhooks are configured and the key that signs them, encrypted;
after a rotation the previous key is still accepted, so no event in flight is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pos_sync.appstore import crypto
from pos_sync.appstore.access import use_session
from pos_sync.appstore.models import PosWebhook, PosWebhookSubscription, new_id, utcnow
from pos_sync.appstore.routing import RouteCache, routes_for
from pos_sync.settings import Settings, load_settings

PENDING, QUEUED, PROCESSED, FAILED, UNROUTABLE = "pending", "queued", "processed", "failed", "unroutable"
MAX_RETRIES = 5


@dataclass(frozen=True)
class InboxEvent:
    id: str
    tenant_id: str
    account_id: str | None
    provider: str
    event_id: str | None
    event_type: str
    received_at: datetime
    status: str
    retry_count: int
    run_key: str | None


def _event(row: PosWebhook) -> InboxEvent:
    return InboxEvent(row.id, row.tenant_id, row.pos_account_id, row.pos_provider, row.webhook_event_id,
                      row.event_type, row.received_at, row.processing_status, row.retry_count, row.run_key)


@dataclass(frozen=True)
class NewEvent:
    """A verified provider event to store: what routes it, what is kept of it."""

    provider: str
    event_id: str
    event_type: str
    data: Mapping[str, Any]
    merchant_id: str | None = None
    location_id: str | None = None
    received_at: datetime = field(default_factory=utcnow)


def record_events(events: Sequence[NewEvent], *, routes: RouteCache | None = None, session: Session | None = None,
                  settings: Settings | None = None) -> list[str]:
    """Route and store verified events in one transaction: one ``INSERT … ON CONFLICT (provider,
    event id, tenant) DO NOTHING RETURNING id`` for the batch, a row per tenant the event routes to
    (a store linked by two tenants: one for each account). Each event's outcome, in order, as if
    they had come one after the other: ``accepted`` (a row stored for at least one account),
    ``unroutable`` (no account of ours: kept and acknowledged), or ``duplicate`` (every row it
    routes to is already in the inbox, or an earlier copy is in this batch). ``routes`` keeps
    routing answers between batches (None: every event routed from the app store in this
    transaction). Raises if the transaction fails: then nothing is stored."""
    outcomes: list[str] = ["duplicate"] * len(events)
    with use_session(session, settings) as s:
        found: dict[tuple[str, str | None, str | None], tuple[tuple[str, str], ...]] = {}
        first: set[tuple[str, str]] = set()
        rows: list[dict[str, Any]] = []
        wanted: dict[str, tuple[int, str]] = {}  # row id -> (index, outcome if inserted)
        for i, e in enumerate(events):
            if (e.provider, e.event_id) in first:
                continue  # a second copy in this batch: a duplicate whatever becomes of the first
            first.add((e.provider, e.event_id))
            key = (e.provider, e.merchant_id, e.location_id)
            if key not in found:
                found[key] = (routes.routes(s, *key) if routes is not None else routes_for(*key, session=s))
            targets = found[key]
            data = {k: v for k, v in e.data.items() if not k.startswith("_")}
            for account_id, tenant_id in targets or ((None, ""),):
                row_id = new_id()
                rows.append({"id": row_id, "tenant_id": tenant_id, "pos_account_id": account_id,
                             "pos_provider": e.provider, "webhook_event_id": e.event_id, "event_type": e.event_type,
                             "event_data": data, "received_at": e.received_at,
                             "processing_status": PENDING if targets else UNROUTABLE, "retry_count": 0})
                wanted[row_id] = (i, "accepted" if targets else "unroutable")
        if rows:
            dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
            stmt = (dialect.insert(PosWebhook).values(rows)
                    .on_conflict_do_nothing(index_elements=["pos_provider", "webhook_event_id", "tenant_id"])
                    .returning(PosWebhook.id))
            for row_id in s.execute(stmt).scalars():
                i, outcome = wanted[row_id]
                outcomes[i] = outcome
    return outcomes


def pending_events(limit: int = 500, *, session: Session | None = None,
                   settings: Settings | None = None) -> list[InboxEvent]:
    """The oldest pending events (a bounded batch)."""
    with use_session(session, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosWebhook).where(PosWebhook.processing_status == PENDING)
                         .order_by(PosWebhook.received_at, PosWebhook.id).limit(limit)).scalars()
        return [_event(r) for r in rows]


def claim_events(ids: Sequence[str], run_key: str, *, session: Session | None = None,
                 settings: Settings | None = None) -> int:
    """Pending events taken by the run ``run_key`` (returns how many were still pending)."""
    with use_session(session, settings) as s:
        result = s.execute(sa.update(PosWebhook).where(PosWebhook.id.in_(list(ids)),
                                                       PosWebhook.processing_status == PENDING)
                           .values(processing_status=QUEUED, run_key=run_key))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def settle_events(run_key: str, *, error: str | None = None, covered: tuple[str, datetime] | None = None,
                  session: Session | None = None, settings: Settings | None = None) -> int:
    """The run ``run_key`` ended: its events are processed, or (``error``) back to pending with one
    more retry — failed for good after :data:`MAX_RETRIES`.

    ``covered`` = (account, start of the run): a successful sync read everything the provider had
    when it started, so the account's events still pending that arrived before then are settled
    with it (they would otherwise ask for one more sync, queued behind this one, for nothing)."""
    now = utcnow()
    with use_session(session, settings) as s:
        mine = sa.and_(PosWebhook.run_key == run_key, PosWebhook.processing_status == QUEUED)
        if error is None and covered is not None:
            account_id, started = covered
            mine = sa.or_(mine, sa.and_(PosWebhook.pos_account_id == account_id,
                                        PosWebhook.processing_status == PENDING, PosWebhook.received_at < started))
        rows = s.execute(sa.select(PosWebhook).where(mine)).scalars().all()
        for row in rows:
            if error is None:
                row.processing_status, row.processed_at, row.error_message = PROCESSED, now, None
            else:
                row.retry_count += 1
                row.error_message = error
                row.processing_status = FAILED if row.retry_count >= MAX_RETRIES else PENDING
                row.run_key = None if row.processing_status == PENDING else row.run_key
        return len(rows)


def prune_events(before: datetime, *, session: Session | None = None, settings: Settings | None = None) -> int:
    """Delete inbox rows received before ``before`` that are settled (processed, failed, unroutable)."""
    with use_session(session, settings) as s:
        result = s.execute(sa.delete(PosWebhook).where(
            PosWebhook.received_at < before,
            PosWebhook.processing_status.in_([PROCESSED, FAILED, UNROUTABLE])))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def inbox_counts(*, session: Session | None = None, settings: Settings | None = None) -> dict[str, int]:
    with use_session(session, settings, readonly=True) as s:
        return {status: int(n) for status, n in s.execute(
            sa.select(PosWebhook.processing_status, sa.func.count()).group_by(PosWebhook.processing_status))}


# ---------------------------------------------------------------------- subscriptions and keys
def save_subscription(provider: str, notification_url: str, event_types: Sequence[str], *,
                      account_id: str | None = None, external_id: str | None = None,
                      signature_key: str | None = None, session: Session | None = None,
                      settings: Settings | None = None) -> str:
    """Record (or update) the provider's subscription of the app (``account_id`` None) or a store;
    a new signature key keeps the previous one acceptable while a rotation is in flight."""
    settings = settings or load_settings()
    with use_session(session, settings) as s:
        row = s.execute(sa.select(PosWebhookSubscription).where(
            PosWebhookSubscription.pos_provider == provider,
            PosWebhookSubscription.pos_account_id.is_(None) if account_id is None
            else PosWebhookSubscription.pos_account_id == account_id)).scalars().first()
        if row is None:
            row = PosWebhookSubscription(pos_provider=provider, pos_account_id=account_id,
                                         notification_url=notification_url)
            s.add(row)
        row.notification_url, row.event_types = notification_url, list(event_types)
        row.external_id = external_id or row.external_id
        if signature_key is not None:
            current = crypto.decrypt(row.signature_key_enc, settings) if row.signature_key_enc else None
            if current != signature_key:
                row.previous_signature_key_enc = row.signature_key_enc
                row.signature_key_enc = crypto.encrypt(signature_key, settings)
        s.flush()
        return row.id


def signature_keys(provider: str, *, account_id: str | None = None, session: Session | None = None,
                   settings: Settings | None = None) -> list[tuple[str, str]]:
    """``(notification_url, key)`` pairs that may sign the provider's webhooks: the app's
    subscription and (``account_id``) a store's; current keys first, then previous ones."""
    settings = settings or load_settings()
    with use_session(session, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosWebhookSubscription).where(
            PosWebhookSubscription.pos_provider == provider,
            sa.or_(PosWebhookSubscription.pos_account_id.is_(None),
                   PosWebhookSubscription.pos_account_id == account_id))).scalars().all()
        keys = [(r.notification_url, crypto.decrypt(r.signature_key_enc, settings)) for r in rows if r.signature_key_enc]
        keys += [(r.notification_url, crypto.decrypt(r.previous_signature_key_enc, settings))
                 for r in rows if r.previous_signature_key_enc]
        return [(url, key) for url, key in keys if key]


def requeue_stale(before: datetime, *, session: Session | None = None, settings: Settings | None = None) -> int:
    """Queued events whose run never settled them (it died) and were received before ``before``:
    back to pending with one more retry (failed after :data:`MAX_RETRIES`)."""
    with use_session(session, settings) as s:
        rows = s.execute(sa.select(PosWebhook).where(PosWebhook.processing_status == QUEUED,
                                                     PosWebhook.received_at < before)).scalars().all()
        for row in rows:
            row.retry_count += 1
            row.error_message = "the targeted sync ended without settling its events"
            row.processing_status = FAILED if row.retry_count >= MAX_RETRIES else PENDING
            row.run_key = None
        return len(rows)
