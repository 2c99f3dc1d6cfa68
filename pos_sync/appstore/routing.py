"""Which accounts an incoming provider event belongs to: by the provider's merchant id (Square
merchant, Lightspeed domain prefix) or by one of its locations (a Toast restaurant GUID). A store
linked by two tenants is both tenants': the event goes to each (:func:`routes_for`: one account per
tenant, its oldest).

:class:`RouteCache` keeps the answers for a few seconds (the webhook receiver's batches): an event
the kept answers do not route is routed again from the app store, so an account linked a moment
ago is never missed."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.access import use_session
from pos_sync.appstore.models import PosAccount, PosLocation
from pos_sync.settings import Settings


def accounts_for(provider: str, *, merchant_id: str | None = None, location_id: str | None = None,
                 session: Session | None = None, settings: Settings | None = None) -> list[tuple[str, str]]:
    """``(account id, tenant id)`` of the provider's accounts with that merchant id or location,
    oldest first (a store linked by two tenants is both tenants')."""
    stmt = sa.select(PosAccount.id, PosAccount.tenant_id).where(PosAccount.pos_provider == provider)
    if merchant_id is not None:
        stmt = stmt.where(PosAccount.merchant_id == merchant_id)
    elif location_id is not None:
        stmt = stmt.join(PosLocation, PosLocation.pos_account_id == PosAccount.id).where(
            PosLocation.location_id == location_id)
    else:
        return []
    with use_session(session, settings, readonly=True) as s:
        return [(r[0], r[1]) for r in s.execute(stmt.order_by(PosAccount.created_at))]


Route = tuple[str, str]  # (account id, tenant id)


def routes_for(provider: str, merchant_id: str | None, location_id: str | None, *,
               session: Session | None = None, settings: Settings | None = None) -> tuple[Route, ...]:
    """Where an event of that merchant or location goes: each tenant's oldest account of it (a
    tenant links a store once; re-linking updates that account), tenants in the order they linked it."""
    kept: dict[str, Route] = {}
    for account_id, tenant_id in accounts_for(provider, merchant_id=merchant_id, location_id=location_id,
                                              session=session, settings=settings):
        kept.setdefault(tenant_id, (account_id, tenant_id))
    return tuple(kept.values())


class RouteCache:
    """:func:`routes_for`'s answer per (provider, merchant id, location), kept for
    ``ttl_seconds``. Only answers that found an account are kept: a key with none is read again
    every time (a newly linked account is routable at once). A second tenant linking a store that
    has an answer kept gets its events from at most ``ttl_seconds`` later (its first sync, queued
    when it linked, reads what the provider has then; the scheduled syncs stay the safety net). A deleted account may be answered
    for up to ``ttl_seconds``; its inbox row then fails the foreign key, and the caller routes
    again with :meth:`forget`."""

    MAX_KEYS = 10_000

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._kept: dict[tuple[str, str | None, str | None], tuple[float, tuple[Route, ...]]] = {}

    def routes(self, session: Session, provider: str, merchant_id: str | None,
               location_id: str | None) -> tuple[Route, ...]:
        key = (provider, merchant_id, location_id)
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        routes = routes_for(provider, merchant_id, location_id, session=session)
        if not routes:
            self._kept.pop(key, None)
            return ()
        if len(self._kept) >= self.MAX_KEYS:
            self._kept.clear()
        self._kept[key] = (now + self.ttl_seconds, routes)
        return routes

    def forget(self) -> None:
        self._kept.clear()
