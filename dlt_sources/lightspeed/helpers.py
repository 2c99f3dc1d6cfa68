"""Lightspeed X-Series client, credentials, outlet discovery, version-feed paging, exact-decimal rows
and the optional version guard.

:func:`lightspeed_tokens` builds the token provider every caller hands to the source and to
:func:`discover_outlets`. Discovery raises only ``DiscoveryError`` (see
:mod:`dlt_sources.common.discovery` for what a caller catches).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from requests import PreparedRequest, Response

from dlt_sources.common import exact_numbers, guard
from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.discovery import DISCOVERY_RETRY_POLICY, Location, discovery_errors
from dlt_sources.common.errors import (
    ApiError,
    DiscoveryError,
    MissingScopes,
    ReauthorizationRequired,
    TokenRejected,
)
from dlt_sources.common.guard import KNOWN_VERSIONS_CHUNK, GuardColumns, KnownVersions
from dlt_sources.common.http import ApiSession, ErrorMapper
from dlt_sources.common.pace import SyncPace
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.prefetch import read_ahead
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import Row
from dlt_sources.lightspeed.settings import (
    ACCOUNT_COLUMN,
    API_PREFIX,
    DECIMAL_FIELDS,
    DEFAULT_BASE_URL,
    LIGHTSPEED_PACING,
    OUTLETS_PAGE_SIZE,
    RECONNECT_HINT,
    SCOPES_BY_PATH,
    SCOPES_HINT,
    TOKEN_PATH,
    USER_AGENT,
    VERSION_GUARD,
)

if TYPE_CHECKING:
    from dlt import Pipeline

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- errors and auth
def scope_for_path(path: str) -> str | None:
    """The X-Series scope ``path`` needs (``/api/2.0/sales/…`` → ``sales:read``), None when unknown."""
    marker = path.find(API_PREFIX)
    tail = path[marker + len(API_PREFIX):] if marker >= 0 else path
    best = max((p for p in SCOPES_BY_PATH if tail == p or tail.startswith(p + "/")), key=len, default=None)
    return SCOPES_BY_PATH[best] if best else None


def lightspeed_error_mapper(request: PreparedRequest, response: Response) -> Exception | None:
    """``{"error", "message"}`` bodies -> typed errors (a 401 that survived a refresh -> reconnect;
    a 403 -> :class:`MissingScopes` naming the scope the endpoint needs)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = ""
    if isinstance(body, dict):
        detail = ": ".join(str(body[k]) for k in ("error", "message") if body.get(k))
    detail = detail or response.text[:300]
    path = (request.path_url or "").split("?", 1)[0]
    if response.status_code == 401:
        return ReauthorizationRequired(f"Lightspeed answered 401 on {path} ({detail}). {RECONNECT_HINT}")
    if response.status_code == 403:
        scope = scope_for_path(path)
        return MissingScopes(
            f"Lightspeed refused {request.method} {path}: the access token lacks "
            f"{'the ' + scope + ' scope' if scope else 'a scope'} ({detail}). "
            f"No rows were loaded for this stream. {SCOPES_HINT}",
            scopes=[scope] if scope else [],
        )
    return ApiError(f"Lightspeed {request.method} {path}: HTTP {response.status_code}: {detail}",
                    status=response.status_code, body=response.text[:2000])


DOMAIN_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # one DNS label, as Lightspeed issues them


def store_base_url(domain_prefix: str, base_url: str | None = None) -> str:
    """The store's base URL: ``base_url`` (sandbox, emulator) or ``https://{domain_prefix}.retail.lightspeed.app``.
    A prefix that is not one DNS label (``evil.example/x?``: it would name another host, which the
    token request would carry the app's client secret to) raises ``ValueError``."""
    if base_url:
        return base_url.rstrip("/")
    if not DOMAIN_PREFIX.fullmatch(domain_prefix or ""):
        raise ValueError(f"not a Lightspeed domain prefix: {domain_prefix!r} (letters, digits and hyphens)")
    return DEFAULT_BASE_URL.format(domain_prefix=domain_prefix).rstrip("/")


