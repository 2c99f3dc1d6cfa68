"""transforms.square and transforms.pii on small hand-built raw rows (no warehouse, no sandbox).

The rows have the shape dlt loads them in (flattened ``…__amount`` columns, child tables
re-attached as lists), as :mod:`pos_sync.canonical.square_io` hands them to the normalizer.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from support.raw_columns import Recording, project, unlisted

from transforms import square
from transforms.canonical import (
    POS_LOCATIONS,
    POS_TENDERS,
    POS_TRANSACTION_ITEMS,
    POS_TRANSACTIONS,
    canonical_id,
)
from transforms.catalog import CATALOG_COLUMNS
from transforms.pii import make_pseudonymizer, normalise_email, normalise_phone

TENANT = "tenant-1"
ACCOUNT = "account-1"
LOC = "L1"


def money(prefix: str, amount: int | None, currency: str = "EUR") -> dict[str, Any]:
    return {f"{prefix}__amount": amount, f"{prefix}__currency": currency}


def context(**kw: Any) -> square.SquareContext:
    options: dict[str, Any] = {
        "tenant_id": TENANT,
        "account_id": ACCOUNT,
        "locations": {LOC: {"id": LOC, "timezone": "Europe/Madrid", "currency": "EUR", "name": "Centro"},
                      "LJ": {"id": "LJ", "timezone": "Asia/Tokyo", "currency": "JPY", "name": "Tokyo"}},
        "payments": {p["id"]: p for p in PAYMENTS},
        "catalog": {r["id"]: r for r in CATALOG},
        "team": {"TM1": {"id": "TM1", "given_name": "Lucía", "family_name": "Sanz"}},
    } | kw
    return square.SquareContext(**options)


CATALOG: list[dict[str, Any]] = [
    {"id": "CAT1", "type": "CATEGORY", "category_data__name": "Bollería"},
    {"id": "CAT2", "type": "CATEGORY", "category_data__name": "Cafetería"},
    {"id": "ITEM1", "type": "ITEM", "item_data__name": "Croissant", "item_data__reporting_category__id": "CAT1",
     "is_deleted": False},
    {"id": "ITEM2", "type": "ITEM", "item_data__name": "Café con leche", "item_data__reporting_category__id": "CAT2",
     "is_deleted": True},
    {"id": "VAR1", "type": "ITEM_VARIATION", "item_variation_data__item_id": "ITEM1",
     "item_variation_data__name": "Regular", "item_variation_data__sku": "SKU-CRO", "version": 7,
     "updated_at": datetime(2026, 1, 1, tzinfo=UTC), **money("item_variation_data__price_money", 150)},
    {"id": "VAR2", "type": "ITEM_VARIATION", "item_variation_data__item_id": "ITEM2",
     "item_variation_data__name": "Regular", "updated_at": "2026-01-02T05:00:00Z",
     **money("item_variation_data__price_money", 160)},
    {"id": "TAX10", "type": "TAX", "tax_data__inclusion_type": "INCLUSIVE"},
]

# a completed sale, prices include tax (10 %), closed at 23:30 UTC = 00:30 the next day in Madrid:
#   2 × Croissant 1.50, 10 % line discount (0.30): gross 3.00, tax 0.25 (included), total 2.70
#   1 × Café con leche 1.60 + oat milk modifier 0.30: gross 1.90, tax 0.17, total 1.90
#   0.361 kg Hogaza at 5.20/kg: gross 1.88, tax 0.07 (4 %), total 1.88
#   order: gross 6.78, discount 0.30, tax 0.49, tip 1.00 → total 7.48
#   split tender: cash 3.48 + card 3.00 plus a 1.00 tip (Tender.amount_money 4.00 includes the tip)
SALE: dict[str, Any] = {
    "id": "ORD1", "location_id": LOC, "state": "COMPLETED", "version": 3, "customer_id": "CUST1",
    "created_at": "2026-03-02T23:25:00Z", "closed_at": "2026-03-02T23:30:00Z", "updated_at": "2026-03-03T09:00:00Z",
    "_dlt_load_id": "1000.1",
    **money("total_money", 748), **money("total_tax_money", 49), **money("total_discount_money", 30),
    **money("total_tip_money", 100), **money("total_service_charge_money", 0),
    "line_items": [
        {"uid": "LI1", "name": "Croissant", "variation_name": "Regular", "quantity": "2", "catalog_object_id": "VAR1",
         **money("base_price_money", 150), **money("gross_sales_money", 300), **money("total_discount_money", 30),
         **money("total_tax_money", 25), **money("total_money", 270)},
        {"uid": "LI2", "name": "Café con leche", "variation_name": "Regular", "quantity": "1",
         "catalog_object_id": "VAR2",
         **money("base_price_money", 160), **money("gross_sales_money", 190), **money("total_discount_money", 0),
         **money("total_tax_money", 17), **money("total_money", 190),
         "modifiers": [{"name": "Leche de avena", "quantity": "1", "catalog_object_id": "MOD1",
                        **money("base_price_money", 30)}]},
        {"uid": "LI3", "name": "Hogaza", "variation_name": "kg", "quantity": "0.361",
         "quantity_unit__measurement_unit__weight_unit": "METRIC_KILOGRAM",
         **money("base_price_money", 520), **money("gross_sales_money", 188), **money("total_discount_money", 0),
         **money("total_tax_money", 7), **money("total_money", 188)},
    ],
    "tenders": [
        {"id": "P1", "payment_id": "P1", "type": "CASH", **money("amount_money", 348)},
        {"id": "P2", "payment_id": "P2", "type": "CARD", **money("amount_money", 400), **money("tip_money", 100),
         "card_details__status": "CAPTURED", "card_details__entry_method": "CONTACTLESS",
         "card_details__card__card_brand": "VISA", "card_details__card__last_4": "4242"},
    ],
}
PAYMENTS: list[dict[str, Any]] = [
    {"id": "P1", "order_id": "ORD1", "team_member_id": "TM1", "device_details__device_id": "DEV1",
     "device_details__device_name": "Caja 1", "receipt_number": "P1RC"},
    {"id": "P2", "order_id": "ORD1", "team_member_id": "TM1"},
]
# the refund of the two croissants, four days later (a return order carries the lines)
REFUND: dict[str, Any] = {
    "id": "R1", "status": "COMPLETED", "location_id": LOC, "payment_id": "P2", "order_id": "RET1",
    "created_at": "2026-03-06T22:59:00Z", "updated_at": "2026-03-06T23:01:00Z", "team_member_id": "TM1",
    "_dlt_load_id": "1000.2", **money("amount_money", 270),
    "destination_details__card_details__card__card_brand": "VISA",
    "destination_details__card_details__card__last_4": "4242",
}
RETURN_ORDER: dict[str, Any] = {
    "id": "RET1", "location_id": LOC, "state": "COMPLETED", "version": 1,
    "created_at": "2026-03-06T22:59:00Z", "closed_at": "2026-03-06T22:59:00Z", "updated_at": "2026-03-06T23:01:00Z",
    **money("total_money", 0), **money("return_amounts__total_money", 270), **money("return_amounts__tax_money", 25),
    **money("return_amounts__discount_money", 30), **money("return_amounts__tip_money", 0),
    **money("return_amounts__service_charge_money", 0),
    "returns": [{"uid": "RT1", "source_order_id": "ORD1", "return_line_items": [
        {"uid": "RLI1", "source_line_item_uid": "LI1", "name": "Croissant", "variation_name": "Regular",
         "quantity": "2", "catalog_object_id": "VAR1",
         **money("base_price_money", 150), **money("gross_return_money", 300), **money("total_discount_money", 30),
         **money("total_tax_money", 25), **money("total_money", 270)},
    ]}],
}


def walk(value: Any) -> list[Any]:
    """Every scalar inside rows (dicts / lists) — to look for floats."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in walk(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in walk(v)]
    return [value]


