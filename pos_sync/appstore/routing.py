"""Which account an incoming provider event belongs to: by the provider's merchant id (Square
merchant, Lightspeed domain prefix) or by one of its locations (a Toast restaurant GUID)."""

from __future__ import annotations

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
