"""The Square API emulator: an ASGI app serving the bakery world as Square's v2 API.

``create_square_app(world, credentials, faults)`` serves, under ``base_path``:

* ``GET /v2/locations``, ``GET /v2/locations/{id}`` (``main`` alias)
* ``GET /v2/payments`` (ListPayments), ``GET /v2/payments/{id}``
* ``GET /v2/refunds`` (ListPaymentRefunds), ``GET /v2/refunds/{id}``
* ``POST /v2/orders/search``, ``POST /v2/orders/batch-retrieve``, ``GET /v2/orders/{id}``
* ``GET /v2/catalog/list``, ``POST /v2/catalog/search``
* ``POST /v2/team-members/search``
* ``GET /v2/customers`` (ListCustomers)
* the Webhook Subscriptions API (``/v2/webhooks/...``, :mod:`pos_sandbox.square_webhooks`); the
  events are :mod:`pos_sandbox.square_events` (``emulator.webhooks``), delivered by the sandbox
  server's webhook engine
* OAuth (``/oauth2/authorize``, ``/oauth2/token``, ``/oauth2/revoke``, ``/oauth2/token/status``) and
  the sandbox hooks of :mod:`pos_sandbox.square_oauth`; ``GET /_sandbox/square/faults`` reports
  the fault counters.

Behaviour follows the official OpenAPI (2025-08-20) and ``shared/providers.md`` §1: Bearer auth
with per-endpoint scopes, ``Square-Version`` format check (any well-formed date is accepted),
unknown query parameters ignored and unknown JSON body fields rejected (400 ``BAD_REQUEST``, as
the real API answers: docs/sandbox.md, *Strictness*), opaque query-bound cursors that expire after
``cursor_ttl_seconds`` (real clock), ListPayments defaulting to the main location, refunds to
all locations, SearchOrders' one-date-filter rule and matching sort field. Time windows use the
sandbox clock (``world.now``): nothing after it is visible. Where the spec is silent the choice is
documented at the handler (e.g. ``end_time`` bounds are inclusive).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.faults import Fault, FaultMiddleware, FaultPlan, authorization_header
from pos_sandbox.model import Account, Location
from pos_sandbox.square_events import SquareWebhooks
from pos_sandbox.square_http import (
    CursorCodec,
    SquareError,
    bad_request,
    check_body,
    check_query,
    check_version,
    dumps,
    enum_value,
    from_us,
    json_response,
    parse_bool,
    parse_int,
    parse_time,
    read_json,
    to_us,
    ts,
)
from pos_sandbox.square_index import (
    LocationIndex,
    OrderRec,
    PaymentRec,
    Rec,
    RefundRec,
    SortedKeys,
    SquareIndexes,
    merge_scans,
    updated_us,
)
from pos_sandbox.square_oauth import AccessToken, TokenStore, oauth_routes
from pos_sandbox.square_render import CatalogEntry, SquareRenderer, customer_created_at
from pos_sandbox.square_webhooks import SquareSubscriptionsApi
from pos_sandbox.world import World

YEAR_US = 365 * 24 * 3600 * 1_000_000
CATALOG_PAGE = 100
CATALOG_TYPES = (
    "ITEM", "IMAGE", "CATEGORY", "ITEM_VARIATION", "TAX", "DISCOUNT", "MODIFIER_LIST", "MODIFIER", "PRICING_RULE",
    "PRODUCT_SET", "TIME_PERIOD", "MEASUREMENT_UNIT", "SUBSCRIPTION_PLAN_VARIATION", "ITEM_OPTION", "ITEM_OPTION_VAL",
    "CUSTOM_ATTRIBUTE_DEFINITION", "QUICK_AMOUNTS_SETTINGS", "SUBSCRIPTION_PLAN", "AVAILABILITY_PERIOD",
)
NESTED_TYPES = {"ITEM_VARIATION", "MODIFIER", "IMAGE", "ITEM_OPTION_VAL", "COMPONENT"}
ORDER_STATES = ("OPEN", "COMPLETED", "CANCELED", "DRAFT")
REFUND_STATUSES = ("PENDING", "COMPLETED", "REJECTED", "FAILED")

PAYMENTS_QUERY = ("begin_time", "end_time", "sort_order", "cursor", "location_id", "total", "last_4", "card_brand",
                  "limit", "is_offline_payment", "offline_begin_time", "offline_end_time", "updated_at_begin_time",
                  "updated_at_end_time", "sort_field")
REFUNDS_QUERY = ("begin_time", "end_time", "sort_order", "cursor", "location_id", "status", "source_type", "limit",
                 "updated_at_begin_time", "updated_at_end_time", "sort_field")
TIME_RANGE = {"start_at": "time", "end_at": "time"}
SEARCH_ORDERS_BODY = {
    "location_ids": [str], "cursor": str, "limit": int, "return_entries": bool,
    "query": {
        "filter": {
            "state_filter": {"states": [str]},
            "date_time_filter": {"created_at": TIME_RANGE, "updated_at": TIME_RANGE, "closed_at": TIME_RANGE},
            "fulfillment_filter": {"fulfillment_types": [str], "fulfillment_states": [str]},
            "source_filter": {"source_names": [str]},
            "customer_filter": {"customer_ids": [str]},
        },
        "sort": {"sort_field": str, "sort_order": str},
    },
}
BATCH_ORDERS_BODY = {"location_id": str, "order_ids": [str]}
CATALOG_QUERY = {
    "sorted_attribute_query": {"attribute_name": str, "initial_attribute_value": str, "sort_order": str},
    "exact_query": {"attribute_name": str, "attribute_value": str},
    "set_query": {"attribute_name": str, "attribute_values": [str]},
    "prefix_query": {"attribute_name": str, "attribute_prefix": str},
    "range_query": {"attribute_name": str, "attribute_min_value": int, "attribute_max_value": int},
    "text_query": {"keywords": [str]},
    "items_for_tax_query": {"tax_ids": [str]},
    "items_for_modifier_list_query": {"modifier_list_ids": [str]},
    "items_for_item_options_query": {"item_option_ids": [str]},
    "item_variations_for_item_option_values_query": {"item_option_value_ids": [str]},
}
SEARCH_CATALOG_BODY = {"cursor": str, "object_types": [str], "include_deleted_objects": bool,
                       "include_related_objects": bool, "begin_time": "time", "query": CATALOG_QUERY, "limit": int,
                       "include_category_path_to_root": bool}
CUSTOMERS_QUERY = ("cursor", "limit", "sort_field", "sort_order", "count")
SEARCH_TEAM_BODY = {"query": {"filter": {"location_ids": [str], "status": str, "is_owner": bool}},
                    "limit": int, "cursor": str}

FAULT_ERRORS = {
    429: ("RATE_LIMIT_ERROR", "RATE_LIMITED", "Rate limited: too many requests."),
    500: ("API_ERROR", "INTERNAL_SERVER_ERROR", "An internal error has occurred."),
    502: ("API_ERROR", "BAD_GATEWAY", "Bad gateway."),
    503: ("API_ERROR", "SERVICE_UNAVAILABLE", "Service unavailable."),
    504: ("API_ERROR", "GATEWAY_TIMEOUT", "Gateway timeout."),
    408: ("API_ERROR", "REQUEST_TIMEOUT", "Request timeout."),
    404: ("INVALID_REQUEST_ERROR", "NOT_FOUND", "Not found."),
}


def square_fault_body(fault: Fault) -> tuple[bytes, Mapping[str, str]]:
    """Square's error envelope for an injected status fault."""
    status = fault.status or 500
    default = ("API_ERROR", "INTERNAL_SERVER_ERROR", "An internal error has occurred.") if status >= 500 else \
        ("INVALID_REQUEST_ERROR", "BAD_REQUEST", "Bad request.")
    category, code, detail = FAULT_ERRORS.get(status, default)
    body = dumps({"errors": [{"category": category, "code": code, "detail": detail}]})
    return body, {"content-type": "application/json"}


