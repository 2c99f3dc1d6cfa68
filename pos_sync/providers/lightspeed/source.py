"""How a Lightspeed account's token provider and dlt source are built from its stored credentials."""

from __future__ import annotations

from typing import Any

from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.lightspeed.helpers import destination_known_versions, lightspeed_tokens, store_base_url
from pos_sync.providers.spec import SourceRequest, TokenRequest

RESOURCES = ("outlets", "registers", "users", "payment_types", "taxes", "product_categories", "products", "customers",
             "sales")
NO_WINDOW = ("Lightspeed's change feed has no date window (X-Series ignores date filters on /sales): "
             "a Lightspeed account's history is imported by its first regular sync")


def domain_prefix_of(creds: Any) -> str:
    return str(creds.extra.get("domain_prefix") or creds.merchant_id).strip().lower()


def tokens(req: TokenRequest) -> TokenProvider:
    """Rotating refresh tokens: each new set saved (committed) inside the refresh, before use."""
    creds = req.creds
    return lightspeed_tokens(req.current or TokenSet(""), base_url=store_base_url(domain_prefix_of(creds), creds.base_url),
                             client_id=req.client_id, client_secret=req.client_secret, on_refresh=req.save_tokens)


def build_source(req: SourceRequest) -> Any:
    """Always incremental: the version feeds continue from their marks (the first run reads each
    feed from the start). Outlets = the account's enabled locations (none: every outlet)."""
    from dlt_sources.lightspeed import lightspeed_source  # dlt loads with it: at a run

    if req.start is not None or req.end is not None:
        raise ValueError(NO_WINDOW)
    creds = req.creds
    return lightspeed_source(
        req.token_provider,
        domain_prefix_of(creds),
        list(creds.location_ids),
        base_url=creds.base_url,
        account_id=creds.account_id,
        now=req.now,
        first_load=req.first_load,
        known_versions=destination_known_versions(req.pipeline, account_id=creds.account_id),
        **req.source_kwargs(),
    )
