"""The transactional outbox of published events.

An event is added in the session (so the transaction) of the state it describes, and only once
per ``event_id`` (a second add of the same id is a no-op: describing a change twice never makes
two events). The publisher takes the oldest unpublished rows (:func:`take_pending`: on
PostgreSQL ``FOR UPDATE SKIP LOCKED``, so two publishers never send the same row at once; SQLite
serialises writers anyway), sends them, and in the same transaction marks the confirmed ones
published (:func:`mark_published`) and records a failed attempt on the others
(:func:`record_failure`). Published rows are pruned after the retention (:func:`prune_published`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.access import use_session
from pos_sync.appstore.errors import AppStoreError
from pos_sync.appstore.models import PosEventOutbox, utcnow
from pos_sync.settings import Settings

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    event_id: str
    routing_key: str
    payload: str  # the JSON body as published
    created_at: datetime
    published_at: datetime | None
    attempts: int
    last_error: str | None


def _event(row: PosEventOutbox) -> OutboxEvent:
    return OutboxEvent(row.id, row.event_id, row.routing_key, row.payload, row.created_at, row.published_at,
                       row.attempts, row.last_error)


def add_event(event_id: str, routing_key: str, payload: str, *, session: Session | None = None,
              settings: Settings | None = None) -> bool:
    """Add an event (``payload``: its JSON body); False when ``event_id`` is already there."""
    if not routing_key or not payload:
        raise AppStoreError("an outbox event needs a routing key and a payload")
    with use_session(session, settings) as s:
        if s.execute(sa.select(PosEventOutbox.id).where(PosEventOutbox.event_id == event_id)).first():
            return False
        s.add(PosEventOutbox(event_id=event_id, routing_key=routing_key, payload=payload))
        s.flush()
        return True


def take_pending(limit: int, *, session: Session) -> list[OutboxEvent]:
    """The oldest unpublished events, locked for this transaction (PostgreSQL: rows another
    publisher holds are skipped)."""
    t = PosEventOutbox
    rows = session.execute(sa.select(t.id, t.event_id, t.routing_key, t.payload, t.created_at, t.published_at,
                                     t.attempts, t.last_error)  # plain rows: no ORM objects to track
                           .where(t.published_at.is_(None)).order_by(t.id).limit(max(1, int(limit)))
                           .with_for_update(skip_locked=True))
    return [OutboxEvent(*row) for row in rows]


def pending_events(limit: int = 100, *, session: Session | None = None,
                   settings: Settings | None = None) -> list[OutboxEvent]:
    """The oldest unpublished events (read only, nothing locked)."""
    with use_session(session, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosEventOutbox).where(PosEventOutbox.published_at.is_(None))
                         .order_by(PosEventOutbox.id).limit(max(1, int(limit)))).scalars()
        return [_event(r) for r in rows]


def mark_published(ids: Sequence[int], *, when: datetime | None = None, session: Session | None = None,
                   settings: Settings | None = None) -> int:
    """The broker confirmed these rows: published (an attempt counted, the error cleared)."""
    if not ids:
        return 0
    now = when or utcnow()
    with use_session(session, settings) as s:
        result = s.execute(sa.update(PosEventOutbox)
                           .where(PosEventOutbox.id.in_(list(ids)), PosEventOutbox.published_at.is_(None))
                           .values(published_at=now, attempts=PosEventOutbox.attempts + 1, last_attempt_at=now,
                                   last_error=None))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def record_failure(ids: Sequence[int], error: str, *, when: datetime | None = None,
                   session: Session | None = None, settings: Settings | None = None) -> int:
    """A publishing attempt of these rows failed: they stay pending, with the attempt and why."""
    if not ids:
        return 0
    now = when or utcnow()
    with use_session(session, settings) as s:
        result = s.execute(sa.update(PosEventOutbox)
                           .where(PosEventOutbox.id.in_(list(ids)), PosEventOutbox.published_at.is_(None))
                           .values(attempts=PosEventOutbox.attempts + 1, last_attempt_at=now,
                                   last_error=error[:MAX_ERROR_CHARS]))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_published(before: datetime, *, session: Session | None = None, settings: Settings | None = None) -> int:
    """Delete events published before ``before`` (unpublished ones are never pruned)."""
    with use_session(session, settings) as s:
        result = s.execute(sa.delete(PosEventOutbox).where(PosEventOutbox.published_at.is_not(None),
                                                           PosEventOutbox.published_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_pending(*, session: Session | None = None, settings: Settings | None = None) -> int:
    """How many events wait to be published."""
    with use_session(session, settings, readonly=True) as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(PosEventOutbox)
                             .where(PosEventOutbox.published_at.is_(None))).scalar_one())


def outbox_counts(*, session: Session | None = None, settings: Settings | None = None) -> dict[str, int]:
    """``{"pending": …, "published": …}``."""
    with use_session(session, settings, readonly=True) as s:
        published = sa.case((PosEventOutbox.published_at.is_(None), "pending"), else_="published")
        counts = {"pending": 0, "published": 0}
        counts.update({str(k): int(n) for k, n in s.execute(sa.select(published, sa.func.count())
                                                                .group_by(published))})
        return counts