def assert_exact(rows: list[dict[str, Any]], money_columns: tuple[str, ...]) -> None:
    assert not any(isinstance(v, float) for v in walk(rows)), "a float in canonical rows"
    for row in rows:
        for col in money_columns:
            value = row[col]
            assert isinstance(value, Decimal), (col, value)
            assert value.as_tuple().exponent == -2, (col, value)  # EUR: two decimals, exactly


# ---------------------------------------------------------------------- sales
def test_completed_sale_with_inclusive_tax_discount_modifier_tip_and_split_tender() -> None:
    batch = square.normalize(context(), [SALE], [])
    assert len(batch.transactions) == 1
    t = batch.transactions[0]
    assert set(t) == set(POS_TRANSACTIONS.column_names)
    assert t["id"] == canonical_id(TENANT, "square", "order", "ORD1")
    assert (t["tenant_id"], t["pos_account_id"], t["pos_provider"], t["location_id"], t["pos_transaction_id"]) == \
        (TENANT, ACCOUNT, "square", LOC, "ORD1")
    assert (t["transaction_type"], t["status"], t["refunded_transaction_id"]) == ("sale", "completed", None)
    assert t["transaction_date"] == datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert t["business_date"] == date(2026, 3, 3)  # 00:30 in Madrid
    assert t["subtotal"] == Decimal("6.78")  # Σ line gross (tax included), modifiers included
    assert t["discount_amount"] == Decimal("0.30")
    assert t["tax_amount"] == Decimal("0.49")
    assert t["service_charge_amount"] == Decimal("0.00")
    assert t["tip_amount"] == Decimal("1.00")
    assert t["total_amount"] == Decimal("7.48")
    # inclusive tax: total = gross - discount + service + tip (the tax is inside the gross)
    assert t["total_amount"] == t["subtotal"] - t["discount_amount"] + t["service_charge_amount"] + t["tip_amount"]
    assert t["currency"] == "EUR"
    assert t["items_quantity"] == Decimal("3.361")
    assert (t["payment_method"], t["card_brand"], t["card_last_four"]) == ("split", "VISA", "4242")
    assert (t["cashier_id"], t["cashier_name"]) == ("TM1", "Lucía Sanz")
    assert (t["device_id"], t["device_name"], t["receipt_number"]) == ("DEV1", "Caja 1", "P1RC")
    assert (t["source_version"], t["source_load_id"]) == ("3", "1000.1")
    assert t["source_updated_at"] == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert_exact(batch.transactions, ("subtotal", "discount_amount", "service_charge_amount", "tax_amount",
                                      "tip_amount", "total_amount"))

    items = batch.items
    assert [set(i) == set(POS_TRANSACTION_ITEMS.column_names) for i in items] == [True] * 3
    assert [i["line_number"] for i in items] == [1, 2, 3]
    cro, cafe, hogaza = items
    assert cro["id"] == canonical_id(t["id"], "line", "LI1")
    assert {i["transaction_id"] for i in items} == {t["id"]}
    assert (cro["pos_item_id"], cro["pos_parent_item_id"], cro["product_sku"], cro["category"]) == \
        ("VAR1", "ITEM1", "SKU-CRO", "Bollería")
    assert (cro["quantity"], cro["unit_price"], cro["gross_amount"], cro["discount_amount"], cro["tax_amount"],
            cro["line_total"]) == (Decimal(2), Decimal("1.50"), Decimal("3.00"), Decimal("0.30"),
                                   Decimal("0.25"), Decimal("2.70"))
    assert cro["modifiers"] is None and cro["is_mapped"] is False and cro["mapped_product_id"] is None
    assert (cro["business_date"], cro["transaction_type"]) == (date(2026, 3, 3), "sale")
    assert json.loads(cafe["modifiers"]) == [
        {"name": "Leche de avena", "quantity": "1", "price": "0.30", "pos_modifier_id": "MOD1"}]
    assert cafe["category"] == "Cafetería" and cafe["gross_amount"] == Decimal("1.90")
    assert (hogaza["quantity"], hogaza["unit"], hogaza["unit_price"], hogaza["gross_amount"]) == \
        (Decimal("0.361"), "kg", Decimal("5.20"), Decimal("1.88"))
    assert hogaza["pos_item_id"] is None and hogaza["category"] is None  # not in the catalog: no lookup
    # the items reconcile with the transaction
    assert sum(i["gross_amount"] for i in items) == t["subtotal"]
    assert sum(i["discount_amount"] for i in items) == t["discount_amount"]
    assert sum(i["tax_amount"] for i in items) == t["tax_amount"]
    assert_exact(items, ("unit_price", "gross_amount", "discount_amount", "tax_amount", "line_total"))

    tenders = batch.tenders
    assert [set(d) == set(POS_TENDERS.column_names) for d in tenders] == [True, True]
    cash, card = tenders
    assert (cash["method"], cash["amount"], cash["tip_amount"], cash["status"]) == \
        ("cash", Decimal("3.48"), Decimal("0.00"), "captured")
    assert (card["method"], card["amount"], card["tip_amount"], card["card_brand"], card["card_last_four"],
            card["entry_method"]) == ("contactless", Decimal("3.00"), Decimal("1.00"), "VISA", "4242", "CONTACTLESS")
    assert sum(d["amount"] + d["tip_amount"] for d in tenders) == t["total_amount"]
    assert_exact(tenders, ("amount", "tip_amount"))


