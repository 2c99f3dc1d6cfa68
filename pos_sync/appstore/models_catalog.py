"""App-store tables of product mapping: the tenant's own catalog, category and product mappings,
and the per-account POS product figures a Dagster asset publishes; part of
:mod:`pos_sync.appstore.models`'s metadata (imported there)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from pos_sync.appstore.columns import new_id, utcnow
from pos_sync.appstore.models import Base


class BakeryProduct(Base):
    """One product of the tenant's own catalog (what forecasting is per; ``bakery_product_id`` is
    the tenant's own id)."""

    __tablename__ = "bakery_products"

    tenant_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    bakery_product_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    sku: Mapped[str | None] = mapped_column(sa.String(100))
    category: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=sa.func.now())


class PosCategoryMapping(Base):
    """A POS category (as a provider names it) → the tenant's own category."""

    __tablename__ = "pos_category_mappings"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "pos_provider", "pos_category",
                                          name="uq_pos_category_mappings_tenant_provider_category"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    pos_category: Mapped[str] = mapped_column(sa.String(255))
    bakery_category: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=sa.func.now())


class PosProductMapping(Base):
    """Which bakery product a POS product is. ``status``: ``manual`` (a person said so: never
    overwritten by auto-mapping), ``auto`` (the matcher, with its ``confidence``) or ``rejected``
    (a person said it is none of the bakery's products: ``bakery_product_id`` NULL, stays so)."""

    __tablename__ = "pos_product_mappings"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "pos_provider", "pos_product_id",
                                          name="uq_pos_product_mappings_tenant_provider_product"),
                      sa.Index("idx_pos_product_mappings_bakery_product", "tenant_id", "bakery_product_id"))

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    pos_product_id: Mapped[str] = mapped_column(sa.String(255))
    bakery_product_id: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(20))  # manual | auto | rejected
    confidence: Mapped[float | None] = mapped_column(sa.Float)  # the matcher's calibrated probability
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    updated_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=sa.func.now())


class PosProductStats(Base):
    """What the API knows of a POS product of one account: published by the Dagster asset
    ``pos/<provider>/product_stats`` after each canonical build (the API never reads the
    warehouse). Revenue is net (sales minus refunds) in integer cents of ``currency``."""

    __tablename__ = "pos_product_stats"
    __table_args__ = (sa.Index("idx_pos_product_stats_tenant_product", "tenant_id", "pos_provider", "pos_product_id"),)

    pos_account_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
                                                primary_key=True)
    pos_product_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    name: Mapped[str | None] = mapped_column(sa.String(500))
    sku: Mapped[str | None] = mapped_column(sa.String(100))
    category: Mapped[str | None] = mapped_column(sa.String(255))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    revenue_cents_7d: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    revenue_cents_30d: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    transactions_7d: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    transactions_30d: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    last_seen: Mapped[date | None] = mapped_column(sa.Date)  # the last business date it sold
    published_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
