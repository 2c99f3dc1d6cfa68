"""Toast client, restaurant discovery, Link-header pagination, exact numbers, row shaping and the
version guard. The machine-client login and token provider live in :mod:`dlt_sources.toast.auth`
(kept apart so neither module outgrows 400 lines) and are re-exported here, beside the client.

:func:`discover_restaurants` raises only ``DiscoveryError`` and its ``DiscoveryUnavailable`` (see
:mod:`dlt_sources.common.discovery` for what a caller catches).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from requests import PreparedRequest, Response

from dlt_sources.common import guard
from dlt_sources.common.auth import TokenProvider
from dlt_sources.common.discovery import DISCOVERY_RETRY_POLICY, Location, discovery_errors
from dlt_sources.common.errors import (
    ApiError,
    DiscoveryError,
    DiscoveryUnavailable,
    MissingScopes,
    ReauthorizationRequired,
    TokenRejected,
)
from dlt_sources.common.guard import KnownVersions
from dlt_sources.common.http import ApiSession, ErrorMapper
from dlt_sources.common.pace import SyncPace
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import Row, content_hash
from dlt_sources.toast.auth import RECONNECT_HINT, discovery_detail, error_detail, login_refused
from dlt_sources.toast.auth import ToastTokenProvider as ToastTokenProvider
from dlt_sources.toast.auth import login as login
from dlt_sources.toast.auth import toast_tokens as toast_tokens
from dlt_sources.toast.settings import (
    ACCOUNT_COLUMN,
    CONTENT_HASH_COLUMN,
    DECIMAL_FIELDS,
    GUARD_COLUMNS,
    KNOWN_VERSIONS_CHUNK,
    PARTNERS_RESTAURANTS_PATH,
    RESTAURANT_COLUMN,
    RESTAURANT_HEADER,
    RESTAURANT_PATH,
    SCOPES_BY_PATH,
    TOAST_PACING,
)

if TYPE_CHECKING:
    from dlt import Pipeline

    from dlt_sources.toast.pages import OrdersPage

log = logging.getLogger(__name__)

TOAST_TS_RE = re.compile(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


# ---------------------------------------------------------------------- time
def parse_ts(value: Any) -> datetime:
    """Toast's ``2024-04-01T15:09:30.223+0000`` (offset without colon), RFC 3339 or a datetime → aware UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).strip()
    match = TOAST_TS_RE.match(text)
    if match is None:
        raise ValueError(f"not a Toast timestamp: {value!r}")
    head, frac, offset = match.groups()
    frac = "." + (frac[1:] + "000000")[:6] if frac else ""
    if offset is None or offset == "Z":
        offset = "+00:00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    return datetime.fromisoformat(f"{head}{frac}{offset}").astimezone(UTC)


