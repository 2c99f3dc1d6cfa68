"""Lightspeed X-Series webhooks: ``/api/webhooks`` (API 0.9, form field ``data``) with the store's
OAuth token, form-encoded deliveries with the API 1.0 ``payload``, ``X-Signature`` keyed with the
app's client secret (hex over the raw body by default; base64 / the payload configurable)."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal

import httpx
from webhook_support import (
    FAST,
    creds,
    lightspeed_subscribe,
    lightspeed_valid,
    receiving,
    sandbox,
    settle,
    tiny_world,
)

V1_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def test_webhooks_api_per_store_with_its_oauth_token() -> None:
    world = tiny_world(8, "lightspeed", days=1)
    with sandbox(world) as srv:
        ls = creds(srv, "lightspeed")
        base = f"{srv.provider_url('lightspeed')}/api/webhooks"
        auth = {"Authorization": f"Bearer {ls.access_token}"}
        data = {"url": "https://hooks.example/ls", "active": True, "type": "sale.update"}

        assert httpx.post(base, data={"data": json.dumps(data)}).status_code == 401
        assert httpx.post(base, data={"data": json.dumps(data)},
                          headers={"Authorization": "Bearer lsxs_at_nope"}).status_code == 401
        for bad in ({"data": json.dumps(data | {"type": "sale.created"})}, {"data": "{not json"},
                    {"data": json.dumps(data | {"url": "ftp://x"})}, {"other": "1"}):
            resp = httpx.post(base, data=bad, headers=auth)
            assert resp.status_code == 400 and set(resp.json()) == {"error", "message"}
        assert httpx.post(base, json={"data": data}, headers=auth).status_code == 400  # a form, as 0.9 wants

        created = httpx.post(base, data={"data": json.dumps(data)}, headers=auth)
        assert created.status_code == 200, created.text
        hook = created.json()
        assert set(hook) == {"id", "retailer_id", "user_id", "url", "active", "type"}
        assert (hook["url"], hook["active"], hook["type"]) == (data["url"], True, "sale.update")
        retailer = httpx.get(f"{srv.provider_url('lightspeed')}/api/2.0/retailer", headers=auth).json()["data"]
        assert hook["retailer_id"] == retailer["id"]
        second = lightspeed_subscribe(srv, "https://hooks.example/p", "product.update", active=False)

        listed = httpx.get(base, headers=auth).json()
        assert isinstance(listed, list) and [h["id"] for h in listed] == [hook["id"], second["id"]]
        assert httpx.get(f"{base}/{hook['id']}", headers=auth).json() == hook
        updated = httpx.put(f"{base}/{hook['id']}", data={"data": json.dumps({"active": False})}, headers=auth)
        assert updated.json()["active"] is False
        assert httpx.delete(f"{base}/{hook['id']}", headers=auth).json() == {"status": "success"}
        assert httpx.get(f"{base}/{hook['id']}", headers=auth).status_code == 404


def expected_changes(world, start, end) -> tuple[Counter, Counter]:  # noqa: ANN001
    """sale.update per sale/return version change and product.update per product change in (start, end]."""
    sales: Counter = Counter()
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            instants = [sale.closed_at, sale.tip_edit.at if sale.tip_edit else None,
                        sale.refund.created_at if sale.refund else None]
            sales[sale.id] += sum(1 for t in instants if t is not None and start < t <= end)
            if sale.refund is not None:
                sales[sale.refund.return_order_id] += sum(
                    1 for t in (sale.refund.created_at, sale.refund.completed_at) if start < t <= end)
    products: Counter = Counter()
    for item in world.items[world.accounts[0].account_id]:
        products[item.item_id] += sum(1 for s in item.history if start < s.at <= end)
    return +sales, +products


def test_sale_and_product_updates_form_encoded_with_the_1_0_payload_and_a_hex_signature() -> None:
    world = tiny_world(26, "lightspeed", days=3)  # a seed with returns and a tip edit inside the window
    start, end = world.window_start_utc, world.window_end_utc
    world.set_now(start)
    with receiving() as rx, sandbox(world, rate_limit=(10_000, 60.0)) as srv:
        ls = creds(srv, "lightspeed")
        lightspeed_subscribe(srv, rx.url("/sales"), "sale.update")
        lightspeed_subscribe(srv, rx.url("/products"), "product.update")
        world.set_now(end)
        settle(srv)
        sales, products = rx.on("/sales"), rx.on("/products")
        for rec in sales + products:
            assert rec.headers["content-type"] == "application/x-www-form-urlencoded"
            assert lightspeed_valid(ls.client_secret, rec)  # hex over the raw body
            assert not lightspeed_valid(ls.client_secret, rec, signed="payload")
            form = rec.form()
            assert set(form) == {"type", "domain_prefix", "payload"} and form["domain_prefix"] == ls.account_id
        expected_sales, expected_products = expected_changes(world, start, end)
        payloads = [json.loads(r.form()["payload"]) for r in sales]
        assert Counter(p["id"] for p in payloads) == expected_sales
        assert Counter(json.loads(r.form()["payload"])["id"] for r in products) == expected_products
        assert any(p.get("return_for") for p in payloads)

        auth = {"Authorization": f"Bearer {ls.access_token}"}
        last: dict[str, dict] = {}
        for payload in payloads:
            assert V1_TIME.match(payload["sale_date"]) and V1_TIME.match(payload["updated_at"])
            assert payload["state"] == payload["status"].lower()
            totals = payload["totals"]
            paid = sum(Decimal(str(p["amount"])) for p in payload["register_sale_payments"])
            assert Decimal(str(totals["total_payment"])) == paid
            assert Decimal(str(payload["total_price"])) + Decimal(str(payload["total_tax"])) == paid
            if payload["id"] not in last or payload["version"] > last[payload["id"]]["version"]:
                last[payload["id"]] = payload
        for sale_id, payload in list(last.items())[:25]:  # the latest payload is the 2.0 sale of now, in 1.0 shape
            rest = httpx.get(f"{srv.provider_url('lightspeed')}/api/2.0/sales/{sale_id}", headers=auth).json()["data"]
            assert (payload["version"], payload["total_price"], payload["total_tax"], payload["status"]) == \
                (rest["version"], rest["total_price"], rest["total_tax"], rest["status"])
            assert [(li["id"], li["quantity"], li["price_total"], li["tax_total"])
                    for li in payload["register_sale_products"]] == \
                [(li["id"], li["quantity"], li["total_price"], li["total_tax"]) for li in rest["line_items"]]
        product = json.loads(products[-1].form()["payload"])
        assert product["display_retail_price_tax_inclusive"] == 1 and V1_TIME.match(product["updated_at"])


def test_signature_encoding_and_input_are_configurable() -> None:
    world = tiny_world(8, "lightspeed", days=1)
    options = FAST + ",lightspeed.signature=base64,lightspeed.signed=payload"
    with receiving() as rx, sandbox(world, webhooks=options) as srv:
        lightspeed_subscribe(srv, rx.url("/s"))
        httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "lightspeed"})
        settle(srv)
        (rec,) = rx.on("/s")
        secret = creds(srv, "lightspeed").client_secret
        assert lightspeed_valid(secret, rec, encoding="base64", signed="payload")
        assert not lightspeed_valid(secret, rec)


def test_a_failed_delivery_is_retried_with_the_same_body() -> None:
    world = tiny_world(8, "lightspeed", days=1)
    with receiving(lambda n, r: (500, 0.0) if n == 1 else (200, 0.0)) as rx, sandbox(world) as srv:
        lightspeed_subscribe(srv, rx.url("/s"))
        httpx.post(f"{srv.base_url}/_sandbox/sales", json={"provider": "lightspeed"})
        log = settle(srv)
        first, second = rx.on("/s")
        assert first.body == second.body and first.headers["x-signature"] == second.headers["x-signature"]
        (delivery,) = log["deliveries"]
        assert [a.get("status_code") for a in delivery["attempts"]] == [500, 200]
        assert delivery["status"] == "acknowledged"
