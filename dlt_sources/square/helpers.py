"""Square client, credentials, location discovery, pagination with INVALID_CURSOR restarts, row
shaping and the version guard.

:func:`square_tokens` builds the token provider every caller hands to the source and to
:func:`discover_locations`. Discovery raises only ``DiscoveryError`` (see
:mod:`dlt_sources.common.discovery` for what a caller catches).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from requests import PreparedRequest, Response

from dlt_sources.common import guard
from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.discovery import DISCOVERY_RETRY_POLICY, Location, discovery_errors, error_detail
from dlt_sources.common.errors import (
    ApiError,
    DiscoveryError,
    InvalidCursor,
    MissingScopes,
    ReauthorizationRequired,
    TokenRejected,
)
from dlt_sources.common.guard import KnownVersions
from dlt_sources.common.http import ApiSession, ErrorMapper
from dlt_sources.common.incremental import iso
from dlt_sources.common.pace import SyncPace
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.prefetch import prefetched, read_ahead
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import Row, content_hash
from dlt_sources.square.settings import (
    ACCOUNT_COLUMN,
    CONTENT_HASH_COLUMN,
    DEFAULT_BASE_URL,
    ENDPOINTS,
    GUARD_COLUMNS,
    KNOWN_VERSIONS_CHUNK,
    MAX_CURSOR_RESTARTS,
    PREFETCH_PAGES,
    SCOPES_BY_PATH,
    SQUARE_PACING,
    SQUARE_VERSION,
    TOKEN_PATH,
)

if TYPE_CHECKING:
    from dlt import Pipeline
    from dlt.sources.helpers.rest_client import RESTClient

    from dlt_sources.common.arrow_json import JsonPage

log = logging.getLogger(__name__)
P = TypeVar("P")  # a page as a paginator yields it

RECONNECT_HINT = (
    "Reconnect the Square account: run `pos-sync accounts add square` and approve the OAuth consent "
    "again (the OAuth grant was revoked, expired, or lacks a permission); syncs of this account stay "
    "paused until then."
)


# ---------------------------------------------------------------------- time
def parse_ts(value: Any) -> datetime:
    """RFC 3339 (any precision; truncated to microseconds) or datetime -> aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if type(value) is str and len(value) in _FAST_LENGTHS and value[-1] == "Z":
        try:  # the common case: "2026-01-05T08:12:33Z" / "…33.123Z" / "…33.123456Z"
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
        except ValueError:
            pass
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:  # trim fractions beyond microseconds (Square catalog uses nanoseconds)
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, tail = rest[:digits], rest[digits:]
        text = f"{head}.{(frac + '000000')[:6]}{tail}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_FAST_LENGTHS = frozenset({20, 24, 27})  # seconds, milliseconds, microseconds + "Z"


