"""The Lightspeed Retail R-Series (API V3) emulator: an ASGI app serving the bakery world.

``create_lightspeed_r_app(world, credentials, faults)`` serves (the sandbox server mounts it at
``/lightspeed_r``; the real hosts are ``api.lightspeedapp.com`` and ``cloud.lightspeedapp.com``):

* ``GET /API/V3/Account.json``: the account of the access token (``accountID``, ``name``).
* ``GET /API/V3/Account/{accountID}/Sale.json`` (+ ``/Sale/{saleID}.json``): sales and returns
  (a return is a sale of its own, negative lines pointing at the sold line through
  ``parentSaleLineID``); ``load_relations`` (a JSON array, or ``all``) of ``SaleLines``,
  ``SaleLines.Item``, ``SalePayments``, ``SalePayments.PaymentType``, ``Customer``;
* ``SaleLine.json`` (the lines of the sales; ``saleLineID=IN,[…]`` finds sold lines of returns),
  ``Item.json`` (archived items only with ``archived=true``/``only``), ``Category.json``,
  ``Shop.json``, ``Employee.json``, ``PaymentType.json``, ``Register.json``, ``TaxCategory.json``,
  ``Customer.json``.

Lists: ``limit`` ≤ 100 (default 100; more → 400), ``offset=`` → 400 (cursor pagination only), the
next page is ``@attributes.next`` — a full URL carrying ``after=<opaque cursor>`` — empty on the
last page; filters ``timeStamp=<op>,<value>`` (``>``, ``>=``, ``<``, ``<=``, ``=``, ``!=``,
``><,<low>,<high>``), ``shopID=``, ``<id field>=``; ``sort=timeStamp`` or the id (default). Every
scalar is a string; a one-element collection is an object and an empty one is left out, at the
top level too. Rendering: :mod:`pos_sandbox.lightspeed_r_render`; HTTP plumbing and the leaky
bucket (``bucket=(size, drip_per_second)``, default 60 units draining 1/s): :mod:`pos_sandbox.lightspeed_r_http`;
OAuth: :mod:`pos_sandbox.lightspeed_r_oauth`. Everything is evaluated as of the sandbox clock.
``GET /_sandbox/lightspeed_r/stats``: requests, 429s and the bucket's highest level.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.faults import Fault, FaultMiddleware, FaultPlan, authorization_header
from pos_sandbox.lightspeed_r_http import (
    DEFAULT_BUCKET_SIZE,
    DEFAULT_DRIP_RATE,
    LeakyBucket,
    RSeriesError,
    collection,
    decode_cursor,
    dumps,
    encode_cursor,
    error_body,
    json_response,
    parse_filter,
    parse_limit,
    parse_relations,
    parse_time,
)
from pos_sandbox.lightspeed_r_index import SaleIndex, SaleRec
from pos_sandbox.lightspeed_r_index import us as _us
from pos_sandbox.lightspeed_r_oauth import ACCESS_TTL_SECONDS, RTokenStore, oauth_routes
from pos_sandbox.lightspeed_r_render import PAYMENT_TYPES, RSeriesRenderer
from pos_sandbox.world import World

PROVIDER = "lightspeed_r"
SALE_RELATIONS = ("SaleLines", "SaleLines.Item", "SalePayments", "SalePayments.PaymentType", "Customer")
RESERVED = {"limit", "after", "before", "sort", "load_relations", "archived", "offset", "orderby", "orderby_desc"}


class LightspeedREmulator:
    """State and handlers of one emulator instance (``app.state.lightspeed_r``)."""

    webhooks = None  # R-Series has no webhook product (providers.md §3B)

    def __init__(self, world: World, credentials: Mapping[str, DemoCredentials], faults: FaultPlan | None, *,
                 bucket: tuple[int, float], access_token_ttl_seconds: int) -> None:
        self.world = world
        self.faults = faults or FaultPlan()
        self.accounts = {a.account_id: a for a in world.accounts if a.provider == PROVIDER}
        self.store = RTokenStore(world.seed, credentials, access_token_ttl_seconds=access_token_ttl_seconds)
        self.bucket = LeakyBucket(*bucket)
        self.render = RSeriesRenderer(world)
        self.requests = 0
        self._indexes: dict[str, SaleIndex] = {}
        self._revision = world.revision
        self._lock = threading.Lock()

    def index(self, account_id: str) -> SaleIndex:
        with self._lock:
            if self._revision != self.world.revision:  # a live sale: rebuild lazily
                self._revision, self._indexes = self.world.revision, {}
            found = self._indexes.get(account_id)
            if found is None:
                found = self._indexes[account_id] = SaleIndex(self.world, account_id)
            return found

    # ------------------------------------------------------------------ common
    def begin(self, request: Request, account_in_path: bool = True) -> tuple[str, dict[str, str]]:
        grant = self.store.lookup(request.headers.get("authorization"))
        self.requests += 1
        allowed, headers = self.bucket.hit(grant.account_id, 1 if request.method == "GET" else 10)
        if not allowed:
            raise RSeriesError(429, "Rate limit exceeded: the leaky bucket is full; retry after Retry-After "
                                    "seconds.", headers=headers)
        if account_in_path:
            account = request.path_params["account_id"]
            if account != grant.account_id:
                raise RSeriesError(403, f"This access token does not give access to account {account}.",
                                   headers=headers)
        if "offset" in request.query_params:
            raise RSeriesError(400, "Offset pagination is not supported: follow the @attributes next URL "
                                    "(after=) instead.", headers=headers)
        return grant.account_id, headers

    def _page(self, request: Request, name: str, rows: list[dict[str, Any]], cursor: tuple[Any, Any] | None,
              headers: dict[str, str], more: bool) -> Response:
        attrs: dict[str, str] = {"next": "", "previous": ""}
        if more and cursor is not None:
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
            attrs["next"] = f"{request.url.replace(query='')}?" + urlencode(params + [("after", encode_cursor(cursor))])
        if "after" in request.query_params:
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
            attrs["previous"] = f"{request.url.replace(query='')}?" + urlencode(params)
        body: dict[str, Any] = {"@attributes": attrs}
        shaped = collection(name, rows)
        if shaped is not None:
            body |= shaped
        return json_response(body, headers=headers)

    @staticmethod
    def _time_filter(request: Request, field: str = "timeStamp") -> tuple[Callable[[Any], bool] | None, datetime | None]:
        raw = request.query_params.get(field)
        if raw is None:
            return None, None
        pred = parse_filter(field, raw, parse_time)
        op, _, rest = raw.partition(",")
        low = parse_time(rest.split(",", 1)[0]) if op in (">", ">=", "><", "=") else None
        return pred, low

    @staticmethod
    def _id_filter(request: Request, field: str) -> Callable[[Any], bool] | None:
        raw = request.query_params.get(field)
        if raw is None:
            return None
        if "," not in raw:
            raw = "=," + raw

        def to_int(text: str) -> int:
            return int(text)
        pred = parse_filter(field, raw, to_int)
        return lambda v: pred(int(v))

    # ------------------------------------------------------------------ sales
    async def list_sales(self, request: Request) -> Response:
        account_id, headers = self.begin(request)
        q = request.query_params
        limit = parse_limit(q.get("limit"))
        relations = parse_relations(q.get("load_relations"), SALE_RELATIONS)
        sort = q.get("sort", "saleID")
        if sort not in ("saleID", "timeStamp"):
            raise RSeriesError(400, f"Invalid sort {sort!r}: sort by saleID or timeStamp.", headers=headers)
        ts_pred, low = self._time_filter(request)
        shop_pred = self._id_filter(request, "shopID")
        id_pred = self._id_filter(request, "saleID")
        now = self.world.now
        index = self.index(account_id)

        def keep(rec: SaleRec, k: int) -> bool:
            return ((shop_pred is None or shop_pred(rec.shop)) and (id_pred is None or id_pred(rec.sale_id))
                    and (ts_pred is None or ts_pred(rec.stamps[k].replace(microsecond=0))))

        picked: list[tuple[SaleRec, int]] = []
        after = q.get("after")
        if sort == "timeStamp":
            start = (_us(low) - 1_000_000, 0) if low is not None else (-1, 0)
            if after:
                key = decode_cursor(after)
                start = max(start, (int(key[0]), int(key[1])))
            for rec, k in index.scan(start, now):
                if keep(rec, k):
                    picked.append((rec, k))
                    if len(picked) > limit:
                        break
        else:
            floor = int(decode_cursor(after)[1]) if after else -1
            for sale_id in sorted(s for s in index.recs if s > floor):
                rec = index.recs[sale_id]
                k = rec.current(now)
                if k is not None and keep(rec, k):
                    picked.append((rec, k))
                    if len(picked) > limit:
                        break
        more = len(picked) > limit
        picked = picked[:limit]
        rows = [self._render_sale(rec, k, now, relations) for rec, k in picked]
        cursor = None
        if picked:
            rec, k = picked[-1]
            cursor = (_us(rec.stamps[k]), rec.sale_id) if sort == "timeStamp" else (0, rec.sale_id)
        return self._page(request, "Sale", rows, cursor, headers, more)

    def _render_sale(self, rec: SaleRec, k: int, now: datetime, relations: set[str]) -> dict[str, Any]:
        if rec.refund is not None:
            return self.render.return_sale(rec.sale, rec.refund, now, relations, rec.stamps[k])
        return self.render.sale(rec.sale, now, relations, rec.stamps[k])

    async def get_sale(self, request: Request) -> Response:
        account_id, headers = self.begin(request)
        relations = parse_relations(request.query_params.get("load_relations"), SALE_RELATIONS)
        try:
            rec = self.index(account_id).recs.get(int(request.path_params["sale_id"]))
        except ValueError:
            rec = None
        now = self.world.now
        k = rec.current(now) if rec is not None else None
        if rec is None or k is None:
            raise RSeriesError(404, f"Sale {request.path_params['sale_id']} not found.", headers=headers)
        return json_response({"@attributes": {"count": "1"}, "Sale": self._render_sale(rec, k, now, relations)},
                             headers=headers)

    async def list_sale_lines(self, request: Request) -> Response:
        """``SaleLine.json``: the lines of the current sales and returns, by ``saleLineID`` (filters
        ``saleLineID``, ``saleID``, ``shopID``; e.g. ``saleLineID=IN,[1,2]`` to find sold lines)."""
        line_pred = self._id_filter(request, "saleLineID")
        sale_pred = self._id_filter(request, "saleID")
        raw = request.query_params.get("saleLineID") or ""

        def rows(account: str, now: datetime) -> list[tuple[dict[str, Any], datetime, bool]]:
            out = []
            index = self.index(account)
            recs: Iterable[SaleRec] = index.recs.values()
            if raw.startswith(("IN,", "=,")) or raw.isdigit():  # only the sales owning those lines
                wanted = json.loads(raw[3:]) if raw.startswith("IN,") else [raw.removeprefix("=,")]
                owners = index.line_owners()
                recs = [index.recs[o] for o in {owners.get(str(w)) for w in wanted} if o is not None]
            for rec in recs:
                k = rec.current(now)
                if k is None or sale_pred is not None and not sale_pred(rec.sale_id):
                    continue
                sale = self._render_sale(rec, k, now, {"SaleLines"})
                lines = sale.get("SaleLines", {}).get("SaleLine", [])
                for line in [lines] if isinstance(lines, dict) else lines:
                    if line_pred is None or line_pred(line["saleLineID"]):
                        out.append((line, rec.stamps[k], False))
            return out
        return self._list(request, "SaleLine", "saleLineID", rows)

    # ------------------------------------------------------------------ small lists
    def _list(self, request: Request, name: str, id_field: str,
              rows: Callable[[str, datetime], list[tuple[dict[str, Any], datetime, bool]]]) -> Response:
        """A list endpoint over few objects: ``rows(account, now)`` → (object, timeStamp, archived)."""
        account_id, headers = self.begin(request)
        q = request.query_params
        limit = parse_limit(q.get("limit"))
        sort = q.get("sort", id_field)
        if sort not in (id_field, "timeStamp"):
            raise RSeriesError(400, f"Invalid sort {sort!r}: sort by {id_field} or timeStamp.", headers=headers)
        archived = q.get("archived", "false").lower()
        if archived not in ("true", "false", "only"):
            raise RSeriesError(400, "archived must be true, false or only.", headers=headers)
        ts_pred, _ = self._time_filter(request)
        id_pred = self._id_filter(request, id_field) if name != "SaleLine" else None  # applied while listing
        shop_pred = self._id_filter(request, "shopID") if name in ("Register", "SaleLine") else None
        now = self.world.now
        found = []
        for obj, at, is_archived in rows(account_id, now):
            if archived == "false" and is_archived or archived == "only" and not is_archived:
                continue
            if ts_pred is not None and not ts_pred(at.replace(microsecond=0)):
                continue
            if id_pred is not None and not id_pred(obj[id_field]) or shop_pred is not None and not shop_pred(obj["shopID"]):
                continue
            key = (_us(at), int(obj[id_field])) if sort == "timeStamp" else (0, int(obj[id_field]))
            found.append((key, obj))
        found.sort(key=lambda kv: kv[0])
        after = q.get("after")
        if after:
            cur = decode_cursor(after)
            found = [kv for kv in found if kv[0] > (int(cur[0]), int(cur[1]))]
        page = found[:limit]
        return self._page(request, name, [obj for _, obj in page], page[-1][0] if page else None, headers,
                          len(found) > limit)

    async def list_items(self, request: Request) -> Response:
        def rows(account: str, now: datetime) -> list[tuple[dict[str, Any], datetime, bool]]:
            out = []
            for item in self.world.items[account]:
                state = item.state_at(now)
                if state is not None:
                    out.append((self.render.item(item, now), state.at, state.deleted))
            return out
        return self._list(request, "Item", "itemID", rows)

    async def list_categories(self, request: Request) -> Response:
        return self._list(request, "Category", "categoryID", lambda a, now: [
            (self.render.category(a, c), c.created_at, False) for c in self.world.categories[a] if c.created_at <= now])

    async def list_shops(self, request: Request) -> Response:
        return self._list(request, "Shop", "shopID", lambda a, now: [
            (self.render.shop(loc), self.world.account_by_id[a].created_at, False)
            for loc in self.world.account_locations(a)])

    async def list_registers(self, request: Request) -> Response:
        return self._list(request, "Register", "registerID", lambda a, now: [
            (self.render.register(loc, i), self.world.account_by_id[a].created_at, False)
            for loc in self.world.account_locations(a) for i in range(len(loc.registers))])

    async def list_employees(self, request: Request) -> Response:
        return self._list(request, "Employee", "employeeID", lambda a, now: [
            (self.render.employee(m), m.created_at, False) for m in self.world.team[a]])

    async def list_payment_types(self, request: Request) -> Response:
        return self._list(request, "PaymentType", "paymentTypeID", lambda a, now: [
            (self.render.payment_type(pid, self.world.account_by_id[a].created_at),
             self.world.account_by_id[a].created_at, False)
            for _, pid, *_ in PAYMENT_TYPES])

    async def list_tax_categories(self, request: Request) -> Response:
        return self._list(request, "TaxCategory", "taxCategoryID", lambda a, now: [
            (self.render.tax_category(t), t.created_at, False) for t in self.world.taxes[a]])

    async def list_customers(self, request: Request) -> Response:
        def rows(account: str, now: datetime) -> list[tuple[dict[str, Any], datetime, bool]]:
            loc = self.world.account_locations(account)[0]
            created = self.world.account_by_id[account].created_at
            return [(self.render.customer(loc.location_id, c.id), created, False) for c in self.world.customers[account]]
        return self._list(request, "Customer", "customerID", rows)

    async def get_account(self, request: Request) -> Response:
        account_id, headers = self.begin(request, account_in_path=False)
        account = self.world.account_by_id[account_id]
        return json_response({"@attributes": {"count": "1"}, "Account": {
            "accountID": account.account_id, "name": account.name,
            "link": {"@attributes": {"href": f"/API/V3/Account/{account.account_id}"}}}}, headers=headers)

    async def stats(self, request: Request) -> Response:
        return json_response({**self.faults.counters(), "requests": self.requests,
                              "rate_limited": self.bucket.rejected, "max_bucket_level": self.bucket.max_level,
                              "bucket_size": self.bucket.size, "refreshes": self.store.refreshes})

    def routes(self) -> list[Route]:
        acc = "/API/V3/Account/{account_id}"
        lists = {"Sale": self.list_sales, "SaleLine": self.list_sale_lines, "Item": self.list_items, "Category": self.list_categories,
                 "Shop": self.list_shops, "Register": self.list_registers, "Employee": self.list_employees,
                 "PaymentType": self.list_payment_types, "TaxCategory": self.list_tax_categories,
                 "Customer": self.list_customers}
        return [
            Route("/API/V3/Account.json", self.get_account, methods=["GET"]),
            Route(f"{acc}/Sale/{{sale_id}}.json", self.get_sale, methods=["GET"]),
            *[Route(f"{acc}/{name}.json", handler, methods=["GET"]) for name, handler in lists.items()],
            Route("/_sandbox/lightspeed_r/stats", self.stats, methods=["GET"]),
            *oauth_routes(self.store),
        ]

    def token_valid(self, scope: dict[str, Any]) -> bool:
        try:
            self.store.lookup(authorization_header(scope))
        except RSeriesError:
            return False
        return True

    def expire_token(self, scope: dict[str, Any]) -> bool:
        _, _, value = (authorization_header(scope) or "").partition(" ")
        return self.store.expire(value.strip())


def r_series_fault_body(fault: Fault) -> tuple[bytes, Mapping[str, str]]:
    """R-Series' error body for an injected status fault."""
    status = fault.status or 500
    return dumps(error_body(status, "Injected sandbox fault.")), {"content-type": "application/json"}