class SquareEmulator:
    """State and handlers of one Square emulator instance (``app.state.square``)."""

    def __init__(self, world: World, credentials: Mapping[str, DemoCredentials], faults: FaultPlan | None,
                 cursor_ttl_seconds: float, base_path: str) -> None:
        self.world = world
        self.faults = faults or FaultPlan()
        self.base_path = base_path.rstrip("/")
        self.store = TokenStore(world.seed, credentials)
        self.indexes = SquareIndexes(world)
        self.render = SquareRenderer(world)
        self.cursors = CursorCodec(hashlib.blake2b(f"{world.seed}|square-cursor".encode()).digest(), cursor_ttl_seconds)
        self.accounts: dict[str, Account] = self.render.accounts
        self.locations: dict[str, Location] = self.render.locations
        self.subscriptions = SquareSubscriptionsApi(world.seed, self.store, credentials)
        self.webhooks = SquareWebhooks(self, self.subscriptions.store)

    def warm(self, location_ids: list[str] | None = None) -> None:
        """Build the indexes now (each location's first request otherwise pays for it: about 4 s per
        location at ``chain`` scale over 90 days). Safe to call from a background thread."""
        for location_id in location_ids or list(self.locations):
            self.indexes.location(location_id)

    # ------------------------------------------------------------------ common
    def now_us(self) -> int:
        return to_us(self.world.now)

    def begin(self, request: Request, scopes: tuple[str, ...], allowed_query: tuple[str, ...] = ()) -> AccessToken:
        token = self.store.authorize(request.headers.get("authorization"), scopes)
        check_version(request.headers)
        check_query(request.query_params.keys(), allowed_query)
        if token.merchant_id not in self.accounts:
            raise SquareError(403, "FORBIDDEN", "The merchant of this token has no Square account in the sandbox.")
        return token

    def merchant_locations(self, token: AccessToken) -> list[str]:
        return list(self.accounts[token.merchant_id].location_ids)

    def own_location(self, token: AccessToken, location_id: str, field: str = "location_id") -> str:
        if location_id not in self.merchant_locations(token):
            raise SquareError(404, "NOT_FOUND", f"Location `{location_id}` not found.", field)
        return location_id

    def main_location(self, token: AccessToken) -> str:
        ids = self.merchant_locations(token)
        return next((i for i in ids if self.locations[i].is_main), ids[0])

    @staticmethod
    def _limit(raw: str | None, default: int, maximum: int, clamp: bool, field: str = "limit") -> int:
        if raw is None:
            return default
        value = parse_int(raw, field)
        if value < 1:
            raise bad_request("VALUE_TOO_LOW", f"`{field}` must be at least 1.", field)
        if value > maximum:
            if clamp:
                return default
            raise bad_request("VALUE_TOO_HIGH", f"`{field}` must be at most {maximum}.", field)
        return value

    def page(self, scan: Iterator[tuple[tuple[int, str], Rec]], accept: Callable[[Rec], bool],
             limit: int) -> tuple[list[Rec], tuple[int, str] | None]:
        """Up to ``limit`` accepted records and the key of the last one when more exist."""
        out: list[Rec] = []
        last: tuple[int, str] | None = None
        for key, rec in scan:
            if not accept(rec):
                continue
            if len(out) == limit:
                return out, last
            out.append(rec)
            last = key
        return out, None

    def resume(self, request_cursor: str | None, fingerprint: str) -> dict[str, Any] | None:
        if request_cursor is None:
            return None
        return self.cursors.decode(request_cursor, fingerprint)

    # ------------------------------------------------------------------ locations
    async def list_locations(self, request: Request) -> Response:
        token = self.begin(request, ("MERCHANT_PROFILE_READ",))
        locs = sorted((self.locations[i] for i in self.merchant_locations(token)), key=lambda loc: (loc.name, loc.location_id))
        return json_response({"locations": [self.render.location(loc) for loc in locs]})

    async def get_location(self, request: Request) -> Response:
        token = self.begin(request, ("MERCHANT_PROFILE_READ",))
        location_id = request.path_params["location_id"]
        if location_id == "main":
            location_id = self.main_location(token)
        if location_id not in self.merchant_locations(token):
            raise SquareError(404, "NOT_FOUND", f"Location `{location_id}` not found.")
        return json_response({"location": self.render.location(self.locations[location_id])})

    # ------------------------------------------------------------------ payments
    async def list_payments(self, request: Request) -> Response:
        token = self.begin(request, ("PAYMENTS_READ",), PAYMENTS_QUERY)
        q = request.query_params
        now = self.now_us()
        location_id = self.own_location(token, q["location_id"]) if "location_id" in q else self.main_location(token)
        begin = parse_time(q["begin_time"], "begin_time") if "begin_time" in q else now - YEAR_US
        end = parse_time(q["end_time"], "end_time") if "end_time" in q else now
        if begin > end:
            raise bad_request("INVALID_TIME_RANGE", "`begin_time` must not be after `end_time`.", "begin_time")
        ub = parse_time(q["updated_at_begin_time"], "updated_at_begin_time") if "updated_at_begin_time" in q else None
        ue = parse_time(q["updated_at_end_time"], "updated_at_end_time") if "updated_at_end_time" in q else None
        if ub is not None and ue is not None and ub > ue:
            raise bad_request("INVALID_TIME_RANGE", "`updated_at_begin_time` must not be after `updated_at_end_time`.",
                              "updated_at_begin_time")
        for name in ("offline_begin_time", "offline_end_time"):
            if name in q:
                parse_time(q[name], name)
        asc = enum_value(q.get("sort_order", "DESC"), ("ASC", "DESC"), "sort_order") == "ASC"
        sort_field = enum_value(q.get("sort_field", "CREATED_AT"), ("CREATED_AT", "UPDATED_AT", "OFFLINE_CREATED_AT"),
                                "sort_field")
        limit = self._limit(q.get("limit"), 100, 100, clamp=True)
        total = parse_int(q["total"], "total") if "total" in q else None
        offline = parse_bool(q["is_offline_payment"], "is_offline_payment") if "is_offline_payment" in q else False
        # no payment of the bakery was taken offline: offline filters match nothing
        none_match = offline or "offline_begin_time" in q or "offline_end_time" in q
        last_4 = q.get("last_4")
        brand = q.get("card_brand")
        fingerprint = self.cursors.fingerprint("payments", token.merchant_id, location_id,
                                               sorted((k, v) for k, v in q.multi_items() if k != "cursor"))
        state = self.resume(q.get("cursor"), fingerprint)
        after = tuple(state["k"]) if state else None
        index = self.indexes.location(location_id)
        by_updated = sort_field == "UPDATED_AT"

        def accept(rec: Rec) -> bool:
            assert isinstance(rec, PaymentRec)
            if none_match or not (begin <= rec.created_us <= end):
                return False
            if ub is not None or ue is not None:
                up = updated_us(rec, now)
                if (ub is not None and up < ub) or (ue is not None and up > ue):
                    return False
            if last_4 is not None and rec.last_4 != last_4:
                return False
            if brand is not None and rec.card_brand != brand:
                return False
            if total is not None:
                tip = rec.tip1 if rec.tip_edit_us <= now else rec.tip0
                if rec.amount + tip != total:
                    return False
            return True

        if by_updated:
            scan = index.payments_updated.scan(asc=asc, lo=ub, hi=ue if ue is not None else now,
                                               after=after, now_us=now, updated=True)  # type: ignore[arg-type]
        else:
            scan = index.payments_created.scan(asc=asc, lo=begin, hi=end, after=after, now_us=now,  # type: ignore[arg-type]
                                               updated=False)
        recs, more = self.page(scan, accept, limit)
        return self.sale_records_page("payments", self.render.payment, recs, more, fingerprint, now)

    # ------------------------------------------------------------------ payments and refunds
    def sale_records_page(self, key: str, render: Any, recs: list[Any], more: Any, fingerprint: Any,
                          now: int) -> Response:
        """One list page of payments or refunds; ``cursor`` only when there is a next page."""
        body: dict[str, Any] = {}
        if recs:
            body[key] = [render(r, self.indexes.sale(r), now) for r in recs]
        if more is not None:
            body["cursor"] = self.cursors.encode(fingerprint, {"k": list(more)})
        return json_response(body)

    def sale_record(self, kind: str, object_id: str, render: Any, by_id: Any, token: Any) -> Response:
        """GetPayment / GetPaymentRefund: one visible object of the token's merchant, else 404."""
        now = self.now_us()
        rec = self.indexes.find(self.merchant_locations(token), by_id, object_id)
        if rec is None or rec.visible_us > now:
            raise SquareError(404, "NOT_FOUND", f"Could not find {kind} with id `{object_id}`.")
        return json_response({kind: render(rec, self.indexes.sale(rec), now)})

    async def get_payment(self, request: Request) -> Response:
        return self.sale_record("payment", request.path_params["payment_id"], self.render.payment,
                                lambda i: i.payments_by_id, self.begin(request, ("PAYMENTS_READ",)))

    # ------------------------------------------------------------------ refunds
    async def list_refunds(self, request: Request) -> Response:
        token = self.begin(request, ("PAYMENTS_READ",), REFUNDS_QUERY)
        q = request.query_params
        now = self.now_us()
        location_ids = [self.own_location(token, q["location_id"])] if "location_id" in q \
            else self.merchant_locations(token)
        begin = parse_time(q["begin_time"], "begin_time") if "begin_time" in q else now - YEAR_US
        end = parse_time(q["end_time"], "end_time") if "end_time" in q else now
        if begin > end:
            raise bad_request("INVALID_TIME_RANGE", "`begin_time` must not be after `end_time`.", "begin_time")
        ub = parse_time(q["updated_at_begin_time"], "updated_at_begin_time") if "updated_at_begin_time" in q else None
        ue = parse_time(q["updated_at_end_time"], "updated_at_end_time") if "updated_at_end_time" in q else None
        asc = enum_value(q.get("sort_order", "DESC"), ("ASC", "DESC"), "sort_order") == "ASC"
        sort_field = enum_value(q.get("sort_field", "CREATED_AT"), ("CREATED_AT", "UPDATED_AT"), "sort_field")
        status = enum_value(q["status"], REFUND_STATUSES, "status") if "status" in q else None
        source_type = q.get("source_type")
        limit = self._limit(q.get("limit"), 100, 100, clamp=True)
        fingerprint = self.cursors.fingerprint("refunds", token.merchant_id, location_ids,
                                               sorted((k, v) for k, v in q.multi_items() if k != "cursor"))
        state = self.resume(q.get("cursor"), fingerprint)
        after = tuple(state["k"]) if state else None
        by_updated = sort_field == "UPDATED_AT"

        def accept(rec: Rec) -> bool:
            assert isinstance(rec, RefundRec)
            if not (begin <= rec.created_us <= end):
                return False
            if ub is not None or ue is not None:
                up = updated_us(rec, now)
                if (ub is not None and up < ub) or (ue is not None and up > ue):
                    return False
            if status is not None and status != ("COMPLETED" if rec.completed_us <= now else "PENDING"):
                return False
            return source_type is None or rec.source_type == source_type

        scans = []
        for location_id in location_ids:
            index = self.indexes.location(location_id)
            keys: SortedKeys = index.refunds_updated if by_updated else index.refunds_created
            lo, hi = (ub, ue if ue is not None else now) if by_updated else (begin, end)
            scans.append(keys.scan(asc=asc, lo=lo, hi=hi, after=after, now_us=now,  # type: ignore[arg-type]
                                   updated=by_updated))
        recs, more = self.page(merge_scans(scans, asc), accept, limit)
        return self.sale_records_page("refunds", self.render.refund, recs, more, fingerprint, now)

    async def get_refund(self, request: Request) -> Response:
        return self.sale_record("refund", request.path_params["refund_id"], self.render.refund,
                                lambda i: i.refunds_by_id, self.begin(request, ("PAYMENTS_READ",)))

    # ------------------------------------------------------------------ orders
    async def search_orders(self, request: Request) -> Response:
        token = self.begin(request, ("ORDERS_READ",))
        body = await read_json(request)
        check_body(body, SEARCH_ORDERS_BODY)
        now = self.now_us()
        location_ids = body.get("location_ids") or []
        if not location_ids:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "At least one location id is required.", "location_ids")
        if len(location_ids) > 10:
            raise bad_request("ARRAY_LENGTH_TOO_LONG", "At most 10 location ids can be searched at once.",
                              "location_ids")
        own = set(self.merchant_locations(token))
        for i, location_id in enumerate(location_ids):
            if location_id not in own:
                raise bad_request("INVALID_VALUE", f"Location `{location_id}` is not accessible.", f"location_ids[{i}]")
        limit = body.get("limit")
        if limit is None:
            limit = 500
        elif limit < 1:
            raise bad_request("VALUE_TOO_LOW", "`limit` must be at least 1.", "limit")
        elif limit > 1000:
            raise bad_request("VALUE_TOO_HIGH", "`limit` must be at most 1000.", "limit")
        query = body.get("query") or {}
        flt = query.get("filter") or {}
        sort = query.get("sort")
        states = None
        if flt.get("state_filter") is not None:
            states = flt["state_filter"].get("states")
            if not states:
                raise bad_request("MISSING_REQUIRED_PARAMETER", "`states` is required in a state filter.",
                                  "query.filter.state_filter.states")
            for i, st in enumerate(states):
                enum_value(st, ORDER_STATES, f"query.filter.state_filter.states[{i}]")
        date_field = None
        start_at = end_at = None
        dtf = {k: v for k, v in (flt.get("date_time_filter") or {}).items() if v is not None}
        if len(dtf) > 1:
            raise bad_request("BAD_REQUEST", "Only one of `created_at`, `updated_at` and `closed_at` can be "
                              "used in a date time filter.", "query.filter.date_time_filter")
        if dtf:
            date_field, rng = next(iter(dtf.items()))
            where = f"query.filter.date_time_filter.{date_field}"
            start_at = parse_time(rng["start_at"], f"{where}.start_at") if rng.get("start_at") is not None else None
            end_at = parse_time(rng["end_at"], f"{where}.end_at") if rng.get("end_at") is not None else None
            if start_at is not None and end_at is not None and start_at > end_at:
                raise bad_request("INVALID_TIME_RANGE", "`start_at` must not be after `end_at`.", where)
        sort_field = "CREATED_AT"
        sort_order = "DESC"
        if sort is not None:
            if sort.get("sort_field") is None:
                raise bad_request("MISSING_REQUIRED_PARAMETER", "`sort_field` is required in a sort.",
                                  "query.sort.sort_field")
            sort_field = enum_value(sort["sort_field"], ("CREATED_AT", "UPDATED_AT", "CLOSED_AT"), "query.sort.sort_field")
            if sort.get("sort_order") is not None:
                sort_order = enum_value(sort["sort_order"], ("DESC", "ASC"), "query.sort.sort_order")
        if date_field is not None and date_field.upper() != sort_field:
            raise bad_request("INVALID_VALUE", f"When filtering by `{date_field}`, `query.sort.sort_field` must be "
                              f"`{date_field.upper()}` (it is `{sort_field}`).", "query.sort.sort_field")
        fingerprint = self.cursors.fingerprint("orders", token.merchant_id, location_ids, query, limit,
                                               bool(body.get("return_entries")))
        state = self.resume(body.get("cursor"), fingerprint)
        after = tuple(state["k"]) if state else None
        chain_now = int(state["e"]) if state else now  # end_at defaults to the first request's time
        if date_field is not None and end_at is None:
            end_at = chain_now
        source_names = set((flt.get("source_filter") or {}).get("source_names") or ())
        customer_ids = set((flt.get("customer_filter") or {}).get("customer_ids") or ())
        ful = flt.get("fulfillment_filter") or {}
        no_fulfillment_match = bool(ful.get("fulfillment_types") or ful.get("fulfillment_states"))
        asc = sort_order == "ASC"

        def accept(rec: Rec) -> bool:
            assert isinstance(rec, OrderRec)
            if no_fulfillment_match:  # the bakery's orders have no fulfillments
                return False
            if states is not None and rec.state not in states:
                return False
            if source_names and rec.source_name not in source_names:
                return False
            return not customer_ids or rec.customer_id in customer_ids

        scans = []
        for location_id in dict.fromkeys(location_ids):
            index: LocationIndex = self.indexes.location(location_id)
            keys = {"CREATED_AT": index.orders_created, "UPDATED_AT": index.orders_updated,
                    "CLOSED_AT": index.orders_closed}[sort_field]
            scans.append(keys.scan(asc=asc, lo=start_at, hi=end_at, after=after, now_us=now,  # type: ignore[arg-type]
                                   updated=sort_field == "UPDATED_AT"))
        recs, more = self.page(merge_scans(scans, asc), accept, limit)
        out: dict[str, Any] = {}
        if recs:
            if body.get("return_entries"):
                out["order_entries"] = [{"order_id": r.id, "version": self.render.version(r, now),  # type: ignore[arg-type]
                                         "location_id": r.location_id} for r in recs]
            else:
                out["orders"] = [self.render.order(r, self.indexes.sale(r), now) for r in recs]  # type: ignore[arg-type]
        if more is not None:
            out["cursor"] = self.cursors.encode(fingerprint, {"k": list(more), "e": chain_now})
        return json_response(out)

    async def batch_retrieve_orders(self, request: Request) -> Response:
        token = self.begin(request, ("ORDERS_READ",))
        body = await read_json(request)
        check_body(body, BATCH_ORDERS_BODY)
        order_ids = body.get("order_ids")
        if not order_ids:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "`order_ids` is required.", "order_ids")
        if len(order_ids) > 100:
            raise bad_request("ARRAY_LENGTH_TOO_LONG", "At most 100 orders can be retrieved at once.", "order_ids")
        location_ids = self.merchant_locations(token)
        if body.get("location_id") is not None:
            location_ids = [self.own_location(token, body["location_id"])]
        now = self.now_us()
        orders = []
        for order_id in dict.fromkeys(order_ids):
            rec = self.indexes.find(location_ids, lambda i: i.orders_by_id, order_id)
            if rec is not None and rec.visible_us <= now:
                orders.append(self.render.order(rec, self.indexes.sale(rec), now))  # type: ignore[arg-type]
        return json_response({"orders": orders} if orders else {})

    async def get_order(self, request: Request) -> Response:
        token = self.begin(request, ("ORDERS_READ",))
        order_id = request.path_params["order_id"]
        now = self.now_us()
        rec = self.indexes.find(self.merchant_locations(token), lambda i: i.orders_by_id, order_id)
        if rec is None or rec.visible_us > now:
            raise SquareError(404, "NOT_FOUND", f"Could not find order with id `{order_id}`.")
        return json_response({"order": self.render.order(rec, self.indexes.sale(rec), now)})  # type: ignore[arg-type]

    # ------------------------------------------------------------------ catalog
    @staticmethod
    def _catalog_types(raw: list[str] | None, field: str) -> set[str] | None:
        if raw is None:
            return None
        types = set()
        for i, name in enumerate(raw):
            upper = name.strip().upper()
            if upper:
                types.add(enum_value(upper, CATALOG_TYPES, f"{field}[{i}]" if field == "object_types" else field))
        return types or None

    @staticmethod
    def _type_wanted(entry: CatalogEntry, types: set[str] | None) -> bool:
        return entry.type not in NESTED_TYPES if types is None else entry.type in types

    async def list_catalog(self, request: Request) -> Response:
        token = self.begin(request, ("ITEMS_READ",), ("cursor", "types", "catalog_version"))
        q = request.query_params
        now = self.now_us()
        as_of = now
        if "catalog_version" in q:
            as_of = min(now, parse_int(q["catalog_version"], "catalog_version") * 1000)
        types = self._catalog_types(q["types"].split(",") if q.get("types") else None, "types")
        fingerprint = self.cursors.fingerprint("catalog-list", token.merchant_id, q.get("types", "").upper(),
                                               q.get("catalog_version"))
        state = self.resume(q.get("cursor"), fingerprint)
        after = tuple(state["k"]) if state else None
        entries = [e for e in self.render.catalog(token.merchant_id, as_of)
                   if not e.deleted and self._type_wanted(e, types) and (after is None or (e.rank, e.id) > after)]
        page = entries[:CATALOG_PAGE]
        body: dict[str, Any] = {}
        if page:
            body["objects"] = [e.obj for e in page]
        if len(entries) > CATALOG_PAGE:
            body["cursor"] = self.cursors.encode(fingerprint, {"k": [page[-1].rank, page[-1].id]})
        return json_response(body)

    def _catalog_query_filter(self, query: dict[str, Any], merchant_id: str) -> Callable[[CatalogEntry], bool]:
        active = {k: v for k, v in query.items() if v is not None}
        if not active:
            return lambda e: True
        if len(active) > 1:
            raise bad_request("BAD_REQUEST", "Only one query type can be set in a catalog query.", "query")
        kind, spec = next(iter(active.items()))

        def attr(entry: CatalogEntry, name: str) -> str | None:
            data = next((v for k, v in entry.obj.items() if k.endswith("_data")), {})
            value = data.get(name)
            return value if isinstance(value, str) else None

        if kind in ("exact_query", "prefix_query", "set_query", "sorted_attribute_query"):
            name = spec.get("attribute_name")
            if not name:
                raise bad_request("MISSING_REQUIRED_PARAMETER", "`attribute_name` is required.",
                                  f"query.{kind}.attribute_name")
            if kind == "exact_query":
                wanted = (spec.get("attribute_value") or "").lower()
                return lambda e: (attr(e, name) or "").lower() == wanted
            if kind == "prefix_query":
                prefix = (spec.get("attribute_prefix") or "").lower()
                return lambda e: (attr(e, name) or "").lower().startswith(prefix)
            if kind == "set_query":
                values = {v.lower() for v in spec.get("attribute_values") or ()}
                return lambda e: (attr(e, name) or "").lower() in values
            return lambda e: attr(e, name) is not None
        if kind == "text_query":
            words = [w.lower() for w in spec.get("keywords") or ()]
            return lambda e: all(w in (attr(e, "name") or "").lower() for w in words)
        if kind == "items_for_tax_query":
            tax_ids = set(spec.get("tax_ids") or ())
            return lambda e: e.type == "ITEM" and bool(tax_ids & set(e.obj["item_data"].get("tax_ids", ())))
        if kind == "items_for_modifier_list_query":
            list_ids = set(spec.get("modifier_list_ids") or ())
            return lambda e: e.type == "ITEM" and any(
                m["modifier_list_id"] in list_ids for m in e.obj["item_data"].get("modifier_list_info", ()))
        if kind in ("items_for_item_options_query", "item_variations_for_item_option_values_query"):
            return lambda e: False  # the bakery's catalog has no item options
        raise bad_request("BAD_REQUEST", f"`{kind}` is not supported by the sandbox.", f"query.{kind}")

    async def search_catalog(self, request: Request) -> Response:
        token = self.begin(request, ("ITEMS_READ",))
        body = await read_json(request)
        check_body(body, SEARCH_CATALOG_BODY)
        now = self.now_us()
        include_deleted = bool(body.get("include_deleted_objects"))
        if include_deleted and body.get("include_category_path_to_root"):
            raise bad_request("BAD_REQUEST", "`include_deleted_objects` and `include_category_path_to_root` cannot "
                              "both be true.", "include_deleted_objects")
        types = self._catalog_types(body.get("object_types"), "object_types")
        begin = parse_time(body["begin_time"], "begin_time") if body.get("begin_time") is not None else None
        limit = body.get("limit")
        if limit is None or limit <= 0 or limit > 1000:
            limit = CATALOG_PAGE
        match = self._catalog_query_filter(body.get("query") or {}, token.merchant_id)
        fingerprint = self.cursors.fingerprint("catalog-search", token.merchant_id,
                                               {k: v for k, v in body.items() if k != "cursor"})
        state = self.resume(body.get("cursor"), fingerprint)
        after = tuple(state["k"]) if state else None
        catalog = self.render.catalog(token.merchant_id, now)
        entries = [e for e in catalog
                   if (include_deleted or not e.deleted) and self._type_wanted(e, types)
                   and (begin is None or e.updated_us > begin) and (after is None or (e.rank, e.id) > after)
                   and match(e)]
        page = entries[:limit]
        out: dict[str, Any] = {}
        if page:
            out["objects"] = [e.obj for e in page]
        if len(entries) > limit:
            out["cursor"] = self.cursors.encode(fingerprint, {"k": [page[-1].rank, page[-1].id]})
        if body.get("include_related_objects") and page:
            related = self._related(page, catalog)
            if related:
                out["related_objects"] = related
        if catalog:
            out["latest_time"] = ts(from_us(max(e.updated_us for e in catalog)))
        return json_response(out)

    @staticmethod
    def _related(page: list[CatalogEntry], catalog: list[CatalogEntry]) -> list[dict[str, Any]]:
        by_id = {e.id: e for e in catalog if not e.deleted}
        in_page = {e.id for e in page}
        wanted: dict[str, None] = {}
        for e in page:
            if e.type == "ITEM":
                data = e.obj["item_data"]
                for ref in [c["id"] for c in data.get("categories", ())] + list(data.get("tax_ids", ())) + \
                        [m["modifier_list_id"] for m in data.get("modifier_list_info", ())]:
                    wanted[ref] = None
            elif e.type == "ITEM_VARIATION":
                wanted[e.obj["item_variation_data"]["item_id"]] = None
        return [by_id[i].obj for i in wanted if i in by_id and i not in in_page]

    # ------------------------------------------------------------------ team
    async def search_team(self, request: Request) -> Response:
        token = self.begin(request, ("EMPLOYEES_READ",))
        body = await read_json(request)
        check_body(body, SEARCH_TEAM_BODY)
        limit = body.get("limit")
        if limit is None:
            limit = 100
        elif limit < 1:
            raise bad_request("VALUE_TOO_LOW", "`limit` must be at least 1.", "limit")
        elif limit > 200:
            raise bad_request("VALUE_TOO_HIGH", "`limit` must be at most 200.", "limit")
        flt = (body.get("query") or {}).get("filter") or {}
        status = enum_value(flt["status"], ("ACTIVE", "INACTIVE"), "query.filter.status") \
            if flt.get("status") is not None else None
        wanted_locations = set(flt.get("location_ids") or ())
        is_owner = flt.get("is_owner")
        fingerprint = self.cursors.fingerprint("team", token.merchant_id, body.get("query"), limit)
        state = self.resume(body.get("cursor"), fingerprint)
        after = state["k"] if state else None
        all_locations = set(self.merchant_locations(token))
        members = []
        for member in sorted(self.world.team[token.merchant_id], key=lambda m: m.id):
            if after is not None and member.id <= after:
                continue
            if status == "INACTIVE":  # every team member of the bakery is active
                continue
            if is_owner is not None and member.is_owner != is_owner:
                continue
            locs = all_locations if member.is_owner else set(member.location_ids)
            if wanted_locations and not (locs & wanted_locations):
                continue
            members.append(member)
        page = members[:limit]
        out: dict[str, Any] = {"team_members": [self.render.team_member(m) for m in page]}
        if len(members) > limit:
            out["cursor"] = self.cursors.encode(fingerprint, {"k": page[-1].id})
        return json_response(out)

    # ------------------------------------------------------------------ customers
    async def list_customers(self, request: Request) -> Response:
        """ListCustomers: the merchant's customer profiles created up to the sandbox clock.

        ``limit`` outside 1–100 is a 400 VALUE_TOO_LOW / VALUE_TOO_HIGH (as the 2025-08-20 reference
        says; older versions ignored it). ``sort_field`` DEFAULT sorts by given + family name
        (ties by id), CREATED_AT by creation time; ``sort_order`` ASC (default) or DESC.
        """
        token = self.begin(request, ("CUSTOMERS_READ",), CUSTOMERS_QUERY)
        q = request.query_params
        limit = self._limit(q.get("limit"), 100, 100, clamp=False)
        sort_field = enum_value(q.get("sort_field", "DEFAULT"), ("DEFAULT", "CREATED_AT"), "sort_field")
        desc = enum_value(q.get("sort_order", "ASC"), ("ASC", "DESC"), "sort_order") == "DESC"
        count = parse_bool(q["count"], "count") if "count" in q else False
        account = self.accounts[token.merchant_id]
        now = self.world.now
        visible = [(c, n) for n, c in enumerate(self.world.customers.get(token.merchant_id, ()))
                   if customer_created_at(account.created_at, n) <= now]

        def key(entry: tuple[Any, int]) -> list[Any]:
            c, n = entry
            return [n, c.id] if sort_field == "CREATED_AT" else [f"{c.given_name} {c.family_name}", c.id]

        ordered = sorted(visible, key=key, reverse=desc)
        fingerprint = self.cursors.fingerprint("customers", token.merchant_id, sort_field, desc, limit)
        state = self.resume(q.get("cursor"), fingerprint)
        if state is not None:
            after = state["k"]
            ordered = [e for e in ordered if (key(e) < after if desc else key(e) > after)]
        page = ordered[:limit]
        out: dict[str, Any] = {}
        if page:
            out["customers"] = [self.render.customer(c, n) for c, n in page]
        if len(ordered) > limit:
            out["cursor"] = self.cursors.encode(fingerprint, {"k": key(page[-1])})
        if count:
            out["count"] = len(visible)
        return json_response(out)

    # ------------------------------------------------------------------ sandbox
    async def sandbox_faults(self, request: Request) -> Response:
        return json_response(self.faults.counters())

    def routes(self) -> list[Route]:
        p = self.base_path
        return [
            Route(f"{p}/v2/locations", self.list_locations, methods=["GET"]),
            Route(f"{p}/v2/locations/{{location_id}}", self.get_location, methods=["GET"]),
            Route(f"{p}/v2/payments", self.list_payments, methods=["GET"]),
            Route(f"{p}/v2/payments/{{payment_id}}", self.get_payment, methods=["GET"]),
            Route(f"{p}/v2/refunds", self.list_refunds, methods=["GET"]),
            Route(f"{p}/v2/refunds/{{refund_id}}", self.get_refund, methods=["GET"]),
            Route(f"{p}/v2/orders/search", self.search_orders, methods=["POST"]),
            Route(f"{p}/v2/orders/batch-retrieve", self.batch_retrieve_orders, methods=["POST"]),
            Route(f"{p}/v2/orders/{{order_id}}", self.get_order, methods=["GET"]),
            Route(f"{p}/v2/catalog/list", self.list_catalog, methods=["GET"]),
            Route(f"{p}/v2/catalog/search", self.search_catalog, methods=["POST"]),
            Route(f"{p}/v2/team-members/search", self.search_team, methods=["POST"]),
            Route(f"{p}/v2/customers", self.list_customers, methods=["GET"]),
            Route(f"{p}/_sandbox/square/faults", self.sandbox_faults, methods=["GET"]),
            *self.subscriptions.routes(p),
            *oauth_routes(self.store, p),
        ]

    # ------------------------------------------------------------------ fault hooks
    def token_valid(self, scope: dict[str, Any]) -> bool:
        return self.store.token_of_header(authorization_header(scope)) is not None

    def expire_token(self, scope: dict[str, Any]) -> bool:
        tok = self.store.token_of_header(authorization_header(scope))
        return tok is not None and self.store.expire(tok.token)

    def fault_applies(self, path: str) -> bool:
        p = self.base_path
        return path.startswith(f"{p}/v2/") or path in (f"{p}/oauth2/token", f"{p}/oauth2/token/status",
                                                        f"{p}/oauth2/revoke")