# ---------------------------------------------------------------------- errors
def _error_codes(response: Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def scope_for_path(path: str) -> str | None:
    marker = path.find("/v2/")
    tail = path[marker:] if marker >= 0 else path
    for prefix, scope in SCOPES_BY_PATH.items():
        if tail.startswith(prefix):
            return scope
    return None


def square_error_mapper(request: PreparedRequest, response: Response) -> Exception | None:
    """Square error envelope -> typed errors (403 INSUFFICIENT_SCOPES, 400 INVALID_CURSOR, 401)."""
    errors = _error_codes(response)
    codes = [str(e.get("code", "")) for e in errors]
    detail = "; ".join(f"{e.get('code')}: {e.get('detail', '')}" for e in errors) or response.text[:300]
    path = (request.path_url or "").split("?", 1)[0]
    if response.status_code == 403 and ("INSUFFICIENT_SCOPES" in codes or not codes):
        scope = scope_for_path(path)
        needed = f"the {scope} permission" if scope else "a permission"
        return MissingScopes(
            f"Square refused {request.method} {path}: the access token lacks {needed} ({detail}). "
            f"No rows were loaded for this stream. {RECONNECT_HINT}",
            scopes=[scope] if scope else [],
        )
    if "INVALID_CURSOR" in codes:
        return InvalidCursor(f"Square rejected the cursor of {path}: {detail}", status=response.status_code,
                             codes=codes, body=response.text[:2000])
    if response.status_code == 401:
        return ReauthorizationRequired(f"Square answered 401 on {path} ({detail}). {RECONNECT_HINT}")
    return ApiError(f"Square {request.method} {path}: HTTP {response.status_code}: {detail}",
                    status=response.status_code, codes=codes, body=response.text[:2000])


# ---------------------------------------------------------------------- credentials
def square_tokens(current: TokenSet, *, client_id: str | None = None, client_secret: str | None = None,
                  base_url: str = DEFAULT_BASE_URL, on_refresh: Callable[[TokenSet], None] | None = None,
                  policy: RetryPolicy | None = None) -> TokenProvider:
    """The token provider of one Square account, for :func:`square_source` and :func:`discover_locations`.

    ``current``: the stored tokens (access token, refresh token, expiry). With a refresh token and
    the app's ``client_id``/``client_secret`` the access token is renewed through the OAuth
    ``refresh_token`` grant (JSON ``POST {base_url}/oauth2/token``) shortly before it expires and
    once after a 401; every new :class:`TokenSet` goes to ``on_refresh`` (persist it there).
    Without them (a personal access token) it is used as is and a 401 means reconnect.
    """
    return TokenProvider(
        current.access_token,
        refresh_token=current.refresh_token,
        expires_at=current.expires_at,
        client_id=client_id,
        client_secret=client_secret,
        token_url=base_url.rstrip("/") + TOKEN_PATH,
        on_refresh=on_refresh,
        provider="Square",
        reconnect_hint=RECONNECT_HINT,
        policy=policy,
    )


# ---------------------------------------------------------------------- client
class SquareClient:
    """dlt ``RESTClient`` on an :class:`ApiSession` (auth refresh, retries bounded by time, the wait
    after a 429 shared by every thread, typed errors). ``pace``: the run's counters (``session.pace``)."""

    def __init__(self, base_url: str, token_provider: TokenProvider, *, policy: RetryPolicy | None = None,
                 prefetch: int = PREFETCH_PAGES, error_mapper: ErrorMapper = square_error_mapper,
                 pacing: Pacing | None = None, pace: SyncPace | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.prefetch = prefetch
        self.session = ApiSession(token_provider, policy=policy, error_mapper=error_mapper, provider="Square",
                                  pacing=pacing or SQUARE_PACING, pace=pace)
        self.headers = {"Square-Version": SQUARE_VERSION, "Accept": "application/json"}

    @functools.cached_property
    def rest(self) -> RESTClient:
        """dlt's client, for the paginated reads only (made, and dlt imported, on the first of them:
        discovering locations, one GET, loads no dlt)."""
        from dlt.sources.helpers.rest_client import RESTClient

        return RESTClient(base_url=self.base_url, headers=self.headers, session=self.session)

    @property
    def request_count(self) -> int:
        return self.session.request_count

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One GET of ``base_url + path`` (the request ``RESTClient.get`` would send), on the session."""
        response = self.session.get(f"{self.base_url}/{path.lstrip('/')}", params=dict(params or {}),
                                    headers=self.headers)
        return dict(response.json() or {})

    def pages(self, method: str, path: str, data_key: str, *, params: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None) -> Iterator[tuple[list[Row], dict[str, Any]]]:
        """(rows, response JSON) per page; cursor in the query (GET) or in the body (POST).

        The next page is requested while the caller works on the current one
        (:func:`~dlt_sources.common.prefetch.prefetched`, ``prefetch`` pages ahead; 0 = in turn).
        """
        from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

        if method == "GET":
            paginator = JSONResponseCursorPaginator(cursor_path="cursor", cursor_param="cursor")
        else:
            paginator = JSONResponseCursorPaginator(cursor_path="cursor", cursor_body_path="cursor")

        def fetch() -> Iterator[tuple[list[Row], dict[str, Any]]]:
            for page in self.rest.paginate(
                path,
                method=method,  # type: ignore[arg-type]
                params=dict(params) if params is not None else None,
                json=json.loads(json.dumps(body)) if body is not None else None,  # paginator mutates it
                paginator=paginator,
                data_selector=_selector(data_key),
                hooks={"response": []},  # errors are raised by ApiSession after retries
            ):
                yield list(page), page.response.json()

        yield from prefetched(fetch(), self.prefetch, name=f"square-pages{path}")

    def json_pages(self, path: str, data_key: str, body: Mapping[str, Any]) -> Iterator[JsonPage]:
        """The POST pages of :meth:`pages` (the same requests; cursor in the body, paging ends on an
        absent or empty cursor, as dlt's paginator ends it), each body read straight into Arrow
        (:func:`~dlt_sources.common.arrow_json.read_page`) in the fetching thread, or kept for
        ``orjson`` when the reader refuses it."""
        from dlt_sources.common.arrow_json import read_page  # pyarrow: not for discovery's one GET

        url = f"{self.base_url}/{path.lstrip('/')}"

        def fetch(cursor: str | None) -> Response:
            request = {**body, "cursor": cursor} if cursor else body
            return self.session.post(url, json=request, headers=self.headers)

        def guess(_: str | None, response: Response) -> str | None:
            return tail_cursor(response.content)

        def read(_: str | None, response: Response) -> tuple[JsonPage, str | None]:
            page = read_page(response.content, data_key)
            if "cursor" in page.top or (page.rows is not None and "cursor" not in page.names):
                cursor = page.top.get("cursor")
            else:  # refused, or a cursor the reader did not read as text: as dlt reads it
                cursor = _cursor_of(response.json())
            return page, cursor or None  # paging ends on an absent or empty cursor

        # the next page is requested while this one is read (its cursor read off the body's end)
        # and, prefetched, read while the caller works on this one
        yield from prefetched(read_ahead(fetch, None, guess, read, name=f"square-next-page{path}"),
                              self.prefetch, name=f"square-pages{path}")


# the body's last member ``"cursor": "…"``: the next page's cursor, read off the end of the bytes
# before the page is read (see :func:`~dlt_sources.common.prefetch.read_ahead`)
_TAIL_CURSOR = re.compile(rb'"cursor"\s*:\s*"([^"\\]+)"\s*\}\s*$')
_TAIL_BYTES = 1024


def tail_cursor(body: bytes) -> str | None:
    """The cursor when the body ends with it (as Square and the emulator send it), without
    reading the rest; None otherwise. A guess that the read of the page confirms or drops."""
    found = _TAIL_CURSOR.search(body[-_TAIL_BYTES:])
    try:
        return found.group(1).decode() if found else None
    except UnicodeDecodeError:
        return None


def _cursor_of(payload: Any) -> Any:
    return payload.get("cursor") if isinstance(payload, dict) else None


@functools.cache
def _selector(data_key: str) -> Any:
    """The compiled JSONPath of a page's data key: dlt compiles a text selector again for every
    page (building jsonpath-ng's parser each time: ~1 ms, a tenth of a payments page's client time)."""
    from dlt.common.jsonpath import compile_path

    return compile_path(data_key)


def restartable_pages(
    client: SquareClient,
    method: str,
    path: str,
    data_key: str,
    make_request: Callable[[datetime], tuple[dict[str, Any] | None, dict[str, Any] | None]],
    begin: datetime,
    cursor_field: str,
    *,
    max_restarts: int = MAX_CURSOR_RESTARTS,
) -> Iterator[tuple[list[Row], dict[str, Any]]]:
    """Pages of an ascending query; on INVALID_CURSOR restart it from the high-water mark reached.

    ``make_request(begin)`` builds (params, body) for a query starting at ``begin``. Rows come sorted
    ascending by ``cursor_field``, so restarting at the largest value seen loses nothing; rows on
    the boundary come again and are de-duplicated by the merge. At most ``max_restarts`` restarts.
    """
    def pages(start: datetime) -> Iterator[tuple[list[Row], dict[str, Any]]]:
        params, body = make_request(start)
        return client.pages(method, path, data_key, params=params, body=body)

    return _restarting(path, begin, pages, lambda page: [row.get(cursor_field) for row in page[0]], max_restarts)


def restartable_json_pages(
    client: SquareClient,
    path: str,
    data_key: str,
    make_request: Callable[[datetime], tuple[dict[str, Any] | None, dict[str, Any] | None]],
    begin: datetime,
    cursor_field: str,
    *,
    max_restarts: int = MAX_CURSOR_RESTARTS,
) -> Iterator[JsonPage]:
    """:func:`restartable_pages` of a POST query, each page read by
    :meth:`SquareClient.json_pages` (Arrow, or dicts when the reader refuses it)."""
    def pages(start: datetime) -> Iterator[JsonPage]:
        _, body = make_request(start)
        return client.json_pages(path, data_key, body or {})

    return _restarting(path, begin, pages, lambda page: page.values(cursor_field), max_restarts)


def _restarting(path: str, begin: datetime, pages: Callable[[datetime], Iterator[P]],
                cursor_values: Callable[[P], Sequence[Any]], max_restarts: int) -> Iterator[P]:
    """The pages of ``pages(begin)``; on INVALID_CURSOR, those of ``pages(newest)`` — the newest
    ``cursor_values`` of the pages read so far — at most ``max_restarts`` times."""
    restarts = 0
    current = begin
    while True:
        try:
            for page in pages(current):
                current = max_ts_of(current, cursor_values(page)) or current  # never None: current is a datetime
                yield page
            return
        except InvalidCursor:
            restarts += 1
            if restarts > max_restarts:
                raise
            log.warning("Square %s: INVALID_CURSOR, restarting from %s (restart %d/%d)", path, iso(current),
                        restarts, max_restarts)


def max_ts_of(current: datetime | None, values: Sequence[Any]) -> datetime | None:
    """The newest of ``current`` and the RFC 3339 ``values`` (empty ones skipped)."""
    for value in values:
        if value:
            seen = parse_ts(value)
            if current is None or seen > current:
                current = seen
    return current


# ---------------------------------------------------------------------- discovery
def discover_locations(base_url: str, token_provider: TokenProvider, *,
                       policy: RetryPolicy | None = None) -> list[Location]:
    """The locations the token can see (``GET {base_url}/v2/locations``), through :class:`SquareClient`.

    Raises :class:`DiscoveryError` (one line: 401 → check the token and the environment, 403 →
    the MERCHANT_PROFILE_READ permission, unreachable, unexpected answer). A refreshable
    ``token_provider`` refreshes once after a 401 (and calls its ``on_refresh``).
    """
    base = base_url.rstrip("/")
    url = base + ENDPOINTS["locations"]
    client = SquareClient(base, token_provider, policy=policy or DISCOVERY_RETRY_POLICY, prefetch=0,
                          error_mapper=_discovery_error)
    with discovery_errors("Square", base, rejected=_token_rejected):
        try:
            payload = client.get(ENDPOINTS["locations"])
        except (ValueError, TypeError):
            raise DiscoveryError(f"Square returned a non-JSON response from {url}") from None
    raw = payload.get("locations")
    if not isinstance(raw, list):
        raise DiscoveryError(f"unexpected response from {url}: no 'locations' list")
    return [_location(item) for item in raw if isinstance(item, dict) and item.get("id")]


def merchant_id_of(locations: Sequence[Location]) -> str:
    """The single merchant id of Square locations (all locations of a token share one)."""
    ids = {str(loc["merchant_id"]) for loc in locations if loc.get("merchant_id")}
    if not ids:
        raise DiscoveryError("Square returned no merchant_id with the locations")
    if len(ids) > 1:
        raise DiscoveryError(f"Square returned locations of several merchants: {', '.join(sorted(ids))}")
    return ids.pop()


def _location(item: Row) -> Location:
    return Location(location_id=str(item["id"]), name=item.get("name"), timezone=item.get("timezone"),
                    currency=item.get("currency"), merchant_id=item.get("merchant_id"),
                    business_name=item.get("business_name"), status=item.get("status"))


def _detail(body: str | None) -> str:
    """Square's error envelope as ``CODE: detail; …`` (the body's start when it is not one)."""
    try:
        errors = json.loads(body or "").get("errors") or []
    except (ValueError, AttributeError):
        return (body or "")[:200].strip()
    return error_detail([(str(e.get("code") or e.get("category") or ""), str(e.get("detail") or ""))
                         for e in errors if isinstance(e, dict)])


def _token_rejected(exc: TokenRejected) -> str:
    detail = _detail(exc.body)
    return (f"Square rejected the access token (HTTP 401{': ' + detail if detail else ''}); "
            "check the token and that it belongs to this environment (production vs sandbox base URL)")


def _discovery_error(request: PreparedRequest, response: Response) -> Exception:
    detail = _detail(response.text)
    if response.status_code == 403:
        return DiscoveryError(f"Square refused to list locations (HTTP 403{': ' + detail if detail else ''}); "
                              "the token needs the MERCHANT_PROFILE_READ permission")
    return DiscoveryError(f"Square returned HTTP {response.status_code} for GET /v2/locations"
                          f"{': ' + detail if detail else ''}")


# ---------------------------------------------------------------------- rows
def shape_rows(table: str, rows: Sequence[Row], account_id: str | None) -> list[Row]:
    """Tenant column on every row; catalog objects lose nested copies of top-level objects."""
    out: list[Row] = []
    for row in rows:
        shaped = dict(row)
        if table == "catalog":
            shaped = shape_catalog_object(shaped)
        elif table == "locations":
            shaped[CONTENT_HASH_COLUMN] = content_hash(row)
        shaped[ACCOUNT_COLUMN] = account_id
        out.append(shaped)
    return out


def shape_catalog_object(obj: Row) -> Row:
    """Variations and modifiers are fetched as top-level objects: drop their nested copies.

    ``item_data.variations`` (full ITEM_VARIATION objects) and ``modifier_list_data.modifiers`` would
    otherwise be loaded twice (once as rows, once as child tables). Nothing is lost: the child
    objects point to their parent (``item_variation_data.item_id``, ``modifier_data.modifier_list_id``).
    """
    item = obj.get("item_data")
    if isinstance(item, dict) and "variations" in item:
        obj["item_data"] = {k: v for k, v in item.items() if k != "variations"}
    mod_list = obj.get("modifier_list_data")
    if isinstance(mod_list, dict) and "modifiers" in mod_list:
        obj["modifier_list_data"] = {k: v for k, v in mod_list.items() if k != "modifiers"}
    return obj


# ---------------------------------------------------------------------- version guard
def is_stale(kind: str, fetched: Any, known: Any) -> bool:
    """True when the stored value ``known`` is the same as or newer than ``fetched``."""
    return guard.is_stale(kind, fetched, known, parse_ts)


class VersionGuard(guard.VersionGuard):
    """Drops fetched rows the destination already holds in the same or a newer version.

    ``known_versions(table, ids)`` returns ``{id: stored value}`` of the table's guard column
    (:data:`GUARD_COLUMNS`). Look-ups go by the ids of each fetched page, so the cost follows the
    rows fetched, not the table size. ``dropped``/``passed`` count rows per table.
    """

    def __init__(self, known_versions: KnownVersions | None) -> None:
        super().__init__(known_versions, GUARD_COLUMNS.__getitem__, parse_ts)


def destination_known_versions(pipeline: Pipeline, *, account_id: str | None = None,
                               chunk_size: int = KNOWN_VERSIONS_CHUNK,
                               idle_seconds: float = guard.LOOKUP_IDLE_SECONDS) -> KnownVersions:
    """A ``known_versions`` that asks the pipeline's destination, ``chunk_size`` ids per query.

    Returns ``{}`` for tables or guard columns that do not exist yet (first run). With
    ``account_id`` only rows of that tenant (``_pos_account_id``) count. One destination client
    serves the look-ups while they keep coming, closed after ``idle_seconds`` without one (0: a
    client per look-up; see :class:`dlt_sources.common.guard.DestinationLookups`).
    """
    return guard.destination_known_versions(pipeline, GUARD_COLUMNS.__getitem__, account_id=account_id,
                                            chunk_size=chunk_size, idle_seconds=idle_seconds)
