"""Lightspeed Retail (X-Series): build the dlt source of one store from the app store's credentials.

Refresh tokens rotate on every use: each new token set is persisted (encrypted, committed) by
``on_tokens_refreshed`` inside the refresh, before the new access token is used, so a crash can
never lose the only valid refresh token. A refresh that fails for good raises
``ReauthorizationRequired``; the sync bookkeeping then marks the account ``reauth_required``.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import dlt

from dlt_sources.lightspeed import destination_known_versions, lightspeed_source
from pos_sync.appstore import AccountCredentials
from pos_sync.ingest.common import token_saver
from pos_sync.settings import Settings

NO_WINDOW = ("Lightspeed's change feed has no date window (X-Series ignores date filters on /sales): "
             "a Lightspeed account's history is imported by its first regular sync")


def domain_prefix_of(creds: AccountCredentials) -> str:
    return str(creds.extra.get("domain_prefix") or creds.merchant_id).strip().lower()


def build_lightspeed_source(
    creds: AccountCredentials,
    pipeline: dlt.Pipeline,
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    settings: Settings | None = None,
) -> Any:
    """A fresh source for one run (always incremental: the version feeds continue from their marks;
    the first run reads each feed from the start). Outlets = the account's enabled locations
    (none: every outlet of the store)."""
    del settings
    if start is not None or end is not None:
        raise ValueError(NO_WINDOW)
    account_id = creds.account_id
    return lightspeed_source(
        domain_prefix_of(creds),
        list(creds.location_ids),
        base_url=creds.base_url,
        access_token=creds.access_token or "",
        refresh_token=creds.refresh_token,
        client_id=creds.client_id or os.environ.get("LIGHTSPEED_CLIENT_ID"),
        client_secret=creds.client_secret or os.environ.get("LIGHTSPEED_CLIENT_SECRET"),
        account_id=account_id,
        now=now,
        on_tokens_refreshed=token_saver(account_id),
        known_versions=destination_known_versions(pipeline, account_id=account_id),
    )
