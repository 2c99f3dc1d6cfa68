"""Location discovery: ask a provider which locations an access token can see.

Implemented for Square (``GET {base_url}/v2/locations``). Toast and Lightspeed discovery is not
built yet: :func:`discover_locations` raises :class:`DiscoveryUnavailable` for them and the CLI
requires explicit ``--location`` ids.

Every returned location is a dict ``{"location_id", "name", "timezone", "currency",
"merchant_id", "business_name", "status"}``. Error messages never contain the token.
"""

from __future__ import annotations

from typing import Any

import httpx

SQUARE_DEFAULT_BASE_URL = "https://connect.squareup.com"
SQUARE_VERSION = "2025-08-20"
TIMEOUT_SECONDS = 20.0

DEFAULT_BASE_URLS: dict[str, str] = {
    "square": SQUARE_DEFAULT_BASE_URL,
    "toast": "https://ws-api.toasttab.com",
    # Lightspeed Retail (X-Series) is per store: https://{domain_prefix}.retail.lightspeed.app
}


class DiscoveryError(Exception):
    """The provider could not be asked, or refused (bad token, missing scope, bad response)."""


class DiscoveryUnavailable(DiscoveryError):
    """Discovery is not implemented for this provider: pass the location ids explicitly."""


def _square_error_detail(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return response.text[:200].strip()
    parts = []
    for err in errors[:3]:
        if isinstance(err, dict):
            code = err.get("code") or err.get("category") or ""
            detail = err.get("detail") or ""
            parts.append(f"{code}: {detail}".strip(": "))
    return "; ".join(parts)


def discover_square_locations(
    access_token: str,
    base_url: str | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> list[dict[str, Any]]:
    base = (base_url or SQUARE_DEFAULT_BASE_URL).rstrip("/")
    url = f"{base}/v2/locations"
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Square-Version": SQUARE_VERSION,
        "Accept": "application/json",
    }
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"could not reach Square at {base}: {type(exc).__name__}: {exc}") from None
    if response.status_code == 401:
        detail = _square_error_detail(response)
        raise DiscoveryError(
            f"Square rejected the access token (HTTP 401{': ' + detail if detail else ''}); "
            "check the token and that it belongs to this environment (production vs sandbox base URL)"
        )
    if response.status_code == 403:
        detail = _square_error_detail(response)
        raise DiscoveryError(
            f"Square refused to list locations (HTTP 403{': ' + detail if detail else ''}); "
            "the token needs the MERCHANT_PROFILE_READ permission"
        )
    if response.status_code >= 400:
        detail = _square_error_detail(response)
        raise DiscoveryError(
            f"Square returned HTTP {response.status_code} for GET /v2/locations{': ' + detail if detail else ''}"
        )
    try:
        payload = response.json()
    except ValueError:
        raise DiscoveryError(f"Square returned a non-JSON response from {url}") from None
    raw = payload.get("locations") if isinstance(payload, dict) else None
    if not isinstance(raw, list):
        raise DiscoveryError(f"unexpected response from {url}: no 'locations' list")
    locations: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        locations.append(
            {
                "location_id": str(item["id"]),
                "name": item.get("name"),
                "timezone": item.get("timezone"),
                "currency": item.get("currency"),
                "merchant_id": item.get("merchant_id"),
                "business_name": item.get("business_name"),
                "status": item.get("status"),
            }
        )
    return locations


def discover_locations(
    provider: str,
    base_url: str | None,
    access_token: str,
    *,
    timeout: float = TIMEOUT_SECONDS,
) -> list[dict[str, Any]]:
    """The locations ``access_token`` can see at ``provider`` (``base_url`` None = production)."""
    provider = provider.strip().lower()
    if provider == "square":
        return discover_square_locations(access_token, base_url, timeout=timeout)
    if provider in {"toast", "lightspeed"}:
        raise DiscoveryUnavailable(
            f"location discovery is not available for {provider} yet; pass the location ids with --location"
        )
    raise DiscoveryError(f"unknown POS provider {provider!r}")


def merchant_id_of(locations: list[dict[str, Any]]) -> str:
    """The single merchant id of Square locations (all locations of a token share one)."""
    ids = {str(loc["merchant_id"]) for loc in locations if loc.get("merchant_id")}
    if not ids:
        raise DiscoveryError("Square returned no merchant_id with the locations")
    if len(ids) > 1:
        raise DiscoveryError(f"Square returned locations of several merchants: {', '.join(sorted(ids))}")
    return ids.pop()
