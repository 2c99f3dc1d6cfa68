"""The tenant's own catalog: its products (``bakery_products``) and how its POS categories map to
its own categories (``pos_category_mappings``). Every function is tenant-scoped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.access import provider_name, required, use_session
from pos_sync.appstore.errors import AppStoreError
from pos_sync.appstore.models import BakeryProduct, PosCategoryMapping, utcnow
from pos_sync.settings import Settings


class ProductNotFound(AppStoreError, LookupError):
    pass


@dataclass(frozen=True)
class ProductInfo:
    tenant_id: str
    bakery_product_id: str
    name: str
    sku: str | None
    category: str | None
    active: bool
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"bakery_product_id": self.bakery_product_id, "name": self.name, "sku": self.sku,
                "category": self.category, "active": self.active, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class CategoryMappingInfo:
    id: str
    provider: str
    pos_category: str
    bakery_category: str
    updated_at: datetime


def _info(row: BakeryProduct) -> ProductInfo:
    return ProductInfo(row.tenant_id, row.bakery_product_id, row.name, row.sku, row.category, row.active,
                       row.created_at, row.updated_at)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def upsert_products(tenant_id: str, products: Iterable[Mapping[str, Any]], *, session: Session | None = None,
                    settings: Settings | None = None) -> tuple[int, int]:
    """Insert or update the tenant's products (``bakery_product_id``, ``name``, optional ``sku``,
    ``category``, ``active``); (created, updated)."""
    created = updated = 0
    with use_session(session, settings) as s:
        for product in products:
            product_id = required(product.get("bakery_product_id"), "bakery_product_id")
            name = required(product.get("name"), f"the name of product {product_id}")
            row = s.get(BakeryProduct, (tenant_id, product_id))
            if row is None:
                row = BakeryProduct(tenant_id=tenant_id, bakery_product_id=product_id, name=name)
                s.add(row)
                created += 1
            else:
                updated += 1
            row.name = name
            row.sku = _text(product.get("sku"))
            row.category = _text(product.get("category"))
            row.active = bool(product.get("active", True))
            row.updated_at = utcnow()
        s.flush()
    return created, updated


def list_products(tenant_id: str, *, active_only: bool = False, session: Session | None = None,
                  settings: Settings | None = None) -> list[ProductInfo]:
    stmt = sa.select(BakeryProduct).where(BakeryProduct.tenant_id == tenant_id)
    if active_only:
        stmt = stmt.where(BakeryProduct.active.is_(True))
    with use_session(session, settings, readonly=True) as s:
        return [_info(r) for r in s.execute(stmt.order_by(BakeryProduct.bakery_product_id)).scalars()]


def get_product(tenant_id: str, bakery_product_id: str, *, session: Session | None = None,
                settings: Settings | None = None) -> ProductInfo:
    with use_session(session, settings, readonly=True) as s:
        row = s.get(BakeryProduct, (tenant_id, bakery_product_id))
        if row is None:
            raise ProductNotFound(f"no bakery product {bakery_product_id!r} in the catalog of tenant {tenant_id}")
        return _info(row)


def delete_product(tenant_id: str, bakery_product_id: str, *, session: Session | None = None,
                   settings: Settings | None = None) -> None:
    """Remove a product from the catalog; refused while a POS product is mapped to it."""
    from pos_sync.appstore.models import PosProductMapping

    with use_session(session, settings) as s:
        row = s.get(BakeryProduct, (tenant_id, bakery_product_id))
        if row is None:
            raise ProductNotFound(f"no bakery product {bakery_product_id!r} in the catalog of tenant {tenant_id}")
        mapped = s.execute(sa.select(sa.func.count()).where(
            PosProductMapping.tenant_id == tenant_id,
            PosProductMapping.bakery_product_id == bakery_product_id)).scalar_one()
        if mapped:
            raise AppStoreError(f"bakery product {bakery_product_id!r} has {mapped} POS product(s) mapped to it: "
                                "remap or delete those mappings first, or set it inactive")
        s.delete(row)


def set_category_mapping(tenant_id: str, provider: str, pos_category: str, bakery_category: str, *,
                         session: Session | None = None, settings: Settings | None = None) -> CategoryMappingInfo:
    provider = provider_name(provider)
    pos_category = required(pos_category, "pos_category")
    bakery_category = required(bakery_category, "bakery_category")
    with use_session(session, settings) as s:
        row = s.execute(sa.select(PosCategoryMapping).where(
            PosCategoryMapping.tenant_id == tenant_id, PosCategoryMapping.pos_provider == provider,
            PosCategoryMapping.pos_category == pos_category)).scalar_one_or_none()
        if row is None:
            row = PosCategoryMapping(tenant_id=tenant_id, pos_provider=provider, pos_category=pos_category,
                                     bakery_category=bakery_category)
            s.add(row)
        row.bakery_category = bakery_category
        row.updated_at = utcnow()
        s.flush()
        return CategoryMappingInfo(row.id, row.pos_provider, row.pos_category, row.bakery_category, row.updated_at)


def list_category_mappings(tenant_id: str, *, session: Session | None = None,
                           settings: Settings | None = None) -> list[CategoryMappingInfo]:
    with use_session(session, settings, readonly=True) as s:
        rows = s.execute(sa.select(PosCategoryMapping).where(PosCategoryMapping.tenant_id == tenant_id)
                         .order_by(PosCategoryMapping.pos_provider, PosCategoryMapping.pos_category)).scalars()
        return [CategoryMappingInfo(r.id, r.pos_provider, r.pos_category, r.bakery_category, r.updated_at)
                for r in rows]


def delete_category_mapping(tenant_id: str, mapping_id: str, *, session: Session | None = None,
                            settings: Settings | None = None) -> None:
    with use_session(session, settings) as s:
        row = s.get(PosCategoryMapping, mapping_id)
        if row is None or row.tenant_id != tenant_id:
            raise ProductNotFound(f"no category mapping {mapping_id} for tenant {tenant_id}")
        s.delete(row)
