"""Linking a Lightspeed X-Series store: consent at ``secure.retail.lightspeed.app/connect``, the
code exchanged at the store's own ``/api/1.0/token`` (form-encoded; the callback names the store
in ``domain_prefix``), the store checked (``/retailer``) and its outlets discovered."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dlt_sources.common.auth import TokenSet
from dlt_sources.lightspeed.helpers import (
    discover_outlets,
    lightspeed_tokens,
    retailer_domain_prefix,
    store_base_url,
)
from dlt_sources.lightspeed.settings import SCOPES_BY_PATH
from pos_sync.providers.linking import LinkError, location_rows
from pos_sync.providers.oauth import OAuthFlow
from pos_sync.settings import Settings

AUTHORIZE_URL = "https://secure.retail.lightspeed.app/connect"
# X-Series grants a token only the scopes the consent asked for (space-delimited): every one the
# source reads, so no stream meets a 403 (x-series-api.lightspeedhq.com/docs/scopes)
FLOW_SCOPES = tuple(dict.fromkeys(SCOPES_BY_PATH.values()))


def store_url(query: Mapping[str, str], settings: Settings) -> str:
    prefix = str(query.get("domain_prefix") or "").strip().lower()
    if not prefix:
        raise LinkError("Lightspeed's callback named no store (domain_prefix)")
    try:
        return store_base_url(prefix, settings.env(FLOW.base_env))
    except ValueError as exc:
        raise LinkError(f"Lightspeed's callback named no store: {exc}") from None


def complete(token: Mapping[str, Any], query: Mapping[str, str], settings: Settings) -> dict[str, Any]:
    prefix = str(token.get("domain_prefix") or query.get("domain_prefix") or "").strip().lower()
    base = store_url({"domain_prefix": prefix}, settings)
    tokens = lightspeed_tokens(TokenSet(str(token["access_token"])), base_url=base, client_id=None, client_secret=None)
    if retailer_domain_prefix(base, tokens) != prefix:
        raise LinkError(f"Lightspeed's token does not belong to the store {prefix!r} its callback named")
    outlets = discover_outlets(base, tokens)
    expires = token.get("lightspeed_expires") or token.get("expires")
    client_id, secret = FLOW.client(settings)
    return {
        "provider": "lightspeed", "merchant_id": prefix, "account_name": f"Lightspeed {prefix}",
        "base_url": settings.env(FLOW.base_env), "access_token": str(token["access_token"]),
        "refresh_token": token.get("refresh_token"),
        "token_expires_at": datetime.fromtimestamp(float(expires), UTC) if expires else None,
        "client_id": client_id, "client_secret": secret, "extra": {"domain_prefix": prefix},
        "locations": location_rows(outlets),
    }


FLOW = OAuthFlow(kind="code", complete=complete, base_env="LIGHTSPEED_BASE_URL",
                 default_base="https://{domain_prefix}.retail.lightspeed.app", authorize_path="/connect",
                 token_path="/api/1.0/token", authorize_env="LIGHTSPEED_AUTHORIZE_URL",
                 default_authorize=AUTHORIZE_URL, token_format="form", scopes=FLOW_SCOPES,
                 app_env=("LIGHTSPEED_CLIENT_ID", "LIGHTSPEED_CLIENT_SECRET"))
