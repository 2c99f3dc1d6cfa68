"""What the API knows of the POS products: ``pos_product_stats``, one row per account and POS
product, published by the Dagster asset ``pos/<provider>/product_stats`` after each canonical
build (the API never reads the warehouse), joined here with the mappings.

Revenue is net (completed sales minus refunds, line totals) in integer cents of the product's
currency. A POS product is *unmapped* when it has no mapping, or one without a bakery product that
is not ``rejected`` (a rejected product is decided: none of the bakery's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.access import load_account, provider_name, use_session
from pos_sync.appstore.models import PosProductMapping, PosProductStats, utcnow
from pos_sync.settings import Settings

STAT_FIELDS = ("name", "sku", "category", "currency", "revenue_cents_7d", "revenue_cents_30d", "transactions_7d",
               "transactions_30d", "last_seen")


@dataclass(frozen=True)
class ProductStat:
    account_id: str
    provider: str
    pos_product_id: str
    name: str | None
    sku: str | None
    category: str | None
    currency: str | None
    revenue_cents_7d: int
    revenue_cents_30d: int
    transactions_7d: int
    transactions_30d: int
    last_seen: date | None
    status: str | None = None  # the mapping's status (None: no mapping)
    bakery_product_id: str | None = None

    @property
    def mapped(self) -> bool:
        return self.bakery_product_id is not None and self.status in ("manual", "auto")

    @property
    def unmapped(self) -> bool:
        return not self.mapped and self.status != "rejected"

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "provider": self.provider, "pos_product_id": self.pos_product_id,
                "name": self.name, "sku": self.sku, "category": self.category, "currency": self.currency,
                "revenue_cents_7d": self.revenue_cents_7d, "revenue_cents_30d": self.revenue_cents_30d,
                "transactions_7d": self.transactions_7d, "transactions_30d": self.transactions_30d,
                "last_seen": self.last_seen.isoformat() if self.last_seen else None,
                "mapping_status": self.status, "bakery_product_id": self.bakery_product_id}


@dataclass(frozen=True)
class UnmappedShare:
    """One account's unmapped revenue over the last 7 and 30 days."""

    account_id: str
    tenant_id: str
    provider: str
    currency: str | None
    products: int
    unmapped_products: int
    revenue_cents_7d: int
    unmapped_revenue_cents_7d: int
    revenue_cents_30d: int
    unmapped_revenue_cents_30d: int

    @property
    def share_7d(self) -> float:
        return self.unmapped_revenue_cents_7d / self.revenue_cents_7d if self.revenue_cents_7d > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "provider": self.provider, "currency": self.currency,
                "products": self.products, "unmapped_products": self.unmapped_products,
                "revenue_cents_7d": self.revenue_cents_7d, "unmapped_revenue_cents_7d": self.unmapped_revenue_cents_7d,
                "unmapped_share_7d": round(self.share_7d, 4), "revenue_cents_30d": self.revenue_cents_30d,
                "unmapped_revenue_cents_30d": self.unmapped_revenue_cents_30d}


@dataclass
class PublishResult:
    products: int
    unmapped: int
    new_unmapped: list[str] = field(default_factory=list)
    event_id: str | None = None  # the pos.mapping_needed event written, if any


def _stats_query(tenant_id: str) -> sa.Select[Any]:
    m = PosProductMapping
    return (sa.select(PosProductStats, m.status, m.bakery_product_id)
            .outerjoin(m, sa.and_(m.tenant_id == PosProductStats.tenant_id, m.pos_provider == PosProductStats.pos_provider,
                                  m.pos_product_id == PosProductStats.pos_product_id))
            .where(PosProductStats.tenant_id == tenant_id))


def _stat(row: PosProductStats, status: str | None, bakery_product_id: str | None) -> ProductStat:
    return ProductStat(row.pos_account_id, row.pos_provider, row.pos_product_id, row.name, row.sku, row.category,
                       row.currency, int(row.revenue_cents_7d), int(row.revenue_cents_30d), int(row.transactions_7d),
                       int(row.transactions_30d), row.last_seen, status, bakery_product_id)


