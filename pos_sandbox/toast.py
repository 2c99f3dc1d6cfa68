"""The Toast API emulator: an ASGI app serving the bakery world's Toast restaurants.

``create_toast_app(world, credentials, faults=None, **options)`` serves (paths as on Toast's hosts):

* ``POST /authentication/v1/authentication/login`` — machine client (``clientId``, ``clientSecret``,
  ``userAccessType=TOAST_MACHINE_CLIENT``) → ``{"token": {tokenType, expiresIn, accessToken}, "status":
  "SUCCESS"}``. One cached token per client, returned again until ``token_renew_before_seconds``
  before it expires; a new one afterwards (or once it was expired). 401 on bad credentials;
  ``login_rate_limit`` logins per client per window → 429.
* ``GET /orders/v2/ordersBulk`` — ``startDate``/``endDate`` (on the order's ``modifiedDate``, start
  inclusive, end exclusive; Toast's ``2024-04-01T15:09:30.223+0000`` format, ``+`` URL-encoded: a
  space is a 400) or ``businessDate=yyyyMMdd``; ``page`` (1-based) and ``pageSize`` (default and
  maximum 100; above → 400). Bare JSON array, sorted by opening time then guid; RFC 5988 ``Link``
  header with ``first``, ``self``, ``prev`` (page > 1) and ``next`` (while more remain). Deleted
  orders are returned (``deleted=true``). Endpoint limit ``orders_bulk_rate_limit``: 5 requests/s
  per restaurant, as Toast's rate-limiting page gives it (per client per location).
* ``GET /orders/v2/orders/{guid}``.
* ``GET /menus/v2/menus`` (endpoint limit ``menus_rate_limit``, 1 request/s per restaurant) and
  ``GET /menus/v2/metadata``.
* ``GET /restaurants/v1/restaurants/{guid}``.
* ``GET /labor/v1/employees`` (``employeeIds`` filter) and ``GET /device-details/v1/device-info``:
  the names behind ``Order.server`` and ``createdDevice`` (:mod:`pos_sandbox.toast_staff`).
* Unknown query parameters are ignored (docs/sandbox.md, *Strictness*).
* Sandbox only: ``GET /_sandbox/toast/faults`` (fault counters), ``GET /_sandbox/toast/stats``
  (logins, tokens issued, rate-limit rejections), ``POST /_sandbox/toast/tokens/expire``
  ``{"accessToken": …}``, ``POST /_sandbox/toast/tokens`` ``{"clientId", "scopes"}`` (a token of
  the client with only those scopes: a partner client configured without one), and the webhook subscriptions Toast would configure for a partner
  (``/_sandbox/toast/webhooks``, :mod:`pos_sandbox.toast_webhooks`).

Every API call but login needs ``Authorization: Bearer <accessToken>`` (401 when missing, unknown
or expired) and ``Toast-Restaurant-External-ID`` (400 when missing; 403 when the restaurant is not
one of the client's). Scopes come from the client's demo credentials (403 without them).
Rate limits (``rate_limits``: 20/s and 10 000/15 min by default; counted per restaurant, else per
client) answer 429 with ``Retry-After`` and ``X-Toast-RateLimit-By``/``-Remaining``/``-Reset``;
successful responses carry ``-Remaining``/``-Reset``. Errors use Toast's ``ErrorMessage`` shape.
Data follows the sandbox clock (``world.now``); tokens and rate limits the real clock.
Seeded faults (:mod:`pos_sandbox.faults`) apply to every API path, login included.

Options (all keyword, unknown ones ignored so one option set can serve every emulator):
``token_ttl_seconds`` (86 400), ``token_renew_before_seconds`` (300), ``login_rate_limit``
((20, 3600.0) = 20 logins per client per hour; None: off), ``rate_limits`` ([(20, 1.0), (10_000, 900.0)];
None or [] : off), ``menus_rate_limit`` ((1, 1.0); None: off), ``orders_bulk_rate_limit`` ((5, 1.0);
None: off), ``max_bulk_window_seconds`` (None:
no limit on endDate − startDate, which Toast does not document), ``base_path`` ("").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pos_sandbox import toast_staff
from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.faults import Fault, FaultMiddleware, FaultPlan, authorization_header
from pos_sandbox.model import Location, Sale
from pos_sandbox.toast_http import (
    EARLIEST,
    MESSAGE_OF_STATUS,
    RateLimiter,
    ToastError,
    ToastToken,
    TokenStore,
    bad_request,
    dumps,
    error_body,
    json_response,
    parse_positive_int,
    parse_toast_time,
)
from pos_sandbox.toast_render import ToastRenderer
from pos_sandbox.toast_webhooks import ToastWebhooks
from pos_sandbox.world import World

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 100
API_MARKERS = ("/authentication/v1/", "/orders/v2/", "/menus/v2/", "/restaurants/v1/")
RESTAURANT_HEADER = "toast-restaurant-external-id"


def toast_fault_body(fault: Fault) -> tuple[bytes, Mapping[str, str]]:
    """Toast's ErrorMessage for an injected status fault (429 also gets the rate-limit headers)."""
    status = fault.status or 500
    body = dumps(error_body(status, MESSAGE_OF_STATUS.get(status, "Error"), "Injected by the sandbox fault plan."))
    headers = {"content-type": "application/json"}
    if status == 429:
        headers |= {"x-toast-ratelimit-by": "GLOBAL", "x-toast-ratelimit-remaining": "0"}
    return body, headers


