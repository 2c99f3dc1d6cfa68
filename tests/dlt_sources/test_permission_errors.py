"""A 403 names what is missing, for every provider: Toast's and Lightspeed's error mappers turn a
refusal into :class:`MissingScopes` with the scope the endpoint needs (Square's: test_square_common_http)."""

from __future__ import annotations

import json

import pytest
import requests

from dlt_sources.common.errors import ApiError, MissingScopes, ReauthorizationRequired
from dlt_sources.lightspeed.helpers import lightspeed_error_mapper
from dlt_sources.lightspeed.helpers import scope_for_path as lightspeed_scope
from dlt_sources.toast.helpers import toast_error_mapper
from dlt_sources.toast.settings import RESTAURANT_HEADER

RESTAURANT = "6f1d8f6e-0000-4000-8000-000000000001"


def exchange(url: str, status: int, body: object, headers: dict[str, str] | None = None
             ) -> tuple[requests.PreparedRequest, requests.Response]:
    request = requests.Request("GET", url, headers=headers or {}).prepare()
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    response.request = request
    return request, response


@pytest.mark.parametrize(("path", "scope"), [
    ("/orders/v2/ordersBulk?startDate=x", "orders:read"),
    ("/menus/v2/menus", "menus:read"),
    (f"/restaurants/v1/restaurants/{RESTAURANT}", "restaurants:read"),
    ("/labor/v1/employees", "labor.employees:read"),
])
def test_toast_403_names_the_missing_scope_and_the_restaurant(path: str, scope: str) -> None:
    request, response = exchange(f"https://ws-api.toasttab.com{path}", 403,
                                 {"status": 403, "code": 10403, "message": "Access denied"},
                                 {RESTAURANT_HEADER: RESTAURANT})
    error = toast_error_mapper(request, response)
    assert isinstance(error, MissingScopes)
    assert error.scopes == (scope,)
    text = str(error)
    assert f"the {scope} scope" in text and RESTAURANT in text and "Access denied" in text
    assert "\n" not in text and "?" not in text.split(" for restaurant")[0]  # one line, no query string


def test_toast_other_statuses_are_not_scope_errors() -> None:
    request, response = exchange("https://ws-api.toasttab.com/orders/v2/ordersBulk", 401, {"message": "expired"})
    assert isinstance(toast_error_mapper(request, response), ReauthorizationRequired)
    request, response = exchange("https://ws-api.toasttab.com/orders/v2/ordersBulk", 400, {"message": "bad date"})
    error = toast_error_mapper(request, response)
    assert isinstance(error, ApiError) and not isinstance(error, MissingScopes) and error.status == 400
    request, response = exchange("https://ws-api.toasttab.com/config/v2/diningOptions", 403, {})
    error = toast_error_mapper(request, response)
    assert isinstance(error, MissingScopes) and error.scopes == () and "lacks a scope" in str(error)


@pytest.mark.parametrize(("path", "scope"), [
    ("/api/2.0/sales?after=0&page_size=1000", "sales:read"),
    ("/api/2.0/sales/0b1e0000-0000-4000-8000-000000000001", "sales:read"),
    ("/api/2.0/products", "products:read"),
    ("/api/2.0/product_categories", "products:read"),
    ("/api/2.0/outlets", "outlets:read"),
    ("/api/2.0/registers", "registers:read"),
    ("/api/2.0/users", "users:read"),
    ("/api/2.0/payment_types", "payment_types:read"),
    ("/api/2.0/taxes", "taxes:read"),
    ("/api/2.0/customers", "customers:read"),
    ("/api/2.0/retailer", "retailer:read"),
])
def test_lightspeed_403_names_the_missing_scope(path: str, scope: str) -> None:
    assert lightspeed_scope(path.split("?")[0]) == scope
    request, response = exchange(f"https://bakery.retail.lightspeed.app{path}", 403,
                                 {"error": "Forbidden", "message": "insufficient scope"})
    error = lightspeed_error_mapper(request, response)
    assert isinstance(error, MissingScopes)
    assert error.scopes == (scope,)
    text = str(error)
    assert f"lacks the {scope} scope" in text and "insufficient scope" in text and "\n" not in text
    assert "page_size" not in text  # the path, not the query


def test_lightspeed_unknown_endpoint_and_other_statuses() -> None:
    assert lightspeed_scope("/api/2.0/salesperson") is None  # a prefix of a word is not a match
    request, response = exchange("https://bakery.retail.lightspeed.app/api/2.0/brands", 403, {"error": "Forbidden"})
    error = lightspeed_error_mapper(request, response)
    assert isinstance(error, MissingScopes) and error.scopes == () and "lacks a scope" in str(error)
    request, response = exchange("https://bakery.retail.lightspeed.app/api/2.0/sales", 401, {"error": "expired"})
    assert isinstance(lightspeed_error_mapper(request, response), ReauthorizationRequired)
    request, response = exchange("https://bakery.retail.lightspeed.app/api/2.0/sales", 404, {"error": "Not found"})
    error = lightspeed_error_mapper(request, response)
    assert isinstance(error, ApiError) and error.status == 404


def test_an_optional_stream_is_skipped_for_a_missing_scope_and_nothing_else() -> None:
    from dlt_sources.common.errors import ApiError, MissingScopes
    from dlt_sources.common.pace import SyncPace, optional_stream

    pace = SyncPace()
    with optional_stream(pace, "Toast employees", "cashier names") as mark:
        raise MissingScopes("Toast refused GET /labor/v1/employees: the labor.employees:read scope",
                            scopes=["labor.employees:read"])
    assert mark.early and pace.partial
    [stop] = pace.as_dict()["stopped_early"]
    assert stop["skipped"] and "labor.employees:read" in stop["reason"] and "cashier names stay empty" in stop["reason"]
    with pytest.raises(ApiError), optional_stream(pace, "Toast devices", "device names"):
        raise ApiError("HTTP 500", status=500)
    assert len(pace.stopped_early) == 1
