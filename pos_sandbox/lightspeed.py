"""The Lightspeed Retail (X-Series) API 2.0 emulator: an ASGI app serving the bakery world.

``create_lightspeed_app(world, credentials, faults)`` serves, under ``base_path`` (the sandbox
server mounts it at ``/lightspeed``; the real host is ``{domain_prefix}.retail.lightspeed.app``
and here the **access token** tells which store — domain prefix = the world's account id — is
meant):

* ``GET /api/2.0/sales`` (+ ``/api/2.0/sales/{sale_id}``), ``/products``, ``/outlets``,
  ``/registers``, ``/users``, ``/payment_types``, ``/taxes``, ``/customers`` (the names behind a
  sale's ``customer_id``): version change feeds exactly as the
  spec describes: ``after`` (int64, exclusive lower bound, default 0), ``before`` (exclusive upper
  bound), ``page_size`` (default 100 as the spec's ``PageSize`` parameter, at most
  ``max_page_size``); ``{"data": [...], "version": {"min", "max"}}`` sorted by version ascending;
  the next page is ``after = version.max``; ``data`` is empty at the end (its ``version`` then
  echoes ``after``). ``/taxes`` has no ``version`` envelope (the spec's ``TaxCollection`` schema
  and example have none): page it with the largest ``data[].version``. ``/products``, ``/outlets``, ``/registers`` leave soft-deleted objects out
  unless ``deleted=true`` — a change feed without it never shows a deletion. Unknown query
  parameters are ignored, as X-Series ignores ``date_from``/``date_to`` on ``/sales`` (trap 1 in
  providers.md §5).
* ``GET /api/2.0/product_categories``: its own paging — sorted by category path, ``after`` = the
  last category id seen, ``page_size`` default 1000, ``{"data": {"categories": [...]},
  "page_info": {"has_next", "last_seen"}}``.
* Webhooks: ``/api/webhooks`` (API 0.9) and the ``sale.update``/``product.update`` events,
  :mod:`pos_sandbox.lightspeed_webhooks` (``emulator.webhooks``).
* OAuth (``/connect``, ``POST /api/1.0/token`` with rotating refresh tokens and
  ``refresh_grace_seconds``) and sandbox hooks: :mod:`pos_sandbox.lightspeed_oauth`.
  ``GET /_sandbox/lightspeed/faults`` reports fault, rate-limit and token counters.

Versions are derived in :mod:`pos_sandbox.lightspeed_index`, rendering is
:mod:`pos_sandbox.lightspeed_render`. Everything is evaluated as of the sandbox clock
(``world.now``): a sale exists from its close, a return from the refund's creation.

Bearer auth: 401 ``{"error": "Access token is not valid", "message": …}`` when the token is
missing, unknown or expired. Rate limiting (X-Series: 300 × registers + 50 requests per
5-minute window per store): ``rate_limit=(requests, window_seconds)`` overrides it (tests);
over the limit → 429 with ``Retry-After`` as an RFC 1123 date. Seeded fault injection:
:class:`pos_sandbox.faults.FaultMiddleware` with Lightspeed error bodies, injected 429s carry an
HTTP-date ``Retry-After`` too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.faults import Fault, FaultMiddleware, FaultPlan, Send, authorization_header
from pos_sandbox.lightspeed_http import (
    ERROR_TEXT,
    LightspeedError,
    RateLimiter,
    bool_param,
    dumps,
    http_date,
    int_param,
    json_response,
    to_us,
)
from pos_sandbox.lightspeed_index import FeedRec, LightspeedIndex
from pos_sandbox.lightspeed_oauth import DEFAULT_ACCESS_TTL, AccessToken, TokenStore, oauth_routes
from pos_sandbox.lightspeed_render import LightspeedRenderer
from pos_sandbox.lightspeed_webhooks import LightspeedWebhooks
from pos_sandbox.model import Account
from pos_sandbox.world import World

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 10_000
CATEGORY_PAGE_SIZE = 1000
RATE_WINDOW_SECONDS = 300.0
FEEDS_WITH_DELETED = ("products", "outlets", "registers")


def lightspeed_fault_body(fault: Fault) -> tuple[bytes, Mapping[str, str]]:
    """Lightspeed's error body for an injected status fault (429 gets an HTTP-date Retry-After)."""
    status = fault.status or 500
    message = {429: "Rate limit exceeded: too many requests.", 500: "An internal error has occurred."}.get(
        status, ERROR_TEXT.get(status, "Error") + ".")
    headers = {"content-type": "application/json"}
    if fault.retry_after is not None:
        headers["retry-after"] = http_date(math.ceil(time.time() + fault.retry_after))
    return dumps({"error": ERROR_TEXT.get(status, "Error"), "message": message}), headers


