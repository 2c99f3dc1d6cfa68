"""transforms.toast on small hand-built raw rows (no warehouse, no sandbox): every canonical field
of a sale, its items, tenders and refund, the cashier, device and guest, voids and deletions.

The rows have the shape dlt loads them in (flattened ``customer__email`` columns, child tables
re-attached as lists, money as the exact decimal text Toast sent), as
:mod:`transforms.toast.build` hands them to the normaliser.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from support.raw_columns import Recording, project, unlisted

from transforms import toast
from transforms.canonical import POS_TENDERS, POS_TRANSACTION_ITEMS, POS_TRANSACTIONS, canonical_id
from transforms.pii import is_pseudonym, make_pseudonymizer, normalise_email, normalise_phone

TENANT = "tenant-1"
ACCOUNT = "account-1"
REST = "R-NY"
KEY = b"toast-transform-key"
hash_id = make_pseudonymizer(KEY)
hash_email = make_pseudonymizer(KEY, normalise=normalise_email)
hash_phone = make_pseudonymizer(KEY, normalise=normalise_phone)


def context(*, clear: bool = False, **kw: Any) -> toast.ToastContext:
    options: dict[str, Any] = {
        "tenant_id": TENANT, "account_id": ACCOUNT,
        "restaurants": {REST: {"guid": REST, "general__currency_code": "USD", "general__time_zone": "America/New_York",
                               "general__location_name": "Brooklyn", "location__country": "US",
                               "location__zip_code": "11201"}},
        "menu_items": {"ITEM-CRO": {"guid": "ITEM-CRO", "name": "Croissant", "sku": "SKU-CRO",
                                    "sales_category__name": "Pastries"},
                       "ITEM-LAT": {"guid": "ITEM-LAT", "name": "Latte", "sku": "", "sales_category__name": "Coffee"}},
        "pseudonymize": make_pseudonymizer(KEY, keep_clear=clear),
        "pseudonymize_email": make_pseudonymizer(KEY, keep_clear=clear, normalise=normalise_email),
        "pseudonymize_phone": make_pseudonymizer(KEY, keep_clear=clear, normalise=normalise_phone),
        "employees": {"E1": {"guid": "E1", "first_name": "Lucía", "chosen_name": None, "last_name": "Sanz"},
                      "E2": {"guid": "E2", "first_name": "Robert", "chosen_name": "Bob", "last_name": "Ng"}},
        "devices": {"D1": {"pos_device_info__device_id": "D1", "pos_device_info__device_name": "Register 1"}},
    } | kw
    return toast.ToastContext(**options)


# a paid check, sales tax added (8.875 %), business day 2 March:
#   2 × Croissant 3.50, 10 % discount: gross 7.00, net 6.30, tax 0.56
#   1 × Latte 4.00 + oat milk 0.75 (already in the selection's price): gross 4.75, net 4.75, tax 0.42
#   a voided selection (in no amount), a 1.00 service charge
#   cash 5.00 + contactless VISA 8.03 with a 2.00 tip → total 15.03
#   the croissants refunded on 5 March (6.30 + 0.56 tax) on the card payment
CHECK: dict[str, Any] = {
    "guid": "CHK1", "display_number": "42", "payment_status": "CLOSED", "voided": False, "deleted": False,
    "closed_date": "2026-03-02T15:30:00Z", "modified_date": "2026-03-05T14:00:00Z",
    "customer__guid": "G1", "customer__first_name": "Ana", "customer__last_name": "García",
    "customer__email": " Ana@X.example", "customer__phone": "+1 (212) 555-0100",
    "selections": [
        {"guid": "S1", "item__guid": "ITEM-CRO", "item_group__guid": "GRP-BAKERY", "display_name": "Croissant",
         "quantity": "2", "unit_of_measure": "NONE", "pre_discount_price": "7.00", "price": "6.30", "tax": "0.559125",
         "tax_inclusion": "NOT_INCLUDED", "voided": False,
         "refund_details__refund_amount": "6.30", "refund_details__tax_refund_amount": "0.56"},
        {"guid": "S2", "item__guid": "ITEM-LAT", "item_group__guid": "GRP-COFFEE", "display_name": "Latte",
         "quantity": "1", "unit_of_measure": "NONE", "pre_discount_price": "4.75", "price": "4.75", "tax": "0.42",
         "tax_inclusion": "NOT_INCLUDED", "voided": False,
         "modifiers": [{"display_name": "Oat milk", "quantity": "1", "price": "0.75", "item__guid": "MOD-OAT"}]},
        {"guid": "S3", "item__guid": "ITEM-CRO", "display_name": "Croissant", "quantity": "1", "price": "3.50",
         "pre_discount_price": "3.50", "tax": "0.31", "voided": True},
    ],
    "applied_service_charges": [{"charge_amount": "1.00"}],
    "payments": [
        {"guid": "P1", "type": "CASH", "amount": "5.00", "tip_amount": "0", "payment_status": "CAPTURED"},
        {"guid": "P2", "type": "CREDIT", "card_entry_mode": "CONTACTLESS", "amount": "8.03", "tip_amount": "2.00",
         "card_type": "VISA", "last4_digits": "4242", "payment_status": "CAPTURED",
         "refund__refund_amount": "6.86", "refund__tip_refund_amount": "0", "refund__refund_date": "2026-03-05T14:00:00Z",
         "refund__refund_business_date": 20260305},
    ],
}
ORDER: dict[str, Any] = {
    "guid": "ORD1", "_pos_restaurant_guid": REST, "business_date": 20260302, "display_number": "7",
    "opened_date": "2026-03-02T15:20:00Z", "closed_date": "2026-03-02T15:30:00Z",
    "modified_date": "2026-03-05T14:00:00Z", "voided": False, "deleted": False,
    "server__guid": "E1", "created_device__id": "D1", "_dlt_load_id": "2000.1", "checks": [CHECK],
}


def money_exact(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    for row in rows:
        for col in columns:
            assert isinstance(row[col], Decimal) and row[col].as_tuple().exponent == -2, (col, row[col])


def test_paid_check_every_transaction_field() -> None:
    batch = toast.normalize(context(), [ORDER])
    sale, refund = batch.transactions
    assert set(sale) == set(POS_TRANSACTIONS.column_names) == set(refund)
    assert sale["id"] == canonical_id(TENANT, "toast", "check", "CHK1")
    assert (sale["tenant_id"], sale["pos_account_id"], sale["pos_provider"], sale["location_id"],
            sale["pos_transaction_id"]) == (TENANT, ACCOUNT, "toast", REST, "CHK1")
    assert (sale["transaction_type"], sale["status"], sale["refunded_transaction_id"]) == ("sale", "completed", None)
    assert sale["transaction_date"] == datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    assert sale["business_date"] == date(2026, 3, 2)
    assert (sale["subtotal"], sale["discount_amount"], sale["service_charge_amount"], sale["tax_amount"],
            sale["tip_amount"], sale["total_amount"]) == (
        Decimal("11.75"), Decimal("0.70"), Decimal("1.00"), Decimal("0.98"), Decimal("2.00"), Decimal("15.03"))
    # added tax: total = gross - discount + service + tax + tip, and equals what the tenders took
    assert sale["total_amount"] == sale["subtotal"] - sale["discount_amount"] + sale["service_charge_amount"] \
        + sale["tax_amount"] + sale["tip_amount"]
    assert (sale["currency"], sale["items_quantity"]) == ("USD", Decimal(3))
    assert (sale["payment_method"], sale["card_brand"], sale["card_last_four"]) == ("split", "VISA", "4242")
    assert (sale["cashier_id"], sale["cashier_name"]) == ("E1", "Lucía Sanz")  # staff names stay readable
    assert (sale["device_id"], sale["device_name"], sale["receipt_number"]) == ("D1", "Register 1", "42")
    assert (sale["source_version"], sale["source_load_id"]) == ("2026-03-05 14:00:00+00:00", "2000.1")
    assert sale["source_updated_at"] == datetime(2026, 3, 5, 14, 0, tzinfo=UTC)
    money_exact([sale, refund], ("subtotal", "discount_amount", "service_charge_amount", "tax_amount", "tip_amount",
                                 "total_amount"))


def test_guest_is_pseudonymised_by_default_and_clear_only_when_the_tenant_opted_in() -> None:
    sale = toast.normalize(context(), [ORDER]).transactions[0]
    assert sale["customer_ref"] == hash_id("G1")
    assert sale["customer_name"] == hash_id("Ana García") and is_pseudonym(sale["customer_name"])
    assert sale["customer_email"] == hash_email("ana@x.example")  # normalised before hashing
    assert sale["customer_phone"] == hash_phone("+12125550100")
    assert not {"Ana", "García", "Ana García"} & {str(v) for v in sale.values()}

    clear = toast.normalize(context(clear=True), [ORDER]).transactions[0]
    assert (clear["customer_ref"], clear["customer_name"], clear["customer_email"], clear["customer_phone"]) == \
        ("G1", "Ana García", "ana@x.example", "+12125550100")

    # hashed in the source (each part a pseudonym): the name is still one stable pseudonym
    hashed = {**CHECK, "customer__guid": hash_id("G1"), "customer__first_name": hash_id("Ana"),
              "customer__last_name": hash_id("García")}
    names = {toast.normalize(context(), [{**ORDER, "checks": [hashed]}]).transactions[0]["customer_name"]
             for _ in range(2)}
    (name,) = names
    assert is_pseudonym(name) and name not in (hash_id("Ana"), hash_id("García"))
    anonymous = {k: v for k, v in CHECK.items() if not k.startswith("customer__")}
    row = toast.normalize(context(), [{**ORDER, "checks": [anonymous]}]).transactions[0]
    assert (row["customer_ref"], row["customer_name"], row["customer_email"], row["customer_phone"]) == (None,) * 4


def test_cashier_uses_the_chosen_name_and_unknown_references_keep_their_ids() -> None:
    sale = toast.normalize(context(), [{**ORDER, "server__guid": "E2"}]).transactions[0]
    assert (sale["cashier_id"], sale["cashier_name"]) == ("E2", "Bob Ng")
    sale = toast.normalize(context(employees={}, devices={}), [ORDER]).transactions[0]
    assert (sale["cashier_id"], sale["cashier_name"], sale["device_id"], sale["device_name"]) == ("E1", None, "D1", None)
    assert toast.employee_name({"first_name": " ", "last_name": None}) is None


def test_items_every_field_modifiers_and_the_voided_selection() -> None:
    batch = toast.normalize(context(), [ORDER])
    sale = batch.transactions[0]
    sale_items = [i for i in batch.items if i["transaction_id"] == sale["id"]]
    assert [set(i) == set(POS_TRANSACTION_ITEMS.column_names) for i in sale_items] == [True, True]  # S3 voided: out
    cro, latte = sale_items
    assert cro["id"] == canonical_id(sale["id"], "line", "S1")
    assert (cro["line_number"], cro["pos_line_id"], cro["pos_item_id"], cro["pos_parent_item_id"]) == \
        (1, "S1", "ITEM-CRO", "GRP-BAKERY")
    assert (cro["product_name"], cro["variation_name"], cro["product_sku"], cro["category"], cro["unit"]) == \
        ("Croissant", None, "SKU-CRO", "Pastries", None)
    assert (cro["quantity"], cro["unit_price"], cro["gross_amount"], cro["discount_amount"], cro["tax_amount"],
            cro["line_total"]) == (Decimal(2), Decimal("3.50"), Decimal("7.00"), Decimal("0.70"), Decimal("0.56"),
                                   Decimal("6.86"))
    assert (cro["business_date"], cro["transaction_type"], cro["currency"], cro["modifiers"]) == \
        (date(2026, 3, 2), "sale", "USD", None)
    assert (cro["mapped_product_id"], cro["is_mapped"]) == (None, False)
    assert latte["product_sku"] is None  # Toast's "" means no SKU
    assert json.loads(latte["modifiers"]) == [
        {"name": "Oat milk", "quantity": "1", "price": "0.75", "pos_modifier_id": "MOD-OAT"}]
    assert latte["gross_amount"] == Decimal("4.75")  # the modifier is inside the selection's price, not added
    assert sum(i["gross_amount"] for i in sale_items) == sale["subtotal"]
    assert sum(i["tax_amount"] for i in sale_items) == sale["tax_amount"]
    money_exact(sale_items, ("unit_price", "gross_amount", "discount_amount", "tax_amount", "line_total"))


def test_tenders_every_field() -> None:
    tenders = toast.normalize(context(), [ORDER]).tenders
    assert [set(t) == set(POS_TENDERS.column_names) for t in tenders] == [True, True]
    cash, card = tenders
    sale_id = canonical_id(TENANT, "toast", "check", "CHK1")
    assert cash["id"] == canonical_id(sale_id, "tender", "P1") and cash["transaction_id"] == sale_id
    assert (cash["pos_tender_id"], cash["method"], cash["amount"], cash["tip_amount"], cash["status"]) == \
        ("P1", "cash", Decimal("5.00"), Decimal("0.00"), "captured")
    assert (card["method"], card["card_brand"], card["card_last_four"], card["entry_method"], card["amount"],
            card["tip_amount"], card["currency"]) == ("contactless", "VISA", "4242", "CONTACTLESS", Decimal("8.03"),
                                                      Decimal("2.00"), "USD")
    sale = toast.normalize(context(), [ORDER]).transactions[0]
    assert sum(t["amount"] + t["tip_amount"] for t in tenders) == sale["total_amount"]


def test_refund_in_place_becomes_a_linked_refund_row_with_its_lines() -> None:
    batch = toast.normalize(context(), [ORDER])
    sale, refund = batch.transactions
    assert refund["id"] == canonical_id(TENANT, "toast", "refund", "P2")
    assert (refund["pos_transaction_id"], refund["transaction_type"], refund["status"],
            refund["refunded_transaction_id"]) == ("P2:refund", "refund", "completed", sale["id"])
    assert (refund["transaction_date"], refund["business_date"]) == \
        (datetime(2026, 3, 5, 14, 0, tzinfo=UTC), date(2026, 3, 5))
    assert (refund["subtotal"], refund["tax_amount"], refund["tip_amount"], refund["total_amount"]) == \
        (Decimal("6.30"), Decimal("0.56"), Decimal("0.00"), Decimal("6.86"))  # positive refunded amounts
    assert (refund["payment_method"], refund["card_brand"], refund["card_last_four"]) == ("contactless", "VISA", "4242")
    assert (refund["cashier_name"], refund["device_name"], refund["customer_ref"]) == \
        ("Lucía Sanz", "Register 1", hash_id("G1"))
    (line,) = [i for i in batch.items if i["transaction_id"] == refund["id"]]
    assert (line["transaction_type"], line["business_date"], line["quantity"], line["gross_amount"],
            line["tax_amount"], line["line_total"]) == ("refund", date(2026, 3, 5), Decimal(2), Decimal("6.30"),
                                                        Decimal("0.56"), Decimal("6.86"))
    assert refund["items_quantity"] == Decimal(2)
    assert toast.refund_ids(context(), [ORDER]) == [canonical_id(TENANT, "toast", "refund", p) for p in ("P1", "P2")]


def test_void_pending_and_deleted_checks() -> None:
    unpaid = {**CHECK, "guid": "CHK2", "payment_status": "OPEN", "payments": []}
    deleted = {**CHECK, "guid": "CHK3", "deleted": True}
    batch = toast.normalize(context(), [{**ORDER, "checks": [unpaid, deleted]}])
    (pending,) = batch.transactions  # the deleted check counts nowhere; no payment, no refund
    assert (pending["pos_transaction_id"], pending["transaction_type"], pending["status"]) == \
        ("CHK2", "sale", "pending")
    assert pending["payment_method"] is None and pending["tip_amount"] == Decimal("0.00")
    voided = toast.normalize(context(), [{**ORDER, "voided": True}])
    assert [(t["transaction_type"], t["status"]) for t in voided.transactions] == [("void", "voided")]  # no refund row
    assert toast.normalize(context(), [{**ORDER, "deleted": True}]).transactions == []
    assert toast.check_ids([{**ORDER, "checks": [unpaid, deleted]}]) == ["CHK2", "CHK3"]


def test_locations_and_products() -> None:
    (loc,) = toast.normalize_locations(context(), datetime(2026, 3, 6, tzinfo=UTC))
    assert (loc["location_id"], loc["name"], loc["timezone"], loc["currency"], loc["prices_include_tax"],
            loc["country"], loc["postal_code"]) == (REST, "Brooklyn", "America/New_York", "USD", False, "US", "11201")
    seen = datetime(2026, 3, 1, tzinfo=UTC)
    items = [{"guid": "ITEM-CRO", "name": "Croissant", "sku": "", "price": "3.50", "menu_group_guid": "GRP",
              "sales_category__name": "Pastries", "_restaurant_guid": REST, "_seen_at": seen}]
    (product,) = toast.normalize_products(context(), items)
    assert (product["pos_item_id"], product["name"], product["sku"], product["price"], product["currency"],
            product["category"], product["is_deleted"], product["valid_from"]) == (
        "ITEM-CRO", "Croissant", None, Decimal("3.50"), "USD", "Pastries", False, seen)


CHILDREN = {"checks": "orders__checks", "selections": "orders__checks__selections",
            "modifiers": "orders__checks__selections__modifiers", "payments": "orders__checks__payments",
            "applied_service_charges": "orders__checks__applied_service_charges"}


def test_the_normaliser_reads_no_raw_column_the_builder_leaves_out() -> None:
    """The builder reads only RAW_COLUMNS of an order and its child rows: every key the normaliser
    (and the builder's check and refund ids) reads of them, on every path — paid, refunded, open,
    deleted, voided, a check without its own number or times (the order's are read) — is listed,
    and rows cut to those columns give the same canonical rows."""
    bare = {k: v for k, v in CHECK.items() if k not in ("display_number", "closed_date", "modified_date")}
    unpaid = {**CHECK, "guid": "CHK2", "payment_status": "OPEN", "payments": []}
    orders = [ORDER, {**ORDER, "guid": "ORD2", "checks": [unpaid, {**CHECK, "guid": "CHK3", "deleted": True}]},
              {**ORDER, "guid": "ORD3", "voided": True}, {**ORDER, "guid": "ORD4", "deleted": True},
              {**ORDER, "guid": "ORD5", "checks": [{**bare, "guid": "CHK5"}]}]
    seen: dict[str, set[str]] = {}
    recording = [Recording("orders", o, CHILDREN, seen) for o in orders]
    toast.normalize(context(), recording)
    toast.check_ids(recording)
    toast.refund_ids(context(), recording)
    assert set(seen) == set(toast.RAW_COLUMNS)  # every table's path was taken
    assert unlisted(seen, toast.RAW_COLUMNS) == {}

    cut = [project("orders", o, CHILDREN, toast.RAW_COLUMNS) for o in orders]
    assert toast.normalize(context(), cut) == toast.normalize(context(), orders)
    assert (toast.check_ids(cut), toast.refund_ids(context(), cut)) == \
        (toast.check_ids(orders), toast.refund_ids(context(), orders))