def test_canceled_order_is_a_void_row() -> None:
    canceled = SALE | {"id": "ORD2", "state": "CANCELED", "closed_at": None, "tenders": [],
                       "updated_at": "2026-03-02T10:00:00Z"}
    t = square.normalize(context(), [canceled], []).transactions[0]
    assert (t["transaction_type"], t["status"]) == ("void", "voided")
    assert t["transaction_date"] == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert t["business_date"] == date(2026, 3, 2)
    assert t["payment_method"] is None


@pytest.mark.parametrize(("state", "expected"), [("OPEN", ("sale", "pending")), ("DRAFT", ("sale", "pending")),
                                                 ("COMPLETED", ("sale", "completed"))])
def test_order_states(state: str, expected: tuple[str, str]) -> None:
    t = square.normalize(context(), [SALE | {"state": state}], []).transactions[0]
    assert (t["transaction_type"], t["status"]) == expected


def test_zero_decimal_currency() -> None:
    order = {"id": "ORDJ", "location_id": "LJ", "state": "COMPLETED", "closed_at": "2026-03-02T03:00:00Z",
             **money("total_money", 1250, "JPY"), **money("total_tax_money", 114, "JPY"),
             "line_items": [{"uid": "X", "name": "Melon pan", "quantity": "1", **money("gross_sales_money", 1250, "JPY"),
                             **money("base_price_money", 1250, "JPY"), **money("total_money", 1250, "JPY")}]}
    t = square.normalize(context(), [order], []).transactions[0]
    assert (t["currency"], t["total_amount"], t["subtotal"], t["tax_amount"]) == \
        ("JPY", Decimal("1250"), Decimal("1250"), Decimal("114"))
    assert t["business_date"] == date(2026, 3, 2)  # 12:00 in Tokyo


