"""Square: an OAuth merchant (refresh-token grant), its locations; day-window backfills by UTC day."""

from __future__ import annotations

from typing import Any

from dlt_sources.common.auth import TokenProvider
from dlt_sources.square import destination_known_versions, square_source
from dlt_sources.square.settings import DEFAULT_BASE_URL, TOKEN_PATH
from pos_sync.providers.spec import ProviderSpec, SourceRequest
from transforms import square as square_transform

RESOURCES = ("locations", "payments", "refunds", "orders", "catalog", "team_members")


def token_provider(req: SourceRequest) -> TokenProvider:
    """Refreshes through the OAuth refresh_token grant and persists new tokens (encrypted) at once."""
    creds = req.creds
    return TokenProvider(
        creds.access_token or "",
        refresh_token=creds.refresh_token,
        expires_at=creds.token_expires_at,
        client_id=req.client_id,
        client_secret=req.client_secret,
        token_url=(creds.base_url or DEFAULT_BASE_URL).rstrip("/") + TOKEN_PATH,
        on_refresh=req.save_tokens,
        provider="Square",
    )


def build_source(req: SourceRequest) -> Any:
    """Incremental (no window) or a stateless [start, end) window of UTC days."""
    creds = req.creds
    return square_source(
        access_token=creds.access_token or "",
        location_ids=list(creds.location_ids),
        base_url=(creds.base_url or DEFAULT_BASE_URL).rstrip("/"),
        account_id=creds.account_id,
        start=req.start,
        end=req.end,
        initial_start=req.initial_start,
        now=req.now,
        token_provider=token_provider(req),
        known_versions=destination_known_versions(req.pipeline, account_id=creds.account_id),
    )


SPEC = ProviderSpec(
    name="square",
    label="Square",
    resources=RESOURCES,
    transaction_tables=("payments", "orders", "refunds"),
    build_source=build_source,
    credential_kind="oauth",
    # the grant was revoked or the refresh token is dead: re-link through OAuth
    reauth_status="disconnected",
    default_base_url=DEFAULT_BASE_URL,
    canonical=square_transform.build,
    canonical_inputs={
        "pos_transactions": ("orders", "payments", "refunds", "locations", "team_members"),
        "pos_transaction_items": ("orders", "refunds", "catalog"),
        "pos_tenders": ("orders", "payments"),
        "pos_products": ("catalog",),
        "pos_locations": ("locations", "catalog"),
    },
    windows="utc_day",
    app_env=("SQUARE_APP_ID", "SQUARE_APP_SECRET"),
    descriptions={
        "raw": "Incremental Square sync of one account: payments, refunds, orders (with line items),\n"
               "catalog, locations and team members. The first run imports HISTORICAL_IMPORT_DAYS.",
        "window_op": "Load one day (UTC) of one account's Square history without touching its cursor.",
        "backfill_job": "Historical import of chosen Square accounts over a date range: launch a backfill "
                        "over account × day partitions in the UI; each day is a stateless window load.",
    },
)
