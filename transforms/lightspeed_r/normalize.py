"""Lightspeed Retail R-Series (API V3) raw → canonical rows (pure).

R-Series' model, as we read it (providers.md §3B; raw rows as ``dlt_sources.lightspeed_r`` loads
them: snake_case columns, lines and payments re-attached as ``sale_lines`` / ``sale_payments``):

* a **sale**: ``voided`` → a void row (counted nowhere else); ``completed`` → a completed sale;
  otherwise pending; ``archived`` sales (deleted) count nowhere;
* a **return** is a sale of its own whose lines carry negative ``unit_quantity`` and point at the
  sold line (``parent_sale_line_id``); the source writes the sold sale's id as
  ``_parent_sale_id``: a refund row (positive amounts) linked to that sale, on its own date;
* amounts are exact decimals (strings in the API) and never recomputed from ``unitPrice ×
  unitQuantity``: gross = Σ ``calc_subtotal`` of the item lines, discounts = Σ
  ``calc_line_discount`` + ``calc_transaction_discount`` (sale-level discounts allocated to the
  lines), tax = Σ ``calc_tax1`` + ``calc_tax2`` (included in tax-inclusive shops, added in the
  others), service charge = lines without item (``item_id`` 0), total = the sale's ``calc_total``
  plus tips;
* tenders: the sale payments that are not ``archived`` (an archived payment is a cancelled or
  declined attempt); ``amount`` excludes the tip, ``tip_amount`` is the tip;
* business date: the shop-local date (the shop's ``time_zone``) of ``complete_time`` (else
  ``create_time``);
* products: items with their SKU (``custom_sku``, else ``ean``, else ``system_sku``), their
  ``Default`` price, their category.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from transforms.canonical import CanonicalBatch, canonical_id
from transforms.money import from_major, quantity
from transforms.times import as_utc, local_date
from transforms.times import zone as zone_of

PROVIDER = "lightspeed_r"
Row = dict[str, Any]
ZERO = Decimal("0.00")
NO_ID = ("", "0", None)


def truthy(value: Any) -> bool:
    """Booleans as loaded, or R-Series' strings (``"false"`` is not true)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def dec(value: Any) -> Decimal:
    return quantity(value)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass
class RContext:
    tenant_id: str
    account_id: str
    shops: dict[str, Row]
    items: dict[str, Row] = field(default_factory=dict)
    categories: dict[str, Row] = field(default_factory=dict)
    payment_types: dict[str, Row] = field(default_factory=dict)
    employees: dict[str, Row] = field(default_factory=dict)
    registers: dict[str, Row] = field(default_factory=dict)
    pseudonymize: Callable[[str | None], str | None] = lambda value: value
    # recorded product versions by pos_item_id: a line is named as its item was when sold
    versions: dict[str, list[Row]] = field(default_factory=dict)

    def currency(self, shop_id: str) -> str:
        return (self.shops.get(shop_id) or {}).get("currency_code") or "EUR"

    def zone(self, shop_id: str) -> ZoneInfo:
        tz = (self.shops.get(shop_id) or {}).get("time_zone") or "UTC"
        return zone_of(tz)  # read once per process (transforms.times.zone is cached)

    def sale_id(self, sale_id: Any) -> str:
        return canonical_id(self.tenant_id, PROVIDER, "sale", str(sale_id))

    def return_id(self, sale_id: Any) -> str:
        return canonical_id(self.tenant_id, PROVIDER, "return", str(sale_id))

    def item_as_sold(self, item_id: str, when: datetime | None) -> Row:
        """The item as it was at ``when``: the raw item when unchanged since, else the recorded
        version valid then (names and SKUs of a sold line never change with later edits)."""
        raw = self.items.get(item_id) or {}
        changed = as_utc(raw.get("time_stamp"))
        if when is None or changed is None or changed <= when:
            return {"name": raw.get("description"), "sku": item_sku(raw), "category": self.category(raw)}
        for v in self.versions.get(item_id, ()):
            if v["valid_from"] is not None and v["valid_from"] <= when and (v["valid_to"] is None or when < v["valid_to"]):
                return {"name": v["name"], "sku": v["sku"], "category": v["category"]}
        return {"name": raw.get("description"), "sku": item_sku(raw), "category": self.category(raw)}

    def category(self, item: Row) -> str | None:
        return (self.categories.get(str(item.get("category_id") or "")) or {}).get("name")


def item_sku(item: Row) -> str | None:
    for key in ("custom_sku", "ean", "system_sku"):
        value = item.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def is_return(sale: Row) -> bool:
    return bool(sale.get("_parent_sale_id")) or any(
        str(line.get("parent_sale_line_id") or "0") != "0" for line in sale.get("sale_lines") or [])