def product_stats(tenant_id: str, *, provider: str | None = None, account_id: str | None = None,
                  session: Session | None = None, settings: Settings | None = None) -> list[ProductStat]:
    """The tenant's published POS products with their mapping, highest 30-day revenue first."""
    stmt = _stats_query(tenant_id)
    if provider:
        stmt = stmt.where(PosProductStats.pos_provider == provider_name(provider))
    if account_id:
        stmt = stmt.where(PosProductStats.pos_account_id == account_id)
    stmt = stmt.order_by(PosProductStats.revenue_cents_30d.desc(), PosProductStats.pos_product_id)
    with use_session(session, settings, readonly=True) as s:
        return [_stat(*row) for row in s.execute(stmt)]


def unmapped_products(tenant_id: str, *, provider: str | None = None, session: Session | None = None,
                      settings: Settings | None = None) -> list[ProductStat]:
    return [p for p in product_stats(tenant_id, provider=provider, session=session, settings=settings) if p.unmapped]


def shares(stats: Iterable[ProductStat], tenant_id: str) -> list[UnmappedShare]:
    """Per account: its products' revenue and the unmapped part of it."""
    by_account: dict[str, list[ProductStat]] = {}
    for p in stats:
        by_account.setdefault(p.account_id, []).append(p)
    out = []
    for account_id, items in sorted(by_account.items()):
        unmapped = [p for p in items if p.unmapped]
        currencies = sorted({p.currency for p in items if p.currency})
        out.append(UnmappedShare(
            account_id, tenant_id, items[0].provider, currencies[0] if len(currencies) == 1 else None, len(items),
            len(unmapped), sum(p.revenue_cents_7d for p in items), sum(p.revenue_cents_7d for p in unmapped),
            sum(p.revenue_cents_30d for p in items), sum(p.revenue_cents_30d for p in unmapped)))
    return out


def unmapped_revenue(tenant_id: str, *, account_id: str | None = None, session: Session | None = None,
                     settings: Settings | None = None) -> list[UnmappedShare]:
    return shares(product_stats(tenant_id, account_id=account_id, session=session, settings=settings), tenant_id)


def publish_product_stats(account_id: str, rows: Iterable[Mapping[str, Any]], *, alert: bool = True,
                          now: datetime | None = None, session: Session | None = None,
                          settings: Settings | None = None) -> PublishResult:
    """Replace the account's published POS products with ``rows`` (``pos_product_id`` and
    :data:`STAT_FIELDS`), in one transaction with, when ``alert`` and POS products without a
    mapping appeared that the previous publication did not have, a ``pos.mapping_needed`` event
    (once per set of new products)."""
    from pos_sync.events.emit import emit_mapping_needed

    when = now or utcnow()
    with use_session(session, settings) as s:
        account = load_account(s, account_id)
        before = set(s.execute(sa.select(PosProductStats.pos_product_id)
                               .where(PosProductStats.pos_account_id == account_id)).scalars())
        s.execute(sa.delete(PosProductStats).where(PosProductStats.pos_account_id == account_id))
        for row in rows:
            s.add(PosProductStats(pos_account_id=account_id, tenant_id=account.tenant_id,
                                  pos_provider=account.pos_provider, pos_product_id=str(row["pos_product_id"]),
                                  published_at=when, **{k: row.get(k) for k in STAT_FIELDS}))
        s.flush()
        stats = product_stats(account.tenant_id, account_id=account_id, session=s)
        unmapped = [p for p in stats if p.unmapped]
        result = PublishResult(len(stats), len(unmapped),
                               sorted(p.pos_product_id for p in unmapped if p.pos_product_id not in before))
        if alert and result.new_unmapped:
            subject = "new-unmapped:" + hashlib.sha256("\n".join(result.new_unmapped).encode()).hexdigest()[:32]
            result.event_id = emit_mapping_needed(
                s, tenant_id=account.tenant_id, pos_account_id=account_id, unmapped_products_count=len(unmapped),
                unmapped_revenue_euros=Decimal(sum(p.revenue_cents_7d for p in unmapped)) / 100,
                sample_unmapped_products=[{"pos_product_name": p.name or p.pos_product_id,
                                           "transaction_count": p.transactions_30d} for p in unmapped],
                subject=subject, when=when)
        return result
