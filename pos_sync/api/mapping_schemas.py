"""Request and response bodies of the catalog, mapping and analytics routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from pos_sync.api.schemas import Body


class ProductIn(Body):
    bakery_product_id: str = Field(min_length=1, max_length=255, description="the tenant's own product id")
    name: str = Field(min_length=1, max_length=255)
    sku: str | None = Field(None, max_length=100)
    category: str | None = Field(None, max_length=255)
    active: bool = True


class ProductUpdate(Body):
    name: str = Field(min_length=1, max_length=255)
    sku: str | None = Field(None, max_length=100)
    category: str | None = Field(None, max_length=255)
    active: bool = True


class ProductOut(BaseModel):
    bakery_product_id: str
    name: str
    sku: str | None
    category: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class ProductsIn(Body):
    products: list[ProductIn] = Field(min_length=1, max_length=10_000)


class ProductsImported(BaseModel):
    created: int
    updated: int


class CategoryMappingIn(Body):
    provider: str = Field(examples=["square"])
    pos_category: str = Field(min_length=1, max_length=255)
    bakery_category: str = Field(min_length=1, max_length=255)


class CategoryMappingOut(BaseModel):
    id: str
    provider: str
    pos_category: str
    bakery_category: str
    updated_at: datetime


class MappingIn(Body):
    provider: str = Field(examples=["square"])
    pos_product_id: str = Field(min_length=1, max_length=255, description="the POS product (Square: item variation id)")
    bakery_product_id: str | None = Field(None, description="required unless status is rejected")
    status: Literal["manual", "rejected"] = Field("manual", description="rejected: none of the bakery's products")


class MappingUpdate(Body):
    bakery_product_id: str | None = None
    status: Literal["manual", "rejected"] | None = None


class MappingOut(BaseModel):
    id: str
    provider: str
    pos_product_id: str
    bakery_product_id: str | None
    status: str = Field(description="manual | auto | rejected")
    confidence: float | None
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime
    restatement_requested: bool | None = Field(None, description="the POS product's rows in the warehouse will "
                                                                 "follow (a restatement run was asked for)")


class UnmappedProductOut(BaseModel):
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
    mapping_status: str | None


class AutoMapIn(Body):
    threshold: float | None = Field(None, ge=0, le=1, description="default AUTO_MAPPING_CONFIDENCE_THRESHOLD")
    dry_run: bool = Field(False, description="suggestions only (as with AUTO_MAPPING_ENABLED=false)")


class UnmappedRevenueOut(BaseModel):
    account_id: str
    provider: str
    currency: str | None
    products: int
    unmapped_products: int
    revenue_cents_7d: int
    unmapped_revenue_cents_7d: int
    unmapped_share_7d: float
    revenue_cents_30d: int
    unmapped_revenue_cents_30d: int


class UnmappedRevenue(BaseModel):
    warn_share: float = Field(description="POS_UNMAPPED_REVENUE_WARN_SHARE: the check warns above it")
    accounts: list[UnmappedRevenueOut]
