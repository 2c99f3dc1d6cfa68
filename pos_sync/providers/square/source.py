"""How a Square account's token provider and dlt source are built from its stored credentials."""

from __future__ import annotations

from typing import Any

from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.square.helpers import destination_known_versions, square_tokens
from dlt_sources.square.settings import DEFAULT_BASE_URL
from pos_sync.providers.spec import SourceRequest, TokenRequest

RESOURCES = ("locations", "payments", "refunds", "orders", "catalog", "team_members", "customers")


def base_url(creds: Any) -> str:
    return (creds.base_url or DEFAULT_BASE_URL).rstrip("/")


def tokens(req: TokenRequest) -> TokenProvider:
    """Refreshed through the OAuth refresh_token grant; new tokens saved (encrypted) at once."""
    return square_tokens(req.current or TokenSet(""), client_id=req.client_id, client_secret=req.client_secret,
                         base_url=base_url(req.creds), on_refresh=req.save_tokens)


def build_source(req: SourceRequest) -> Any:
    """Incremental (no window) or a stateless [start, end) window of UTC days."""
    from dlt_sources.square import square_source  # dlt loads with it: at a run

    creds = req.creds
    return square_source(
        req.token_provider,
        list(creds.location_ids),
        base_url=base_url(creds),
        known_versions=destination_known_versions(req.pipeline, account_id=creds.account_id),
        **req.clock_kwargs(),
    )