def lightspeed_tokens(current: TokenSet, *, base_url: str, client_id: str | None, client_secret: str | None,
                      on_refresh: Callable[[TokenSet], None] | None = None,
                      policy: RetryPolicy | None = None) -> TokenProvider:
    """The token provider of one store, for :func:`lightspeed_source` and :func:`discover_outlets`.

    ``current``: the stored tokens; ``base_url``: the store's (:func:`store_base_url`). Refreshes
    through the form-encoded ``POST {base_url}/api/1.0/token`` (``refresh_token`` grant) shortly
    before ``current.expires_at`` (when known) and once after a 401. **Refresh tokens rotate on
    every use**: ``on_refresh`` runs inside the refresh, before the new access token is used by
    any request: that is where the caller must persist the new tokens (atomically). A refresh whose
    response is lost is retried with the old refresh token (``send_with_retries``); Lightspeed's
    grace period (the emulator's ``refresh_grace_seconds``) decides whether that still works; a
    refusal raises :class:`ReauthorizationRequired` with :data:`RECONNECT_HINT`. Without a refresh
    token (or client credentials) the access token is used as is.
    """
    return TokenProvider(
        current.access_token,
        refresh_token=current.refresh_token,
        expires_at=current.expires_at,
        client_id=client_id,
        client_secret=client_secret,
        token_url=base_url.rstrip("/") + TOKEN_PATH,
        on_refresh=on_refresh,
        provider="Lightspeed",
        reconnect_hint=RECONNECT_HINT,
        policy=policy,
        token_request_format="form",
    )


# ---------------------------------------------------------------------- client
class LightspeedClient:
    """GETs on ``{base_url}/api/2.0`` through an :class:`ApiSession` (bearer refresh, retries bounded
    by time, the store's quota headers and ``Retry-After`` dates applied to every request, typed
    errors). JSON is parsed with ``parse_float=Decimal``: money never passes through a float."""

    def __init__(self, base_url: str, token_provider: TokenProvider, *, policy: RetryPolicy | None = None,
                 error_mapper: ErrorMapper = lightspeed_error_mapper, pacing: Pacing | None = None,
                 pace: SyncPace | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = ApiSession(token_provider, policy=policy, error_mapper=error_mapper, provider="Lightspeed",
                                  pacing=pacing or LIGHTSPEED_PACING, pace=pace)
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})

    @property
    def request_count(self) -> int:
        return self.session.request_count

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.get_page(path, params)[0]

    def get_page(self, path: str, params: Mapping[str, Any] | None = None, *,
                 binary_numbers: bool = False) -> tuple[Any, bool]:
        """``(payload, exact)``: the answer parsed with ``Decimal`` numbers (``exact``), or — with
        ``binary_numbers``, when no number of the body could lose a digit — with ``orjson``'s floats,
        which :mod:`dlt_sources.common.exact_numbers` turns back into the same decimals."""
        return self.parse(path, self.fetch(path, params), binary_numbers=binary_numbers)

    def fetch(self, path: str, params: Mapping[str, Any] | None = None) -> Response:
        """The answer of one GET (retried, paced, errors typed), not parsed yet."""
        return self.session.get(self.base_url + API_PREFIX + path, params=dict(params or {}))

    @staticmethod
    def parse(path: str, response: Response, *, binary_numbers: bool = False) -> tuple[Any, bool]:
        """:meth:`get_page`'s parse of an answer :meth:`fetch` got."""
        try:
            return exact_numbers.loads(response.content, binary_numbers=binary_numbers)
        except ValueError as exc:
            raise ApiError(f"Lightspeed GET {path}: the answer is not JSON ({response.text[:200]!r})",
                           status=response.status_code, body=response.text[:2000]) from exc


# the envelope's ``"version": {"min": …, "max": …}`` as the body's last member: the next page's
# ``after``, read off the end of the bytes before the body is parsed (see :func:`version_feed`)
_TAIL_VERSION = re.compile(rb'"version"\s*:\s*\{([^{}]*)\}\s*\}\s*$')
_TAIL_MAX = re.compile(rb'"max"\s*:\s*(\d+)\s*(?:,|$)')
_TAIL_BYTES = 256


