"""Every Square emulator response (errors included) validates against the official OpenAPI
(``tests/specs/square-api-2025-08-20.json``), with objects closed to fields the spec lacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from square_emulator_support import Served, make_world, response_schema_name, served, validate


@pytest.fixture(scope="module")
def sq() -> Iterator[Served]:
    # "small" scale so that rare shapes (voids, split tenders, service charges, discounts, tip edits,
    # partial and full returns) all occur
    with served(make_world(scale="small", days=3)) as s:
        yield s


def check(sq: Served, method: str, spec_path: str, path: str, *, body: dict | None = None, **params: object) -> dict:
    resp = sq.post(path, body or {}) if method == "POST" else sq.get(path, **params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    payload = resp.json()
    validate(response_schema_name(spec_path, method), payload)
    return payload


def test_locations_validate(sq: Served) -> None:
    data = check(sq, "GET", "/v2/locations", "/v2/locations")
    assert len(data["locations"]) == 2
    check(sq, "GET", "/v2/locations/{location_id}", "/v2/locations/main")


def test_payments_validate_every_page_and_object(sq: Served) -> None:
    for location_id in sq.world.accounts[0].location_ids:
        cursor = None
        seen = 0
        while True:
            data = check(sq, "GET", "/v2/payments", "/v2/payments", location_id=location_id, cursor=cursor, limit=40)
            seen += len(data.get("payments", []))
            cursor = data.get("cursor")
            if cursor is None:
                break
        assert seen > 0
    pid = check(sq, "GET", "/v2/payments", "/v2/payments")["payments"][0]["id"]
    check(sq, "GET", "/v2/payments/{payment_id}", f"/v2/payments/{pid}")


def test_refunds_validate(sq: Served) -> None:
    data = check(sq, "GET", "/v2/refunds", "/v2/refunds")
    assert data.get("refunds")
    check(sq, "GET", "/v2/refunds/{refund_id}", f"/v2/refunds/{data['refunds'][0]['id']}")


def test_orders_validate_including_return_orders(sq: Served) -> None:
    locations = list(sq.world.accounts[0].location_ids)
    orders, _ = sq.paginate("/v2/orders/search", "orders", method="POST", body={"location_ids": locations, "limit": 1000})
    for start in range(0, len(orders), 200):
        validate("SearchOrdersResponse", {"orders": orders[start:start + 200]})
    assert any("returns" in o for o in orders) and any("line_items" in o for o in orders)
    for shape in ("service_charges", "discounts"):
        assert any(shape in o for o in orders), shape
    assert any(o["state"] == "CANCELED" for o in orders)
    assert any(len(o.get("tenders", ())) > 1 for o in orders)
    assert any(o.get("version", 1) > 1 for o in orders)
    assert any("quantity_unit" in li for o in orders for li in o.get("line_items", ()))
    assert any("modifiers" in li for o in orders for li in o.get("line_items", ()))
    check(sq, "POST", "/v2/orders/search", "/v2/orders/search",
          body={"location_ids": locations, "return_entries": True, "limit": 5})
    ids = [o["id"] for o in orders[:100]]
    check(sq, "POST", "/v2/orders/batch-retrieve", "/v2/orders/batch-retrieve", body={"order_ids": ids})
    check(sq, "GET", "/v2/orders/{order_id}", f"/v2/orders/{ids[0]}")


def test_catalog_and_team_validate(sq: Served) -> None:
    check(sq, "GET", "/v2/catalog/list", "/v2/catalog/list")
    check(sq, "GET", "/v2/catalog/list", "/v2/catalog/list", types="ITEM,ITEM_VARIATION,MODIFIER,MEASUREMENT_UNIT")
    check(sq, "POST", "/v2/catalog/search", "/v2/catalog/search",
          body={"include_deleted_objects": True, "include_related_objects": True,
                "object_types": ["ITEM", "ITEM_VARIATION", "CATEGORY", "TAX", "DISCOUNT", "MODIFIER_LIST"]})
    check(sq, "POST", "/v2/team-members/search", "/v2/team-members/search", body={"limit": 3})


def test_customers_validate(sq: Served) -> None:
    data = check(sq, "GET", "/v2/customers", "/v2/customers", limit=7, count="true")
    assert len(data["customers"]) == 7 and data["cursor"] and data["count"] == 120
    check(sq, "GET", "/v2/customers", "/v2/customers", cursor=data["cursor"], limit=7, count="true")


def test_oauth_responses_validate(sq: Served) -> None:
    status = sq.client.post("/oauth2/token/status")
    assert status.status_code == 200
    validate(response_schema_name("/oauth2/token/status", "POST"), status.json())
    token = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "client_secret": sq.creds.client_secret,
                                                  "grant_type": "refresh_token", "refresh_token": sq.creds.refresh_token})
    assert token.status_code == 200, token.text
    validate(response_schema_name("/oauth2/token", "POST"), token.json())


@pytest.mark.parametrize("request_args", [
    ("GET", "/v2/payments", "/v2/payments", {"limit": "x", "bogus": "1"}, None),  # unknown `bogus` is ignored
    ("GET", "/v2/payments", "/v2/payments", {"begin_time": "yesterday"}, None),
    ("GET", "/v2/payments", "/v2/payments", {"cursor": "garbage"}, None),
    ("GET", "/v2/payments/{payment_id}", "/v2/payments/nope", {}, None),
    ("GET", "/v2/refunds", "/v2/refunds", {"sort_order": "UP"}, None),
    ("GET", "/v2/catalog/list", "/v2/catalog/list", {"types": "ITEM,NOPE"}, None),
    ("POST", "/v2/orders/search", "/v2/orders/search", {}, {"location_ids": ["X"] * 11}),
    ("POST", "/v2/orders/search", "/v2/orders/search", {}, {"location_ids": ["L"], "filter": {}}),
    ("POST", "/v2/orders/batch-retrieve", "/v2/orders/batch-retrieve", {}, {}),
    ("POST", "/v2/catalog/search", "/v2/catalog/search", {}, {"end_time": "2026-01-01T00:00:00Z"}),
    ("POST", "/v2/team-members/search", "/v2/team-members/search", {}, {"limit": 500}),
])
def test_error_bodies_validate(sq: Served, request_args: tuple) -> None:
    method, spec_path, path, params, body = request_args
    resp = sq.get(path, **params) if method == "GET" else sq.post(path, body)
    assert resp.status_code in (400, 404)
    validate(response_schema_name(spec_path, method), resp.json())
    validate("Error", resp.json()["errors"][0])


def test_auth_error_bodies_validate(sq: Served) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}, {"Square-Version": "2025/08/20"}):
        resp = sq.client.get("/v2/locations", headers=headers)
        assert resp.status_code in (400, 401)
        validate("Error", resp.json()["errors"][0])


def test_mid_window_clock_still_validates(sq: Served) -> None:
    world = sq.world
    before = world.now
    try:
        world.set_now(world.window_start_utc + timedelta(days=2, hours=12))
        data = check(sq, "POST", "/v2/orders/search", "/v2/orders/search",
                     body={"location_ids": list(world.accounts[0].location_ids), "limit": 1000})
        assert data["orders"]
        check(sq, "GET", "/v2/refunds", "/v2/refunds")
    finally:
        world.set_now(before)
