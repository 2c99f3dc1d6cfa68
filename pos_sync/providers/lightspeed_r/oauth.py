"""Linking a Lightspeed R-Series account through the API: consent at
``cloud.lightspeedapp.com/auth/oauth/authorize``, the code exchanged at ``/auth/oauth/token``
(form-encoded), the account read from ``/API/V3/Account.json`` and its shops discovered."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dlt_sources.common.auth import TokenSet
from dlt_sources.lightspeed_r.helpers import discover_shops, lightspeed_r_tokens, token_account_id
from dlt_sources.lightspeed_r.settings import AUTHORIZE_PATH, OAUTH_BASE_URL, TOKEN_PATH
from pos_sync.providers.linking import location_rows
from pos_sync.providers.oauth import OAuthFlow
from pos_sync.settings import Settings


def complete(token: Mapping[str, Any], query: Mapping[str, str], settings: Settings) -> dict[str, Any]:
    base = settings.env(FLOW.base_env)  # the sandbox serves API and OAuth on one base URL
    tokens = lightspeed_r_tokens(TokenSet(str(token["access_token"])), base_url=base, client_id=None,
                                 client_secret=None)
    account = token_account_id(base, tokens)
    shops = discover_shops(base, tokens, account)
    expires_in = token.get("expires_in")
    client_id, secret = FLOW.client(settings)
    return {
        "provider": "lightspeed_r", "merchant_id": account, "account_name": f"Lightspeed R {account}",
        "base_url": base, "access_token": str(token["access_token"]), "refresh_token": token.get("refresh_token"),
        "token_expires_at": datetime.now(UTC) + timedelta(seconds=float(expires_in)) if expires_in else None,
        "client_id": client_id, "client_secret": secret, "extra": {}, "locations": location_rows(shops),
    }


FLOW = OAuthFlow(kind="code", complete=complete, base_env="LIGHTSPEED_R_BASE_URL", default_base=OAUTH_BASE_URL,
                 authorize_path=AUTHORIZE_PATH, token_path=TOKEN_PATH, token_format="form",
                 scopes=("employee:all",), app_env=("LIGHTSPEED_R_CLIENT_ID", "LIGHTSPEED_R_CLIENT_SECRET"))
