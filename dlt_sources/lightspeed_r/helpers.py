"""Lightspeed R-Series client: tokens (rotating refresh tokens), leaky-bucket pacing, cursor
paging, account and shop discovery, and R-Series rows made regular (lists, Decimals, booleans).

:func:`lightspeed_r_tokens` builds the token provider every caller hands to the source and to
the discovery helpers, which raise only ``DiscoveryError``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from requests import PreparedRequest, Response

from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.discovery import DISCOVERY_RETRY_POLICY, Location, discovery_errors
from dlt_sources.common.errors import ApiError, DiscoveryError, ReauthorizationRequired, TokenRejected
from dlt_sources.common.http import ApiSession, ErrorMapper
from dlt_sources.common.pace import SyncPace
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import Row
from dlt_sources.lightspeed_r.settings import (
    API_PREFIX,
    BOOL_FIELDS,
    BUCKET_HEADROOM,
    COLLECTIONS,
    DECIMAL_FIELDS,
    DEFAULT_BASE_URL,
    OAUTH_BASE_URL,
    RECONNECT_HINT,
    TOKEN_PATH,
    USER_AGENT,
)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- errors and auth
def r_series_error_mapper(request: PreparedRequest, response: Response) -> Exception | None:
    """``{"httpCode", "httpMessage", "message", "errorClass"}`` bodies → typed errors."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = ""
    if isinstance(body, dict):
        detail = ": ".join(str(body[k]) for k in ("errorClass", "message") if body.get(k))
    detail = detail or response.text[:300]
    path = (request.path_url or "").split("?", 1)[0]
    if response.status_code == 401:
        return ReauthorizationRequired(f"Lightspeed R-Series answered 401 on {path} ({detail}). {RECONNECT_HINT}")
    return ApiError(f"Lightspeed R-Series {request.method} {path}: HTTP {response.status_code}: {detail}",
                    status=response.status_code, body=response.text[:2000])


def api_base_url(base_url: str | None = None) -> str:
    return (base_url or DEFAULT_BASE_URL).rstrip("/")


def token_url(base_url: str | None = None) -> str:
    """``https://cloud.lightspeedapp.com/auth/oauth/token``; with a sandbox base URL, its own."""
    return (base_url or OAUTH_BASE_URL).rstrip("/") + TOKEN_PATH


def lightspeed_r_tokens(current: TokenSet, *, base_url: str | None, client_id: str | None,
                        client_secret: str | None, on_refresh: Callable[[TokenSet], None] | None = None,
                        policy: RetryPolicy | None = None) -> TokenProvider:
    """The account's token provider: refreshes (form-encoded ``refresh_token`` grant) shortly
    before expiry (access tokens last an hour) and once after a 401. **Both tokens rotate on every
    refresh**: ``on_refresh`` runs inside the refresh, before the new access token is used — persist
    the new tokens there. A refused refresh raises :class:`ReauthorizationRequired`."""
    return TokenProvider(current.access_token, refresh_token=current.refresh_token, expires_at=current.expires_at,
                         client_id=client_id, client_secret=client_secret, token_url=token_url(base_url),
                         on_refresh=on_refresh, provider="Lightspeed R-Series", reconnect_hint=RECONNECT_HINT,
                         policy=policy, token_request_format="form")


