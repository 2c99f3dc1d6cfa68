"""How a Toast account's token provider and dlt source are built from its stored credentials."""

from __future__ import annotations

from typing import Any

from dlt_sources.common.auth import TokenProvider
from dlt_sources.toast.helpers import destination_known_versions, toast_tokens
from dlt_sources.toast.settings import DEFAULT_BASE_URL
from pos_sync.providers.spec import SourceRequest, TokenRequest

RESOURCES = ("restaurants", "orders", "menus", "employees", "devices")


def base_url(creds: Any) -> str:
    return (creds.base_url or DEFAULT_BASE_URL).rstrip("/")


def tokens(req: TokenRequest) -> TokenProvider:
    """The machine client's stored token while valid, else one login, stored at once."""
    creds = req.creds
    return toast_tokens(creds.client_id or creds.merchant_id,  # `accounts add toast`: merchant id = client id
                        creds.client_secret or "", base_url(creds), current=req.current, on_refresh=req.save_tokens)


def build_source(req: SourceRequest) -> Any:
    """Incremental (no window) or a stateless [start, end) window of business days; restaurants =
    the account's enabled locations (restaurant GUIDs)."""
    from dlt_sources.toast import toast_source  # dlt loads with it: at a run

    creds = req.creds
    return toast_source(
        req.token_provider,
        list(creds.location_ids),
        base_url=base_url(creds),
        known_versions=destination_known_versions(req.pipeline, account_id=creds.account_id),
        **req.clock_kwargs(),
    )