def toast_ts(when: datetime) -> str:
    """Aware datetime → Toast's request format (UTC, milliseconds, ``+0000``)."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def windows(begin: datetime, end: datetime, size: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """``[begin, end)`` cut into consecutive windows of at most ``size``."""
    start = begin
    while start < end:
        stop = min(start + size, end)
        yield start, stop
        start = stop


# ---------------------------------------------------------------------- numbers
def parse_json(text: str) -> Any:
    """JSON with every non-integer number as an exact ``Decimal`` (no float rounding)."""
    return json.loads(text, parse_float=Decimal)


def exact_numbers(node: Any, key: str | None = None) -> Any:
    """Decimals → their exact decimal text (no exponent); integers under :data:`DECIMAL_FIELDS` too.

    Toast sends money as doubles (``4.739999999999999`` included): the raw tables keep the exact
    text of the payload; the canonical step rounds half-up to the currency's minor unit, once.
    """
    if isinstance(node, dict):
        return {k: exact_numbers(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [exact_numbers(v, key) for v in node]
    if isinstance(node, Decimal):
        return format(node, "f")
    if isinstance(node, int) and not isinstance(node, bool) and key in DECIMAL_FIELDS:
        return str(node)
    return node


# ---------------------------------------------------------------------- errors
def scope_for_path(path: str) -> str | None:
    for marker, scope in SCOPES_BY_PATH.items():
        if marker in path:
            return scope
    return None


def toast_error_mapper(request: PreparedRequest, response: Response) -> Exception | None:
    """Toast ErrorMessage → typed errors (403: missing scope or restaurant access; 401 after re-login)."""
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    detail = error_detail(payload) or response.text[:300]
    path = (request.path_url or "").split("?", 1)[0]
    restaurant = request.headers.get(RESTAURANT_HEADER)
    if response.status_code == 403:
        scope = scope_for_path(path)
        return MissingScopes(
            f"Toast refused {request.method} {path} for restaurant {restaurant}: the API client lacks "
            f"{'the ' + scope + ' scope' if scope else 'a scope'} or access to the restaurant ({detail}). "
            f"No rows were loaded for this stream. {RECONNECT_HINT}",
            scopes=[scope] if scope else [],
        )
    if response.status_code == 401:
        return ReauthorizationRequired(f"Toast answered 401 on {path} ({detail}). {RECONNECT_HINT}")
    return ApiError(f"Toast {request.method} {path} (restaurant {restaurant}): HTTP {response.status_code}: {detail}",
                    status=response.status_code, body=response.text[:2000])


# ---------------------------------------------------------------------- client
class ToastClient:
    """An :class:`ApiSession` (bearer token, retries bounded by time, Toast's rate limits and the
    ``Retry-After`` of a 429 applied to every request, typed errors) with the restaurant header on
    every call and ``Link: rel="next"`` pagination. ``pace``: the run's counters (``session.pace``)."""

    def __init__(self, base_url: str, token_provider: TokenProvider, *, policy: RetryPolicy | None = None,
                 error_mapper: ErrorMapper = toast_error_mapper, pacing: Pacing | None = None,
                 pace: SyncPace | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = ApiSession(token_provider, policy=policy, error_mapper=error_mapper, provider="Toast",
                                  pacing=pacing or TOAST_PACING, pace=pace)

    @property
    def request_count(self) -> int:
        return self.session.request_count

    def get(self, path_or_url: str, restaurant: str | None, params: Mapping[str, Any] | None = None) -> Any:
        """The parsed JSON answer (``restaurant`` None: a call that names none, e.g. the partners API)."""
        return parse_json(self._get(path_or_url, restaurant, params).text)

    def _get(self, path_or_url: str, restaurant: str | None, params: Mapping[str, Any] | None = None) -> Response:
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        headers = {"Accept": "application/json"} | ({RESTAURANT_HEADER: restaurant} if restaurant else {})
        return self.session.get(url, params=dict(params or {}) or None, headers=headers)

    def pages(self, path: str, restaurant: str, params: Mapping[str, Any]) -> Iterator[list[Row]]:
        """Every page of a bare-array endpoint: follow ``rel="next"`` until it is gone (a short page
        is not the end) or a page is empty."""
        response = self._get(path, restaurant, params)
        while True:
            data = parse_json(response.text)
            if not isinstance(data, list):
                raise ApiError(f"Toast {path}: expected a JSON array, got {type(data).__name__}",
                               status=response.status_code, body=response.text[:2000])
            if data:
                yield data
            url = response.links.get("next", {}).get("url")
            if not url or not data:
                return
            response = self._get(url, restaurant)

    def orders_pages(self, path: str, restaurant: str, params: Mapping[str, Any]) -> Iterator[OrdersPage]:
        """:meth:`pages` of ``ordersBulk`` as :class:`OrdersPage` objects (read into Arrow)."""
        from dlt_sources.toast.pages import OrdersPage  # pyarrow: at a sync, not at discovery

        response = self._get(path, restaurant, params)
        while True:
            page = OrdersPage(response, restaurant, path)
            if page.rows is None:
                page.dicts()  # not an array: raises here, as pages() does
            if len(page):
                yield page
            url = response.links.get("next", {}).get("url")
            if not url or not len(page):
                return
            response = self._get(url, restaurant)


# ---------------------------------------------------------------------- discovery
def discover_restaurants(base_url: str, token_provider: TokenProvider, restaurant_guids: Sequence[str] | None = None,
                         *, policy: RetryPolicy | None = None) -> list[Location]:
    """The restaurants to sync, through :class:`ToastClient` (``token_provider``: :func:`toast_tokens`).

    With ``restaurant_guids``: each one's ``GET /restaurants/v1/restaurants/{guid}`` (name, time
    zone, currency; an unknown or foreign GUID is a :class:`DiscoveryError`). Without: the partners
    API's ``GET /partners/v1/restaurants``, which only partner clients may call; a standard API
    client gets :class:`DiscoveryUnavailable` ("pass the restaurant GUIDs with --location").
    """
    base = base_url.rstrip("/")
    client = ToastClient(base, token_provider, policy=policy or DISCOVERY_RETRY_POLICY,
                         error_mapper=_discovery_error)
    with discovery_errors("Toast", base, rejected=_token_rejected, refused=login_refused):
        guids = list(dict.fromkeys(restaurant_guids or [])) or _partner_restaurants(client)
        found = [_restaurant(client, guid) for guid in guids]
    return found


def _partner_restaurants(client: ToastClient) -> list[str]:
    try:
        listed = client.get(PARTNERS_RESTAURANTS_PATH, None)
    except TokenRejected as exc:  # the token works elsewhere: a fresh login did not help either
        raise _partners_unavailable(401) from exc
    except ValueError:
        raise DiscoveryError("Toast returned a non-JSON restaurant list") from None
    if not isinstance(listed, list):
        return []
    return [str(r["restaurantGuid"]) for r in listed
            if isinstance(r, dict) and r.get("restaurantGuid") and not r.get("deleted")]


def _restaurant(client: ToastClient, guid: str) -> Location:
    try:
        payload = client.get(RESTAURANT_PATH.format(guid=guid), guid)
    except ValueError:
        raise DiscoveryError(f"Toast returned a non-JSON response for restaurant {guid}") from None
    if not isinstance(payload, dict):
        raise DiscoveryError(f"unexpected response for Toast restaurant {guid}")
    general = payload.get("general") or {}
    return Location(location_id=str(payload.get("guid") or guid),
                    name=general.get("locationName") or general.get("name"), timezone=general.get("timeZone"),
                    currency=general.get("currencyCode"), merchant_id=general.get("managementGroupGuid"),
                    business_name=general.get("name"), status="ARCHIVED" if general.get("archived") else "ACTIVE")


def _partners_unavailable(status: int) -> DiscoveryUnavailable:
    return DiscoveryUnavailable(f"this Toast client cannot list its restaurants (partners API: HTTP {status}); "
                                "pass the restaurant GUIDs with --location")


def _token_rejected(exc: TokenRejected) -> str:
    return "Toast rejected the machine-client token (HTTP 401)"


def _discovery_error(request: PreparedRequest, response: Response) -> Exception:
    status = response.status_code
    if (request.path_url or "").split("?", 1)[0].endswith(PARTNERS_RESTAURANTS_PATH):
        if status in (403, 404):
            return _partners_unavailable(status)
        return DiscoveryError(f"Toast returned HTTP {status} for GET {PARTNERS_RESTAURANTS_PATH}")
    guid = request.headers.get(RESTAURANT_HEADER)
    detail = discovery_detail(response.text)
    if status in (403, 404):
        return DiscoveryError(f"restaurant {guid} is not visible to this Toast client (HTTP {status}: {detail}); "
                              "check the GUID and the client's restaurant access")
    return DiscoveryError(f"Toast returned HTTP {status} for restaurant {guid}: {detail}")


# ---------------------------------------------------------------------- rows
def shape_row(row: Row, account_id: str | None, restaurant: str, *, with_hash: bool = False) -> Row:
    shaped: Row = exact_numbers(row)
    if with_hash:
        shaped[CONTENT_HASH_COLUMN] = content_hash(shaped)
    shaped[ACCOUNT_COLUMN] = account_id
    shaped[RESTAURANT_COLUMN] = restaurant
    return shaped


def shape_menus(payload: Row) -> Row:
    """Menus v2 → one row per restaurant whose children are flat lists (dlt child tables).

    Toast nests menu groups recursively and keys modifier groups/options by reference id in maps;
    loaded as-is that would give one table per nesting depth and one column per reference id. Here:
    ``menus`` (without groups), ``menu_groups`` (``menu_guid``, ``parent_group_guid``, ``depth``),
    ``menu_items`` (``menu_guid``, ``menu_group_guid``; one row per placement), ``modifier_groups``,
    ``modifier_options``, ``pre_modifier_groups`` (the maps' values; ``referenceId`` inside).
    """
    menus: list[Row] = []
    groups: list[Row] = []
    items: list[Row] = []

    def walk(group: Row, menu_guid: str | None, parent: str | None, depth: int) -> None:
        groups.append({k: v for k, v in group.items() if k not in ("menuGroups", "menuItems")}
                      | {"menu_guid": menu_guid, "parent_group_guid": parent, "depth": depth})
        for item in group.get("menuItems") or []:
            items.append(dict(item) | {"menu_guid": menu_guid, "menu_group_guid": group.get("guid")})
        for child in group.get("menuGroups") or []:
            walk(child, menu_guid, group.get("guid"), depth + 1)

    for menu in payload.get("menus") or []:
        menus.append({k: v for k, v in menu.items() if k != "menuGroups"})
        for group in menu.get("menuGroups") or []:
            walk(group, menu.get("guid"), None, 0)
    out = {k: v for k, v in payload.items()
           if k not in ("menus", "modifierGroupReferences", "modifierOptionReferences", "preModifierGroupReferences")}
    out["menus"] = menus
    out["menu_groups"] = groups
    out["menu_items"] = items
    out["modifier_groups"] = list((payload.get("modifierGroupReferences") or {}).values())
    out["modifier_options"] = list((payload.get("modifierOptionReferences") or {}).values())
    out["pre_modifier_groups"] = list((payload.get("preModifierGroupReferences") or {}).values())
    return out


# ---------------------------------------------------------------------- version guard
class VersionGuard(guard.VersionGuard):
    """Drops fetched rows the destination already holds in the same or a newer version.

    ``known_versions(table, keys)`` returns ``{key: stored guard value}`` (:data:`GUARD_COLUMNS`),
    asked once per fetched page; ``dropped``/``passed`` count rows per table.
    """

    def __init__(self, known_versions: KnownVersions | None) -> None:
        super().__init__(known_versions, GUARD_COLUMNS.__getitem__, parse_ts)


def destination_known_versions(pipeline: Pipeline, *, account_id: str | None = None,
                               chunk_size: int = KNOWN_VERSIONS_CHUNK,
                               idle_seconds: float = guard.LOOKUP_IDLE_SECONDS) -> KnownVersions:
    """A ``known_versions`` that asks the pipeline's destination, ``chunk_size`` keys per query.

    Returns ``{}`` for tables or columns that do not exist yet (first run); with ``account_id``
    only rows of that tenant (``_pos_account_id``) count. One destination client serves the
    look-ups while they keep coming, closed after ``idle_seconds`` without one (0: a client per
    look-up; see :class:`dlt_sources.common.guard.DestinationLookups`).
    """
    return guard.destination_known_versions(pipeline, GUARD_COLUMNS.__getitem__, account_id=account_id,
                                            chunk_size=chunk_size, idle_seconds=idle_seconds)


def restaurant_list(restaurant_guids: Sequence[str]) -> list[str]:
    out = list(dict.fromkeys(g.strip() for g in restaurant_guids if g and g.strip()))
    if not out:
        raise ValueError("toast_source needs at least one restaurant GUID (Toast-Restaurant-External-ID)")
    return out