async def _r_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RSeriesError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"Resource not found: {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    return RSeriesError(exc.status_code, message).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    return RSeriesError(500, "An internal error has occurred.").response()


def create_lightspeed_r_app(world: World, credentials: Mapping[str, DemoCredentials], faults: FaultPlan | None = None,
                            *, bucket: tuple[int, float] = (DEFAULT_BUCKET_SIZE, DEFAULT_DRIP_RATE),
                            access_token_ttl_seconds: int = ACCESS_TTL_SECONDS, **opts: Any) -> Starlette:
    """The R-Series emulator as an ASGI app (state: ``app.state.lightspeed_r``). Options: ``bucket``
    (size, drip units per second; default 60, 1/s), ``access_token_ttl_seconds`` (default 3600).
    Options meant for other emulators are ignored."""
    del opts
    emulator = LightspeedREmulator(world, credentials, faults, bucket=bucket,
                                   access_token_ttl_seconds=access_token_ttl_seconds)
    app = Starlette(routes=emulator.routes(), exception_handlers={
        RSeriesError: _r_error, HTTPException: _http_error, Exception: _server_error})
    app.state.lightspeed_r = emulator
    app.add_middleware(FaultMiddleware, plan=emulator.faults, render_error=r_series_fault_body,
                       applies=lambda path: path.startswith("/API/") or path == "/auth/oauth/token",
                       token_valid=emulator.token_valid, expire_token=emulator.expire_token)
    return app


__all__ = ["LightspeedREmulator", "create_lightspeed_r_app", "r_series_fault_body"]
