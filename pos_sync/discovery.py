"""Location discovery: ask a provider which locations an access token can see.

* Square: ``GET {base_url}/v2/locations``.
* Toast: with restaurant GUIDs, ``GET /restaurants/v1/restaurants/{guid}`` for each (name, time
  zone, currency); without, the partners API's ``GET /partners/v1/restaurants`` (only partner
  clients may call it: a standard API client gets :class:`DiscoveryUnavailable`, and the GUIDs
  must be given). Toast calls need the machine-client token: :func:`toast_login`.
* Lightspeed X-Series: ``GET /api/2.0/outlets`` (version-paged; soft-deleted outlets skipped).

Every returned location is a dict ``{"location_id", "name", "timezone", "currency",
"merchant_id", "business_name", "status"}``. Error messages never contain a token or secret.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
TOAST_DEFAULT_BASE_URL = DEFAULT_BASE_URLS["toast"]
LIGHTSPEED_DEFAULT_BASE_URL = "https://{domain_prefix}.retail.lightspeed.app"


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
    location_ids: list[str] | None = None,
    domain_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """The locations ``access_token`` can see at ``provider`` (``base_url`` None = production).

    Toast: ``access_token`` is the machine-client token (:func:`toast_login`); ``location_ids``
    (restaurant GUIDs) are looked up one by one, else the partners API lists them. Lightspeed:
    ``base_url`` None = ``https://{domain_prefix}.retail.lightspeed.app``.
    """
    provider = provider.strip().lower()
    if provider == "square":
        return discover_square_locations(access_token, base_url, timeout=timeout)
    if provider == "toast":
        return discover_toast_restaurants(access_token, base_url, location_ids, timeout=timeout)
    if provider == "lightspeed":
        if not base_url and not domain_prefix:
            raise DiscoveryError("Lightspeed discovery needs the store's base URL or its domain prefix")
        base = base_url or LIGHTSPEED_DEFAULT_BASE_URL.format(domain_prefix=domain_prefix)
        return discover_lightspeed_outlets(access_token, base, timeout=timeout)
    raise DiscoveryError(f"unknown POS provider {provider!r}")


def merchant_id_of(locations: list[dict[str, Any]]) -> str:
    """The single merchant id of Square locations (all locations of a token share one)."""
    ids = {str(loc["merchant_id"]) for loc in locations if loc.get("merchant_id")}
    if not ids:
        raise DiscoveryError("Square returned no merchant_id with the locations")
    if len(ids) > 1:
        raise DiscoveryError(f"Square returned locations of several merchants: {', '.join(sorted(ids))}")
    return ids.pop()


# ------------------------------------------------------------------------------------------ Toast
TOAST_LOGIN_PATH = "/authentication/v1/authentication/login"
TOAST_RESTAURANT_HEADER = "Toast-Restaurant-External-ID"


def _toast_error_detail(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200].strip()
    if not isinstance(payload, dict):
        return ""
    return " ".join(str(payload[k]) for k in ("code", "message", "developerMessage") if payload.get(k))


def _get(client: httpx.Client, url: str, what: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"could not reach {what}: {type(exc).__name__}: {exc}") from None


def toast_login(
    client_id: str,
    client_secret: str,
    base_url: str | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Log the machine client in: ``{"access_token", "expires_at"}`` (Toast returns the same
    token until shortly before it expires; store it and reuse it: Toast limits logins)."""
    base = (base_url or TOAST_DEFAULT_BASE_URL).rstrip("/")
    body = {"clientId": client_id, "clientSecret": client_secret, "userAccessType": "TOAST_MACHINE_CLIENT"}
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.post(base + TOAST_LOGIN_PATH, json=body, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"could not reach Toast at {base}: {type(exc).__name__}: {exc}") from None
    if response.status_code in (400, 401, 403):
        raise DiscoveryError(
            f"Toast refused the machine-client login (HTTP {response.status_code}: {_toast_error_detail(response)}); "
            "check the client id and secret and that they belong to this environment (production vs sandbox)"
        )
    if response.status_code >= 400:
        raise DiscoveryError(f"Toast login failed: HTTP {response.status_code} {_toast_error_detail(response)}")
    try:
        token = response.json().get("token") or {}
    except (ValueError, AttributeError):
        token = {}
    if not isinstance(token, dict) or not token.get("accessToken"):
        raise DiscoveryError("Toast login answered without an access token")
    expires_in = token.get("expiresIn")
    expires_at = datetime.now(UTC) + timedelta(seconds=float(expires_in)) if expires_in is not None else None
    return {"access_token": str(token["accessToken"]), "expires_at": expires_at}


