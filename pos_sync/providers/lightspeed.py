"""Lightspeed Retail (X-Series): an OAuth store (rotating refresh tokens) and its outlets.

Refresh tokens rotate on every use: each new token set is persisted (encrypted, committed) inside
the refresh, before the new access token is used, so a crash can never lose the only valid
refresh token. No day-window backfills: X-Series' change feeds (``after=<version>``) have no
date window, so an account's first regular sync reads the store's whole history.
"""

from __future__ import annotations

from typing import Any

from dlt_sources.lightspeed import destination_known_versions, lightspeed_source
from dlt_sources.lightspeed.settings import DEFAULT_BASE_URL
from pos_sync.providers.spec import ProviderSpec, SourceRequest
from transforms import lightspeed as lightspeed_transform

RESOURCES = ("outlets", "registers", "users", "payment_types", "taxes", "product_categories", "products", "sales")
NO_WINDOW = ("Lightspeed's change feed has no date window (X-Series ignores date filters on /sales): "
             "a Lightspeed account's history is imported by its first regular sync")


def domain_prefix_of(creds: Any) -> str:
    return str(creds.extra.get("domain_prefix") or creds.merchant_id).strip().lower()


def build_source(req: SourceRequest) -> Any:
    """Always incremental: the version feeds continue from their marks (the first run reads each
    feed from the start). Outlets = the account's enabled locations (none: every outlet)."""
    if req.start is not None or req.end is not None:
        raise ValueError(NO_WINDOW)
    creds = req.creds
    return lightspeed_source(
        domain_prefix_of(creds),
        list(creds.location_ids),
        base_url=creds.base_url,
        access_token=creds.access_token or "",
        refresh_token=creds.refresh_token,
        client_id=req.client_id,
        client_secret=req.client_secret,
        account_id=creds.account_id,
        now=req.now,
        on_tokens_refreshed=req.save_tokens,
        known_versions=destination_known_versions(req.pipeline, account_id=creds.account_id),
    )


SPEC = ProviderSpec(
    name="lightspeed",
    label="Lightspeed",
    resources=RESOURCES,
    transaction_tables=("sales",),
    build_source=build_source,
    credential_kind="oauth",
    # a rotated refresh token was lost (or access revoked): approve access again
    reauth_status="reauth_required",
    default_base_url=DEFAULT_BASE_URL,
    canonical=lightspeed_transform.build,
    canonical_inputs={
        "pos_transactions": ("sales", "outlets", "users", "registers", "payment_types"),
        "pos_transaction_items": ("sales", "products", "taxes"),
        "pos_tenders": ("sales", "payment_types"),
        "pos_products": ("products", "outlets"),
        "pos_locations": ("outlets",),
    },
    windows=None,
    no_window_reason=NO_WINDOW,
    app_env=("LIGHTSPEED_CLIENT_ID", "LIGHTSPEED_CLIENT_SECRET"),
    descriptions={
        "raw": "Incremental Lightspeed sync of one store: the version change feeds of sales (line items,\n"
               "payments as child tables), products, outlets, registers, users, payment types and taxes, plus\n"
               "product categories. Rotated refresh tokens are saved the moment they arrive.",
    },
)