# ---------------------------------------------------------------------- refunds
def test_refund_with_return_order_is_positive_and_linked_to_the_sale() -> None:
    batch = square.normalize(context(), [SALE, RETURN_ORDER], [REFUND])
    assert [t["transaction_type"] for t in batch.transactions] == ["sale", "refund"]  # the return order is no sale
    sale, r = batch.transactions
    assert r["id"] == canonical_id(TENANT, "square", "refund", "R1")
    assert (r["pos_transaction_id"], r["status"], r["refunded_transaction_id"]) == ("R1", "completed", sale["id"])
    assert r["transaction_date"] == datetime(2026, 3, 6, 22, 59, tzinfo=UTC)
    assert r["business_date"] == date(2026, 3, 6)  # 23:59 in Madrid: the refund's own local date
    assert (r["subtotal"], r["discount_amount"], r["tax_amount"], r["tip_amount"], r["service_charge_amount"],
            r["total_amount"]) == (Decimal("3.00"), Decimal("0.30"), Decimal("0.25"), Decimal("0.00"),
                                   Decimal("0.00"), Decimal("2.70"))
    assert all(r[c] >= 0 for c in ("subtotal", "discount_amount", "tax_amount", "total_amount"))
    assert r["items_quantity"] == Decimal(2)
    assert (r["card_brand"], r["card_last_four"], r["cashier_name"]) == ("VISA", "4242", "Lucía Sanz")
    assert r["source_load_id"] == "1000.2"
    items = [i for i in batch.items if i["transaction_id"] == r["id"]]
    assert len(items) == 1
    (line,) = items
    assert (line["transaction_type"], line["pos_item_id"], line["quantity"], line["gross_amount"],
            line["line_total"], line["business_date"]) == ("refund", "VAR1", Decimal(2), Decimal("3.00"),
                                                           Decimal("2.70"), date(2026, 3, 6))
    assert not [d for d in batch.tenders if d["transaction_id"] == r["id"]]
    assert_exact([r], ("subtotal", "discount_amount", "tax_amount", "tip_amount", "total_amount"))


