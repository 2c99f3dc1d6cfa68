"""The tenant's own catalog (what POS products map to) and its category mappings."""

from __future__ import annotations

from fastapi import APIRouter, status

from pos_sync.api.deps import Store, Tenant
from pos_sync.api.mapping_schemas import (
    CategoryMappingIn,
    CategoryMappingOut,
    ProductOut,
    ProductsImported,
    ProductsIn,
    ProductUpdate,
)
from pos_sync.appstore import catalog

router = APIRouter(prefix="/api/v1/pos", tags=["catalog"])


@router.get("/products", response_model=list[ProductOut], summary="The bakery's products")
def list_products(store: Store, tenant: Tenant, active_only: bool = False) -> list[ProductOut]:
    return [ProductOut.model_validate(p.to_dict())
            for p in catalog.list_products(tenant, active_only=active_only, settings=store.settings)]


@router.post("/products", response_model=ProductsImported, summary="Add or update products (upsert by id)")
def upsert_products(body: ProductsIn, store: Store, tenant: Tenant) -> ProductsImported:
    created, updated = catalog.upsert_products(tenant, [p.model_dump() for p in body.products], settings=store.settings)
    return ProductsImported(created=created, updated=updated)


@router.get("/products/{bakery_product_id}", response_model=ProductOut, responses={404: {}})
def get_product(bakery_product_id: str, store: Store, tenant: Tenant) -> ProductOut:
    return ProductOut.model_validate(catalog.get_product(tenant, bakery_product_id, settings=store.settings).to_dict())


@router.put("/products/{bakery_product_id}", response_model=ProductOut, summary="Create or replace one product")
def put_product(bakery_product_id: str, body: ProductUpdate, store: Store, tenant: Tenant) -> ProductOut:
    catalog.upsert_products(tenant, [{**body.model_dump(), "bakery_product_id": bakery_product_id}],
                            settings=store.settings)
    return get_product(bakery_product_id, store, tenant)


@router.delete("/products/{bakery_product_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {}, 422: {}})
def delete_product(bakery_product_id: str, store: Store, tenant: Tenant) -> None:
    catalog.delete_product(tenant, bakery_product_id, settings=store.settings)


@router.get("/category-mappings", response_model=list[CategoryMappingOut], summary="POS category → bakery category")
def list_category_mappings(store: Store, tenant: Tenant) -> list[CategoryMappingOut]:
    return [CategoryMappingOut.model_validate(m.__dict__)
            for m in catalog.list_category_mappings(tenant, settings=store.settings)]


@router.put("/category-mappings", response_model=CategoryMappingOut, summary="Set one category mapping")
def set_category_mapping(body: CategoryMappingIn, store: Store, tenant: Tenant) -> CategoryMappingOut:
    info = catalog.set_category_mapping(tenant, body.provider, body.pos_category, body.bakery_category,
                                        settings=store.settings)
    return CategoryMappingOut.model_validate(info.__dict__)


@router.delete("/category-mappings/{mapping_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {}})
def delete_category_mapping(mapping_id: str, store: Store, tenant: Tenant) -> None:
    catalog.delete_category_mapping(tenant, mapping_id, settings=store.settings)
