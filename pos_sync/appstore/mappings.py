"""POS product → bakery product mappings (``pos_product_mappings``), tenant-scoped.

A mapping is ``manual`` (a person chose: auto-mapping never overwrites it), ``auto`` (the matcher
of :mod:`transforms.mapping`, with its confidence) or ``rejected`` (a person said the POS product
is none of the bakery's: no bakery product, and auto-mapping leaves it so). A POS product is
*mapped* when its mapping is manual or auto with a bakery product.

Every change of what a POS product is mapped to asks, in the same transaction, for a restatement
of the tenant's accounts of that provider (a ``restate`` sync request naming the POS products:
:func:`pos_sync.appstore.sync_requests.request_restatement`); the Dagster sensor turns it into a
run that rewrites those products' canonical rows only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.access import provider_name, required, use_session
from pos_sync.appstore.errors import AppStoreError
from pos_sync.appstore.models import BakeryProduct, PosAccount, PosProductMapping, PosSyncRequest, utcnow
from pos_sync.settings import Settings

MANUAL, AUTO, REJECTED = "manual", "auto", "rejected"
STATUSES = (MANUAL, AUTO, REJECTED)


class MappingNotFound(AppStoreError, LookupError):
    pass


@dataclass(frozen=True)
class MappingInfo:
    id: str
    tenant_id: str
    provider: str
    pos_product_id: str
    bakery_product_id: str | None
    status: str
    confidence: float | None
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def target(self) -> str | None:
        """The bakery product the POS product's rows carry (None: unmapped)."""
        return self.bakery_product_id if self.status in (MANUAL, AUTO) else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "provider": self.provider, "pos_product_id": self.pos_product_id,
                "bakery_product_id": self.bakery_product_id, "status": self.status, "confidence": self.confidence,
                "created_by": self.created_by, "updated_by": self.updated_by,
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}


def _info(row: PosProductMapping) -> MappingInfo:
    return MappingInfo(row.id, row.tenant_id, row.pos_provider, row.pos_product_id, row.bakery_product_id, row.status,
                       row.confidence, row.created_by, row.updated_by, row.created_at, row.updated_at)


def _target(row: PosProductMapping | None) -> str | None:
    return row.bakery_product_id if row is not None and row.status in (MANUAL, AUTO) else None


def _check(s: Session, tenant_id: str, status: str, bakery_product_id: str | None) -> str | None:
    if status not in STATUSES:
        raise AppStoreError(f"unknown mapping status {status!r} (use {', '.join(STATUSES)})")
    if status == REJECTED:
        return None
    product_id = required(bakery_product_id, f"bakery_product_id (a {status} mapping names the bakery product)")
    if s.get(BakeryProduct, (tenant_id, product_id)) is None:
        raise AppStoreError(f"no bakery product {product_id!r} in the catalog of tenant {tenant_id} "
                              "(import it first: pos-sync products import, or POST /api/v1/pos/products)")
    return product_id


def request_restatements(s: Session, tenant_id: str, provider: str, pos_product_ids: Iterable[str]) -> int:
    """A ``restate`` request per account of the tenant's provider; how many accounts were asked.
    Always a new request: a pending one may already have its run launched (the sensor settles it a
    tick later), so extending it could leave a product unrestated."""
    ids = sorted(set(pos_product_ids))
    if not ids:
        return 0
    accounts = s.execute(sa.select(PosAccount.id).where(PosAccount.tenant_id == tenant_id,
                                                        PosAccount.pos_provider == provider)).scalars().all()
    for account_id in accounts:
        s.add(PosSyncRequest(tenant_id=tenant_id, pos_account_id=account_id, kind="restate", run_ids=[],
                             pos_product_ids=ids))
    s.flush()
    return len(accounts)


def set_mapping(tenant_id: str, provider: str, pos_product_id: str, bakery_product_id: str | None,
                status: str = MANUAL, *, confidence: float | None = None, actor: str | None = None,
                session: Session | None = None, settings: Settings | None = None) -> tuple[MappingInfo, bool]:
    """Create or replace the mapping of one POS product; (mapping, whether its rows change)."""
    provider = provider_name(provider)
    pos_product_id = required(pos_product_id, "pos_product_id")
    with use_session(session, settings) as s:
        product_id = _check(s, tenant_id, status, bakery_product_id)
        row = s.execute(sa.select(PosProductMapping).where(
            PosProductMapping.tenant_id == tenant_id, PosProductMapping.pos_provider == provider,
            PosProductMapping.pos_product_id == pos_product_id)).scalar_one_or_none()
        before = _target(row)
        if row is None:
            row = PosProductMapping(tenant_id=tenant_id, pos_provider=provider, pos_product_id=pos_product_id,
                                    created_by=actor)
            s.add(row)
        row.bakery_product_id, row.status = product_id, status
        row.confidence = confidence if status == AUTO else None
        row.updated_by, row.updated_at = actor, utcnow()
        s.flush()
        changed = _target(row) != before
        if changed:
            request_restatements(s, tenant_id, provider, [pos_product_id])
        return _info(row), changed