def _method(ctx: RContext, payment: Row) -> str:
    kind = ctx.payment_types.get(str(payment.get("payment_type_id") or "")) or _json(payment.get("payment_type")) or {}
    if not isinstance(kind, dict):
        kind = {}
    code, name, type_ = (str(kind.get(k) or "").lower() for k in ("code", "name", "type"))
    if type_ == "cash" or code == "cash" or "efectivo" in name or "cash" in name:
        return "cash"
    if code == "ctls" or "contactless" in name:
        return "contactless"
    if code == "mobile" or any(w in name for w in ("móvil", "movil", "mobile", "wallet")):
        return "mobile"
    if type_ in ("credit card", "debit card", "credit account") or "card" in name or "tarjeta" in name:
        return "card"
    return "other"


def _is_fee(line: Row) -> bool:
    return str(line.get("item_id") or "0") in NO_ID


def _note(line: Row) -> str | None:
    note = _json(line.get("note"))
    if isinstance(note, dict):
        return note.get("note")
    return line.get("note__note")


def normalize_sale(ctx: RContext, sale: Row) -> CanonicalBatch:
    shop = str(sale.get("shop_id") or "")
    currency = ctx.currency(shop)
    ret = is_return(sale)
    sign = Decimal(-1) if ret else Decimal(1)
    completed, voided = truthy(sale.get("completed")), truthy(sale.get("voided"))
    if ret:
        kind, status, tx_id = "refund", "completed" if completed else "pending", ctx.return_id(sale["sale_id"])
    elif voided:
        kind, status, tx_id = "void", "voided", ctx.sale_id(sale["sale_id"])
    else:
        kind, status, tx_id = "sale", "completed" if completed else "pending", ctx.sale_id(sale["sale_id"])
    when = as_utc(sale.get("complete_time") or sale.get("create_time"))
    lines = sale.get("sale_lines") or []
    items = [ln for ln in lines if not _is_fee(ln)]
    fees = [ln for ln in lines if _is_fee(ln)]
    payments = [p for p in sale.get("sale_payments") or [] if not truthy(p.get("archived"))]
    methods = {_method(ctx, p) for p in payments}

    def money(value: Any) -> Decimal:
        return from_major(sign * dec(value), currency)

    tips = sum((money(p.get("tip_amount")) for p in payments), ZERO)
    employee = ctx.employees.get(str(sale.get("employee_id") or "")) or {}
    register = ctx.registers.get(str(sale.get("register_id") or "")) or {}
    customer = sale.get("customer_id")
    business_date = local_date(when, ctx.zone(shop))
    transaction: Row = {
        "id": tx_id,
        "tenant_id": ctx.tenant_id,
        "pos_account_id": ctx.account_id,
        "pos_provider": PROVIDER,
        "location_id": shop,
        "pos_transaction_id": str(sale["sale_id"]),
        "transaction_type": kind,
        "status": status,
        "refunded_transaction_id": ctx.sale_id(sale["_parent_sale_id"]) if ret and sale.get("_parent_sale_id") else None,
        "transaction_date": when,
        "business_date": business_date,
        "subtotal": sum((money(ln.get("calc_subtotal")) for ln in items), ZERO),
        "discount_amount": sum((money(dec(ln.get("calc_line_discount")) + dec(ln.get("calc_transaction_discount")))
                                for ln in items), ZERO),
        "service_charge_amount": sum((money(ln.get("calc_total")) for ln in fees), ZERO),
        "tax_amount": sum((money(dec(ln.get("calc_tax1")) + dec(ln.get("calc_tax2"))) for ln in items), ZERO),
        "tip_amount": tips,
        "total_amount": money(sale.get("calc_total")) + tips,
        "currency": currency,
        "items_quantity": sum((sign * dec(ln.get("unit_quantity")) for ln in items), Decimal(0)),
        "payment_method": (methods.pop() if len(methods) == 1 else "split") if methods else None,
        "card_brand": None,
        "card_last_four": None,
        "cashier_id": str(sale.get("employee_id")) if sale.get("employee_id") not in NO_ID else None,
        "cashier_name": " ".join(p for p in (employee.get("first_name"), employee.get("last_name")) if p) or None,
        "device_id": str(sale.get("register_id")) if sale.get("register_id") not in NO_ID else None,
        "device_name": register.get("name"),
        "receipt_number": sale.get("ticket_number"),
        "customer_ref": ctx.pseudonymize(str(customer)) if customer not in NO_ID else None,
        "customer_name": None,
        "customer_email": ctx.pseudonymize(sale.get("customer_email")),
        "customer_phone": ctx.pseudonymize(sale.get("customer_phone")),
        "source_version": str(sale.get("time_stamp") or ""),
        "source_updated_at": as_utc(sale.get("time_stamp")),
        "source_load_id": sale.get("_dlt_load_id"),
    }
    batch = CanonicalBatch(transactions=[transaction])
    for n, line in enumerate(items):
        item_id = str(line.get("item_id"))
        item = ctx.item_as_sold(item_id, when)
        raw_item = ctx.items.get(item_id) or {}
        qty = sign * dec(line.get("unit_quantity"))
        gross = money(line.get("calc_subtotal"))
        batch.items.append({
            "id": canonical_id(tx_id, "line", line.get("sale_line_id") or n),
            "transaction_id": tx_id,
            "tenant_id": ctx.tenant_id,
            "pos_account_id": ctx.account_id,
            "pos_provider": PROVIDER,
            "location_id": shop,
            "business_date": business_date,
            "transaction_type": kind,
            "line_number": n + 1,
            "pos_line_id": str(line.get("sale_line_id")),
            "pos_item_id": item_id,
            "pos_parent_item_id": None,
            "product_name": item.get("name") or "(unknown item)",
            "variation_name": None,
            "product_sku": item.get("sku"),
            "category": item.get("category"),
            "quantity": qty,
            "unit": "kg" if raw_item.get("unit_of_measure") == "kg" else None,
            "unit_price": from_major(dec(line.get("unit_price")), currency),
            "gross_amount": gross,
            "discount_amount": money(dec(line.get("calc_line_discount")) + dec(line.get("calc_transaction_discount"))),
            "tax_amount": money(dec(line.get("calc_tax1")) + dec(line.get("calc_tax2"))),
            "line_total": money(line.get("calc_total")),
            "currency": currency,
            "modifiers": None,
            "mapped_product_id": None,
            "is_mapped": False,
        })
    if kind == "sale":
        for n, p in enumerate(payments):
            batch.tenders.append({
                "id": canonical_id(tx_id, "tender", p.get("sale_payment_id") or n),
                "transaction_id": tx_id,
                "tenant_id": ctx.tenant_id,
                "pos_provider": PROVIDER,
                "pos_tender_id": str(p.get("sale_payment_id")),
                "method": _method(ctx, p),
                "card_brand": None,
                "card_last_four": None,
                "entry_method": None,
                "amount": from_major(dec(p.get("amount")), currency),  # excludes the tip
                "tip_amount": from_major(dec(p.get("tip_amount")), currency),
                "currency": currency,
                "status": "completed",
            })
    return batch