class LightspeedFaultMiddleware(FaultMiddleware):
    """:class:`FaultMiddleware` whose 429s carry ``Retry-After`` as an HTTP date (X-Series style):
    the renderer sets the header, so the base class's delta-seconds header is not added."""

    async def _send_error(self, fault: Fault, send: Send) -> None:
        body, headers = self.render_error(fault)
        raw = [(b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": fault.status or 500, "headers": raw})
        await send({"type": "http.response.body", "body": body})


class LightspeedEmulator:
    """State and handlers of one emulator instance (``app.state.lightspeed``)."""

    def __init__(self, world: World, credentials: Mapping[str, DemoCredentials], faults: FaultPlan | None, *,
                 refresh_grace_seconds: float, access_token_ttl_seconds: int,
                 rate_limit: tuple[int, float] | None, max_page_size: int, base_path: str) -> None:
        self.world = world
        self.faults = faults or FaultPlan()
        self.base_path = base_path.rstrip("/")
        self.max_page_size = max_page_size
        self.accounts: dict[str, Account] = {a.account_id: a for a in world.accounts if a.provider == "lightspeed"}
        self.store = TokenStore(world.seed, credentials, refresh_grace_seconds=refresh_grace_seconds,
                                access_token_ttl_seconds=access_token_ttl_seconds)
        self.render = LightspeedRenderer(world)
        self._indexes: dict[str, LightspeedIndex] = {}
        self._revision = world.revision
        self.webhooks = LightspeedWebhooks(self)
        if rate_limit is not None:
            limit, window = rate_limit
            self.limiter = RateLimiter(lambda _: int(limit), float(window))
        else:
            self.limiter = RateLimiter(self._real_limit, RATE_WINDOW_SECONDS)

    def _real_limit(self, account_id: str) -> int:
        registers = sum(len(loc.registers) for loc in self.world.account_locations(account_id))
        return 300 * registers + 50

    def index(self, account_id: str) -> LightspeedIndex:
        if self._revision != self.world.revision:  # a live sale was added: rebuild the feeds lazily
            self._revision = self.world.revision
            self._indexes = {}
        found = self._indexes.get(account_id)
        if found is None:
            found = self._indexes.setdefault(
                account_id, LightspeedIndex(self.world, account_id, lambda a: self.render.payment_types[a]))
        return found

    def warm(self) -> None:
        """Build every feed now (the first request otherwise pays for it)."""
        for account_id in self.accounts:
            for kind in LightspeedIndex.KINDS:
                self.index(account_id).feed(kind)

    # ------------------------------------------------------------------ common
    def begin(self, request: Request) -> tuple[AccessToken, dict[str, str]]:
        token = self.store.lookup(request.headers.get("authorization"))
        if token.account_id not in self.accounts:
            raise LightspeedError(403, "The store of this token has no Lightspeed account in the sandbox.")
        allowed, headers = self.limiter.hit(token.account_id)
        if not allowed:
            raise LightspeedError(429, "Rate limit exceeded: too many requests for this store; retry after the "
                                  "date in Retry-After.", headers=headers)
        return token, headers

    def _page_size(self, request: Request, default: int) -> int:
        size = int_param(request.query_params.get("page_size"), "page_size", minimum=1)
        return default if size is None else min(size, self.max_page_size)

    def _feed_page(self, request: Request, kind: str,
                   render: Callable[[FeedRec, int, datetime], dict[str, Any] | None],
                   envelope_version: bool = True) -> Response:
        token, headers = self.begin(request)
        q = request.query_params
        after = int_param(q.get("after"), "after") or 0
        before = int_param(q.get("before"), "before")
        size = self._page_size(request, DEFAULT_PAGE_SIZE)
        now = self.world.now
        data: list[dict[str, Any]] = []
        versions: list[int] = []
        for version, rec, k in self._scan(token.account_id, kind, after, before, now):
            obj = render(rec, k, now)
            if obj is None:
                continue
            data.append(obj)
            versions.append(version)
            if len(data) == size:
                break
        if not envelope_version:  # TaxCollection: schema and example have no `version` envelope
            return json_response({"data": data}, headers=headers)
        bounds = {"min": versions[0], "max": versions[-1]} if versions else {"min": after, "max": after}
        return json_response({"data": data, "version": bounds}, headers=headers)

    def _scan(self, account_id: str, kind: str, after: int, before: int | None,
              now: datetime) -> Iterator[tuple[int, FeedRec, int]]:
        return self.index(account_id).feed(kind).scan(after, before, to_us(now))

    # ------------------------------------------------------------------ handlers
    async def list_sales(self, request: Request) -> Response:
        def render(rec: FeedRec, k: int, now: datetime) -> dict[str, Any]:
            return self.render_sale(rec, k, now)
        return self._feed_page(request, "sales", render)

    def render_sale(self, rec: FeedRec, k: int, now: datetime) -> dict[str, Any]:
        account_id = self.world.location_by_id[rec.ref[0]].account_id
        sale = self.index(account_id).sale(rec)
        if rec.kind == "return":
            return self.render.return_sale(sale, rec, k, now)
        return self.render.sale(sale, rec, k, now)

    async def get_sale(self, request: Request) -> Response:
        token, headers = self.begin(request)
        sale_id = request.path_params["sale_id"]
        rec = self.index(token.account_id).feed("sales").by_id.get(sale_id)
        now = self.world.now
        k = rec.current(to_us(now)) if rec is not None else None
        if rec is None or k is None:
            raise LightspeedError(404, f"Sale {sale_id} not found.")
        return json_response({"data": self.render_sale(rec, k, now)}, headers=headers)

    async def list_products(self, request: Request) -> Response:
        deleted = bool_param(request.query_params.get("deleted"), "deleted")

        def render(rec: FeedRec, k: int, now: datetime) -> dict[str, Any] | None:
            if not deleted and rec.ref.history[k].deleted:
                return None
            return self.render.product(rec.ref, rec, k)
        return self._feed_page(request, "products", render)

    async def list_outlets(self, request: Request) -> Response:
        bool_param(request.query_params.get("deleted"), "deleted")  # nothing is deleted: validated only
        return self._feed_page(request, "outlets", lambda rec, k, now: self.render.outlet(rec.ref, rec, k))

    async def list_registers(self, request: Request) -> Response:
        bool_param(request.query_params.get("deleted"), "deleted")
        return self._feed_page(request, "registers", lambda rec, k, now: self.render.register(rec.ref, rec, k))

    async def list_users(self, request: Request) -> Response:
        return self._feed_page(request, "users", lambda rec, k, now: self.render.user(rec.ref, rec, k))

    async def list_customers(self, request: Request) -> Response:
        bool_param(request.query_params.get("deleted"), "deleted")  # no customer is deleted: validated only
        return self._feed_page(request, "customers", lambda rec, k, now: self.render.customer(rec.ref, rec, k))

    async def list_payment_types(self, request: Request) -> Response:
        return self._feed_page(request, "payment_types", lambda rec, k, now: self.render.payment_type(rec.ref, rec, k))

    async def list_taxes(self, request: Request) -> Response:
        return self._feed_page(request, "taxes", lambda rec, k, now: self.render.tax(rec.ref, rec, k),
                               envelope_version=False)

    async def get_retailer(self, request: Request) -> Response:
        """``GET /api/2.0/retailer``: the store the token belongs to (``RetailerResponse``)."""
        token, headers = self.begin(request)
        return json_response({"data": self.render.retailer(self.world.account_by_id[token.account_id])},
                             headers=headers)

    async def list_product_categories(self, request: Request) -> Response:
        token, headers = self.begin(request)
        q = request.query_params
        size = self._page_size(request, CATEGORY_PAGE_SIZE)
        parent = q.get("parent")
        include = q.get("include", "family")
        if include not in ("family", "children"):
            raise LightspeedError(400, "Invalid value for 'include': expected family or children.")
        now = self.world.now
        categories = sorted((c for c in self.world.categories[token.account_id] if c.created_at <= now),
                            key=lambda c: (c.name.lower(), c.id))
        if parent not in (None, "", "none"):
            categories = []  # the bakery's categories are all roots without children
        after = q.get("after")
        if after:
            ids = [c.id for c in categories]
            if after not in ids:
                raise LightspeedError(400, f"Invalid value for 'after': unknown category id {after!r}.")
            categories = categories[ids.index(after) + 1:]
        page = categories[:size]
        page_info: dict[str, Any] = {"has_next": len(categories) > size}
        if page:
            page_info["last_seen"] = page[-1].id
        return json_response({"data": {"categories": [self.render.category(c) for c in page]},
                              "page_info": page_info}, headers=headers)

    async def sandbox_faults(self, request: Request) -> Response:
        return json_response({**self.faults.counters(), "rate_limited": self.limiter.rejected,
                              "refreshes": self.store.refreshes, "grace_retries": self.store.grace_retries,
                              "lost_refresh_responses": self.store.lost_responses})

    def routes(self) -> list[Route]:
        p = self.base_path
        api = f"{p}/api/2.0"
        return [
            Route(f"{api}/sales", self.list_sales, methods=["GET"]),
            Route(f"{api}/sales/{{sale_id}}", self.get_sale, methods=["GET"]),
            Route(f"{api}/products", self.list_products, methods=["GET"]),
            Route(f"{api}/product_categories", self.list_product_categories, methods=["GET"]),
            Route(f"{api}/outlets", self.list_outlets, methods=["GET"]),
            Route(f"{api}/registers", self.list_registers, methods=["GET"]),
            Route(f"{api}/users", self.list_users, methods=["GET"]),
            Route(f"{api}/customers", self.list_customers, methods=["GET"]),
            Route(f"{api}/payment_types", self.list_payment_types, methods=["GET"]),
            Route(f"{api}/taxes", self.list_taxes, methods=["GET"]),
            Route(f"{api}/retailer", self.get_retailer, methods=["GET"]),
            Route(f"{p}/_sandbox/lightspeed/faults", self.sandbox_faults, methods=["GET"]),
            *self.webhooks.routes(p),
            *oauth_routes(self.store, p),
        ]

    # ------------------------------------------------------------------ fault hooks
    def token_valid(self, scope: dict[str, Any]) -> bool:
        return self.store.token_of_header(authorization_header(scope)) is not None

    def expire_token(self, scope: dict[str, Any]) -> bool:
        tok = self.store.token_of_header(authorization_header(scope))
        return tok is not None and self.store.expire(tok.token)

    @staticmethod
    def fault_applies(path: str) -> bool:
        """API and token requests, whatever prefix the emulator is mounted under."""
        return "/api/2.0/" in path or path.endswith("/api/1.0/token")


async def _lightspeed_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LightspeedError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return LightspeedError(404, f"Resource not found: {request.url.path}").response()
    if exc.status_code == 405:
        return LightspeedError(405, "Method not allowed.").response()
    return LightspeedError(exc.status_code, str(exc.detail)).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    return LightspeedError(500, "An internal error has occurred.").response()


def create_lightspeed_app(
    world: World,
    credentials: Mapping[str, DemoCredentials],
    faults: FaultPlan | None = None,
    *,
    refresh_grace_seconds: float = 0,
    access_token_ttl_seconds: int = DEFAULT_ACCESS_TTL,
    rate_limit: tuple[int, float] | None = None,
    max_page_size: int = MAX_PAGE_SIZE,
    base_path: str = "",
    **opts: Any,
) -> Starlette:
    """The Lightspeed X-Series emulator as an ASGI app (state: ``app.state.lightspeed``).

    Options: ``refresh_grace_seconds`` (how long a rotated refresh token keeps working, default 0),
    ``access_token_ttl_seconds`` (default 7 days), ``rate_limit=(requests, window_seconds)``
    (default: X-Series' 300 × registers + 50 per 5 minutes), ``max_page_size`` (default 10 000),
    ``base_path``. Unknown options (meant for other emulators of the sandbox server) are ignored.
    """
    del opts
    emulator = LightspeedEmulator(
        world, credentials, faults, refresh_grace_seconds=refresh_grace_seconds,
        access_token_ttl_seconds=access_token_ttl_seconds, rate_limit=rate_limit, max_page_size=max_page_size,
        base_path=base_path,
    )
    app = Starlette(
        routes=emulator.routes(),
        exception_handlers={LightspeedError: _lightspeed_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.lightspeed = emulator
    app.add_middleware(
        LightspeedFaultMiddleware, plan=emulator.faults, render_error=lightspeed_fault_body,
        applies=emulator.fault_applies, token_valid=emulator.token_valid, expire_token=emulator.expire_token,
    )
    return app


__all__ = ["LightspeedEmulator", "create_lightspeed_app", "lightspeed_fault_body"]