def test_refund_links_through_the_payments_order_id() -> None:
    """The sale comes from the refunded payment's ``order_id``, not from the return order."""
    other_source = RETURN_ORDER | {"returns": [RETURN_ORDER["returns"][0] | {"source_order_id": "SOMETHING-ELSE"}]}
    r = square.normalize_refund(context(), REFUND, other_source).transactions[0]
    assert r["refunded_transaction_id"] == canonical_id(TENANT, "square", "order", "ORD1")
    # without the payment, the return order's source_order_id is the fallback
    r = square.normalize_refund(context(payments={}), REFUND, RETURN_ORDER).transactions[0]
    assert r["refunded_transaction_id"] == canonical_id(TENANT, "square", "order", "ORD1")


@pytest.mark.parametrize(("status", "expected"), [("PENDING", "pending"), ("APPROVED", "pending"),
                                                  ("REJECTED", "failed"), ("FAILED", "failed"),
                                                  ("COMPLETED", "completed")])
def test_refund_status(status: str, expected: str) -> None:
    r = square.normalize(context(), [RETURN_ORDER], [REFUND | {"status": status}]).transactions[0]
    assert (r["transaction_type"], r["status"]) == ("refund", expected)
    assert r["total_amount"] == Decimal("2.70")


def test_refund_whose_return_order_is_not_loaded_still_has_total_and_link() -> None:
    batch = square.normalize(context(), [], [REFUND])
    (r,) = batch.transactions
    assert r["total_amount"] == Decimal("2.70")
    assert r["refunded_transaction_id"] == canonical_id(TENANT, "square", "order", "ORD1")
    assert (r["subtotal"], r["tax_amount"], r["items_quantity"]) == (Decimal("0.00"), Decimal("0.00"), Decimal(0))
    assert batch.items == []


# ---------------------------------------------------------------------- determinism
def test_ids_are_deterministic() -> None:
    # pinned: a change of the id scheme would duplicate every canonical row on the next build
    assert canonical_id(TENANT, "square", "order", "ORD1") == "b6167524-60f9-548c-a019-6a18c4244b92"
    assert canonical_id(TENANT, "square", "refund", "R1") == "35cb0a6b-0125-5548-9801-d5934add1acc"
    one = square.normalize(context(), [SALE, RETURN_ORDER], [REFUND])
    two = square.normalize(context(), [SALE, RETURN_ORDER], [REFUND])
    assert one == two
    other_tenant = square.normalize(context(tenant_id="tenant-2"), [SALE], []).transactions[0]
    assert other_tenant["id"] != one.transactions[0]["id"]  # tenants never share a row


# ---------------------------------------------------------------------- products, locations
def test_products_are_item_variations_with_item_name_category_and_deleted_flag() -> None:
    ctx = context()
    products = square.normalize_products(ctx, CATALOG)
    assert [set(p) == set(CATALOG_COLUMNS) for p in products] == [True, True]  # versioned by transforms.catalog
    by_id = {p["pos_item_id"]: p for p in products}
    cro, cafe = by_id["VAR1"], by_id["VAR2"]
    assert (cro["name"], cro["variation_name"], cro["category"], cro["sku"], cro["price"], cro["currency"],
            cro["is_deleted"], cro["source_version"]) == ("Croissant", "Regular", "Bollería", "SKU-CRO",
                                                          Decimal("1.50"), "EUR", False, "7")
    assert cafe["is_deleted"] is True  # its item was deleted
    assert cafe["first_seen_at"] == datetime(2026, 1, 2, 5, 0, tzinfo=UTC)
    locations = square.normalize_locations(ctx, lambda loc: loc["currency"] == "EUR")
    assert [set(r) == set(POS_LOCATIONS.column_names) for r in locations] == [True, True]
    assert {(r["location_id"], r["timezone"], r["prices_include_tax"]) for r in locations} == {
        ("L1", "Europe/Madrid", True), ("LJ", "Asia/Tokyo", False)}


