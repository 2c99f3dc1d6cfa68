"""How a Lightspeed R-Series account's token provider and dlt source are built from its stored credentials."""

from __future__ import annotations

from typing import Any

from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.lightspeed_r.helpers import lightspeed_r_tokens
from pos_sync.providers.spec import SourceRequest, TokenRequest

RESOURCES = ("shops", "registers", "employees", "payment_types", "tax_categories", "categories", "items", "sales")
NO_WINDOW = ("Lightspeed R-Series is read incrementally on timeStamp from the first sync on (no day-window "
             "backfills): an R-Series account's history is imported by its first regular sync")


def tokens(req: TokenRequest) -> TokenProvider:
    """Rotating refresh tokens: each new set saved (committed) inside the refresh, before use."""
    return lightspeed_r_tokens(req.current or TokenSet(""), base_url=req.creds.base_url,
                               client_id=req.client_id, client_secret=req.client_secret, on_refresh=req.save_tokens)


def build_source(req: SourceRequest) -> Any:
    """Always incremental (timeStamp marks per stream and shop). Shops = the account's enabled
    locations (none: every shop)."""
    from dlt_sources.lightspeed_r import lightspeed_r_source  # dlt loads with it: at a run

    if req.start is not None or req.end is not None:
        raise ValueError(NO_WINDOW)
    creds = req.creds
    return lightspeed_r_source(req.token_provider, str(creds.merchant_id), list(creds.location_ids),
                               base_url=creds.base_url, account_id=creds.account_id, now=req.now,
                               **req.source_kwargs())
