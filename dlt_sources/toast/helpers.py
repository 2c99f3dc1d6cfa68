"""Toast client: machine-client login with a cached token, Link-header pagination, exact numbers,
row shaping and the version guard."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import requests
from requests import PreparedRequest, Response

from dlt_sources.common import guard
from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.errors import ApiError, MissingScopes, ReauthorizationRequired
from dlt_sources.common.guard import KnownVersions
from dlt_sources.common.http import ApiSession, send_with_retries
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import Row, content_hash
from dlt_sources.toast.settings import (
    ACCOUNT_COLUMN,
    CONTENT_HASH_COLUMN,
    DECIMAL_FIELDS,
    GUARD_COLUMNS,
    KNOWN_VERSIONS_CHUNK,
    LOGIN_PATH,
    MACHINE_CLIENT,
    RESTAURANT_COLUMN,
    RESTAURANT_HEADER,
    SCOPES_BY_PATH,
    TOKEN_REFRESH_MARGIN,
)

if TYPE_CHECKING:
    from dlt import Pipeline

log = logging.getLogger(__name__)

RECONNECT_HINT = (
    "Check the Toast API client: run `pos-sync accounts add toast --client-id … --client-secret …` with "
    "the credentials Toast issued (the client may have been rotated, or lost access to the restaurant or "
    "a scope); syncs of this account stay paused until then."
)

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


# ---------------------------------------------------------------------- auth
class TokenCache(Protocol):
    """Where the machine-client token lives between runs (e.g. encrypted in the app store)."""

    def get(self) -> TokenSet | None: ...

    def put(self, tokens: TokenSet) -> None: ...


class MemoryTokenCache:
    """A :class:`TokenCache` in memory (one process; tests)."""

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self.tokens = tokens
        self.puts = 0

    def get(self) -> TokenSet | None:
        return self.tokens

    def put(self, tokens: TokenSet) -> None:
        self.tokens = tokens
        self.puts += 1


class ToastTokenProvider(TokenProvider):
    """The machine-client token: taken from ``cache`` while valid, else one login, stored back.

    Toast has no refresh grant: "refreshing" is logging in again (``POST {base_url}/authentication/
    v1/authentication/login`` with ``clientId``, ``clientSecret``, ``userAccessType=TOAST_MACHINE_CLIENT``).
    The token is renewed ``refresh_margin`` before ``expiresIn`` runs out (at most half of the
    lifetime the last login reported), and at most once per rejected token after a 401 (:meth:`TokenProvider.handle_unauthorized`). Bad credentials raise
    :class:`ReauthorizationRequired`. ``login_count`` counts logins.
    """

    def __init__(self, client_id: str, client_secret: str, base_url: str, *, cache: TokenCache | None = None,
                 policy: RetryPolicy | None = None, refresh_margin: timedelta = TOKEN_REFRESH_MARGIN,
                 clock: Callable[[], datetime] | None = None, session: requests.Session | None = None) -> None:
        cached = cache.get() if cache is not None else None
        super().__init__(
            cached.access_token if cached else "", refresh_token=MACHINE_CLIENT, expires_at=cached.expires_at if cached
            else None, client_id=client_id, client_secret=client_secret, token_url=base_url.rstrip("/") + LOGIN_PATH,
            refresh_margin=refresh_margin, provider="Toast", reconnect_hint=RECONNECT_HINT, policy=policy,
            clock=clock, session=session,
        )
        self.cache = cache
        self.configured_margin = refresh_margin

    @property
    def can_refresh(self) -> bool:
        """A machine client can always log in again (there is no refresh token to lose)."""
        return bool(self.client_id and self.client_secret and self.token_url)

    @property
    def login_count(self) -> int:
        return self.refresh_count

    def refresh(self, reason: str = "") -> TokenSet:
        """Log in (there is no refresh grant) and store the token in the cache."""
        with self._lock:
            assert self.token_url is not None
            body = {"clientId": self.client_id, "clientSecret": self.client_secret, "userAccessType": MACHINE_CLIENT}
            log.info("logging in to Toast as machine client %s (%s)", self.client_id, reason or "no token")
            response = send_with_retries(
                lambda: self._session.post(self.token_url, json=body, timeout=self.policy.timeout,  # type: ignore[arg-type]
                                           headers={"Accept": "application/json"}),
                self.policy, "Toast login",
            )
            try:
                payload = response.json()
            except ValueError:
                payload = {}
            token = payload.get("token") if isinstance(payload, dict) else None
            if response.status_code >= 400 or not isinstance(token, dict) or not token.get("accessToken"):
                raise ReauthorizationRequired(
                    f"Toast refused the machine-client login (HTTP {response.status_code}: "
                    f"{_error_detail(payload) or response.text[:300]}). {self.reconnect_hint}"
                )
            now = self._clock()
            expires_in = token.get("expiresIn")
            if expires_in is not None:
                # Toast hands out the same token until shortly before it expires: a login inside our
                # margin may return a token with little time left; use it for half of that time
                # instead of logging in again on every call
                self.refresh_margin = min(self.configured_margin, timedelta(seconds=float(expires_in) / 2))
            new = TokenSet(access_token=str(token["accessToken"]),
                           expires_at=now + timedelta(seconds=float(expires_in)) if expires_in is not None else None,
                           raw={k: v for k, v in token.items() if k != "accessToken"})
            self._tokens = new
            self.refresh_count += 1
            if self.cache is not None:
                self.cache.put(replace(new))
            if self.on_refresh is not None:
                self.on_refresh(replace(new))
            return new


def _error_detail(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    parts = [str(payload.get(k)) for k in ("status", "code", "message", "developerMessage") if payload.get(k)]
    return " ".join(parts)


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
    detail = _error_detail(payload) or response.text[:300]
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
    """An :class:`ApiSession` (bearer token, bounded retries honouring Retry-After, typed errors) with
    the restaurant header on every call and ``Link: rel="next"`` pagination."""

    def __init__(self, base_url: str, token_provider: ToastTokenProvider, *, policy: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = ApiSession(token_provider, policy=policy, error_mapper=toast_error_mapper, provider="Toast")

    @property
    def request_count(self) -> int:
        return self.session.request_count

    def get(self, path_or_url: str, restaurant: str, params: Mapping[str, Any] | None = None) -> Any:
        return parse_json(self._get(path_or_url, restaurant, params).text)

    def _get(self, path_or_url: str, restaurant: str, params: Mapping[str, Any] | None = None) -> Response:
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        return self.session.get(url, params=dict(params or {}) or None,
                                headers={RESTAURANT_HEADER: restaurant, "Accept": "application/json"})

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
                               chunk_size: int = KNOWN_VERSIONS_CHUNK) -> KnownVersions:
    """A ``known_versions`` that asks the pipeline's destination, ``chunk_size`` keys per query.

    Returns ``{}`` for tables or columns that do not exist yet (first run); with ``account_id``
    only rows of that tenant (``_pos_account_id``) count.
    """
    return guard.destination_known_versions(pipeline, GUARD_COLUMNS.__getitem__, account_id=account_id,
                                            chunk_size=chunk_size)


def restaurant_list(restaurant_guids: Sequence[str]) -> list[str]:
    out = list(dict.fromkeys(g.strip() for g in restaurant_guids if g and g.strip()))
    if not out:
        raise ValueError("toast_source needs at least one restaurant GUID (Toast-Restaurant-External-ID)")
    return out