# ---------------------------------------------------------------------- client
class RSeriesClient:
    """GETs on ``{base_url}/API/V3`` through an :class:`ApiSession` (bearer refresh, bounded
    retries, ``Retry-After`` after a 429, typed errors) that also **paces itself on the leaky
    bucket**: every response tells the bucket's level (``X-LS-API-Bucket-Level: used/size``) and
    drip rate; when the level comes within ``headroom`` units of the size, the client's gate closes
    until enough has drained, so a sync never runs into the bucket's 429."""

    def __init__(self, base_url: str, token_provider: TokenProvider, *, policy: RetryPolicy | None = None,
                 error_mapper: ErrorMapper = r_series_error_mapper, pacing: Pacing | None = None,
                 pace: SyncPace | None = None, headroom: int = BUCKET_HEADROOM) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = ApiSession(token_provider, policy=policy, error_mapper=error_mapper,
                                  provider="Lightspeed R-Series", pacing=pacing or Pacing(), pace=pace)
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        self.session.hooks["response"].append(self._observe_bucket)
        self.headroom = headroom
        self.max_level = 0.0
        self.bucket_waits = 0

    def _observe_bucket(self, response: Response, *args: Any, **kwargs: Any) -> Response:
        level, size = bucket_level(response.headers.get("X-LS-API-Bucket-Level"))
        if level is None or size is None:
            return response
        self.max_level = max(self.max_level, level)
        try:
            drip = float(response.headers.get("X-LS-API-Drip-Rate") or 1.0)
        except ValueError:
            drip = 1.0
        target = max(1.0, size - self.headroom)
        if level + 1 > target and drip > 0:
            self.bucket_waits += 1
            self.session.pacer.cool_down((level + 1 - target) / drip)
        return response

    @property
    def request_count(self) -> int:
        return self.session.request_count

    def get_url(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        response = self.session.get(url, params=dict(params or {}))
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise ApiError(f"Lightspeed R-Series GET {url.split('?', 1)[0]}: the answer is not JSON "
                           f"({response.text[:200]!r})", status=response.status_code, body=response.text[:2000]) from exc

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.get_url(self.base_url + API_PREFIX + path, params)

    def pages(self, path: str, name: str, params: Mapping[str, Any]) -> Iterator[list[Row]]:
        """Every page of a list, following ``@attributes.next`` (a full URL with ``after=``) until
        it is empty; each page's objects as a list (a lone object is a one-element page)."""
        body = self.get(path, params)
        while True:
            yield as_list(body.get(name))
            nxt = (body.get("@attributes") or {}).get("next") or ""
            if not nxt:
                return
            body = self.get_url(nxt)


def bucket_level(value: str | None) -> tuple[float | None, float | None]:
    """``"10/60"`` → (10.0, 60.0); anything else → (None, None)."""
    if not value or "/" not in value:
        return None, None
    used, _, size = value.partition("/")
    try:
        return float(used), float(size)
    except ValueError:
        return None, None


# ---------------------------------------------------------------------- rows
def as_list(value: Any, key: str | None = None) -> list[Any]:
    """R-Series collections as lists: absent → [], an object → [object], a list as it is; with
    ``key``, the element key inside the collection (``{"SaleLine": …}``)."""
    if value is None or value == "":
        return []
    if key is not None:
        if not isinstance(value, dict):
            return []
        value = value.get(key)
        if value is None:
            return []
    return value if isinstance(value, list) else [value]


def _decimal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def regular(obj: Any, key: str | None = None) -> Any:
    """An R-Series object made regular: nested collections (``SaleLines``, ``SalePayments``,
    ``Prices``, …) as lists, money/quantity/rate strings as exact ``Decimal``, boolean strings as
    ``bool``; ids and timestamps stay strings."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k in COLLECTIONS:
                out[k] = [regular(x) for x in as_list(v, COLLECTIONS[k])]
            elif k == "@attributes":
                continue
            else:
                out[k] = regular(v, k)
        return out
    if isinstance(obj, list):
        return [regular(x, key) for x in obj]
    if key in DECIMAL_FIELDS:
        return _decimal(obj)
    if key in BOOL_FIELDS and isinstance(obj, str):
        return obj.lower() == "true"
    return obj


def r_stamp(when: datetime) -> str:
    """An instant as R-Series compares them: ``2024-01-02T15:04:05+00:00`` (seconds)."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# ---------------------------------------------------------------------- discovery
def _discovery_error(request: PreparedRequest, response: Response) -> Exception:
    return DiscoveryError(f"Lightspeed R-Series returned HTTP {response.status_code} for GET "
                          f"{(request.path_url or '').split('?', 1)[0]}: {response.text[:200].strip()}")


def _token_rejected(exc: TokenRejected) -> str:
    return ("Lightspeed R-Series rejected the access token (HTTP 401); check the token (it lasts an hour: "
            "give the refresh token and the app's client id and secret too) and the account id")


def token_account_id(base_url: str | None, token_provider: TokenProvider, *,
                     policy: RetryPolicy | None = None) -> str:
    """The ``accountID`` of the token (``GET /API/V3/Account.json``). Raises :class:`DiscoveryError`."""
    base = api_base_url(base_url)
    client = RSeriesClient(base, token_provider, policy=policy or DISCOVERY_RETRY_POLICY,
                           error_mapper=_discovery_error)
    with discovery_errors("Lightspeed R-Series", base, rejected=_token_rejected):
        body = client.get("/Account.json")
    accounts = as_list(body.get("Account") if isinstance(body, dict) else None)
    if not accounts or not accounts[0].get("accountID"):
        raise DiscoveryError(f"unexpected response from Lightspeed R-Series GET {API_PREFIX}/Account.json: "
                             "no accountID")
    return str(accounts[0]["accountID"])


def discover_shops(base_url: str | None, token_provider: TokenProvider, account_id: str, *,
                   policy: RetryPolicy | None = None) -> list[Location]:
    """The account's shops (``GET /API/V3/Account/{accountID}/Shop.json``), archived ones skipped."""
    base = api_base_url(base_url)
    client = RSeriesClient(base, token_provider, policy=policy or DISCOVERY_RETRY_POLICY,
                           error_mapper=_discovery_error)
    shops: list[Row] = []
    with discovery_errors("Lightspeed R-Series", base, rejected=_token_rejected):
        for page in client.pages(f"/Account/{account_id}/Shop.json", "Shop", {"limit": 100}):
            shops += [regular(s) for s in page if isinstance(s, dict)]
    return [Location(location_id=str(s["shopID"]), name=s.get("name"), timezone=s.get("timeZone"),
                     currency=s.get("currencyCode"), merchant_id=account_id, business_name=None, status="ACTIVE")
            for s in shops if s.get("shopID") and not s.get("archived")]


__all__ = ["RSeriesClient", "api_base_url", "as_list", "bucket_level", "discover_shops", "lightspeed_r_tokens",
           "parse_stamp", "r_stamp", "r_series_error_mapper", "regular", "token_account_id", "token_url"]