async def _square_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SquareError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return SquareError(405, "METHOD_NOT_ALLOWED", "Method not allowed.", category="INVALID_REQUEST_ERROR").response()
    if exc.status_code == 404:
        return SquareError(404, "NOT_FOUND", f"Resource not found: {request.url.path}").response()
    return SquareError(exc.status_code, "BAD_REQUEST", str(exc.detail)).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    return SquareError(500, "INTERNAL_SERVER_ERROR", "An internal error has occurred.", category="API_ERROR").response()


def create_square_app(
    world: World,
    credentials: Mapping[str, DemoCredentials],
    faults: FaultPlan | None = None,
    *,
    cursor_ttl_seconds: float = 300,
    base_path: str = "",
) -> Starlette:
    """The Square emulator as an ASGI app; its state is ``app.state.square`` (a :class:`SquareEmulator`)."""
    emulator = SquareEmulator(world, credentials, faults, cursor_ttl_seconds, base_path)
    app = Starlette(
        routes=emulator.routes(),
        exception_handlers={SquareError: _square_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.square = emulator
    app.add_middleware(
        FaultMiddleware, plan=emulator.faults, render_error=square_fault_body, applies=emulator.fault_applies,
        token_valid=emulator.token_valid, expire_token=emulator.expire_token,
        expire_cursors=emulator.cursors.expire_all,
    )
    return app


__all__ = ["SquareEmulator", "create_square_app", "square_fault_body"]
