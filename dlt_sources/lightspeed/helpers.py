"""Lightspeed X-Series client, version-feed paging, exact-decimal rows and the optional version guard."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from requests import PreparedRequest, Response

from dlt_sources.common import guard
from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.errors import ApiError, ReauthorizationRequired
from dlt_sources.common.guard import KNOWN_VERSIONS_CHUNK, GuardColumns, KnownVersions
from dlt_sources.common.http import ApiSession
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import Row
from dlt_sources.lightspeed.settings import (
    ACCOUNT_COLUMN,
    API_PREFIX,
    DECIMAL_FIELDS,
    RECONNECT_HINT,
    TOKEN_PATH,
    USER_AGENT,
    VERSION_GUARD,
)

if TYPE_CHECKING:
    from dlt import Pipeline

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- errors and auth
def lightspeed_error_mapper(request: PreparedRequest, response: Response) -> Exception | None:
    """``{"error", "message"}`` bodies -> typed errors (a 401 that survived a refresh -> reconnect)."""
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
    return ApiError(f"Lightspeed {request.method} {path}: HTTP {response.status_code}: {detail}",
                    status=response.status_code, body=response.text[:2000])


def rotating_token_provider(base_url: str, *, access_token: str, refresh_token: str | None, client_id: str | None,
                            client_secret: str | None, on_refresh: Callable[[TokenSet], None] | None,
                            policy: RetryPolicy | None) -> TokenProvider:
    """A :class:`TokenProvider` for Lightspeed: form-encoded ``/api/1.0/token``, rotating refresh tokens.

    ``on_refresh`` runs inside the refresh, before the new access token is used by any request:
    that is where the caller must persist the rotated refresh token (atomically). A refresh whose
    response is lost is retried with the old refresh token (``send_with_retries``); the emulator's
    grace period (or Lightspeed's, if any) decides whether that still works; a refusal raises
    :class:`ReauthorizationRequired` with :data:`RECONNECT_HINT`.
    """
    return TokenProvider(
        access_token,
        refresh_token=refresh_token,
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
    """GETs on ``{base_url}/api/2.0`` through an :class:`ApiSession` (bearer refresh, retries,
    typed errors). JSON is parsed with ``parse_float=Decimal``: money never passes through a float."""

    def __init__(self, base_url: str, token_provider: TokenProvider, *, policy: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = ApiSession(token_provider, policy=policy, error_mapper=lightspeed_error_mapper,
                                  provider="Lightspeed")
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})

    @property
    def request_count(self) -> int:
        return self.session.request_count

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = self.session.get(self.base_url + API_PREFIX + path, params=dict(params or {}))
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            raise ApiError(f"Lightspeed GET {path}: the answer is not JSON ({response.text[:200]!r})",
                           status=response.status_code, body=response.text[:2000]) from exc


def version_pages(client: LightspeedClient, path: str, after: int, page_size: int,
                  params: Mapping[str, str] | None = None) -> Iterator[tuple[list[Row], int]]:
    """(rows, version.max) per page of a version feed, from ``after`` (exclusive) until ``data`` is
    empty. ``/taxes`` has no ``version`` envelope: its items' largest version is used instead."""
    while True:
        body = client.get(path, {**(params or {}), "after": after, "page_size": page_size})
        rows = list(body.get("data") or [])
        if not rows:
            return
        top = body.get("version", {}).get("max") if isinstance(body.get("version"), dict) else None
        if top is None:
            top = max(int(r["version"]) for r in rows)
        top = int(top)
        if top <= after:
            raise ApiError(f"Lightspeed {path}: version.max {top} did not move past after={after}")
        yield rows, top
        after = top


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


def shape_rows(rows: Sequence[Row], account_id: str | None) -> list[Row]:
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
                               chunk_size: int = KNOWN_VERSIONS_CHUNK) -> KnownVersions:
    """A ``known_versions`` reading ``id, version`` from the pipeline's destination (``{}`` before
    the table exists); with ``account_id`` only that tenant's rows count."""
    return guard.destination_known_versions(pipeline, _version_guard, account_id=account_id,
                                            chunk_size=chunk_size)


def _version_guard(table: str) -> GuardColumns:
    return VERSION_GUARD  # every feed alike