def tail_version_max(body: bytes) -> int | None:
    """``version.max`` when the body ends with the ``version`` envelope (as Lightspeed and the
    emulator send it), found in its last bytes without parsing the rest; None otherwise. Only a
    guess: :func:`version_feed` checks it against the parsed body before it uses what it fetched."""
    envelope = _TAIL_VERSION.search(body[-_TAIL_BYTES:])
    found = _TAIL_MAX.search(envelope.group(1).strip()) if envelope else None
    return int(found.group(1)) if found else None


def version_pages(client: LightspeedClient, path: str, after: int, page_size: int,
                  params: Mapping[str, str] | None = None) -> Iterator[tuple[list[Row], int]]:
    """(rows, version.max) per page of a version feed, from ``after`` (exclusive) until ``data`` is
    empty. ``/taxes`` has no ``version`` envelope: its items' largest version is used instead."""
    for rows, top, _ in version_feed(client, path, after, page_size, params):
        yield rows, top


def version_feed(client: LightspeedClient, path: str, after: int, page_size: int,
                 params: Mapping[str, str] | None = None, *,
                 binary_numbers: bool = False) -> Iterator[tuple[list[Row], int, bool]]:
    """:func:`version_pages` with each page's ``exact`` (see :meth:`LightspeedClient.get_page`).

    Page N+1's request needs page N's ``version.max``: the envelope is the body's last member, so
    it is read off the last bytes (:func:`tail_version_max`) and page N+1 is requested while page N
    is parsed (:func:`~dlt_sources.common.prefetch.read_ahead`; the parsed ``version.max`` decides)."""
    def fetch(after: int) -> Response:
        return client.fetch(path, {**(params or {}), "after": after, "page_size": page_size})

    def guess(after: int, response: Response) -> int | None:
        top = tail_version_max(response.content)
        return top if top is not None and top > after else None

    def read(after: int, response: Response) -> tuple[tuple[list[Row], int, bool] | None, int | None]:
        body, exact = client.parse(path, response, binary_numbers=binary_numbers)
        rows = list(body.get("data") or [])
        if not rows:
            return None, None
        top = body.get("version", {}).get("max") if isinstance(body.get("version"), dict) else None
        if top is None:
            top = max(int(r["version"]) for r in rows)
        top = int(top)
        if top <= after:
            raise ApiError(f"Lightspeed {path}: version.max {top} did not move past after={after}")
        return (rows, top, exact), top

    return read_ahead(fetch, after, guess, read, name=f"lightspeed-next-page{path}")


def category_pages(client: LightspeedClient, path: str, page_size: int) -> Iterator[list[Row]]:
    """``/product_categories``: ``page_info {has_next, last_seen}``, ``after`` = the last id seen."""
    after: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": page_size}
        if after:
            params["after"] = after
        body = client.get(path, params)
        rows = list((body.get("data") or {}).get("categories") or [])
        if rows:
            yield rows
        info = body.get("page_info") or {}
        if not info.get("has_next") or not info.get("last_seen") or info.get("last_seen") == after:
            return
        after = str(info["last_seen"])


# ---------------------------------------------------------------------- discovery
def discover_outlets(base_url: str, token_provider: TokenProvider, *, page_size: int = OUTLETS_PAGE_SIZE,
                     policy: RetryPolicy | None = None) -> list[Location]:
    """The store's outlets (``GET /api/2.0/outlets``, paged by version); soft-deleted ones skipped.

    ``base_url``: the store's (:func:`store_base_url`). A refreshable ``token_provider`` refreshes
    after a 401, which rotates the refresh token: give it an ``on_refresh`` that keeps the new
    tokens. Raises :class:`DiscoveryError` (one line: 401 → check the token and the domain prefix).
    """
    base = base_url.rstrip("/")
    url = f"{API_PREFIX}/outlets"
    client = LightspeedClient(base, token_provider, policy=policy or DISCOVERY_RETRY_POLICY,
                              error_mapper=_discovery_error)
    outlets: dict[str, Row] = {}
    with discovery_errors("Lightspeed", base, rejected=_token_rejected):
        try:
            for rows, _ in version_pages(client, "/outlets", 0, page_size):
                outlets.update((str(item["id"]), item) for item in rows if isinstance(item, dict) and item.get("id"))
        except ApiError as exc:
            if exc.status is not None and exc.status < 400:  # a 2xx answer that is not JSON
                raise DiscoveryError(f"Lightspeed returned a non-JSON response from {url}") from exc
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise DiscoveryError(f"unexpected response from Lightspeed GET {url}: {type(exc).__name__}") from exc
    return [Location(location_id=oid, name=item.get("name"), timezone=item.get("time_zone"),
                     currency=item.get("currency"), merchant_id=None, business_name=None, status="ACTIVE")
            for oid, item in outlets.items() if not item.get("deleted_at")]


