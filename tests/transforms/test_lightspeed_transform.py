"""transforms.lightspeed on small hand-built raw rows (no warehouse, no sandbox): every canonical
field of a sale, its items and tenders, a return, the cashier, register, customer and the
modifiers a line note names; voids, soft deletes and lines named as their product was when sold.

Rows have the shape dlt loads them in (child tables re-attached as lists, amounts as the exact
decimals X-Series sent: tax-exclusive, up to 5 decimals), as :mod:`transforms.lightspeed.build`
hands them to the normaliser.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from support.raw_columns import Recording, project, unlisted

from transforms import lightspeed
from transforms.canonical import POS_TENDERS, POS_TRANSACTION_ITEMS, POS_TRANSACTIONS, canonical_id
from transforms.pii import is_pseudonym, make_pseudonymizer, normalise_email, normalise_phone

TENANT = "tenant-1"
ACCOUNT = "account-1"
OUTLET = "O-BCN"
KEY = b"lightspeed-transform-key"
hash_id = make_pseudonymizer(KEY)
hash_email = make_pseudonymizer(KEY, normalise=normalise_email)
hash_phone = make_pseudonymizer(KEY, normalise=normalise_phone)
EARLY = "2026-01-01T00:00:00Z"


def context(*, clear: bool = False, **kw: Any) -> lightspeed.LightspeedContext:
    options: dict[str, Any] = {
        "tenant_id": TENANT, "account_id": ACCOUNT,
        "outlets": {OUTLET: {"id": OUTLET, "name": "Barcelona", "currency": "EUR", "time_zone": "Europe/Madrid",
                             "physical_country_id": "ES", "physical_postcode": "08001"}},
        "tax_rates": {"T10": Decimal("0.10")},
        "products": {"PR-CRO": {"id": "PR-CRO", "name": "Croissant", "variant_name": None, "sku": "CRO",
                                "type__name": "Bollería", "variant_parent_id": None, "updated_at": EARLY},
                     "PR-CAF": {"id": "PR-CAF", "name": "Café con leche", "variant_name": "Grande", "sku": "",
                                "type__name": "Cafetería", "variant_parent_id": "PR-CAF-P", "updated_at": EARLY}},
        "payment_types": {"PT-CASH": {"id": "PT-CASH", "name": "Efectivo", "type_id": 1},
                          "PT-CARD": {"id": "PT-CARD", "name": "Tarjeta", "type_id": 3}},
        "users": {"U1": {"id": "U1", "display_name": "Lucía Sanz"}},
        "registers": {"REG1": {"id": "REG1", "name": "Caja 1"}},
        "customers": {"C1": {"id": "C1", "name": "Ana García", "first_name": "Ana", "last_name": "García",
                             "email": " Ana@X.example", "phone": None, "mobile": "+34 600 000 001"}},
        "pseudonymize": make_pseudonymizer(KEY, keep_clear=clear),
        "pseudonymize_email": make_pseudonymizer(KEY, keep_clear=clear, normalise=normalise_email),
        "pseudonymize_phone": make_pseudonymizer(KEY, keep_clear=clear, normalise=normalise_phone),
    } | kw
    return lightspeed.LightspeedContext(**options)


# a CLOSED sale, 23:30 UTC on 2 March = 00:30 on 3 March in Barcelona, IVA 10 % inside the shown prices:
#   2 × Croissant 1.50: total_price 2.72727 + tax 0.27273 = 3.00
#   1 × Café con leche 2.70 with oat milk and an extra shot folded into the price (named in the note),
#     a 0.20 discount (0.18182 tax-exclusive): 2.27273 + 0.22727 = 2.50
#   a voided line (in no amount); a 0.50 tip adjustment inside the sale's totals
#   cash 2.00 + card 4.00 → total 6.00
SALE: dict[str, Any] = {
    "id": "S1", "outlet_id": OUTLET, "register_id": "REG1", "user_id": "U1", "customer_id": "C1",
    "status": "CLOSED", "return_for": None, "receipt_number": "BCN1-42", "invoice_number": "42",
    "total_price": "5.45455", "total_tax": "0.54545", "sale_date": "2026-03-02T23:30:00Z",
    "created_at": "2026-03-02T23:25:00Z", "updated_at": "2026-03-02T23:31:00Z", "version": 9001,
    "deleted_at": None, "_dlt_load_id": "3000.1",
    "line_items": [
        {"id": "L1", "product_id": "PR-CRO", "tax_id": "T10", "quantity": "2", "total_price": "2.72727",
         "total_tax": "0.27273", "total_discount": "0", "status": "CONFIRMED", "note": ""},
        {"id": "L2", "product_id": "PR-CAF", "tax_id": "T10", "quantity": "1", "total_price": "2.27273",
         "total_tax": "0.22727", "total_discount": "0.18182", "status": "CONFIRMED",
         "note": "+ Leche de avena, + Extra shot"},
        {"id": "L3", "product_id": "PR-CRO", "tax_id": "T10", "quantity": "1", "total_price": "1.36364",
         "total_tax": "0.13636", "total_discount": "0", "status": "VOIDED"},
    ],
    "payments": [{"id": "PAY1", "retailer_payment_type_id": "PT-CASH", "amount": "2.00"},
                 {"id": "PAY2", "retailer_payment_type_id": "PT-CARD", "amount": "4.00"}],
    "adjustments": [{"type": "TIP", "value": "0.45455"}],
}
# the croissants returned on 5 March: a new sale with negative lines and payments
RETURN: dict[str, Any] = {
    "id": "S2", "outlet_id": OUTLET, "register_id": "REG1", "user_id": "U1", "customer_id": "C1",
    "status": "CLOSED", "return_for": "S1", "total_price": "-2.72727", "total_tax": "-0.27273",
    "sale_date": "2026-03-05T10:00:00Z", "updated_at": "2026-03-05T10:00:00Z", "version": 9050,
    "line_items": [{"id": "L9", "product_id": "PR-CRO", "tax_id": "T10", "quantity": "-2",
                    "total_price": "-2.72727", "total_tax": "-0.27273", "total_discount": "0", "status": "CONFIRMED"}],
    "payments": [{"id": "PAY9", "retailer_payment_type_id": "PT-CARD", "amount": "-3.00"}],
}


def money_exact(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    for row in rows:
        for col in columns:
            assert isinstance(row[col], Decimal) and row[col].as_tuple().exponent == -2, (col, row[col])


def test_closed_sale_every_transaction_field() -> None:
    (sale,) = lightspeed.normalize(context(), [SALE]).transactions
    assert set(sale) == set(POS_TRANSACTIONS.column_names)
    assert sale["id"] == canonical_id(TENANT, "lightspeed", "sale", "S1")
    assert (sale["tenant_id"], sale["pos_account_id"], sale["pos_provider"], sale["location_id"],
            sale["pos_transaction_id"]) == (TENANT, ACCOUNT, "lightspeed", OUTLET, "S1")
    assert (sale["transaction_type"], sale["status"], sale["refunded_transaction_id"]) == ("sale", "completed", None)
    assert sale["transaction_date"] == datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert sale["business_date"] == date(2026, 3, 3)  # the outlet's local date
    assert (sale["subtotal"], sale["discount_amount"], sale["service_charge_amount"], sale["tax_amount"],
            sale["tip_amount"], sale["total_amount"]) == (
        Decimal("5.70"), Decimal("0.20"), Decimal("0.00"), Decimal("0.50"), Decimal("0.45"), Decimal("6.00"))
    assert (sale["currency"], sale["items_quantity"], sale["payment_method"]) == ("EUR", Decimal(3), "split")
    assert (sale["card_brand"], sale["card_last_four"]) == (None, None)  # X-Series payments carry no card
    assert (sale["cashier_id"], sale["cashier_name"]) == ("U1", "Lucía Sanz")  # staff names stay readable
    assert (sale["device_id"], sale["device_name"], sale["receipt_number"]) == ("REG1", "Caja 1", "BCN1-42")
    assert (sale["source_version"], sale["source_load_id"]) == ("9001", "3000.1")
    assert sale["source_updated_at"] == datetime(2026, 3, 2, 23, 31, tzinfo=UTC)
    money_exact([sale], ("subtotal", "discount_amount", "service_charge_amount", "tax_amount", "tip_amount",
                         "total_amount"))


def test_customer_is_pseudonymised_by_default_and_clear_only_when_the_tenant_opted_in() -> None:
    (sale,) = lightspeed.normalize(context(), [SALE]).transactions
    assert sale["customer_ref"] == hash_id("C1")
    assert sale["customer_name"] == hash_id("Ana García") and is_pseudonym(sale["customer_name"])
    assert sale["customer_email"] == hash_email("ana@x.example")
    assert sale["customer_phone"] == hash_phone("+34600000001")  # the mobile when there is no phone
    (clear,) = lightspeed.normalize(context(clear=True), [SALE]).transactions
    assert (clear["customer_ref"], clear["customer_name"], clear["customer_email"], clear["customer_phone"]) == \
        ("C1", "Ana García", "ana@x.example", "+34600000001")
    # hashed in the source: the stored pseudonyms are the canonical values (one reference per layer)
    stored = {"C1": {"id": "C1", "name": hash_id("Ana García"), "email": hash_email("ana@x.example"),
                     "phone": hash_phone("+34600000001")}}
    (again,) = lightspeed.normalize(context(customers=stored), [SALE]).transactions
    assert (again["customer_name"], again["customer_email"], again["customer_phone"]) == \
        (sale["customer_name"], sale["customer_email"], sale["customer_phone"])
    # no name field: first and last name
    (parts,) = lightspeed.normalize(context(clear=True, customers={"C1": {"first_name": "Ana", "last_name": "García"}}),
                                    [SALE]).transactions
    assert parts["customer_name"] == "Ana García"
    (anonymous,) = lightspeed.normalize(context(), [{**SALE, "customer_id": None}]).transactions
    assert (anonymous["customer_ref"], anonymous["customer_name"], anonymous["customer_email"],
            anonymous["customer_phone"]) == (None,) * 4


def test_items_every_field_and_modifiers_from_the_line_note() -> None:
    batch = lightspeed.normalize(context(), [SALE])
    sale = batch.transactions[0]
    assert [set(i) == set(POS_TRANSACTION_ITEMS.column_names) for i in batch.items] == [True, True]  # L3 voided
    cro, cafe = batch.items
    assert cro["id"] == canonical_id(sale["id"], "line", "L1")
    assert (cro["line_number"], cro["pos_line_id"], cro["pos_item_id"], cro["product_name"], cro["product_sku"],
            cro["category"]) == (1, "L1", "PR-CRO", "Croissant", "CRO", "Bollería")
    assert (cro["quantity"], cro["unit_price"], cro["gross_amount"], cro["discount_amount"], cro["tax_amount"],
            cro["line_total"]) == (Decimal(2), Decimal("1.50"), Decimal("3.00"), Decimal("0.00"), Decimal("0.27"),
                                   Decimal("3.00"))
    assert (cro["modifiers"], cro["unit"], cro["business_date"], cro["transaction_type"]) == \
        (None, None, date(2026, 3, 3), "sale")
    assert (cafe["variation_name"], cafe["pos_parent_item_id"], cafe["product_sku"]) == ("Grande", "PR-CAF-P", None)
    assert (cafe["gross_amount"], cafe["discount_amount"], cafe["line_total"]) == \
        (Decimal("2.70"), Decimal("0.20"), Decimal("2.50"))
    assert json.loads(cafe["modifiers"]) == [
        {"name": "Leche de avena", "quantity": "1", "price": None, "pos_modifier_id": None},
        {"name": "Extra shot", "quantity": "1", "price": None, "pos_modifier_id": None}]
    assert sum(i["gross_amount"] for i in batch.items) == sale["subtotal"]
    assert sum(i["discount_amount"] for i in batch.items) == sale["discount_amount"]
    money_exact(batch.items, ("unit_price", "gross_amount", "discount_amount", "tax_amount", "line_total"))


def test_only_a_note_of_add_ons_is_modifiers() -> None:
    assert lightspeed.note_modifiers("+ Leche de avena") is not None
    for note in (None, "", "sin azúcar", "+ Extra shot, para llevar", "+", "+ , + x"):
        assert lightspeed.note_modifiers(note) is None, note


def test_tenders_every_field() -> None:
    tenders = lightspeed.normalize(context(), [SALE]).tenders
    assert [set(t) == set(POS_TENDERS.column_names) for t in tenders] == [True, True]
    cash, card = tenders
    sale_id = canonical_id(TENANT, "lightspeed", "sale", "S1")
    assert (cash["id"], cash["transaction_id"], cash["pos_tender_id"]) == \
        (canonical_id(sale_id, "tender", "PAY1"), sale_id, "PAY1")
    assert (cash["method"], cash["amount"], card["method"], card["amount"]) == \
        ("cash", Decimal("2.00"), "card", Decimal("4.00"))
    assert (card["tip_amount"], card["currency"], card["status"], card["card_brand"]) == \
        (Decimal("0.00"), "EUR", "completed", None)


def test_return_is_a_positive_refund_linked_to_the_sale() -> None:
    batch = lightspeed.normalize(context(), [RETURN])
    (refund,) = batch.transactions
    assert refund["id"] == canonical_id(TENANT, "lightspeed", "return", "S2")
    assert (refund["transaction_type"], refund["status"], refund["refunded_transaction_id"]) == \
        ("refund", "completed", canonical_id(TENANT, "lightspeed", "sale", "S1"))
    assert (refund["business_date"], refund["subtotal"], refund["tax_amount"], refund["total_amount"],
            refund["items_quantity"]) == (date(2026, 3, 5), Decimal("3.00"), Decimal("0.27"), Decimal("3.00"),
                                          Decimal(2))
    assert (refund["cashier_name"], refund["device_name"], refund["customer_ref"]) == \
        ("Lucía Sanz", "Caja 1", hash_id("C1"))
    (line,) = batch.items
    assert (line["quantity"], line["gross_amount"], line["line_total"], line["transaction_type"]) == \
        (Decimal(2), Decimal("3.00"), Decimal("3.00"), "refund")
    assert batch.tenders == []  # a return's (negative) payments are its refund, not tenders
    (voided,) = lightspeed.normalize(context(), [{**RETURN, "status": "VOIDED"}]).transactions
    assert voided["status"] == "failed"


def test_void_pending_soft_delete_and_ids() -> None:
    statuses = [(t["transaction_type"], t["status"]) for t in lightspeed.normalize(
        context(), [{**SALE, "status": "VOIDED"}, {**SALE, "id": "S3", "status": "LAYBY"}]).transactions]
    assert statuses == [("void", "voided"), ("sale", "pending")]
    assert lightspeed.normalize(context(), [{**SALE, "deleted_at": "2026-03-04T00:00:00Z"}]).transactions == []
    assert lightspeed.row_ids(context(), [SALE]) == [canonical_id(TENANT, "lightspeed", "sale", "S1"),
                                                     canonical_id(TENANT, "lightspeed", "return", "S1")]


def test_a_line_is_named_as_its_product_was_when_sold() -> None:
    renamed = {**context().products, "PR-CRO": {"id": "PR-CRO", "name": "Croissant de mantequilla", "sku": "CRO2",
                                                "type__name": "Bollería", "updated_at": "2026-03-04T05:00:00Z"}}
    version = {"name": "Croissant", "variation_name": None, "sku": "CRO", "category": "Bollería",
               "pos_parent_item_id": None, "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
               "valid_to": datetime(2026, 3, 4, 5, tzinfo=UTC)}
    items = lightspeed.normalize(context(products=renamed, versions={"PR-CRO": [version]}), [SALE]).items
    assert (items[0]["product_name"], items[0]["product_sku"]) == ("Croissant", "CRO")  # as sold on 2 March
    items = lightspeed.normalize(context(products=renamed), [SALE]).items
    assert items[0]["product_name"] == "Croissant de mantequilla"  # no version recorded: the product as read


def test_locations_and_products() -> None:
    (loc,) = lightspeed.normalize_locations(context(), datetime(2026, 3, 6, tzinfo=UTC))
    assert (loc["location_id"], loc["name"], loc["timezone"], loc["currency"], loc["prices_include_tax"],
            loc["country"], loc["postal_code"]) == (OUTLET, "Barcelona", "Europe/Madrid", "EUR", True, "ES", "08001")
    products = [{"id": "PR-CRO", "name": "Croissant", "sku": "", "price_including_tax": "1.50", "version": 7,
                 "updated_at": "2026-02-01T05:00:00Z", "created_at": EARLY, "deleted_at": None, "is_active": False}]
    (product,) = lightspeed.normalize_products(context(), products)
    assert (product["pos_item_id"], product["name"], product["sku"], product["price"], product["currency"],
            product["is_deleted"], product["is_archived"], product["source_version"]) == (
        "PR-CRO", "Croissant", None, Decimal("1.50"), "EUR", False, True, "7")
    assert (product["valid_from"], product["first_seen_at"]) == \
        (datetime(2026, 2, 1, 5, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


CHILDREN = {"line_items": "sales__line_items", "payments": "sales__payments", "adjustments": "sales__adjustments"}


def test_the_normaliser_reads_no_raw_column_the_builder_leaves_out() -> None:
    """The builder reads only RAW_COLUMNS of a sale and its child rows: every key the normaliser (and
    the builder's row ids) reads of them, on every path — a sale, a return, a soft-deleted sale, one
    without its sale date, a payment of an unknown type, an adjustment typed the older way — is listed,
    and rows cut to those columns give the same canonical rows."""
    odd = {**SALE, "id": "S3", "sale_date": None,
           "payments": [{"id": "PAY3", "retailer_payment_type_id": "PT-GONE", "name": "Contactless", "amount": "6.00"}],
           "adjustments": [{"adjustment_type": "TIP", "value": "0.45455"}]}
    sales = [SALE, RETURN, {**SALE, "id": "S4", "deleted_at": "2026-03-04T00:00:00Z"}, odd]
    seen: dict[str, set[str]] = {}
    recording = [Recording("sales", r, CHILDREN, seen) for r in sales]
    lightspeed.normalize(context(), recording)
    lightspeed.row_ids(context(), recording)
    assert set(seen) == set(lightspeed.RAW_COLUMNS)  # every table's path was taken
    assert unlisted(seen, lightspeed.RAW_COLUMNS) == {}

    cut = [project("sales", r, CHILDREN, lightspeed.RAW_COLUMNS) for r in sales]
    assert lightspeed.normalize(context(), cut) == lightspeed.normalize(context(), sales)
    assert lightspeed.row_ids(context(), cut) == lightspeed.row_ids(context(), sales)


def test_each_distinct_line_amount_and_payment_type_is_worked_out_once_per_context(monkeypatch: Any) -> None:
    """A build rounds the same few prices again and again: the context rounds each distinct
    (tax, price, tax amount, discount, currency, sign) once and shares it; the amounts are those of
    the rounding itself, and the remembered set is bounded."""
    import importlib

    module = importlib.import_module("transforms.lightspeed.normalize")

    rounded, named = [], []
    real_round, real_method = module._round_line, module.payment_method_of

    def counting_round(ctx: Any, line: Any, currency: str, sign: Decimal) -> Any:
        rounded.append(line["id"])
        return real_round(ctx, line, currency, sign)

    def counting_method(ctx: Any, payment: Any) -> str:
        named.append(payment["id"])
        return real_method(ctx, payment)

    monkeypatch.setattr(module, "_round_line", counting_round)
    monkeypatch.setattr(module, "payment_method_of", counting_method)
    ctx = context()
    croissants = [{"id": f"L{n}", "product_id": "PR-CRO", "quantity": "2", "status": "CONFIRMED", "tax_id": "T10",
                   "total_price": Decimal("2.72727"), "total_tax": Decimal("0.27273"),
                   "total_discount": Decimal(0), "note": None} for n in range(3)]
    sales = [{"id": f"S{n}", "outlet_id": OUTLET, "status": "CLOSED", "sale_date": "2026-03-02T10:00:00Z",
              "total_price": Decimal("8.18181"), "total_tax": Decimal("0.81819"), "line_items": croissants,
              "payments": [{"id": f"P{n}", "amount": Decimal("9.00"), "retailer_payment_type_id": "PT-CASH",
                            "name": "Efectivo"}]} for n in range(4)]
    batch = lightspeed.normalize(ctx, sales)
    assert rounded == ["L0"] and named == ["P0"]  # 12 lines, 4 payments: one of each worked out
    assert {(i["gross_amount"], i["tax_amount"], i["line_total"]) for i in batch.items} == {
        (Decimal("3.00"), Decimal("0.27"), Decimal("3.00"))}
    assert {t["method"] for t in batch.tenders} == {"cash"}
    assert ctx._line_amounts[("T10", Decimal("2.72727"), Decimal("0.27273"), Decimal(0), "EUR", Decimal(1))] == \
        real_round(ctx, croissants[0], "EUR", Decimal(1))
    # a return's lines (sign −1) are their own entries
    lightspeed.normalize(ctx, [sales[0] | {"id": "R1", "return_for": "S0"}])
    assert rounded == ["L0", "L0"]
    monkeypatch.setattr(module, "MAX_REMEMBERED", 2)  # full: forgotten, then remembered again
    lightspeed.normalize(ctx, [sales[0] | {"id": "S9", "line_items": [croissants[0] | {"tax_id": "T0"}]}])
    assert len(ctx._line_amounts) == 1
