"""Field-level tests of the Lightspeed R-Series normaliser (raw rows as the source loads them)."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from transforms.canonical import canonical_id

n = importlib.import_module("transforms.lightspeed_r.normalize")  # the module (the package re-exports its names)

D = Decimal
T, A = "tenant-1", "acct-1"


def ctx(**shop: Any) -> n.RContext:
    shops = {"1": {"shop_id": "1", "name": "Zaragoza", "time_zone": "Europe/Madrid", "currency_code": "EUR",
                   "is_tax_inclusive": True, "contact__addresses": '{"ContactAddress": {"zip": "50001", '
                                                                  '"countryCode": "ES"}}', **shop}}
    return n.RContext(
        tenant_id=T, account_id=A, shops=shops,
        items={"11": {"item_id": "11", "description": "Barra de pan", "custom_sku": "PAN-1", "ean": "84123",
                      "system_sku": "210000000001", "category_id": "5", "time_stamp": "2026-01-01T00:00:00+00:00"},
               "12": {"item_id": "12", "description": "Pan de centeno", "custom_sku": "", "ean": "",
                      "system_sku": "210000000002", "category_id": "5", "unit_of_measure": "kg",
                      "time_stamp": "2026-01-01T00:00:00+00:00", "archived": True}},
        categories={"5": {"category_id": "5", "name": "Panadería"}},
        payment_types={"1": {"payment_type_id": "1", "name": "Efectivo", "code": "CASH", "type": "cash"},
                       "2": {"payment_type_id": "2", "name": "Tarjeta de crédito", "code": "CREDIT",
                             "type": "credit card"},
                       "3": {"payment_type_id": "3", "name": "Contactless", "code": "CTLS", "type": "credit card"}},
        employees={"7": {"employee_id": "7", "first_name": "Lucía", "last_name": "Gil"}},
        registers={"2": {"register_id": "2", "name": "Caja 2"}},
        pseudonymize=lambda v: None if v in (None, "") else f"h:{v}",
    )


def line(line_id: str, item: str, qty: str, subtotal: str, total: str, tax: str, line_disc: str = "0",
         tx_disc: str = "0", parent: str = "0", price: str = "1.10") -> dict[str, Any]:
    return {"sale_line_id": line_id, "item_id": item, "unit_quantity": D(qty), "unit_price": D(price),
            "calc_subtotal": D(subtotal), "calc_line_discount": D(line_disc), "calc_transaction_discount": D(tx_disc),
            "calc_tax1": D(tax), "calc_tax2": D(0), "calc_total": D(total), "parent_sale_line_id": parent}


def sale(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sale_id": "1001", "shop_id": "1", "completed": True, "voided": False, "archived": False,
        "create_time": "2026-03-03T10:00:00+00:00", "complete_time": "2026-03-03T10:01:05+00:00",
        "time_stamp": "2026-03-03T10:01:05+00:00", "calc_total": D("6.34"), "employee_id": "7",
        "register_id": "2", "ticket_number": "2603030001", "customer_id": "0", "_dlt_load_id": "L1",
        "sale_lines": [
            line("1", "11", "3", "3.30", "2.64", "0.24", line_disc="0.33", tx_disc="0.33"),
            line("2", "12", "0.532", "2.20", "2.20", "0.08", price="4.14"),
            {"sale_line_id": "3", "item_id": "0", "unit_quantity": D(1), "calc_subtotal": D("1.50"),
             "calc_total": D("1.50"), "calc_tax1": D(0), "calc_tax2": D(0), "parent_sale_line_id": "0",
             "note": '{"note": "Servicio a domicilio"}'},
        ],
        "sale_payments": [
            {"sale_payment_id": "90", "amount": D("6.34"), "tip_amount": D(0), "archived": True,
             "payment_type_id": "2"},
            {"sale_payment_id": "91", "amount": D("6.34"), "tip_amount": D("0.50"), "archived": False,
             "payment_type_id": "3"},
        ],
    }
    return base | over


def test_completed_sale_fields() -> None:
    batch = n.normalize(ctx(), [sale()])
    [tx] = batch.transactions
    assert tx["id"] == canonical_id(T, "lightspeed_r", "sale", "1001")
    assert (tx["transaction_type"], tx["status"], tx["refunded_transaction_id"]) == ("sale", "completed", None)
    assert tx["subtotal"] == D("5.50") and tx["discount_amount"] == D("0.66")
    assert tx["tax_amount"] == D("0.32") and tx["service_charge_amount"] == D("1.50")
    assert tx["tip_amount"] == D("0.50") and tx["total_amount"] == D("6.84")  # calc_total + tip
    assert tx["items_quantity"] == D("3.532") and tx["currency"] == "EUR"
    assert tx["payment_method"] == "contactless", "the archived (declined) card attempt is no tender"
    assert tx["business_date"] == date(2026, 3, 3)
    assert tx["transaction_date"] == datetime(2026, 3, 3, 10, 1, 5, tzinfo=UTC)
    assert (tx["cashier_name"], tx["device_name"], tx["receipt_number"]) == ("Lucía Gil", "Caja 2", "2603030001")
    assert tx["customer_ref"] is None and tx["source_load_id"] == "L1"
    assert [t["pos_tender_id"] for t in batch.tenders] == ["91"]
    [tender] = batch.tenders
    assert (tender["amount"], tender["tip_amount"], tender["method"]) == (D("6.34"), D("0.50"), "contactless")
    assert [i["pos_line_id"] for i in batch.items] == ["1", "2"], "the fee line is a service charge, not an item"
    bread, rye = batch.items
    assert (bread["product_sku"], bread["category"], bread["unit"]) == ("PAN-1", "Panadería", None)
    assert (bread["gross_amount"], bread["discount_amount"], bread["tax_amount"], bread["line_total"]) == \
        (D("3.30"), D("0.66"), D("0.24"), D("2.64"))
    assert (rye["quantity"], rye["unit"], rye["product_sku"]) == (D("0.532"), "kg", "210000000002")


def test_return_is_a_positive_refund_linked_to_its_sale() -> None:
    ret = sale(sale_id="2002", calc_total=D("-2.20"), _parent_sale_id="1001",
               complete_time="2026-03-29T22:30:00+00:00", time_stamp="2026-03-29T22:30:00+00:00",
               sale_lines=[line("21", "12", "-0.532", "-2.20", "-2.20", "-0.08", parent="2")],
               sale_payments=[{"sale_payment_id": "95", "amount": D("-2.20"), "tip_amount": D(0), "archived": False,
                               "payment_type_id": "1"}])
    batch = n.normalize(ctx(), [ret])
    [tx] = batch.transactions
    assert tx["id"] == canonical_id(T, "lightspeed_r", "return", "2002")
    assert (tx["transaction_type"], tx["status"]) == ("refund", "completed")
    assert tx["refunded_transaction_id"] == canonical_id(T, "lightspeed_r", "sale", "1001")
    assert tx["total_amount"] == D("2.20") and tx["tax_amount"] == D("0.08") and tx["items_quantity"] == D("0.532")
    assert tx["business_date"] == date(2026, 3, 30), "00:30 in Madrid after the spring-forward (UTC+2)"
    assert batch.items[0]["quantity"] == D("0.532") and batch.items[0]["line_total"] == D("2.20")
    assert batch.tenders == []
    pending = n.normalize(ctx(), [ret | {"completed": False, "sale_payments": []}]).transactions[0]
    assert pending["status"] == "pending"


def test_refunded_tip_counts_in_the_refund() -> None:
    ret = sale(sale_id="2003", calc_total=D("-6.34"), _parent_sale_id="1001",
               sale_lines=[line("31", "11", "-3", "-2.64", "-2.64", "-0.24", parent="1")],
               sale_payments=[{"sale_payment_id": "96", "amount": D("-6.34"), "tip_amount": D("-0.50"),
                               "archived": False, "payment_type_id": "3"}])
    [tx] = n.normalize(ctx(), [ret]).transactions
    assert tx["total_amount"] == D("6.84") and tx["tip_amount"] == D("0.50")


def test_void_archived_and_string_values() -> None:
    voided = sale(sale_id="3003", completed="false", voided="true",
                  sale_payments=[{"sale_payment_id": "99", "amount": "6.34", "tip_amount": "0", "archived": "true",
                                  "payment_type_id": "2"}])
    batch = n.normalize(ctx(), [voided, sale(sale_id="4004", archived="true")])
    assert [(t["pos_transaction_id"], t["transaction_type"], t["status"]) for t in batch.transactions] == \
        [("3003", "void", "voided")]
    assert batch.tenders == [], "a void has no tender"
    assert n.row_ids(ctx(), [sale(sale_id="4004")]) == [canonical_id(T, "lightspeed_r", "sale", "4004"),
                                                        canonical_id(T, "lightspeed_r", "return", "4004")]
    as_text = sale(calc_total="6.34", completed="true", sale_lines=[
        {k: (str(v) if isinstance(v, Decimal) else v) for k, v in line("1", "11", "3", "3.30", "2.64", "0.24",
                                                                       line_disc="0.33", tx_disc="0.33").items()}])
    [tx] = n.normalize(ctx(), [as_text]).transactions
    assert tx["status"] == "completed" and tx["discount_amount"] == D("0.66") and tx["total_amount"] == D("6.84")


def test_tax_exclusive_shop_totals_include_the_added_tax() -> None:
    s = sale(calc_total=D("3.56"), sale_lines=[line("1", "11", "3", "3.30", "3.56", "0.26")],
             sale_payments=[{"sale_payment_id": "5", "amount": D("3.56"), "tip_amount": D("0.60"), "archived": False,
                             "payment_type_id": "1"}])
    c = ctx(is_tax_inclusive=False, currency_code="USD", time_zone="America/New_York")
    [tx] = n.normalize(c, [s]).transactions
    assert (tx["subtotal"], tx["tax_amount"], tx["total_amount"]) == (D("3.30"), D("0.26"), D("4.16"))
    assert tx["currency"] == "USD" and tx["payment_method"] == "cash"
    assert tx["business_date"] == date(2026, 3, 3)
    assert n.normalize_locations(c, datetime(2026, 3, 4, tzinfo=UTC))[0]["prices_include_tax"] is False


def test_products_and_locations() -> None:
    c = ctx()
    items = [c.items["11"] | {"prices": [{"use_type": "MSRP", "amount": D("1.50")},
                                         {"use_type": "Default", "amount": D("1.10")}], "create_time": None},
             c.items["12"] | {"prices": [{"use_type": "Default", "amount": D("4.14")}]}]
    rows = n.normalize_products(c, items)
    assert [(r["pos_item_id"], r["sku"], r["price"], r["category"], r["is_archived"]) for r in rows] == [
        ("11", "PAN-1", D("1.10"), "Panadería", False), ("12", "210000000002", D("4.14"), "Panadería", True)]
    assert n.item_sku({"custom_sku": "", "ean": "8412345678901", "system_sku": "2100"}) == "8412345678901"
    [loc] = n.normalize_locations(c, datetime(2026, 3, 4, tzinfo=UTC))
    assert (loc["location_id"], loc["timezone"], loc["country"], loc["postal_code"], loc["prices_include_tax"]) == \
        ("1", "Europe/Madrid", "ES", "50001", True)
