"""Toast ``ordersBulk`` pages read into Arrow with every number as its exact decimal text
(``dlt_sources.common.exact_text``, ``OrdersPage``, ``orders_tables``) give the raw tables of the
``Decimal`` parse (``parse_json``, ``shape_row``, the pseudonymiser, ``nested_tables``): same
tables, columns, types and texts, the source's scale kept (``4.50``). Where a double cannot name
one text (``4.5`` beside ``4.50``, ``0.0`` beside ``-0.0``, an integer in a double column, a number
the scan did not see) the page is refused and built from dicts as before — the tables are equal
either way, and the tests check which path was taken so that a path refusing everything (or
accepting too much) fails."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention
from requests import Response
from support.nested_tables import comparable

from dlt_sources.common.arrow_json import Refused
from dlt_sources.common.arrow_nested import NestedTable, nested_tables
from dlt_sources.common.exact_text import exact_text_struct, number_texts
from dlt_sources.common.pseudonymise import row_pseudonymiser
from dlt_sources.toast.helpers import OrdersPage, parse_json, shape_row
from dlt_sources.toast.settings import DECIMAL_FIELDS, PII_FIELDS
from dlt_sources.toast.source import MAX_TABLE_NESTING, orders_tables
from transforms.pii import Pseudonymizer

ACCOUNT = "acct-1"
NAMING = NamingConvention().normalize_identifier
PSEUDONYMIZE = Pseudonymizer(b"test-toast-exact-text")


def order(n: int) -> dict[str, Any]:
    """An order as the emulator renders it (``pos_sandbox``'s Toast render), money as doubles."""
    selection = {"guid": f"sel-{n}", "entityType": "MenuItemSelection", "item": {"guid": "item-1"},
                 "quantity": 1.0, "seatNumber": 0, "preDiscountPrice": 1.55, "price": 1.55, "tax": 0.14,
                 "voided": False, "displayName": "Chapata", "modifiers": [], "appliedDiscounts": [],
                 "createdDate": "2026-01-05T20:53:19.000+0000",
                 "appliedTaxes": [{"guid": f"tax-{n}", "name": "NY Sales Tax", "rate": 0.08875, "taxAmount": 0.14,
                                   "type": "PERCENT"}],
                 "receiptLinePrice": 1.55}
    payment = {"guid": f"pay-{n}", "paidDate": "2026-01-05T21:03:11.000+0000", "paidBusinessDate": 20260105,
               "type": "CREDIT", "amount": 5.17, "tipAmount": 0.93, "originalProcessingFee": 0.26,
               "createdDevice": {"id": "dev-1"}}
    check = {"guid": f"chk-{n}", "selections": [selection, {**selection, "guid": f"sel-{n}b", "price": 3.2}],
             "amount": 4.75, "taxAmount": 0.42000000000000004, "totalAmount": 5.17, "payments": [payment],
             "customer": {"guid": f"cust-{n}", "email": f"c{n}@example.com", "firstName": "Ana"},
             "tabName": "Ana", "duration": 592}
    return {"guid": f"order-{n}", "entityType": "Order", "modifiedDate": f"2026-01-05T21:03:{n % 60:02d}.000+0000",
            "checks": [check], "numberOfGuests": 1, "businessDate": 20260105, "pricingFeatures": ["TAXESV3"],
            "deleted": False, "deletedDate": "1970-01-01T00:00:00.000+0000"}


def body(orders: list[dict[str, Any]], *, raw: dict[str, str] | None = None, indent: int | None = None) -> bytes:
    """The page's JSON (compact, as the API sends it); ``raw``: placeholder text -> the number's
    literal text (what json.dumps of a float could not write: ``4.50``, ``1e-5``, 25 digits)."""
    text = json.dumps(orders, separators=None if indent else (",", ":"), indent=indent)
    for placeholder, literal in (raw or {}).items():
        text = text.replace(json.dumps(placeholder), literal)
    return text.encode()


def response(content: bytes) -> Response:
    r = Response()
    r._content = content
    r.status_code = 200
    r.encoding = "utf-8"
    return r


def decimal_path(pages: list[tuple[bytes, str]], account: str | None = ACCOUNT) -> list[NestedTable]:
    """What the source built before: ``parse_json`` (Decimal), ``shape_row``, the pseudonymiser, ``pa.array``."""
    pseudonymise = row_pseudonymiser(PII_FIELDS["orders"], PSEUDONYMIZE)
    rows = [pseudonymise(shape_row(o, account, restaurant))
            for content, restaurant in pages for o in parse_json(content.decode())]
    return nested_tables(rows, "orders", max_nesting=MAX_TABLE_NESTING, not_null=("guid",), naming=NAMING)


def product_path(pages: list[tuple[bytes, str]], account: str | None = ACCOUNT) -> tuple[list[NestedTable], list[bool]]:
    """What the source builds now: each page read as the client reads it, one batch of them; and
    which pages Arrow read (the others are parsed as dicts)."""
    parts = [OrdersPage(response(content), restaurant, "/orders/v2/ordersBulk") for content, restaurant in pages]
    return orders_tables(parts, account, PSEUDONYMIZE, NAMING), [p.rows is not None for p in parts]


def column(tables: list[NestedTable], table: str, name: str) -> list[Any]:
    return next(t for t in tables if t.name == table).table.column(name).to_pylist()


def assert_same_tables(pages: list[tuple[bytes, str]], account: str | None = ACCOUNT) -> list[bool]:
    expected = decimal_path(pages, account)
    got, arrow = product_path(pages, account)
    assert comparable(got) == comparable(expected)
    return arrow


# ---------------------------------------------------------------------- the tables
def test_pages_read_in_arrow_give_the_tables_of_the_decimal_parse() -> None:
    orders = [order(i) for i in range(30)]
    orders[2]["checks"][0]["payments"][0]["amount"] = "@scaled"  # 7.10: the source's scale is kept
    for o in orders[15:]:  # integers under a decimal key (the page's column: int64): text "2"
        for selection in o["checks"][0]["selections"]:
            selection["quantity"] = 2
    orders[4]["checks"][0]["amount"] = -0.0
    orders[5]["checks"][0]["selections"][1]["price"] = "@exponent"  # 1.5E+3: "1500"
    orders[6]["checks"][0]["payments"][0]["tipAmount"] = "@long"  # more digits than a double keeps
    orders[7]["checks"][0]["totalAmount"] = 4.739999999999999
    orders[8]["checks"][0]["selections"][0]["tax"] = "@small"  # 1e-7: "0.0000001"
    orders[9]["numberOfGuests"] = 123456789012345678  # 18 digits: int64, not a decimal key
    pages = [(body(orders[:15], raw={"@scaled": "7.10", "@exponent": "1.5E+3", "@long": "0.1000000000000000055511151231257827",
                                     "@small": "1e-7"}), "rest-a"),
             (body(orders[15:]), "rest-b")]
    assert assert_same_tables(pages) == [True, True]
    got, _ = product_path(pages)
    assert column(got, "orders__checks__payments", "amount")[2] == "7.10"
    assert column(got, "orders__checks__payments", "tip_amount")[6] == "0.1000000000000000055511151231257827"
    assert column(got, "orders__checks", "tax_amount")[0] == "0.42000000000000004"
    assert column(got, "orders__checks", "amount")[4] == "-0.0"
    assert "1500" in column(got, "orders__checks__selections", "price")
    assert "0.0000001" in column(got, "orders__checks__selections", "tax")
    assert column(got, "orders__checks__selections", "quantity")[:2] == ["1.0", "1.0"]
    assert column(got, "orders__checks__selections", "quantity")[-2:] == ["2", "2"]
    assert column(got, "orders", "_pos_restaurant_guid") == ["rest-a"] * 15 + ["rest-b"] * 15
    assert pa.types.is_integer(next(t for t in got if t.name == "orders").table.schema.field("number_of_guests").type)


def test_no_account_id_and_pii_pseudonymised_alike() -> None:
    pages = [(body([order(i) for i in range(5)]), "rest-a")]
    assert assert_same_tables(pages, account=None) == [True]
    got, _ = product_path(pages)
    assert "c1@example.com" not in column(got, "orders__checks", "customer__email")


@pytest.mark.parametrize(("raw", "why"), [
    ({"@a": "4.5", "@b": "4.50"}, "two texts of one key, one double"),
    ({"@a": "0.0", "@b": "-0.0"}, "0.0 and -0.0 are one key of a dict"),
    ({"@a": "0.1", "@b": "0.1000000000000000055511151231257827"}, "digits beyond a double's"),
    ({"@a": "2", "@b": "2.5"}, "an integer in a double column"),
    ({"@a": "2", "@b": "2.0"}, "an integer beside its double"),
    ({"@a": "12345678901234567890123", "@b": "1.5"}, "an integer beyond int64: a double in the reader"),
])
def test_an_ambiguous_page_is_parsed_as_before(raw: dict[str, str], why: str) -> None:
    orders = [order(i) for i in range(4)]
    orders[0]["checks"][0]["amount"] = "@a"
    orders[1]["checks"][0]["amount"] = "@b"
    pages = [(body(orders, raw=raw), "rest-a")]
    assert assert_same_tables(pages) == [False], why


def test_a_number_the_scan_cannot_place_refuses_the_page() -> None:
    orders = [order(i) for i in range(3)]
    spaced = body(orders, indent=1)  # '"amount": 4.75': a colon followed by whitespace
    assert assert_same_tables([(spaced, "rest-a")]) == [False]
    orders[0]["checks"][0]["tabName"] = 'say "amount":9.99 twice'  # a key and number inside a string
    orders[1]["checks"][0]["amount"] = "@x"
    assert assert_same_tables([(body(orders, raw={"@x": "9.990"}), "rest-a")]) == [False]
    orders = [order(i) for i in range(3)]
    orders[0]["weights"] = [1.5, 2.25]  # a list of numbers: the list's key, not the value's
    assert assert_same_tables([(body(orders), "rest-a")]) == [False]
    # a key with an escape: its numbers are read as any other
    escaped = body([order(i) for i in range(3)]).replace(b'"tipAmount"', b'"tip\\u0041mount"')
    assert assert_same_tables([(escaped, "rest-a")]) == [True]
    with pytest.raises(Refused):
        number_texts(b'[{"a":"x\\":1.5","b":1.5}]')


def test_a_batch_with_a_refused_page_is_built_from_dicts() -> None:
    good = body([order(i) for i in range(3)])
    orders = [order(i) for i in range(3, 6)]
    orders[0]["checks"][0]["amount"] = "@a"
    orders[1]["checks"][0]["amount"] = "@b"
    refused = body(orders, raw={"@a": "4.5", "@b": "4.50"})
    assert assert_same_tables([(good, "rest-a"), (refused, "rest-b")]) == [True, False]
    # the same double with another text on another page of the batch: each page has its own texts
    other = body([order(i) for i in range(6, 9)]).replace(b'"amount":4.75,', b'"amount":4.750,')
    assert b'"amount":4.750,' in other
    assert assert_same_tables([(good, "rest-a"), (other, "rest-b")]) == [True, True]


# ---------------------------------------------------------------------- the texts
@pytest.mark.parametrize("token", ["4.50", "-0.0", "0.0", "1e-5", "1.5E+3", "2e2", "-1.25e-3", "0.42000000000000004",
                                   "4.739999999999999", "123456789.123456789", "0.1000000000000000055511151231257827",
                                   "99999999999999999999.5", "1e300", "5e-324", "1.0"])
def test_each_text_is_the_decimal_parse_s(token: str) -> None:
    content = f'[{{"guid":"o-1","amount":{token},"note":"x"}}]'.encode()
    texts = number_texts(content)
    value = float(token)
    assert texts.floats == {value: format(Decimal(token), "f")}
    assert texts.count == 1
    rows = pa.array([{"guid": "o-1", "amount": value, "note": "x"}])
    out = exact_text_struct(rows, texts, DECIMAL_FIELDS)
    assert out.field("amount").to_pylist() == [format(json.loads(content, parse_float=Decimal)[0]["amount"], "f")]


def test_integers_under_decimal_keys_become_text_others_stay_integers() -> None:
    rows = pa.array([{"quantity": 3, "seatNumber": 2}, {"quantity": -12, "seatNumber": None}])
    out = exact_text_struct(rows, number_texts(b'[{"quantity":3,"seatNumber":2},{"quantity":-12}]'), DECIMAL_FIELDS)
    assert out.field("quantity").to_pylist() == ["3", "-12"]
    assert out.field("seatNumber").type == pa.int64()


def test_the_shaped_rows_of_both_paths_hold_the_same_texts() -> None:
    """The dict path's texts, field by field, for a page of the emulator's money."""
    orders = [order(i) for i in range(3)]
    content = body(orders)
    expected = [shape_row(o, ACCOUNT, "r") for o in parse_json(content.decode())]
    page = OrdersPage(response(content), "r", "")
    assert page.rows is not None
    converted = page.rows.to_pylist()
    for got, want in zip(converted, copy.deepcopy(expected), strict=True):
        want.pop("_pos_account_id")
        want.pop("_pos_restaurant_guid")
        assert _without_nulls(got) == want


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