def _toast_restaurant(client: httpx.Client, base: str, guid: str) -> dict[str, Any]:
    response = _get(client, f"{base}/restaurants/v1/restaurants/{guid}", f"Toast at {base}",
                    headers={TOAST_RESTAURANT_HEADER: guid})
    if response.status_code in (403, 404):
        raise DiscoveryError(
            f"restaurant {guid} is not visible to this Toast client (HTTP {response.status_code}: "
            f"{_toast_error_detail(response)}); check the GUID and the client's restaurant access"
        )
    if response.status_code == 401:
        raise DiscoveryError("Toast rejected the machine-client token (HTTP 401)")
    if response.status_code >= 400:
        raise DiscoveryError(f"Toast returned HTTP {response.status_code} for restaurant {guid}: "
                             f"{_toast_error_detail(response)}")
    try:
        payload = response.json()
    except ValueError:
        raise DiscoveryError(f"Toast returned a non-JSON response for restaurant {guid}") from None
    if not isinstance(payload, dict):
        raise DiscoveryError(f"unexpected response for Toast restaurant {guid}")
    general = payload.get("general") or {}
    return {
        "location_id": str(payload.get("guid") or guid),
        "name": general.get("locationName") or general.get("name"),
        "timezone": general.get("timeZone"),
        "currency": general.get("currencyCode"),
        "merchant_id": general.get("managementGroupGuid"),
        "business_name": general.get("name"),
        "status": "ARCHIVED" if general.get("archived") else "ACTIVE",
    }


def discover_toast_restaurants(
    access_token: str,
    base_url: str | None = None,
    restaurant_guids: list[str] | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> list[dict[str, Any]]:
    """Details of the given restaurants; without GUIDs, the partners API's restaurant list."""
    base = (base_url or TOAST_DEFAULT_BASE_URL).rstrip("/")
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    with httpx.Client(timeout=timeout, transport=transport, headers=headers) as client:
        guids = list(dict.fromkeys(restaurant_guids or []))
        if not guids:
            response = _get(client, f"{base}/partners/v1/restaurants", f"Toast at {base}")
            if response.status_code in (401, 403, 404):
                raise DiscoveryUnavailable(
                    f"this Toast client cannot list its restaurants (partners API: HTTP {response.status_code}); "
                    "pass the restaurant GUIDs with --location"
                )
            if response.status_code >= 400:
                raise DiscoveryError(f"Toast returned HTTP {response.status_code} for GET /partners/v1/restaurants")
            try:
                listed = response.json()
            except ValueError:
                raise DiscoveryError("Toast returned a non-JSON restaurant list") from None
            guids = [str(r["restaurantGuid"]) for r in listed if isinstance(r, dict) and r.get("restaurantGuid")
                     and not r.get("deleted")] if isinstance(listed, list) else []
        return [_toast_restaurant(client, base, guid) for guid in guids]


# ------------------------------------------------------------------------------------- Lightspeed
def discover_lightspeed_outlets(
    access_token: str,
    base_url: str,
    *,
    timeout: float = TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> list[dict[str, Any]]:
    """The store's outlets (``GET /api/2.0/outlets``, paged by version); soft-deleted ones skipped."""
    base = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    outlets: dict[str, dict[str, Any]] = {}
    after = 0
    with httpx.Client(timeout=timeout, transport=transport, headers=headers) as client:
        for _ in range(1000):  # pages; a store has a handful of outlets
            response = _get(client, f"{base}/api/2.0/outlets", f"Lightspeed at {base}",
                            params={"after": after, "page_size": 1000})
            if response.status_code == 401:
                raise DiscoveryError(
                    "Lightspeed rejected the access token (HTTP 401); check the token (it may have expired: "
                    "connect the store again) and the domain prefix"
                )
            if response.status_code >= 400:
                raise DiscoveryError(f"Lightspeed returned HTTP {response.status_code} for GET /api/2.0/outlets: "
                                     f"{response.text[:200].strip()}")
            try:
                payload = response.json()
            except ValueError:
                raise DiscoveryError("Lightspeed returned a non-JSON response from /api/2.0/outlets") from None
            data = payload.get("data") if isinstance(payload, dict) else None
            if not data:
                break
            for item in data:
                if isinstance(item, dict) and item.get("id"):
                    outlets[str(item["id"])] = item
            top = (payload.get("version") or {}).get("max")
            if top is None:
                top = max(int(i.get("version") or 0) for i in data if isinstance(i, dict))
            if int(top) <= after:
                break
            after = int(top)
    return [
        {
            "location_id": oid,
            "name": item.get("name"),
            "timezone": item.get("time_zone"),
            "currency": item.get("currency"),
            "merchant_id": None,
            "business_name": None,
            "status": "ACTIVE",
        }
        for oid, item in outlets.items()
        if not item.get("deleted_at")
    ]