def normalize(ctx: RContext, sales: Iterable[Row]) -> CanonicalBatch:
    batch = CanonicalBatch()
    for sale in sales:
        if truthy(sale.get("archived")):
            continue  # a deleted sale counts nowhere (its rows go: see row_ids)
        batch.extend(normalize_sale(ctx, sale))
    return batch


def row_ids(ctx: RContext, sales: Iterable[Row]) -> list[str]:
    """Canonical ids the sales may own (an archived sale's row disappears)."""
    out = []
    for sale in sales:
        out += [ctx.sale_id(sale["sale_id"]), ctx.return_id(sale["sale_id"])]
    return out


def normalize_products(ctx: RContext, items: Iterable[Row]) -> list[Row]:
    currency = next(iter(sorted({ctx.currency(s) for s in ctx.shops} or {"EUR"})))
    out = []
    for item in items:
        prices = item.get("prices") or []
        default = next((p for p in prices if p.get("use_type") == "Default"), prices[0] if prices else None)
        seen = as_utc(item.get("time_stamp"))
        out.append({
            "tenant_id": ctx.tenant_id,
            "pos_account_id": ctx.account_id,
            "pos_provider": PROVIDER,
            "pos_item_id": str(item["item_id"]),
            "pos_parent_item_id": None,
            "name": item.get("description"),
            "variation_name": None,
            "category": ctx.category(item),
            "sku": item_sku(item),
            "price": from_major(dec(default.get("amount")), currency) if default else None,
            "currency": currency,
            "is_deleted": False,
            "is_archived": truthy(item.get("archived")),
            "source_version": str(item.get("time_stamp") or ""),
            "valid_from": seen,
            "first_seen_at": as_utc(item.get("create_time")) or seen,
            "last_seen_at": seen,
        })
    return out


def normalize_locations(ctx: RContext, now: datetime) -> list[Row]:
    rows = []
    for shop_id, shop in ctx.shops.items():
        address = _json(shop.get("contact__addresses")) or {}
        address = address.get("ContactAddress") if isinstance(address, dict) else None
        address = (address[0] if address else {}) if isinstance(address, list) else (address or {})
        rows.append({
            "tenant_id": ctx.tenant_id, "pos_account_id": ctx.account_id, "pos_provider": PROVIDER,
            "location_id": shop_id, "name": shop.get("name"), "timezone": shop.get("time_zone"),
            "currency": ctx.currency(shop_id), "prices_include_tax": truthy(shop.get("is_tax_inclusive", True)),
            "country": address.get("countryCode") or address.get("country"), "updated_at": now,
            "postal_code": address.get("zip"),
        })
    return rows
