"""Every Lightspeed emulator response validates against the official X-Series OpenAPI
(``tests/specs/lightspeed-xseries-api-2.0.json``), objects closed to the fields the spec defines.

Deviations, all where the spec's schema and its own response examples disagree (the emulator
follows the examples; see ``EXAMPLE_DEVIATIONS`` in ``lightspeed_emulator_support``):
``Sale.receipt_number``; the ``unit_*``/``total_*`` duplicate names of line items; payments'
``id``/``outlet_id``/``external_attributes``; ``SaleTax.id``; ``Adjustment.type`` (required by the
schema, which defines only ``adjustment_type``: both are sent); ``Product.is_active``; integer
role ids; a ``null`` ``parent_category_id`` for root categories (as its description says).
Error bodies have no schema in the spec (its examples show ``{"error": "..."}``): checked by shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from lightspeed_emulator_support import Served, make_world, response_schema, served, validate


@pytest.fixture(scope="module")
def ls() -> Iterator[Served]:
    # "small" scale so that rare shapes (voids, returns, tip edits, service charges, discounts,
    # split tenders, weighed bread) all occur
    with served(make_world(scale="small", days=3)) as s:
        yield s


def check(ls: Served, spec_path: str, path: str | None = None, **params: object) -> dict:
    resp = ls.get(path or f"/api/2.0{spec_path}", **params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    payload = resp.json()
    validate(response_schema(spec_path), payload)
    return payload


def test_sales_validate_every_page_with_every_shape(ls: Served) -> None:
    after, sales = 0, []
    while True:
        page = check(ls, "/sales", after=after, page_size=500)
        if not page["data"]:
            break
        sales.extend(page["data"])
        after = page["version"]["max"]
    assert len(sales) > 500
    statuses = {s["status"] for s in sales}
    assert {"CLOSED", "VOIDED"} <= statuses
    assert any(s.get("return_for") for s in sales)
    assert any(len(s["payments"]) > 1 for s in sales)
    kinds = {a["type"] for s in sales for a in s["adjustments"]}
    assert {"TIP", "SURCHARGE", "DISCOUNT"} <= kinds
    assert any(li["quantity"] != int(li["quantity"]) for s in sales for li in s["line_items"])
    assert any(li.get("note") for s in sales for li in s["line_items"])
    one = sales[0]["id"]
    validate(response_schema("/sales/{sale_id}"), ls.get(f"/api/2.0/sales/{one}").json())


def test_mid_window_return_sales_validate_while_saved(ls: Served) -> None:
    world = ls.world
    saved = None
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            if sale.refund is not None:
                saved = sale.refund
                break
    assert saved is not None
    before = world.now
    try:
        world.set_now(saved.created_at + (saved.completed_at - saved.created_at) / 2)
        page = check(ls, "/sales/{sale_id}", path=f"/api/2.0/sales/{saved.return_order_id}")
        assert page["data"]["status"] == "SAVED"
        assert all(li["status"] == "SAVED" for li in page["data"]["line_items"])
        check(ls, "/sales", page_size=50)
    finally:
        world.set_now(before)


@pytest.mark.parametrize("spec_path", ["/products", "/outlets", "/registers", "/users", "/payment_types", "/taxes",
                                       "/customers"])
def test_catalog_and_setup_feeds_validate(ls: Served, spec_path: str) -> None:
    page = check(ls, spec_path, page_size=1000)
    assert page["data"]
    if spec_path in ("/products", "/outlets", "/registers"):
        deleted = check(ls, spec_path, page_size=1000, deleted="true")
        if spec_path == "/products":
            assert any(p["deleted_at"] for p in deleted["data"])
            assert len(deleted["data"]) > len(page["data"])


def test_retailer_validates_and_names_the_tokens_store(ls: Served) -> None:
    page = check(ls, "/retailer")
    assert page["data"]["domain_prefix"] == ls.world.accounts[0].account_id
    assert page["data"]["currency"]["code"] == ls.world.accounts[0].currency


def test_product_categories_validate_with_paging(ls: Served) -> None:
    first = check(ls, "/product_categories", page_size=2)
    assert first["page_info"]["has_next"] is True
    second = check(ls, "/product_categories", page_size=2, after=first["page_info"]["last_seen"])
    assert {c["id"] for c in first["data"]["categories"]}.isdisjoint(c["id"] for c in second["data"]["categories"])


def test_empty_page_at_the_end_validates(ls: Served) -> None:
    last = check(ls, "/users", page_size=1000)["version"]["max"]
    assert check(ls, "/users", after=last) == {"data": [], "version": {"min": last, "max": last}}
    # TaxCollection has no `version` envelope (schema and example agree): page by the items' versions
    taxes = check(ls, "/taxes", page_size=1000)
    assert "version" not in taxes
    assert check(ls, "/taxes", after=max(t["version"] for t in taxes["data"])) == {"data": []}


def test_token_response_shape(ls: Served) -> None:
    resp = ls.client.post("/api/1.0/token", data={
        "grant_type": "refresh_token", "refresh_token": ls.creds.refresh_token,
        "client_id": ls.creds.client_id, "client_secret": ls.creds.client_secret})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires", "expires_in", "refresh_token", "domain_prefix",
                         "scope"}
    assert body["token_type"] == "Bearer" and body["domain_prefix"] == ls.creds.account_id
    assert isinstance(body["expires"], int) and body["expires_in"] == 7 * 24 * 3600


@pytest.mark.parametrize("path,params,status", [
    ("/api/2.0/sales", {"after": "abc"}, 400),
    ("/api/2.0/sales", {"page_size": "0"}, 400),
    ("/api/2.0/products", {"deleted": "maybe"}, 400),
    ("/api/2.0/product_categories", {"after": "nope"}, 400),
    ("/api/2.0/sales/not-a-sale", {}, 404),
    ("/api/2.0/nothing", {}, 404),
])
def test_error_bodies(ls: Served, path: str, params: dict, status: int) -> None:
    resp = ls.get(path, **params)
    assert resp.status_code == status
    body = resp.json()
    assert set(body) == {"error", "message"} and all(isinstance(v, str) and v for v in body.values())


def test_clock_at_mid_window_still_validates(ls: Served) -> None:
    world = ls.world
    before = world.now
    try:
        world.set_now(world.window_start_utc + timedelta(days=1, hours=12))
        assert check(ls, "/sales", page_size=1000)["data"]
        check(ls, "/products", page_size=1000, deleted="true")
    finally:
        world.set_now(before)
