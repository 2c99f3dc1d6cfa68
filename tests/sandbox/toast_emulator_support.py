"""Shared helpers of the Toast emulator tests: a small world, a served app, a logged-in client, the
Swagger 2.0 definitions of ``tests/specs/toast-*-schemas.json`` as JSON Schema validators, and
an independent recomputation of the daily ledger from the API's JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import httpx
from support import emulators
from support.emulators import emulator_credentials, serve_emulator
from support.specs import assert_valid, load_spec
from support.worlds import START, sandbox_world

from pos_sandbox.faults import FaultPlan
from pos_sandbox.toast import create_toast_app
from pos_sandbox.world import World

SPEC_FILES = {name: f"toast-{name}-schemas.json" for name in ("orders", "menus", "restaurants", "authentication")}


def make_world(seed: int = 11, days: int = 4, start: date = START, scale: str = "tiny") -> World:
    return sandbox_world(seed, "toast", days=days, start=start, scale=scale)


def toast_ts(when: datetime) -> str:
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


@dataclass
class Served(emulators.Served):
    token: str

    @property
    def emulator(self) -> Any:
        return self.app.state.toast

    @property
    def restaurant(self) -> str:
        return self.world.accounts[0].location_ids[0]

    def login(self, secret: str | None = None, client_id: str | None = None) -> httpx.Response:
        return self.client.post("/authentication/v1/authentication/login", json={
            "clientId": client_id or self.creds.client_id, "clientSecret": secret or self.creds.client_secret,
            "userAccessType": "TOAST_MACHINE_CLIENT"})

    def headers(self, restaurant: str | None = None, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}",
                "Toast-Restaurant-External-ID": restaurant or self.restaurant}

    def get(self, path: str, restaurant: str | None = None, **params: Any) -> httpx.Response:
        return self.client.get(path, params={k: v for k, v in params.items() if v is not None},
                               headers=self.headers(restaurant))

    def bulk(self, restaurant: str | None = None, **params: Any) -> httpx.Response:
        """One ordersBulk request, a 429 of its endpoint limit waited out (:meth:`within_limits`)."""
        return self.within_limits(lambda: self.get("/orders/v2/ordersBulk", restaurant, **params))

    def bulk_pages(self, restaurant: str | None = None, **params: Any) -> Iterator[httpx.Response]:
        """Every page of an ordersBulk query, following ``rel="next"`` until it is gone; a 429 of
        the endpoint's limit (5 requests/s per restaurant) is waited out, as a client does."""
        resp = self.bulk(restaurant, **params)
        while True:
            assert resp.status_code == 200, resp.text
            yield resp
            nxt = resp.links.get("next")
            if nxt is None:
                return
            url = nxt["url"]
            resp = self.within_limits(lambda: self.client.get(url, headers=self.headers(restaurant)))  # noqa: B023

    @staticmethod
    def within_limits(send: Callable[[], httpx.Response]) -> httpx.Response:
        """``send()`` again after each 429 until the rate-limit window it names has reset."""
        while (resp := send()).status_code == 429:
            time.sleep(max(0.0, float(resp.headers["X-Toast-RateLimit-Reset"]) - time.time()) + 0.01)
        return resp

    def all_orders(self, restaurant: str | None = None, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for resp in self.bulk_pages(restaurant, **params):
            out.extend(json.loads(resp.text, parse_float=Decimal))
        return out


@contextmanager
def served(world: World | None = None, faults: FaultPlan | None = None, *,
           scopes: tuple[str, ...] | None = None, **options: Any) -> Iterator[Served]:
    """The emulator on loopback, logged in; ``scopes``: the client's granted scopes instead of the demo's."""
    world = world or make_world()
    creds, toast = emulator_credentials(world, "toast")
    if scopes is not None:
        creds = {k: replace(c, scopes=scopes) for k, c in creds.items()}
    app = create_toast_app(world, creds, faults, **options)
    with serve_emulator(app) as (base_url, client):
        for _ in range(10):  # a fault plan may hit the login too
            resp = client.post("/authentication/v1/authentication/login", json={
                "clientId": toast.client_id, "clientSecret": toast.client_secret,
                "userAccessType": "TOAST_MACHINE_CLIENT"})
            if resp.status_code not in (429, 500, 502, 503, 504):
                break
        assert resp.status_code == 200, resp.text
        yield Served(world, app, base_url, toast, client, resp.json()["token"]["accessToken"])


# ---------------------------------------------------------------------- Swagger 2.0 → JSON Schema
def spec(name: str) -> dict[str, Any]:
    return load_spec(SPEC_FILES[name])


def _flatten(defs: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Properties and required names of a definition, ``allOf`` parents merged in."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for part in node.get("allOf", []):
        if "$ref" in part:
            p, r = _flatten(defs, defs[part["$ref"].rsplit("/", 1)[-1]])
        else:
            p, r = _flatten(defs, part)
        props.update(p)
        required += r
    props.update(node.get("properties", {}))
    required += node.get("required", [])
    return props, required


def _convert(defs: dict[str, Any], node: Any, urn: str) -> Any:
    """A Swagger schema node as strict JSON Schema: ``$ref`` siblings dropped (Swagger ignores them),
    ``allOf`` flattened, ``x-nullable`` honoured, objects that list properties closed."""
    if isinstance(node, list):
        return [_convert(defs, v, urn) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": f"{urn}#/definitions/{node['$ref'].rsplit('/', 1)[-1]}"}
    node = dict(node)
    if "allOf" in node:
        props, required = _flatten(defs, node)
        node = {k: v for k, v in node.items() if k != "allOf"} | {"type": "object", "properties": props}
        if required:
            node["required"] = sorted(set(required))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("description", "example", "format", "title", "readOnly", "default"):
            continue
        if key == "properties":
            out[key] = {k: _convert(defs, v, urn) for k, v in value.items()}
        else:
            out[key] = _convert(defs, value, urn)
    if "properties" in out and "additionalProperties" not in out and out.get("type", "object") == "object":
        out["additionalProperties"] = False
    if node.get("x-nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "$ref" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@lru_cache(maxsize=1)
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry()
    for name in SPEC_FILES:
        defs = spec(name)["definitions"]
        urn = f"urn:toast-{name}"
        converted = {k: _convert(defs, v, urn) for k, v in defs.items()}
        if name == "authentication":
            # the authentication spec copy types ErrorMessage.status as a string; Toast (and its stock
            # spec) send the HTTP status as an integer, which the emulator does
            converted["ErrorMessage"]["properties"]["status"] = {"type": ["integer", "string"]}
        registry = registry.with_resource(urn, Resource.from_contents({"definitions": converted},
                                                                      default_specification=DRAFT202012))
    return registry


def validate(spec_name: str, definition: str, payload: Any, *, array: bool = False) -> None:
    """Raise AssertionError unless ``payload`` matches the definition (or an array of it)."""
    ref = {"$ref": f"urn:toast-{spec_name}#/definitions/{definition}"}
    schema = {"type": "array", "items": ref} if array else ref
    assert_valid(schema, _registry(), payload, definition)


def validate_error(payload: Any) -> None:
    validate("authentication", "ErrorMessage", payload)


# ---------------------------------------------------------------------- independent ledger
CENT = Decimal("0.01")


def cents(value: Any) -> Decimal:
    """A money double's decimal text rounded half-up to cents (the connector rule)."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _text(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def _day(business_date: Any) -> str:
    text = str(business_date)
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def daily_from_orders(orders: list[dict[str, Any]], location_id: str, currency: str) -> list[dict[str, Any]]:
    """The ledger's daily rows recomputed from Toast orders alone (see docs/sandbox.md)."""
    rows: dict[str, dict[str, Any]] = {}

    def row(day: str) -> dict[str, Any]:
        return rows.setdefault(day, {"sales_count": 0, "void_count": 0, "refund_count": 0, "qty": Decimal(0),
                                     "gross": Decimal(0), "discount": Decimal(0), "service": Decimal(0),
                                     "tax": Decimal(0), "tip": Decimal(0), "added_tax": Decimal(0),
                                     "refund": Decimal(0)})

    for order in orders:
        if order["deleted"]:
            continue
        for check in order["checks"]:
            if check["deleted"]:
                continue
            r = row(_day(order["businessDate"]))
            if order["voided"] or check["voided"]:
                r["void_count"] += 1
                continue
            if check["paymentStatus"] not in ("PAID", "CLOSED"):
                continue
            r["sales_count"] += 1
            for sel in check["selections"]:
                if sel["voided"]:
                    continue
                r["qty"] += Decimal(str(sel["quantity"]))
                r["gross"] += cents(sel["preDiscountPrice"])
                r["discount"] += cents(sel["preDiscountPrice"]) - cents(sel["price"])
                r["tax"] += cents(sel["tax"])
                if sel["taxInclusion"] != "INCLUDED":
                    r["added_tax"] += cents(sel["tax"])
            r["service"] += sum((cents(c["chargeAmount"]) for c in check["appliedServiceCharges"]), Decimal(0))
            for payment in check["payments"]:
                if payment.get("paymentStatus") == "VOIDED":
                    continue
                r["tip"] += cents(payment["tipAmount"])
                refund = payment.get("refund")
                if refund is not None:
                    rr = row(_day(refund["refundBusinessDate"]))
                    rr["refund_count"] += 1
                    rr["refund"] += cents(refund["refundAmount"]) + cents(refund["tipRefundAmount"])
    out = []
    for day in sorted(rows):
        r = rows[day]
        total = r["gross"] - r["discount"] + r["service"] + r["added_tax"] + r["tip"]
        out.append({
            "provider": "toast", "location_id": location_id, "business_date": day, "currency": currency,
            "sales_count": r["sales_count"], "void_count": r["void_count"], "refund_count": r["refund_count"],
            "items_quantity": str(r["qty"].normalize()) if r["qty"] else "0",
            "gross_sales": _text(r["gross"]), "discount_amount": _text(r["discount"]),
            "service_charge_amount": _text(r["service"]), "tax_amount": _text(r["tax"]), "tip_amount": _text(r["tip"]),
            "total_amount": _text(total), "refund_amount": _text(r["refund"]), "net_amount": _text(total - r["refund"]),
        })
    return out


def window_params(world: World, now: datetime | None = None) -> dict[str, str]:
    """A modifiedDate window covering every object of the world up to ``now``."""
    end = (now or world.now) + timedelta(milliseconds=1)
    return {"startDate": toast_ts(world.window_start_utc - timedelta(days=1)), "endDate": toast_ts(end)}
