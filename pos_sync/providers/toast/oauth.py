"""Connecting a Toast restaurant, the closest real equivalent of OAuth: Toast has no merchant
consent flow for integrations. A restaurant grants a partner's integration access in Toast Web
(Integrations → the partner → connect); the partner's machine client (``TOAST_CLIENT_ID`` /
``TOAST_CLIENT_SECRET``) then sees that restaurant. So ``/oauth/toast/authorize`` shows a page
that says exactly that and asks for the restaurant's GUID, and ``/oauth/toast/callback`` logs the
partner client in, checks that it now sees the restaurant and links it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dlt_sources.toast.helpers import discover_restaurants, login, toast_tokens
from dlt_sources.toast.settings import DEFAULT_BASE_URL
from pos_sync.providers.linking import LinkError, location_ids, location_rows
from pos_sync.providers.oauth import OAuthFlow
from pos_sync.settings import Settings


def complete(_token: Mapping[str, Any], query: Mapping[str, str], settings: Settings) -> dict[str, Any]:
    guids = location_ids([query.get("restaurant_guid", "")])
    if not guids:
        raise LinkError("no restaurant GUID given: it is in Toast Web under the restaurant's settings")
    base = FLOW.base_url(settings)
    client_id, secret = FLOW.client(settings)
    token = login(client_id, secret, base)
    found = discover_restaurants(base, toast_tokens(client_id, secret, base, current=token), guids)
    group = next((r["merchant_id"] for r in found if r.get("merchant_id")), None)
    return {
        "provider": "toast", "merchant_id": client_id,
        "account_name": next((r["business_name"] for r in found if r.get("business_name")), None) or "Toast",
        "base_url": None if base == DEFAULT_BASE_URL else base, "client_id": client_id, "client_secret": secret,
        "access_token": token.access_token, "token_expires_at": token.expires_at,
        "extra": {"management_group_guid": group} if group else None, "locations": location_rows(found),
    }


FLOW = OAuthFlow(kind="partner_guid", complete=complete, base_env="TOAST_BASE_URL", default_base=DEFAULT_BASE_URL,
                 app_env=("TOAST_CLIENT_ID", "TOAST_CLIENT_SECRET"))