class ToastEmulator:
    """State and handlers of one Toast emulator instance (``app.state.toast``)."""

    def __init__(self, world: World, credentials: Mapping[str, DemoCredentials], faults: FaultPlan | None, *,
                 token_ttl_seconds: float, token_renew_before_seconds: float,
                 login_rate_limit: tuple[int, float] | None, rate_limits: list[tuple[int, float]] | None,
                 menus_rate_limit: tuple[int, float] | None, orders_bulk_rate_limit: tuple[int, float] | None,
                 max_bulk_window_seconds: float | None, base_path: str) -> None:
        self.world = world
        self.faults = faults or FaultPlan()
        self.base_path = base_path.rstrip("/")
        self.render = ToastRenderer(world)
        self.tokens = TokenStore(world.seed, credentials, ttl=token_ttl_seconds,
                                 renew_before=token_renew_before_seconds, login_limit=login_rate_limit)
        endpoint_limits = {"menus": menus_rate_limit, "ordersBulk": orders_bulk_rate_limit}
        self.limiter = RateLimiter(list(rate_limits or []), {k: v for k, v in endpoint_limits.items() if v})
        self.max_bulk_window = timedelta(seconds=max_bulk_window_seconds) if max_bulk_window_seconds else None
        self.locations: dict[str, Location] = self.render.locations
        self.webhooks = ToastWebhooks(self, credentials)

    # ------------------------------------------------------------------ common
    def begin(self, request: Request, scope: str, endpoint: str | None = None) -> tuple[ToastToken, str, dict[str, str]]:
        """Auth, restaurant header, access, scope and rate limit; returns token, restaurant, headers."""
        token = self.tokens.authorize(request.headers.get("authorization"))
        restaurant = (request.headers.get(RESTAURANT_HEADER) or "").strip()
        if not restaurant:
            raise bad_request("Missing required header Toast-Restaurant-External-ID.", "Toast-Restaurant-External-ID")
        loc = self.locations.get(restaurant)
        if loc is None or loc.account_id != token.account_id:
            raise ToastError(403, "Forbidden", f"The client has no access to restaurant {restaurant}.")
        if scope not in token.scopes:
            raise ToastError(403, "Forbidden", f"The access token lacks the {scope} scope.")
        headers = self.limiter.check(restaurant, endpoint)
        return token, restaurant, headers

    # ------------------------------------------------------------------ authentication
    async def login(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        token = self.tokens.login(body)
        expires_in = max(0, int(token.expires_at - self.tokens.clock()))
        return json_response({
            "token": {"tokenType": "Bearer", "expiresIn": expires_in, "accessToken": token.access_token},
            "status": "SUCCESS",
        })

    # ------------------------------------------------------------------ orders
    def _candidate_sales(self, location_id: str, days: list[date]) -> list[Sale]:
        return [sale for day in days for sale in self.world.sales_for_day(location_id, day)]

    async def orders_bulk(self, request: Request) -> Response:
        _, restaurant, headers = self.begin(request, "orders:read", "ordersBulk")
        q = request.query_params
        now = self.world.now
        page = parse_positive_int(q.get("page"), "page", 1)
        size = parse_positive_int(q.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if "startDate" in q or "endDate" in q:
            if "businessDate" in q:
                raise bad_request("Use either startDate and endDate or businessDate, not both.", "businessDate")
            if "startDate" not in q or "endDate" not in q:
                raise bad_request("startDate and endDate must be given together.",
                                  "endDate" if "startDate" in q else "startDate")
            start = parse_toast_time(q["startDate"], "startDate")
            end = parse_toast_time(q["endDate"], "endDate")
            if start < EARLIEST:
                raise bad_request("startDate must be after 2015-12-01T00:00:00.000+0000.", "startDate")
            if end <= start:
                raise bad_request("endDate must be later than startDate.", "endDate")
            if self.max_bulk_window is not None and end - start > self.max_bulk_window:
                raise bad_request(f"The period between startDate and endDate must not exceed "
                                  f"{self.max_bulk_window.total_seconds():g} seconds.", "endDate")
            sales = [s for s in self._candidate_sales(restaurant, self.world.days_touching(start, end))
                     if s.closed_at <= now and start <= self.render.modified(s, now) < end]
        elif "businessDate" in q:
            raw = q["businessDate"]
            try:
                day = datetime.strptime(raw, "%Y%m%d").date() if len(raw) == 8 and raw.isdigit() else None
            except ValueError:
                day = None
            if day is None:
                raise bad_request(f"Invalid businessDate '{raw}': use yyyyMMdd.", "businessDate")
            days = [day + timedelta(days=d) for d in (-1, 0, 1)]
            sales = [s for s in self._candidate_sales(restaurant, days) if s.closed_at <= now and s.local_date == day]
        else:
            raise bad_request("Give startDate and endDate, or businessDate.", "startDate")
        sales.sort(key=lambda s: (s.opened_at, s.id))
        first = (page - 1) * size
        chunk = sales[first : first + size]
        links = [("first", 1), ("self", page)]
        if page > 1:
            links.append(("prev", page - 1))
        if first + size < len(sales):
            links.append(("next", page + 1))
        params = [(k, v) for k, v in q.multi_items() if k not in ("page", "pageSize")]
        base = str(request.url.replace(query=""))
        link = ", ".join(
            f'<{base}?{urlencode([*params, ("page", str(n)), ("pageSize", str(size))])}>; rel="{rel}"'
            for rel, n in links
        )
        body = [self.render.order(s, now) for s in chunk]
        return json_response(body, headers=headers | {"Link": link})

    async def get_order(self, request: Request) -> Response:
        _, restaurant, headers = self.begin(request, "orders:read")
        order_guid = request.path_params["guid"]
        now = self.world.now
        for sale in self._candidate_sales(restaurant, self.world.local_day_range()):
            if sale.id == order_guid and sale.closed_at <= now:
                return json_response(self.render.order(sale, now), headers=headers)
        raise ToastError(404, "Not Found", f"Order {order_guid} was not found.")

    # ------------------------------------------------------------------ menus and restaurants
    async def menus(self, request: Request) -> Response:
        _, restaurant, headers = self.begin(request, "menus:read", "menus")
        return json_response(self.render.menus(restaurant, self.world.now), headers=headers)

    async def metadata(self, request: Request) -> Response:
        _, restaurant, headers = self.begin(request, "menus:read")
        return json_response(self.render.metadata(restaurant, self.world.now), headers=headers)

    async def restaurant(self, request: Request) -> Response:
        token, _, headers = self.begin(request, "restaurants:read")
        wanted = request.path_params["guid"]
        loc = self.locations.get(wanted)
        if loc is None or loc.account_id != token.account_id:
            raise ToastError(404, "Not Found", f"Restaurant {wanted} was not found.")
        return json_response(self.render.restaurant(wanted), headers=headers)

    # ------------------------------------------------------------------ staff and devices
    async def employees(self, request: Request) -> Response:
        token, restaurant, headers = self.begin(request, "labor.employees:read")
        wanted = request.query_params.getlist("employeeIds")
        if len(wanted) > toast_staff.MAX_EMPLOYEE_IDS:
            raise bad_request(f"At most {toast_staff.MAX_EMPLOYEE_IDS} employeeIds may be given.", "employeeIds")
        team = self.world.team.get(token.account_id, [])
        return json_response(toast_staff.employees(team, restaurant, self.world.now, wanted), headers=headers)

    async def device_info(self, request: Request) -> Response:
        _, restaurant, headers = self.begin(request, "device-details.info:read")
        return json_response(toast_staff.devices(self.locations[restaurant], self.world.now), headers=headers)

    # ------------------------------------------------------------------ sandbox
    async def sandbox_faults(self, request: Request) -> Response:
        return json_response(self.faults.counters())

    async def sandbox_stats(self, request: Request) -> Response:
        return json_response({"login_calls": self.tokens.login_calls, "tokens_issued": self.tokens.issued,
                              "rate_limited": self.limiter.rejected})

    async def sandbox_token(self, request: Request) -> Response:
        """``{"clientId", "scopes": [...]}`` → a token of that client with only those scopes."""
        body = await request.json()
        scopes = body.get("scopes") if isinstance(body, dict) else None
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise bad_request("The body needs clientId and a list of scopes.", "scopes")
        token = self.tokens.issue_with_scopes(str(body.get("clientId", "")), tuple(scopes))
        return json_response({"token": {"tokenType": "Bearer", "accessToken": token.access_token,
                                        "expiresIn": int(token.expires_at - token.issued_at)}, "status": "SUCCESS"})

    async def sandbox_expire(self, request: Request) -> Response:
        body = await request.json()
        return json_response({"expired": self.tokens.expire(str(body.get("accessToken", "")))})

    def routes(self) -> list[Route]:
        p = self.base_path
        return [
            Route(f"{p}/authentication/v1/authentication/login", self.login, methods=["POST"]),
            Route(f"{p}/orders/v2/ordersBulk", self.orders_bulk, methods=["GET"]),
            Route(f"{p}/orders/v2/orders/{{guid}}", self.get_order, methods=["GET"]),
            Route(f"{p}/menus/v2/menus", self.menus, methods=["GET"]),
            Route(f"{p}/menus/v2/metadata", self.metadata, methods=["GET"]),
            Route(f"{p}/restaurants/v1/restaurants/{{guid}}", self.restaurant, methods=["GET"]),
            Route(f"{p}/labor/v1/employees", self.employees, methods=["GET"]),
            Route(f"{p}/device-details/v1/device-info", self.device_info, methods=["GET"]),
            Route(f"{p}/_sandbox/toast/faults", self.sandbox_faults, methods=["GET"]),
            Route(f"{p}/_sandbox/toast/stats", self.sandbox_stats, methods=["GET"]),
            Route(f"{p}/_sandbox/toast/tokens/expire", self.sandbox_expire, methods=["POST"]),
            Route(f"{p}/_sandbox/toast/tokens", self.sandbox_token, methods=["POST"]),
            *self.webhooks.routes(p),
        ]

    # ------------------------------------------------------------------ fault hooks
    def token_valid(self, scope: dict[str, Any]) -> bool:
        return self.tokens.token_of_header(authorization_header(scope)) is not None

    def expire_token(self, scope: dict[str, Any]) -> bool:
        token = self.tokens.token_of_header(authorization_header(scope))
        return token is not None and self.tokens.expire(token.access_token)

    @staticmethod
    def fault_applies(path: str) -> bool:
        """Every API path, whatever prefix the app is mounted under (not the sandbox routes)."""
        return any(marker in path for marker in API_MARKERS) and "/_sandbox/" not in path


async def _toast_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ToastError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    return ToastError(status, MESSAGE_OF_STATUS.get(status, "Error"), str(exc.detail)).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    return ToastError(500, "Internal Server Error", "An unexpected internal error occurred.").response()


def create_toast_app(
    world: World,
    credentials: Mapping[str, DemoCredentials],
    faults: FaultPlan | None = None,
    *,
    token_ttl_seconds: float = 86_400,
    token_renew_before_seconds: float = 300,
    login_rate_limit: tuple[int, float] | None = (20, 3600.0),
    rate_limits: list[tuple[int, float]] | None = None,
    menus_rate_limit: tuple[int, float] | None = (1, 1.0),
    orders_bulk_rate_limit: tuple[int, float] | None = (5, 1.0),
    max_bulk_window_seconds: float | None = None,
    base_path: str = "",
    **_other_emulators_options: Any,
) -> Starlette:
    """The Toast emulator as an ASGI app; its state is ``app.state.toast`` (a :class:`ToastEmulator`).

    ``rate_limits`` None means Toast's defaults (20 per second, 10 000 per 15 minutes); ``[]`` turns
    the global limits off.
    """
    emulator = ToastEmulator(
        world, credentials, faults, token_ttl_seconds=token_ttl_seconds,
        token_renew_before_seconds=token_renew_before_seconds, login_rate_limit=login_rate_limit,
        rate_limits=[(20, 1.0), (10_000, 900.0)] if rate_limits is None else rate_limits,
        menus_rate_limit=menus_rate_limit, orders_bulk_rate_limit=orders_bulk_rate_limit,
        max_bulk_window_seconds=max_bulk_window_seconds, base_path=base_path,
    )
    app = Starlette(
        routes=emulator.routes(),
        exception_handlers={ToastError: _toast_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.toast = emulator
    app.add_middleware(
        FaultMiddleware, plan=emulator.faults, render_error=toast_fault_body, applies=emulator.fault_applies,
        token_valid=emulator.token_valid, expire_token=emulator.expire_token,
    )
    return app


__all__ = ["ToastEmulator", "create_toast_app", "toast_fault_body"]
