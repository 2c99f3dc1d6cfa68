"""Consumed messages → sync requests (no AMQP here: :mod:`pos_sync.events.consumer` carries them).

* ``orchestrator.daily_sync`` (exchange ``orchestrator``): a sync of every active account of the
  tenant named, or of every tenant when ``tenant_id`` is null or absent. Active: sync enabled and
  not waiting for a person (``disconnected``/``reauth_required`` accounts are skipped and counted).
* ``sales.discrepancy_detected`` (exchange ``sales``): a re-sync of one account over
  ``start_date``..``end_date``: a day-window backfill (``historical`` request) for a provider with
  day windows, a re-read of the whole change feed (``reread`` request) for one without
  (Lightspeed X-Series).

A message asks once: its requests carry its id (the body's ``event_id``, else the AMQP
``message_id``, else a digest of the body), unique per account, so a redelivered message makes
no second request. Whatever cannot be acted on is :class:`Poison` with a reason (bad JSON, wrong
fields, unknown account or tenant, an account of another tenant, impossible dates).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.db import session_scope
from pos_sync.appstore.models import AccountStatus, PosAccount, PosTenant
from pos_sync.appstore.sync_requests import SyncRequestInfo, request_sync_once
from pos_sync.settings import Settings

ORCHESTRATOR, SALES = "orchestrator", "sales"
DAILY_SYNC, DISCREPANCY = "orchestrator.daily_sync", "sales.discrepancy_detected"
BINDINGS = ((ORCHESTRATOR, DAILY_SYNC), (SALES, DISCREPANCY))  # (exchange, routing key) the queue listens to
EVENT_TYPES = {DAILY_SYNC: "daily_sync", DISCREPANCY: "sales_discrepancy_detected"}
NEEDS_HUMAN = {AccountStatus.DISCONNECTED.value, AccountStatus.REAUTH_REQUIRED.value}
MAX_DAYS = 366
MAX_ID_CHARS = 64


class Poison(ValueError):
    """A message that can never be acted on (the message is the reason, one line)."""


@dataclass
class Handled:
    routing_key: str
    event_id: str
    created: list[SyncRequestInfo] = field(default_factory=list)
    repeated: int = 0  # requests this message had already made (a redelivery)
    skipped: list[str] = field(default_factory=list)  # accounts waiting for a person

    def summary(self) -> str:
        kinds = sorted({r.kind for r in self.created})
        text = f"{self.routing_key} {self.event_id}: {len(self.created)} sync request(s)"
        text += f" ({', '.join(kinds)})" if kinds else ""
        if self.repeated:
            text += f", {self.repeated} already recorded"
        if self.skipped:
            text += f", {len(self.skipped)} account(s) skipped (waiting to be reconnected)"
        return text


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Poison("invalid JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise Poison(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(body, dict):
        raise Poison(f"invalid payload: a JSON object is expected, got {type(body).__name__}")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Poison(f"invalid payload: {name} must be a non-empty string")
    return value.strip()


def _day(body: dict[str, Any], name: str) -> date:
    text = _text(body, name)
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise Poison(f"invalid payload: {name} must be a date (YYYY-MM-DD), got {text!r}") from None


def message_key(body: dict[str, Any], raw: bytes, message_id: str | None) -> str:
    """The id this message's requests carry (its ``event_id``, else ``message_id``, else a digest)."""
    given = body.get("event_id") or message_id
    if given is not None:
        if not isinstance(given, str) or not given.strip() or len(given.strip()) > MAX_ID_CHARS:
            raise Poison(f"invalid payload: event_id must be a string of 1 to {MAX_ID_CHARS} characters")
        return given.strip()
    return hashlib.sha256(raw).hexdigest()


def _tenant_known(session: Session, tenant_id: str) -> bool:
    if session.get(PosTenant, tenant_id) is not None:
        return True
    return session.execute(sa.select(PosAccount.id).where(PosAccount.tenant_id == tenant_id).limit(1)).first() \
        is not None


def daily_sync(session: Session, body: dict[str, Any], key: str) -> Handled:
    tenant_id = _text(body, "tenant_id", required=False)
    query = sa.select(PosAccount).where(PosAccount.sync_enabled.is_(True)).order_by(PosAccount.tenant_id,
                                                                                     PosAccount.id)
    if tenant_id is not None:
        if not _tenant_known(session, tenant_id):
            raise Poison(f"unknown tenant {tenant_id}")
        query = query.where(PosAccount.tenant_id == tenant_id)
    handled = Handled(DAILY_SYNC, key)
    for account in session.execute(query).scalars().all():
        if account.status in NEEDS_HUMAN:
            handled.skipped.append(account.id)
            continue
        info, new = request_sync_once(account.id, account.tenant_id, "sync", event_id=key, session=session)
        if new:
            handled.created.append(info)
        else:
            handled.repeated += 1
    return handled


def discrepancy(session: Session, body: dict[str, Any], key: str, settings: Settings,
                today: date | None = None) -> Handled:
    from pos_sync.providers import registry

    tenant_id, account_id = _text(body, "tenant_id"), _text(body, "pos_account_id")
    start, end = _day(body, "start_date"), _day(body, "end_date")
    today = today or datetime.now(UTC).date()
    if end < start:
        raise Poison(f"invalid payload: end_date {end} is before start_date {start}")
    if (end - start).days + 1 > MAX_DAYS:
        raise Poison(f"invalid payload: at most {MAX_DAYS} days per re-sync, got {(end - start).days + 1}")
    if end > today:
        raise Poison(f"invalid payload: end_date {end} is in the future")
    account = session.get(PosAccount, account_id)
    if account is None:
        raise Poison(f"unknown account {account_id}")
    if account.tenant_id != tenant_id:
        raise Poison(f"account {account_id} does not belong to tenant {tenant_id}")
    spec = registry.get(account.pos_provider)
    if spec.windows is None:
        kind = "reread"
    else:
        kind = "historical"
        if start < settings.backfill_start_date:
            raise Poison(f"invalid payload: start_date {start} is before the first backfill day "
                         f"{settings.backfill_start_date} (POS_BACKFILL_START_DATE)")
    info, new = request_sync_once(account.id, account.tenant_id, kind, start, end, event_id=key, session=session)
    handled = Handled(DISCREPANCY, key)
    if new:
        handled.created.append(info)
    else:
        handled.repeated += 1
    return handled


def handle(routing_key: str, raw: bytes, settings: Settings, *, message_id: str | None = None,
           today: date | None = None) -> Handled:
    """Record the sync requests one message asks for (one transaction; committed on return), or
    raise :class:`Poison`. Database failures propagate (the message is not acknowledged)."""
    if routing_key not in EVENT_TYPES:
        raise Poison(f"unknown routing key {routing_key!r} (known: {', '.join(EVENT_TYPES)})")
    body = _body(raw)
    expected = EVENT_TYPES[routing_key]
    if body.get("event_type") != expected:
        raise Poison(f"invalid payload: event_type must be {expected!r} for {routing_key}, "
                     f"got {body.get('event_type')!r}")
    key = message_key(body, raw, message_id)
    with session_scope(settings) as session:
        if routing_key == DAILY_SYNC:
            return daily_sync(session, body, key)
        return discrepancy(session, body, key, settings, today)
