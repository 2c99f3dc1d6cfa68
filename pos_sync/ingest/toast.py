"""Toast: build the dlt source of one account (a machine client and its restaurants) from the
app store's credentials.

The machine-client token lives in the app store, encrypted, in the account's access token (with
its expiry): :class:`AppStoreTokenCache` hands it to the source and stores every new one at once,
so it is reused across runs, restaurants and processes — Toast asks for at most a couple of
logins per hour.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dlt

from dlt_sources.common.auth import TokenSet
from dlt_sources.toast import destination_known_versions, toast_source
from dlt_sources.toast.settings import DEFAULT_BASE_URL
from pos_sync import appstore
from pos_sync.appstore import AccountCredentials
from pos_sync.ingest.common import initial_start_for
from pos_sync.settings import Settings


class AppStoreTokenCache:
    """A ``dlt_sources.toast.TokenCache`` over the app store (Fernet-encrypted at rest).

    ``get()`` reads the stored token afresh (another run may have logged in meanwhile; the
    credentials the run started with are the fallback), ``put()`` saves a new token before the
    source uses it (``save_tokens`` commits at once; Toast has no refresh token, so the stored
    one is left alone).
    """

    def __init__(self, creds: AccountCredentials) -> None:
        self.account_id = creds.account_id
        self._fallback = (TokenSet(access_token=creds.access_token, expires_at=creds.token_expires_at)
                          if creds.access_token else None)
        self.puts = 0

    def get(self) -> TokenSet | None:
        try:
            stored = appstore.account_credentials(self.account_id)
        except appstore.AppStoreError:
            return self._fallback
        if not stored.access_token:
            return None
        return TokenSet(access_token=stored.access_token, expires_at=stored.token_expires_at)

    def put(self, tokens: TokenSet) -> None:
        appstore.save_tokens(self.account_id, tokens.access_token, None, tokens.expires_at)
        self._fallback = tokens
        self.puts += 1


def build_toast_source(
    creds: AccountCredentials,
    pipeline: dlt.Pipeline,
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    settings: Settings | None = None,
) -> Any:
    """A fresh source for one run: incremental (no window) or a stateless [start, end) window of
    business days. Restaurants = the account's enabled locations (restaurant GUIDs)."""
    return toast_source(
        creds.client_id or creds.merchant_id,  # `accounts add toast`: merchant id = client id
        creds.client_secret or "",
        list(creds.location_ids),
        base_url=(creds.base_url or DEFAULT_BASE_URL).rstrip("/"),
        account_id=creds.account_id,
        start=start,
        end=end,
        initial_start=initial_start_for(creds, now, settings),
        now=now,
        token_cache=AppStoreTokenCache(creds),
        known_versions=destination_known_versions(pipeline, account_id=creds.account_id),
    )
