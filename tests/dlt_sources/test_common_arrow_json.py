"""Pages read straight into Arrow (``dlt_sources.common.arrow_json``) give the nested tables the dict
path gives (``orjson`` → dicts → shaped, pseudonymised → ``pa.array``): same tables, columns, types,
values, nulls and list positions — on inputs chosen to catch where Arrow's JSON reader and
``pa.array`` disagree. Where the reader cannot match, the page is refused and the batch takes the
dict path; the result is the same either way."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pyarrow as pa
import pytest
from support.nested_tables import comparable

from dlt_sources.common.arrow_json import Refused, first_object_keys, read_page
from dlt_sources.common.arrow_nested import NestedTable, nested_tables
from dlt_sources.common.pseudonymise import row_pseudonymiser
from dlt_sources.square.helpers import shape_rows
from dlt_sources.square.settings import PII_FIELDS
from dlt_sources.square.source import MAX_TABLE_NESTING, orders_struct, orders_tables

ACCOUNT = "acct-1"


def fake_pseudonym(value: Any, kind: str) -> Any:
    return None if value == "" else f"{kind}:{len(value)}:{value[::-1]}"


def body(orders: list[dict[str, Any]] | None, cursor: str | None = "next", pretty: bool = False) -> bytes:
    payload: dict[str, Any] = {}
    if orders is not None:
        payload["orders"] = orders
    if cursor is not None:
        payload["cursor"] = cursor
    return json.dumps(payload, indent=2 if pretty else None, ensure_ascii=pretty).encode()


def dict_path(bodies: list[bytes], account: str | None, pseudonymize: Any) -> list[NestedTable]:
    """What the source built before: orjson, shape_rows, the dict pseudonymiser, pa.array."""
    rule = row_pseudonymiser(PII_FIELDS["orders"], pseudonymize)
    rows = []
    for raw in bodies:
        rows.extend(rule(row) for row in shape_rows("orders", orjson.loads(raw).get("orders") or [], account))
    return nested_tables(rows, "orders", max_nesting=MAX_TABLE_NESTING)


def arrow_path(bodies: list[bytes], account: str | None, pseudonymize: Any) -> list[NestedTable]:
    pages = [read_page(raw, "orders") for raw in bodies]
    pages = [p for p in pages if len(p)]
    return orders_tables(pages, account, pseudonymize)


ORDER = {
    "id": "o1", "version": 3, "location_id": "L1", "state": "COMPLETED",
    "created_at": "2026-01-05T10:00:00.123Z", "updated_at": "2026-01-05T10:05:00.456Z",
    "customer_id": "C-77",
    "line_items": [
        {"uid": "li1", "name": "Croissant", "quantity": "2", "base_price_money": {"amount": 180, "currency": "EUR"},
         "modifiers": [{"uid": "m1", "name": "Jam", "total_price_money": {"amount": 30, "currency": "EUR"}}],
         "applied_taxes": [{"uid": "t1", "tax_uid": "tax", "applied_money": {"amount": 12, "currency": "EUR"}}]},
        {"uid": "li2", "name": "Café 😀 \"solo\"", "quantity": "1", "note": None, "modifiers": []},
    ],
    "tenders": [{"id": "t1", "type": "CARD", "customer_id": "C-77",
                 "card_details": {"card": {"cardholder_name": "Ana Pérez", "last_4": "4242"}}}],
    "fulfillments": [{"uid": "f1", "type": "PICKUP", "pickup_details": {"recipient": {
        "display_name": "Ana", "email_address": "", "address": {"address_line_1": "Calle 1", "locality": "Madrid",
                                                               "lines": ["a", "b"]}}}}],
    "total_money": {"amount": 390, "currency": "EUR"},
}


def order(**changes: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(ORDER))
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


# (batch of pages as order lists, whether the Arrow path takes it)
CASES: dict[str, tuple[list[list[dict[str, Any]]], bool]] = {
    "one order": ([[order()]], True),
    "absent fields, nulls, a null key last in the first order": (
        [[{**order(customer_id=..., tenders=...), "note": None},
          order(id="o2", source={"name": "POS"}, refunds=None),
          order(id="o3", total_money=None, line_items=...)]], True),
    "empty lists and lists of scalars": (
        [[order(tags=[], line_items=[{"uid": "x", "codes": [1, 2, 3], "modifiers": [], "labels": ["a"]}]),
          order(id="o2", tags=["vip", "new"], line_items=[]),
          order(id="o3", tags=None, line_items=[{"uid": "y", "codes": [], "labels": []}])]], True),
    "an instant that does not parse, and text that is no instant": (
        [[order(closed_at="2026-02-30T10:00:00.000Z", updated_at="not a time"),
          order(id="o2", closed_at="2026-01-05T10:00:00.000Z")]], True),
    "numbers: int and double in one field, tricky doubles": (
        [[order(score=1, ratio=0.1, tiny=1e-7, big=123456789.123456789),
          order(id="o2", score=2.5, ratio=3, tiny=None, big=-2.5e15)]], True),
    "two pages whose types differ (new fields, null then typed, int then double)": (
        [[order(extra=None, money={"amount": 1}), order(id="o2", service_charges=[])],
         [order(id="o3", extra={"k": "v", "n": [1]}, money={"amount": 1.5, "currency": "EUR"}, added="x",
                service_charges=[{"uid": "s1", "amount_money": {"amount": 5}}])]], True),
    "deeper than the nesting limit: JSON text": (
        [[order(deep={"a": {"b": {"c": {"d": {"e": 1, "f": None}}}}}),
          order(id="o2", deep={"a": {"b": {"c": {"d": {"e": 2}, "g": [{"h": None}, {"h": 1}]}}}})]], True),
    "instants without a fraction (the reader would type them)": (
        [[order(created_at="2026-01-05T10:00:00Z", updated_at="2026-01-05T10:05:00Z")]], False),
    "a date (the reader would type it)": ([[order(business_date="2026-01-05")]], False),
    "an integer beyond int64": ([[order(huge=2**63 + 5)]], False),
    "a double beyond int64 (refused: it could have been an integer)": ([[order(huge=2.5e300)]], False),
    "a large integer beside doubles (pa.array fails on it)": ([[order(n=2**53 + 1), order(id="o2", n=0.5)]], False),
    "a key twice in one object (orjson keeps the last)": ([[order()]], False),
    "text and numbers in one field (the dict path fails too)": ([[order(mixed=1), order(id="o2", mixed="x")]], False),
}


@pytest.mark.parametrize("pseudonymize", [None, fake_pseudonym], ids=["clear", "pseudonymised"])
@pytest.mark.parametrize("account", [ACCOUNT, None], ids=["account", "no-account"])
@pytest.mark.parametrize("name", list(CASES))
def test_arrow_pages_give_the_dict_paths_tables(name: str, account: str | None, pseudonymize: Any) -> None:
    pages, arrow = CASES[name]
    bodies = [body(orders, cursor=None if i == len(pages) - 1 else f"c{i}", pretty=i % 2 == 1)
              for i, orders in enumerate(pages)]
    if name.startswith("a key twice"):
        bodies = [bodies[0].replace(b'"state": "COMPLETED"', b'"state": "OPEN", "state": "COMPLETED"', 1)]
    read = [read_page(raw, "orders") for raw in bodies]
    try:
        expected = dict_path(bodies, account, pseudonymize)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:  # the dict path refuses the batch: so must the source
        assert not arrow
        with pytest.raises(type(error)):
            arrow_path(bodies, account, pseudonymize)
        return
    if arrow:  # taken by the Arrow path itself, not by its fallback to dicts
        assert all(p.rows is not None for p in read)
        orders_struct([p.rows for p in read if p.rows is not None], bodies[0], account, pseudonymize)
    elif all(p.rows is not None for p in read):  # the reader took every page: the batch must refuse
        with pytest.raises(Refused):
            orders_struct([p.rows for p in read if p.rows is not None], bodies[0], account, pseudonymize)
    assert comparable(arrow_path(bodies, account, pseudonymize)) == comparable(expected)


def test_a_page_reads_its_cursor_and_an_absent_or_null_list_as_empty() -> None:
    page = read_page(body([order()], cursor="abc"), "orders")
    assert page.top["cursor"] == "abc" and len(page) == 1 and page.values("id") == ["o1"]
    dated = read_page(body([order()], cursor="2026-01-05"), "orders")  # the reader types it: not in top
    assert "cursor" in dated.names and "cursor" not in dated.top
    assert page.values("absent") == [None]
    for raw in (body(None, cursor="x"), b'{"orders": null}', b'{"orders": []}'):
        empty = read_page(raw, "orders")
        assert empty.rows is not None and len(empty) == 0 and empty.dicts() == []
    refused = read_page(b'{"orders": [1, 2]}', "orders")
    assert refused.rows is None and refused.dicts() == [1, 2]


def test_first_object_keys_reads_only_the_first_object() -> None:
    raw = b'{ "cursor" : "x", "orders" :\n [ {"b": 1, "a": {"z": [1, "]"]}, "c": null}, {"d": 2} ] }'
    assert first_object_keys(raw, "orders") == ["b", "a", "c"]
    assert first_object_keys(b'{"orders": []}', "orders") is None
    assert first_object_keys(b'{"other": [{"a": 1}]}', "orders") is None