# ---------------------------------------------------------------------- PII
def test_keyed_hash_is_stable_and_depends_on_the_key() -> None:
    hash_a = make_pseudonymizer(b"key-a")
    hash_b = make_pseudonymizer(b"key-b")
    first = hash_a("CUST1")
    assert first == hash_a("CUST1") == make_pseudonymizer(b"key-a")(" CUST1 ")
    assert first is not None and first.startswith("h:") and len(first) == 2 + 32
    assert "CUST1" not in first
    assert hash_b("CUST1") != first
    assert hash_a("CUST2") != first
    assert hash_a(None) is None and hash_a("") is None


def test_normalised_email_and_phone_hash_alike() -> None:
    email = make_pseudonymizer(b"k", normalise=normalise_email)
    assert email(" Ana.Garcia@Mail.Example ") == email("ana.garcia@mail.example")
    phone = make_pseudonymizer(b"k", normalise=normalise_phone)
    assert phone("+34 600 11 22 33") == phone("+34600112233")


def test_keep_clear_returns_clean_values() -> None:
    clear = make_pseudonymizer(b"key-a", keep_clear=True)
    assert clear(" CUST1 ") == "CUST1"
    assert make_pseudonymizer(b"k", keep_clear=True, normalise=normalise_email)("A@B.example") == "a@b.example"
    assert clear(None) is None


def test_sale_customer_is_pseudonymised_by_the_context() -> None:
    hashed = square.normalize(context(pseudonymize=make_pseudonymizer(b"key-a")), [SALE], []).transactions[0]
    assert hashed["customer_ref"] == make_pseudonymizer(b"key-a")("CUST1")
    clear = square.normalize(context(pseudonymize=make_pseudonymizer(b"key-a", keep_clear=True)), [SALE], [])
    assert clear.transactions[0]["customer_ref"] == "CUST1"
    refund = square.normalize(context(pseudonymize=make_pseudonymizer(b"key-a")),
                              [RETURN_ORDER | {"customer_id": "CUST1"}], [REFUND]).transactions[0]
    assert refund["customer_ref"] == hashed["customer_ref"]  # the same customer links across rows


# ---------------------------------------------------------------------- customer profiles
PROFILE: dict[str, Any] = {"id": "CUST1", "given_name": "María", "family_name": " López ",
                           "email_address": " Maria.Lopez@Mail.example", "phone_number": "+34 600 11 22 33",
                           "version": 0}


def customer_context(key: bytes, keep_clear: bool, customers: dict[str, Any]) -> square.SquareContext:
    return context(customers=customers,
                   pseudonymize=make_pseudonymizer(key, keep_clear=keep_clear),
                   pseudonymize_email=make_pseudonymizer(key, keep_clear=keep_clear, normalise=normalise_email),
                   pseudonymize_phone=make_pseudonymizer(key, keep_clear=keep_clear, normalise=normalise_phone))


def test_customer_columns_of_a_sale_and_its_refund_in_clear_storage() -> None:
    """A tenant that opted in to clear storage: the profile behind the order's ``customer_id`` names
    the customer (given + family name), e-mail and phone cleaned as every provider's are."""
    ctx = customer_context(b"key-a", True, {"CUST1": PROFILE})
    sale, refund = square.normalize(ctx, [SALE, RETURN_ORDER | {"customer_id": "CUST1"}], [REFUND]).transactions
    for t in (sale, refund):
        assert (t["customer_ref"], t["customer_name"], t["customer_email"], t["customer_phone"]) == \
            ("CUST1", "María López", "maria.lopez@mail.example", "+34600112233")


