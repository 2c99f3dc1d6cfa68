"""Pending OAuth authorizations: a ``state`` that is random, single-use, bound to a tenant and a
provider, and expiring (10 minutes). The app store keeps its SHA-256 only; consuming it is one
atomic update, so a replayed callback finds it used."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.access import use_session
from pos_sync.appstore.errors import AppStoreError
from pos_sync.appstore.models import PosOAuthState, utcnow
from pos_sync.settings import Settings

STATE_TTL = timedelta(minutes=10)


class InvalidState(AppStoreError):
    """The callback's ``state`` is unknown, used, expired or another provider's."""


@dataclass(frozen=True)
class OAuthState:
    tenant_id: str
    provider: str
    redirect_uri: str
    success_url: str | None
    account_id: str | None


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def issue_state(tenant_id: str, provider: str, redirect_uri: str, success_url: str | None = None,
                account_id: str | None = None, *, ttl: timedelta = STATE_TTL, now: datetime | None = None,
                session: Session | None = None, settings: Settings | None = None) -> str:
    """A new state for one authorization (the value to put in the provider's URL)."""
    state = secrets.token_urlsafe(32)
    created = now or utcnow()
    with use_session(session, settings) as s:
        s.add(PosOAuthState(state_hash=_hash(state), tenant_id=tenant_id, pos_provider=provider,
                            redirect_uri=redirect_uri, success_url=success_url, account_id=account_id,
                            created_at=created, expires_at=created + ttl))
    return state


def consume_state(state: str, provider: str, *, now: datetime | None = None, session: Session | None = None,
                  settings: Settings | None = None) -> OAuthState:
    """The authorization ``state`` belongs to, marked used (raises :class:`InvalidState`)."""
    moment = now or utcnow()
    with use_session(session, settings) as s:
        row = s.get(PosOAuthState, _hash(state or ""))
        if row is None or row.pos_provider != provider:
            raise InvalidState("this authorization link is unknown: start connecting the account again")
        claimed = s.execute(sa.update(PosOAuthState).where(
            PosOAuthState.state_hash == row.state_hash, PosOAuthState.used_at.is_(None),
            PosOAuthState.expires_at > moment).values(used_at=moment))
        if not claimed.rowcount:  # type: ignore[attr-defined]
            why = "was already used" if row.used_at is not None else "expired (they last 10 minutes)"
            raise InvalidState(f"this authorization link {why}: start connecting the account again")
        return OAuthState(row.tenant_id, row.pos_provider, row.redirect_uri, row.success_url, row.account_id)
