"""Analytics read from what Dagster publishes into the app store (never the warehouse)."""

from __future__ import annotations

from fastapi import APIRouter

from pos_sync.api.deps import Store, Tenant
from pos_sync.api.mapping_schemas import UnmappedRevenue, UnmappedRevenueOut
from pos_sync.appstore import product_stats

router = APIRouter(prefix="/api/v1/pos/analytics", tags=["analytics"])


@router.get("/unmapped-revenue", response_model=UnmappedRevenue,
            summary="Revenue of POS products without a mapping, per account (last 7 and 30 days, integer cents)")
def unmapped_revenue(store: Store, tenant: Tenant) -> UnmappedRevenue:
    shares = product_stats.unmapped_revenue(tenant, settings=store.settings)
    return UnmappedRevenue(warn_share=store.settings.unmapped_revenue_warn_share,
                           accounts=[UnmappedRevenueOut.model_validate(s.to_dict()) for s in shares])