def retailer_domain_prefix(base_url: str, token_provider: TokenProvider, *, policy: RetryPolicy | None = None) -> str:
    """The domain prefix of the store the token belongs to (``GET /api/2.0/retailer``), to check
    that the credentials are the named store's. Raises :class:`DiscoveryError` (one line)."""
    base = base_url.rstrip("/")
    client = LightspeedClient(base, token_provider, policy=policy or DISCOVERY_RETRY_POLICY,
                              error_mapper=_discovery_error)
    with discovery_errors("Lightspeed", base, rejected=_token_rejected):
        payload = client.get("/retailer")
    prefix = (payload.get("data") or {}).get("domain_prefix") if isinstance(payload, dict) else None
    if not prefix:
        raise DiscoveryError(f"unexpected response from Lightspeed GET {API_PREFIX}/retailer: no domain_prefix")
    return str(prefix).strip().lower()


def _token_rejected(exc: TokenRejected) -> str:
    return ("Lightspeed rejected the access token (HTTP 401); check the token (it may have expired: "
            "connect the store again) and the domain prefix")


def _discovery_error(request: PreparedRequest, response: Response) -> Exception:
    return DiscoveryError(f"Lightspeed returned HTTP {response.status_code} for GET {API_PREFIX}/outlets: "
                          f"{response.text[:200].strip()}")


# ---------------------------------------------------------------------- rows
def exact_decimals(value: Any, key: str | None = None) -> Any:
    """Numbers of :data:`DECIMAL_FIELDS` as ``Decimal`` (integers too), recursively."""
    if isinstance(value, dict):
        return {k: exact_decimals(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [exact_decimals(v, key) for v in value]
    if key in DECIMAL_FIELDS and isinstance(value, int | Decimal) and not isinstance(value, bool):
        return Decimal(value)
    return value


def shape_rows(rows: Sequence[Row], account_id: str | None, *, exact: bool = True) -> list[Row]:
    """The rows with the account column; ``exact`` (numbers parsed as ``Decimal``): the numbers of
    :data:`DECIMAL_FIELDS` made ``Decimal``; otherwise (binary numbers, for the Arrow path, which
    types them itself: ``arrow_nested``'s ``exact_numbers``) the rows as they are."""
    if not exact:
        for row in rows:
            row[ACCOUNT_COLUMN] = account_id
        return list(rows)
    out = []
    for row in rows:
        shaped = exact_decimals(row)
        shaped[ACCOUNT_COLUMN] = account_id
        out.append(shaped)
    return out


# ---------------------------------------------------------------------- version guard
class VersionGuard(guard.VersionGuard):
    """Drops rows whose stored ``version`` is the same or newer (e.g. after a lost cursor state).

    ``known_versions(table, ids) -> {id: stored version}``; None disables the guard. The change
    feed alone already sends nothing twice; the guard protects re-reads from ``after=0``.
    """

    def __init__(self, known_versions: KnownVersions | None) -> None:
        super().__init__(known_versions, _version_guard)


def destination_known_versions(pipeline: Pipeline, *, account_id: str | None = None,
                               chunk_size: int = KNOWN_VERSIONS_CHUNK,
                               idle_seconds: float = guard.LOOKUP_IDLE_SECONDS) -> KnownVersions:
    """A ``known_versions`` reading ``id, version`` from the pipeline's destination (``{}`` before
    the table exists); with ``account_id`` only that tenant's rows count. One destination client
    serves the look-ups while they keep coming, closed after ``idle_seconds`` without one (0: a
    client per look-up; see :class:`dlt_sources.common.guard.DestinationLookups`)."""
    return guard.destination_known_versions(pipeline, _version_guard, account_id=account_id,
                                            chunk_size=chunk_size, idle_seconds=idle_seconds)


def _version_guard(table: str) -> GuardColumns:
    return VERSION_GUARD  # every feed alike
