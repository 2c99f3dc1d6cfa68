"""Linking a Square merchant: Square's OAuth code flow (``/oauth2/authorize``, ``ObtainToken`` with
a JSON body), then its locations. The confidential flow with the client secret, not the PKCE
variant (whose refresh tokens are single-use and expire in 90 days)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dlt_sources.common.auth import TokenSet
from dlt_sources.square.helpers import discover_locations, square_tokens
from dlt_sources.square.settings import DEFAULT_BASE_URL, SCOPES_BY_PATH
from pos_sync.providers.linking import location_rows
from pos_sync.providers.oauth import OAuthFlow
from pos_sync.settings import Settings

FLOW_SCOPES = tuple(dict.fromkeys(SCOPES_BY_PATH.values()))


def complete(token: Mapping[str, Any], query: Mapping[str, str], settings: Settings) -> dict[str, Any]:
    base = FLOW.base_url(settings)
    raw_expiry = str(token.get("square_expires_at") or token.get("expires_at") or "")
    expires = datetime.fromisoformat(raw_expiry.replace("Z", "+00:00")) if "T" in raw_expiry else None
    locations = discover_locations(base, square_tokens(TokenSet(str(token["access_token"])), base_url=base))
    merchant = str(token.get("merchant_id") or "")
    client_id, secret = FLOW.client(settings)
    return {
        "provider": "square", "merchant_id": merchant,
        "account_name": next((loc["business_name"] for loc in locations if loc.get("business_name")), None)
        or f"Square {merchant}",
        "base_url": None if base == DEFAULT_BASE_URL else base, "access_token": str(token["access_token"]),
        "refresh_token": token.get("refresh_token"), "token_expires_at": expires, "client_id": client_id,
        "client_secret": secret, "locations": location_rows(locations),
    }


FLOW = OAuthFlow(kind="code", complete=complete, base_env="SQUARE_BASE_URL", default_base=DEFAULT_BASE_URL,
                 authorize_path="/oauth2/authorize", token_path="/oauth2/token", token_format="json",
                 scopes=FLOW_SCOPES, authorize_params={"session": "false"},
                 app_env=("SQUARE_APP_ID", "SQUARE_APP_SECRET"))
