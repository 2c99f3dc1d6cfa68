"""Product mappings: which bakery product each POS product is. A change of what a POS product is
mapped to asks for a restatement of its rows in the warehouse (the Dagster sensor runs it within
seconds); the POS products and their revenue come from ``pos_product_stats``, which Dagster
publishes after each canonical build."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from pos_sync.api.deps import Store, Tenant
from pos_sync.api.mapping_schemas import AutoMapIn, MappingIn, MappingOut, MappingUpdate, UnmappedProductOut
from pos_sync.appstore import mappings, product_stats
from pos_sync.mapping.auto import auto_map

router = APIRouter(prefix="/api/v1/pos/mappings", tags=["mappings"])
ACTOR = "api"


def _out(info: Any, changed: bool | None = None) -> MappingOut:
    return MappingOut.model_validate({**info.to_dict(), "restatement_requested": changed})


@router.get("", response_model=list[MappingOut], summary="List product mappings")
def list_mappings(store: Store, tenant: Tenant, provider: str | None = None, status: str | None = None,
                  bakery_product_id: str | None = None) -> list[MappingOut]:
    return [_out(m) for m in mappings.list_mappings(tenant, provider=provider, status=status,
                                                    bakery_product_id=bakery_product_id, settings=store.settings)]


@router.post("", response_model=MappingOut, status_code=status.HTTP_201_CREATED, responses={422: {}},
             summary="Create (or replace) the mapping of one POS product: manual, or rejected")
def create_mapping(body: MappingIn, store: Store, tenant: Tenant) -> MappingOut:
    info, changed = mappings.set_mapping(tenant, body.provider, body.pos_product_id, body.bakery_product_id,
                                         body.status, actor=ACTOR, settings=store.settings)
    return _out(info, changed)


@router.get("/unmapped", response_model=list[UnmappedProductOut],
            summary="POS products without a mapping, with their revenue and transactions (highest revenue first)")
def unmapped(store: Store, tenant: Tenant, provider: str | None = None) -> list[UnmappedProductOut]:
    return [UnmappedProductOut.model_validate(p.to_dict())
            for p in product_stats.unmapped_products(tenant, provider=provider, settings=store.settings)]


@router.post("/auto-map", summary="Auto-map the POS products without a manual or rejected mapping")
def auto_map_products(store: Store, tenant: Tenant, body: AutoMapIn | None = None) -> dict[str, Any]:
    body = body or AutoMapIn()
    enabled = store.settings.auto_mapping_enabled and not body.dry_run
    return auto_map(tenant, store.settings, enabled=enabled, threshold=body.threshold, actor=ACTOR).to_dict()


@router.get("/{mapping_id}", response_model=MappingOut, responses={404: {}})
def get_mapping(mapping_id: str, store: Store, tenant: Tenant) -> MappingOut:
    return _out(mappings.get_mapping(tenant, mapping_id, settings=store.settings))


@router.put("/{mapping_id}", response_model=MappingOut, responses={404: {}, 422: {}},
            summary="Change a mapping (it becomes manual, or rejected)")
def update_mapping(mapping_id: str, body: MappingUpdate, store: Store, tenant: Tenant) -> MappingOut:
    info, changed = mappings.update_mapping(tenant, mapping_id, bakery_product_id=body.bakery_product_id,
                                            status=body.status, actor=ACTOR, settings=store.settings)
    return _out(info, changed)


@router.delete("/{mapping_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {}})
def delete_mapping(mapping_id: str, store: Store, tenant: Tenant) -> None:
    mappings.delete_mapping(tenant, mapping_id, settings=store.settings)