def _load(s: Session, tenant_id: str, mapping_id: str) -> PosProductMapping:
    row = s.get(PosProductMapping, mapping_id)
    if row is None or row.tenant_id != tenant_id:
        raise MappingNotFound(f"no mapping {mapping_id} for tenant {tenant_id}")
    return row


def get_mapping(tenant_id: str, mapping_id: str, *, session: Session | None = None,
                settings: Settings | None = None) -> MappingInfo:
    with use_session(session, settings, readonly=True) as s:
        return _info(_load(s, tenant_id, mapping_id))


def update_mapping(tenant_id: str, mapping_id: str, *, bakery_product_id: str | None = None,
                   status: str | None = None, actor: str | None = None, session: Session | None = None,
                   settings: Settings | None = None) -> tuple[MappingInfo, bool]:
    """Change a mapping's bakery product and/or status (a person's change: ``manual`` unless
    ``rejected`` is asked)."""
    with use_session(session, settings) as s:
        row = _load(s, tenant_id, mapping_id)
        new_status = status or (MANUAL if row.status != REJECTED or bakery_product_id else REJECTED)
        return set_mapping(tenant_id, row.pos_provider, row.pos_product_id,
                           bakery_product_id if bakery_product_id is not None else row.bakery_product_id,
                           new_status, actor=actor, session=s)


def delete_mapping(tenant_id: str, mapping_id: str, *, session: Session | None = None,
                   settings: Settings | None = None) -> bool:
    """Remove a mapping (the POS product is unmapped again); whether its rows change."""
    with use_session(session, settings) as s:
        row = _load(s, tenant_id, mapping_id)
        changed = _target(row) is not None
        provider, pos_product_id = row.pos_provider, row.pos_product_id
        s.delete(row)
        s.flush()
        if changed:
            request_restatements(s, tenant_id, provider, [pos_product_id])
        return changed


def list_mappings(tenant_id: str, *, provider: str | None = None, status: str | None = None,
                  bakery_product_id: str | None = None, session: Session | None = None,
                  settings: Settings | None = None) -> list[MappingInfo]:
    stmt = sa.select(PosProductMapping).where(PosProductMapping.tenant_id == tenant_id)
    if provider:
        stmt = stmt.where(PosProductMapping.pos_provider == provider_name(provider))
    if status:
        if status not in STATUSES:
            raise AppStoreError(f"unknown mapping status {status!r} (use {', '.join(STATUSES)})")
        stmt = stmt.where(PosProductMapping.status == status)
    if bakery_product_id:
        stmt = stmt.where(PosProductMapping.bakery_product_id == bakery_product_id)
    with use_session(session, settings, readonly=True) as s:
        rows = s.execute(stmt.order_by(PosProductMapping.pos_provider, PosProductMapping.pos_product_id)).scalars()
        return [_info(r) for r in rows]


def mapping_targets(tenant_id: str, provider: str, *, session: Session | None = None,
                    settings: Settings | None = None) -> dict[str, str]:
    """``{pos_product_id: bakery_product_id}`` of the tenant's mapped POS products of ``provider``
    (what the canonical build and restatements write into the warehouse)."""
    with use_session(session, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosProductMapping.pos_product_id, PosProductMapping.bakery_product_id).where(
            PosProductMapping.tenant_id == tenant_id, PosProductMapping.pos_provider == provider,
            PosProductMapping.status.in_([MANUAL, AUTO]), PosProductMapping.bakery_product_id.is_not(None)))
        return {str(p): str(b) for p, b in rows}


def apply_auto(tenant_id: str, decisions: Iterable[tuple[str, str, str, float]], *, actor: str | None = None,
               session: Session | None = None, settings: Settings | None = None) -> list[MappingInfo]:
    """Write the matcher's ``(provider, pos_product_id, bakery_product_id, confidence)`` as ``auto``
    mappings — never over a manual or rejected one; the mappings written."""
    written: list[MappingInfo] = []
    with use_session(session, settings) as s:
        for provider, pos_product_id, bakery_product_id, confidence in decisions:
            existing = s.execute(sa.select(PosProductMapping.status).where(
                PosProductMapping.tenant_id == tenant_id, PosProductMapping.pos_provider == provider,
                PosProductMapping.pos_product_id == pos_product_id)).scalar_one_or_none()
            if existing in (MANUAL, REJECTED):
                continue
            info, _ = set_mapping(tenant_id, provider, pos_product_id, bakery_product_id, AUTO,
                                  confidence=round(float(confidence), 4), actor=actor, session=s)
            written.append(info)
    return written
