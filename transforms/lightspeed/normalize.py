"""Lightspeed Retail (X-Series, API 2.0) raw → canonical rows (pure).

Lightspeed's model, as we read it (providers.md §3A):
* a sale without ``return_for``: CLOSED → completed sale, VOIDED → void row, other states
  (SAVED, LAYBY, …) → pending; soft-deleted sales (``deleted_at``) count nowhere;
* a **return** is a new sale with ``return_for`` = the original sale and negative lines and
  payments: it becomes a refund row (positive amounts) linked to the original, on its own date;
* amounts are tax-exclusive (``total_price``, ``total_tax``, up to 5 decimals; exact decimals in
  raw): a line's tax-inclusive gross is ``total_price + total_tax`` plus its discount made
  tax-inclusive (``total_discount × (1 + rate)``), each rounded half-up to the cent once; the
  sale's total is ``total_price + total_tax`` (tips and surcharges are adjustments inside it);
* voided lines (``status`` VOIDED) stay in raw and are excluded;
* business date: the outlet-local date of ``sale_date``;
* cashier = the sale's ``user_id`` (the user's ``display_name``: staff names stay readable), device
  = its ``register_id`` (the register's ``name``); customer = ``customer_id`` looked up in
  ``/customers``: its ``name`` (else first and last name), ``email`` and ``phone`` (else
  ``mobile``), pseudonymised like every customer field (clear for a tenant that opted in);
* X-Series lines have no modifiers: a till folds add-ons into the line price and names them in the
  line ``note`` (``+ Leche de avena, + Extra shot``); such a note becomes the line's modifiers
  (names and quantity 1, no price of their own: it is in the line's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from transforms.canonical import CanonicalBatch, canonical_id
from transforms.money import from_major, quantity
from transforms.pii import full_name
from transforms.times import as_utc, local_date
from transforms.times import zone as zone_of

# The raw columns the normaliser reads (and the builder's keys), per raw table of a sale: the builder
# reads no others (turning unused values into Python objects cost more than normalising the used
# ones). A column read here must be listed there: a test runs the normaliser over rows that record
# every key it reads.
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "sales": ("id", "outlet_id", "register_id", "user_id", "customer_id", "status", "return_for", "sale_date",
              "created_at", "updated_at", "deleted_at", "version", "invoice_number", "receipt_number", "total_price",
              "total_tax", "_dlt_load_id"),
    "sales__line_items": ("id", "product_id", "quantity", "status", "tax_id", "total_price", "total_tax",
                          "total_discount", "note"),
    "sales__payments": ("id", "amount", "retailer_payment_type_id", "name"),
    "sales__adjustments": ("type", "adjustment_type", "value"),
}

PROVIDER = "lightspeed"
Row = dict[str, Any]
STATUS = {"CLOSED": ("sale", "completed"), "VOIDED": ("void", "voided")}
REFUND_STATUS = {"CLOSED": "completed", "VOIDED": "failed"}
ZERO = Decimal("0.00")
MAX_REMEMBERED = 1 << 16  # distinct line amounts a context keeps rounded


@dataclass
class LightspeedContext:
    tenant_id: str
    account_id: str
    outlets: dict[str, Row]
    tax_rates: dict[str, Decimal] = field(default_factory=dict)  # tax id -> rate (0.10 = 10 %)
    products: dict[str, Row] = field(default_factory=dict)
    payment_types: dict[str, Row] = field(default_factory=dict)
    users: dict[str, Row] = field(default_factory=dict)
    registers: dict[str, Row] = field(default_factory=dict)
    customers: dict[str, Row] = field(default_factory=dict)
    pseudonymize: Callable[[str | None], str | None] = lambda value: value
    pseudonymize_email: Callable[[str | None], str | None] = lambda value: value
    pseudonymize_phone: Callable[[str | None], str | None] = lambda value: value
    # the product versions already recorded (pos.pos_products rows by pos_item_id): a line takes
    # the name its product had when sold, since X-Series lines carry no name of their own
    versions: dict[str, list[Row]] = field(default_factory=dict)
    # a build rounds the same few prices, taxes and discounts (and names the same few payment
    # types) again and again: each distinct one once (the values are immutable Decimals and texts)
    _line_amounts: dict[tuple[Any, ...], dict[str, Decimal]] = field(default_factory=dict)
    _methods: dict[tuple[Any, Any], str] = field(default_factory=dict)

    def product_as_sold(self, product_id: str | None, when: datetime | None) -> Row:
        """The product as it was at ``when``: the raw product when it has not changed since,
        else the recorded version valid then, else (nothing recorded) the raw product."""
        raw = self.products.get(product_id or "") or {}
        changed = as_utc(raw.get("updated_at"))
        if when is None or changed is None or changed <= when:
            return raw
        for v in self.versions.get(product_id or "", ()):
            if v["valid_from"] is not None and v["valid_from"] <= when and (v["valid_to"] is None or when < v["valid_to"]):
                return {"name": v["name"], "variant_name": v["variation_name"], "sku": v["sku"],
                        "type__name": v["category"], "variant_parent_id": v["pos_parent_item_id"]}
        return raw

    def currency(self, outlet_id: str) -> str:
        return (self.outlets.get(outlet_id) or {}).get("currency") or "EUR"

    def zone(self, outlet_id: str) -> ZoneInfo:
        tz = (self.outlets.get(outlet_id) or {}).get("time_zone") or "UTC"
        return zone_of(tz)  # read once per process (transforms.times.zone is cached)

    def sale_id(self, sale_id: str) -> str:
        return canonical_id(self.tenant_id, PROVIDER, "sale", sale_id)


@lru_cache(maxsize=1 << 12)
def note_modifiers(note: str | None) -> str | None:
    """The modifiers a line ``note`` names (``+ A, + B``; JSON like the other providers'), else None."""
    parts = [p.strip() for p in (note or "").split(",")]
    if not parts or not all(p.startswith("+") and p[1:].strip() for p in parts):
        return None
    return json.dumps([{"name": p[1:].strip(), "quantity": "1", "price": None, "pos_modifier_id": None}
                       for p in parts], ensure_ascii=False)


def customer_name(customer: Row) -> str | None:
    """The customer's ``name``, else first and last name (as the source stored them)."""
    if customer.get("name"):
        return str(customer["name"])
    return full_name(customer.get("first_name"), customer.get("last_name"))


def _method(ctx: LightspeedContext, payment: Row) -> str:
    key = (payment.get("retailer_payment_type_id"), payment.get("name"))
    method = ctx._methods.get(key)
    if method is None:
        method = ctx._methods[key] = payment_method_of(ctx, payment)
    return method


def payment_method_of(ctx: LightspeedContext, payment: Row) -> str:
    kind = ctx.payment_types.get(payment.get("retailer_payment_type_id") or "") or {}
    name = (kind.get("name") or payment.get("name") or "").lower()
    if kind.get("type_id") == 1 or "efectivo" in name or "cash" in name:
        return "cash"
    if "contactless" in name:
        return "contactless"
    if any(w in name for w in ("móvil", "movil", "mobile", "wallet")):
        return "mobile"
    return "card"


def _line_amounts(ctx: LightspeedContext, line: Row, currency: str, sign: Decimal) -> dict[str, Decimal]:
    """The line's rounded amounts (a shared dict: read it, never change it)."""
    key = (line.get("tax_id"), line.get("total_price"), line.get("total_tax"), line.get("total_discount"),
           currency, sign)
    amounts = ctx._line_amounts.get(key)
    if amounts is None:
        if len(ctx._line_amounts) >= MAX_REMEMBERED:  # bounded: an odd catalog must not grow it forever
            ctx._line_amounts.clear()
        amounts = ctx._line_amounts[key] = _round_line(ctx, line, currency, sign)
    return amounts


def _round_line(ctx: LightspeedContext, line: Row, currency: str, sign: Decimal) -> dict[str, Decimal]:
    rate = ctx.tax_rates.get(line.get("tax_id") or "", Decimal(0))
    net = from_major(sign * (Decimal(line.get("total_price") or 0) + Decimal(line.get("total_tax") or 0)), currency)
    tax = from_major(sign * Decimal(line.get("total_tax") or 0), currency)
    discount = from_major(sign * Decimal(line.get("total_discount") or 0) * (1 + rate), currency)
    return {"net": net, "tax": tax, "discount": discount, "gross": net + discount}


def _adjustments(sale: Row, kind: str, currency: str, sign: Decimal) -> Decimal:
    return from_major(sum((sign * Decimal(a.get("value") or 0) for a in sale.get("adjustments") or []
                           if (a.get("type") or a.get("adjustment_type")) == kind), Decimal(0)), currency)


def normalize_sale(ctx: LightspeedContext, sale: Row) -> CanonicalBatch:
    outlet = sale.get("outlet_id") or ""
    currency = ctx.currency(outlet)
    is_return = bool(sale.get("return_for"))
    sign = Decimal(-1) if is_return else Decimal(1)
    if is_return:
        kind, status = "refund", REFUND_STATUS.get(sale.get("status") or "", "pending")
        tx_id = canonical_id(ctx.tenant_id, PROVIDER, "return", sale["id"])
    else:
        kind, status = STATUS.get(sale.get("status") or "", ("sale", "pending"))
        tx_id = ctx.sale_id(sale["id"])
    when = as_utc(sale.get("sale_date") or sale.get("created_at"))
    lines = [line for line in sale.get("line_items") or [] if line.get("status") != "VOIDED"]
    amounts = [_line_amounts(ctx, line, currency, sign) for line in lines]
    payments = sale.get("payments") or []
    methods = {_method(ctx, p) for p in payments}
    user = ctx.users.get(sale.get("user_id") or "") or {}
    register = ctx.registers.get(sale.get("register_id") or "") or {}
    customer = ctx.customers.get(sale.get("customer_id") or "") or {}
    transaction: Row = {
        "id": tx_id,
        "tenant_id": ctx.tenant_id,
        "pos_account_id": ctx.account_id,
        "pos_provider": PROVIDER,
        "location_id": outlet,
        "pos_transaction_id": sale["id"],
        "transaction_type": kind,
        "status": status,
        "refunded_transaction_id": ctx.sale_id(sale["return_for"]) if is_return else None,
        "transaction_date": when,
        "business_date": local_date(when, ctx.zone(outlet)),
        "subtotal": sum((a["gross"] for a in amounts), ZERO),
        "discount_amount": sum((a["discount"] for a in amounts), ZERO),
        "service_charge_amount": _adjustments(sale, "SURCHARGE", currency, sign),
        "tax_amount": sum((a["tax"] for a in amounts), ZERO),
        "tip_amount": _adjustments(sale, "TIP", currency, sign),
        "total_amount": from_major(sign * (Decimal(sale.get("total_price") or 0) + Decimal(sale.get("total_tax") or 0)),
                                   currency),
        "currency": currency,
        "items_quantity": sum((sign * quantity(line.get("quantity")) for line in lines), Decimal(0)),
        "payment_method": (methods.pop() if len(methods) == 1 else "split") if methods else None,
        "card_brand": None,
        "card_last_four": None,
        "cashier_id": sale.get("user_id"),
        "cashier_name": user.get("display_name"),
        "device_id": sale.get("register_id"),
        "device_name": register.get("name"),
        "receipt_number": sale.get("receipt_number") or sale.get("invoice_number"),
        "customer_ref": ctx.pseudonymize(sale.get("customer_id")),
        "customer_name": ctx.pseudonymize(customer_name(customer)),
        "customer_email": ctx.pseudonymize_email(customer.get("email")),
        "customer_phone": ctx.pseudonymize_phone(customer.get("phone") or customer.get("mobile")),
        "source_version": str(sale.get("version") or ""),
        "source_updated_at": as_utc(sale.get("updated_at")),
        "source_load_id": sale.get("_dlt_load_id"),
    }
    batch = CanonicalBatch(transactions=[transaction])
    for n, (line, a) in enumerate(zip(lines, amounts, strict=True)):
        product = ctx.product_as_sold(line.get("product_id"), when)
        qty = sign * quantity(line.get("quantity"))
        batch.items.append({
            "id": canonical_id(tx_id, "line", line.get("id") or n),
            "transaction_id": tx_id,
            "tenant_id": ctx.tenant_id,
            "pos_account_id": ctx.account_id,
            "pos_provider": PROVIDER,
            "location_id": outlet,
            "business_date": transaction["business_date"],
            "transaction_type": kind,
            "line_number": n + 1,
            "pos_line_id": line.get("id"),
            "pos_item_id": line.get("product_id"),
            "pos_parent_item_id": product.get("variant_parent_id"),
            "product_name": product.get("name") or "(unknown product)",
            "variation_name": product.get("variant_name"),
            "product_sku": product.get("sku") or None,
            "category": product.get("type__name"),
            "quantity": qty,
            "unit": None,
            "unit_price": (a["gross"] / qty).quantize(Decimal("0.01")) if qty else a["gross"],
            "gross_amount": a["gross"],
            "discount_amount": a["discount"],
            "tax_amount": a["tax"],
            "line_total": a["net"],
            "currency": currency,
            "modifiers": note_modifiers(line.get("note")),
            "mapped_product_id": None,
            "is_mapped": False,
        })
    if not is_return:
        for n, p in enumerate(payments):
            batch.tenders.append({
                "id": canonical_id(tx_id, "tender", p.get("id") or n),
                "transaction_id": tx_id,
                "tenant_id": ctx.tenant_id,
                "pos_provider": PROVIDER,
                "pos_tender_id": p.get("id"),
                "method": _method(ctx, p),
                "card_brand": None,
                "card_last_four": None,
                "entry_method": None,
                "amount": from_major(p.get("amount"), currency),  # includes tips (adjustments) — see tip_amount
                "tip_amount": ZERO,
                "currency": currency,
                "status": "completed",
            })
    return batch


def normalize(ctx: LightspeedContext, sales: Iterable[Row]) -> CanonicalBatch:
    batch = CanonicalBatch()
    for sale in sales:
        if sale.get("deleted_at"):
            continue
        batch.extend(normalize_sale(ctx, sale))
    return batch


def row_ids(ctx: LightspeedContext, sales: Iterable[Row]) -> list[str]:
    """Canonical ids the sales may own (so a soft-deleted sale's row disappears)."""
    out = []
    for sale in sales:
        out.append(ctx.sale_id(sale["id"]))
        out.append(canonical_id(ctx.tenant_id, PROVIDER, "return", sale["id"]))
    return out


def normalize_products(ctx: LightspeedContext, products: Iterable[Row]) -> list[Row]:
    out = []
    for p in products:
        currency = next(iter({o.get("currency") for o in ctx.outlets.values()} or {"EUR"}), "EUR") or "EUR"
        price = p.get("price_including_tax")
        seen = as_utc(p.get("updated_at"))
        out.append({
            "tenant_id": ctx.tenant_id,
            "pos_account_id": ctx.account_id,
            "pos_provider": PROVIDER,
            "pos_item_id": p["id"],
            "pos_parent_item_id": p.get("variant_parent_id"),
            "name": p.get("name"),
            "variation_name": p.get("variant_name"),
            "category": p.get("type__name"),
            "sku": p.get("sku") or None,
            "price": from_major(price, currency) if price is not None else None,
            "currency": currency,
            "is_deleted": p.get("deleted_at") is not None,
            "is_archived": p.get("is_active") is False or p.get("active") is False,  # inactive: not for sale
            "source_version": str(p.get("version") or ""),
            "valid_from": seen,
            "first_seen_at": as_utc(p.get("created_at")) or seen,
            "last_seen_at": seen,
        })
    return out


def normalize_locations(ctx: LightspeedContext, now: datetime) -> list[Row]:
    """The store's outlets (prices include tax unless the outlet displays them exclusive)."""
    return [
        {"tenant_id": ctx.tenant_id, "pos_account_id": ctx.account_id, "pos_provider": PROVIDER, "location_id": oid,
         "name": o.get("name"), "timezone": o.get("time_zone"), "currency": o.get("currency"),
         "prices_include_tax": (o.get("display_prices") or "inclusive") != "exclusive",
         "country": o.get("physical_country_id"), "updated_at": now, "postal_code": o.get("physical_postcode")}
        for oid, o in ctx.outlets.items()
    ]