def test_customer_columns_from_profiles_pseudonymised_in_the_source() -> None:
    """The default: the source hashed the profile's fields and the id (orders' ``customer_id``
    alike), so the hashed id still finds the profile and no clear value reaches the row."""
    key = b"key-a"
    hashed_id = make_pseudonymizer(key)("CUST1")
    stored = {"id": hashed_id, "given_name": make_pseudonymizer(key)("María"),
              "family_name": make_pseudonymizer(key)("López"),
              "email_address": make_pseudonymizer(key, normalise=normalise_email)(PROFILE["email_address"]),
              "phone_number": make_pseudonymizer(key, normalise=normalise_phone)(PROFILE["phone_number"])}
    ctx = customer_context(key, False, {hashed_id: stored})
    (sale,) = square.normalize(ctx, [SALE | {"customer_id": hashed_id}], []).transactions
    assert sale["customer_ref"] == hashed_id == make_pseudonymizer(key)("CUST1")
    assert sale["customer_email"] == stored["email_address"] == \
        make_pseudonymizer(key, normalise=normalise_email)("maria.lopez@mail.example")
    assert sale["customer_phone"] == stored["phone_number"] == \
        make_pseudonymizer(key, normalise=normalise_phone)("+34600112233")
    assert sale["customer_name"] == make_pseudonymizer(key)(f"{stored['given_name']} {stored['family_name']}")
    assert sale["customer_name"].startswith("h:") and "María" not in json.dumps(sale, default=str)
    # a row pseudonymised in the source is not hashed again by a clear-storage context
    (again,) = square.normalize(customer_context(key, True, {hashed_id: stored}),
                                [SALE | {"customer_id": hashed_id}], []).transactions
    assert (again["customer_email"], again["customer_phone"]) == (sale["customer_email"], sale["customer_phone"])


def test_no_customer_or_an_unloaded_profile_leaves_the_columns_empty() -> None:
    ctx = customer_context(b"key-a", True, {"CUST1": PROFILE})
    anonymous = SALE | {"customer_id": None}
    sale, refund = square.normalize(ctx, [anonymous, RETURN_ORDER], [REFUND]).transactions  # RETURN_ORDER: none
    for t in (sale, refund):
        assert (t["customer_ref"], t["customer_name"], t["customer_email"], t["customer_phone"]) == \
            (None, None, None, None)
    # a customer without a loaded profile (no CUSTOMERS_READ): the ref alone
    (unknown,) = square.normalize(customer_context(b"key-a", True, {}), [SALE], []).transactions
    assert (unknown["customer_ref"], unknown["customer_name"], unknown["customer_email"],
            unknown["customer_phone"]) == ("CUST1", None, None, None)
    # a profile with only a family name still names the customer
    (family,) = square.normalize(customer_context(b"key-a", True, {"CUST1": {"family_name": "López"}}),
                                 [SALE], []).transactions
    assert (family["customer_name"], family["customer_email"]) == ("López", None)


# ---------------------------------------------------------------------- the raw columns it reads
CHILDREN = {"line_items": "orders__line_items", "modifiers": "orders__line_items__modifiers",
            "tenders": "orders__tenders", "returns": "orders__returns",
            "return_line_items": "orders__returns__return_line_items"}


def test_the_normaliser_reads_no_raw_column_the_builder_leaves_out() -> None:
    """The builder reads only RAW_COLUMNS of orders, their children and payments: every key the
    normaliser reads of them, on every path (sale, void, refund with and without its payment), is
    listed — and rows cut to those columns give the same canonical rows."""
    seen: dict[str, set[str]] = {}
    orders = [SALE, SALE | {"id": "ORD2", "state": "CANCELED"}, RETURN_ORDER]
    for payments in (PAYMENTS, []):
        ctx = context(payments={p["id"]: Recording("payments", p, CHILDREN, seen) for p in payments})
        square.normalize(ctx, [Recording("orders", o, CHILDREN, seen) for o in orders], [REFUND])
    assert set(seen) == set(square.RAW_COLUMNS)  # every table's path was taken
    assert unlisted(seen, square.RAW_COLUMNS) == {}

    full = square.normalize(context(), orders, [REFUND])
    cut = square.normalize(
        context(payments={p["id"]: project("payments", p, CHILDREN, square.RAW_COLUMNS) for p in PAYMENTS}),
        [project("orders", o, CHILDREN, square.RAW_COLUMNS) for o in orders], [REFUND])
    assert cut == full
    assert any(len(project("orders", o, CHILDREN, square.RAW_COLUMNS)) < len(o) for o in orders)  # some left out
