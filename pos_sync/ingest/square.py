"""Square: build the dlt source of one account from the app store's credentials."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import dlt

from dlt_sources.common.auth import TokenProvider
from dlt_sources.square import destination_known_versions, square_source
from dlt_sources.square.settings import DEFAULT_BASE_URL, TOKEN_PATH
from pos_sync.appstore import AccountCredentials
from pos_sync.ingest.common import initial_start_for, token_saver
from pos_sync.settings import Settings


def token_provider_for(creds: AccountCredentials) -> TokenProvider:
    """Refreshes through the OAuth refresh_token grant and persists new tokens (encrypted) at once."""
    base_url = (creds.base_url or DEFAULT_BASE_URL).rstrip("/")
    return TokenProvider(
        creds.access_token or "",
        refresh_token=creds.refresh_token,
        expires_at=creds.token_expires_at,
        client_id=creds.client_id or os.environ.get("SQUARE_APP_ID"),
        client_secret=creds.client_secret or os.environ.get("SQUARE_APP_SECRET"),
        token_url=base_url + TOKEN_PATH,
        on_refresh=token_saver(creds.account_id),
        provider="Square",
    )


def build_square_source(
    creds: AccountCredentials,
    pipeline: dlt.Pipeline,
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    settings: Settings | None = None,
) -> Any:
    """A fresh source for one run: incremental (no window) or a stateless [start, end) window."""
    return square_source(
        access_token=creds.access_token or "",
        location_ids=list(creds.location_ids),
        base_url=(creds.base_url or DEFAULT_BASE_URL).rstrip("/"),
        account_id=creds.account_id,
        start=start,
        end=end,
        initial_start=initial_start_for(creds, now, settings),
        now=now,
        token_provider=token_provider_for(creds),
        known_versions=destination_known_versions(pipeline, account_id=creds.account_id),
    )
