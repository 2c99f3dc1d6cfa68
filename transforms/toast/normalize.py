"""Toast raw → canonical rows (pure).

Toast's model, as we read it (providers.md §2):
* one canonical sale per **check** (an order may hold several); deleted orders/checks count
  nowhere; a voided order or check is a void row (status ``voided``), kept but out of totals;
  a check is a completed sale when paid (``paymentStatus`` PAID/CLOSED), else pending;
* money is major-unit doubles — the source keeps their decimal text, rounded half-up to the
  currency's minor unit once, here (:func:`transforms.money.from_major`);
* ``preDiscountPrice`` is the selection's gross (modifiers included), ``price`` its net after
  discounts, ``tax`` its tax (added unless ``taxInclusion`` is INCLUDED); voided selections stay
  in the array and are excluded; modifier prices are already in the parent's price;
* refunds are recorded **in place** on payments (``refund.refundAmount`` + ``tipRefundAmount``,
  on ``refundBusinessDate``) and selections (``refundDetails``): each refunded payment becomes a
  refund row linked to its check;
* business date = Toast's ``businessDate`` (the restaurant day, closeout hour applied);
* cashier = the order's ``server`` (an employee GUID) named by the labor API's employees
  (``chosenName`` else ``firstName lastName``: staff names stay readable); device = the order's
  ``createdDevice.id`` named by the device details API (``posDeviceInfo.deviceName``);
* the check's guest name (``customer.firstName``/``lastName``) is pseudonymised like the other
  customer fields (a keyed hash of the full name; clear for a tenant that opted in).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from transforms.canonical import CanonicalBatch, canonical_id
from transforms.money import from_major, quantity
from transforms.pii import full_name
from transforms.times import as_utc

# The raw columns the normaliser reads (and the builder's keys), per raw table of an order: the builder
# reads no others (turning unused values into Python objects cost more than normalising the used
# ones). A column read here must be listed there: a test runs the normaliser over rows that record
# every key it reads.
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("guid", "_pos_restaurant_guid", "business_date", "opened_date", "closed_date", "modified_date",
               "deleted", "voided", "display_number", "server__guid", "created_device__id", "_dlt_load_id"),
    "orders__checks": ("guid", "display_number", "closed_date", "paid_date", "modified_date", "deleted",
                       "voided", "payment_status", "customer__guid", "customer__first_name", "customer__last_name",
                       "customer__email", "customer__phone"),
    "orders__checks__selections": ("guid", "display_name", "item__guid", "item_group__guid", "quantity",
                                   "unit_of_measure", "pre_discount_price", "price", "tax", "tax_inclusion", "voided",
                                   "refund_details__refund_amount", "refund_details__tax_refund_amount"),
    "orders__checks__selections__modifiers": ("display_name", "item__guid", "price", "quantity"),
    "orders__checks__payments": ("guid", "type", "amount", "tip_amount", "payment_status", "card_type",
                                 "card_entry_mode", "last4_digits", "refund__refund_amount",
                                 "refund__tip_refund_amount", "refund__refund_date", "refund__refund_business_date"),
    "orders__checks__applied_service_charges": ("charge_amount",),
}

PROVIDER = "toast"
Row = dict[str, Any]
PAID = {"PAID", "CLOSED"}
CARD_ENTRY_CONTACTLESS = {"CONTACTLESS", "NFC", "APPLE_PAY", "GOOGLE_PAY"}


@dataclass
class ToastContext:
    tenant_id: str
    account_id: str
    restaurants: dict[str, Row]  # restaurant guid -> raw restaurant row
    menu_items: dict[str, Row] = field(default_factory=dict)  # item guid -> raw menu item row
    pseudonymize: Callable[[str | None], str | None] = lambda value: value
    pseudonymize_email: Callable[[str | None], str | None] = lambda value: value
    pseudonymize_phone: Callable[[str | None], str | None] = lambda value: value
    employees: dict[str, Row] = field(default_factory=dict)  # employee guid -> raw employee row
    devices: dict[str, Row] = field(default_factory=dict)  # POS device id -> raw device row
    # what a build looks up again and again (every check of an order, the stale ids then the rows)
    _check_ids: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _currencies: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _people: dict[tuple[str, str], str | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    def currency(self, restaurant_guid: str) -> str:
        found = self._currencies.get(restaurant_guid)
        if found is None:
            found = (self.restaurants.get(restaurant_guid) or {}).get("general__currency_code") or "USD"
            self._currencies[restaurant_guid] = found
        return found

    def check_id(self, check_guid: str) -> str:
        found = self._check_ids.get(check_guid)
        if found is None:
            found = self._check_ids[check_guid] = canonical_id(self.tenant_id, PROVIDER, "check", check_guid)
        return found

    def cashier_name(self, server_guid: str | None) -> str | None:
        """:func:`employee_name` of the order's server (None: no such employee)."""
        key = ("employee", server_guid or "")
        if key not in self._people:
            self._people[key] = employee_name(self.employees.get(server_guid or "") or {})
        return self._people[key]

    def device_name(self, device_id: str | None) -> str | None:
        key = ("device", device_id or "")
        if key not in self._people:
            self._people[key] = (self.devices.get(device_id or "") or {}).get("pos_device_info__device_name") or None
        return self._people[key]


def business_date(value: Any) -> date | None:
    """Toast's ``businessDate`` is an int ``yyyyMMdd``."""
    if value in (None, "", 0):
        return None
    text = str(int(value))
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def employee_name(employee: Row) -> str | None:
    """How the till shows an employee: the chosen name (else the first name) and the last name."""
    first = employee.get("chosen_name") or employee.get("first_name")
    return full_name(first, employee.get("last_name"))


def _guest_name(check: Row) -> str | None:
    return full_name(check.get("customer__first_name"), check.get("customer__last_name"))


def _method(payment: Row) -> str:
    kind = payment.get("type")
    if kind == "CASH":
        return "cash"
    if kind == "CREDIT":
        return "contactless" if (payment.get("card_entry_mode") or "") in CARD_ENTRY_CONTACTLESS else "card"
    return "other"


def _live_payments(check: Row) -> list[Row]:
    return [p for p in check.get("payments") or [] if p.get("payment_status") != "VOIDED"]


def _selections(check: Row) -> list[Row]:
    return [s for s in check.get("selections") or [] if not s.get("voided")]


def _amounts(sel: Row, currency: str) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """A selection's gross, net, tax and quantity (read once per selection, for its check and its item)."""
    return (from_major(sel.get("pre_discount_price"), currency), from_major(sel.get("price"), currency),
            from_major(sel.get("tax"), currency), quantity(sel.get("quantity")))


def _item_row(ctx: ToastContext, transaction: Row, n: int, sel: Row, currency: str, *, refund: bool,
              amounts: tuple[Decimal, Decimal, Decimal, Decimal] | None = None) -> Row:
    item = ctx.menu_items.get(sel.get("item__guid") or "") or {}
    gross, net, tax, qty = amounts or _amounts(sel, currency)
    included = sel.get("tax_inclusion") == "INCLUDED"
    if refund:
        refunded = from_major(sel.get("refund_details__refund_amount"), currency)
        refunded_tax = from_major(sel.get("refund_details__tax_refund_amount"), currency)
        share = (refunded / net) if net else Decimal(1)
        qty = (qty * share).quantize(Decimal("0.001"))
        gross, net, tax = refunded, refunded, refunded_tax
    modifiers = [{"name": m.get("display_name"), "quantity": str(m.get("quantity") or "1"),
                  "price": str(from_major(m.get("price"), currency)), "pos_modifier_id": m.get("item__guid")}
                 for m in sel.get("modifiers") or []]
    return {
        "id": canonical_id(transaction["id"], "line", sel.get("guid") or n),
        "transaction_id": transaction["id"],
        "tenant_id": ctx.tenant_id,
        "pos_account_id": ctx.account_id,
        "pos_provider": PROVIDER,
        "location_id": transaction["location_id"],
        "business_date": transaction["business_date"],
        "transaction_type": transaction["transaction_type"],
        "line_number": n + 1,
        "pos_line_id": sel.get("guid"),
        "pos_item_id": sel.get("item__guid"),
        "pos_parent_item_id": sel.get("item_group__guid"),
        "product_name": sel.get("display_name") or item.get("name") or "(open item)",
        "variation_name": None,
        "product_sku": item.get("sku") or None,
        "category": item.get("sales_category__name"),
        "quantity": qty,
        "unit": None if (sel.get("unit_of_measure") or "NONE") == "NONE" else str(sel["unit_of_measure"]).lower(),
        "unit_price": (gross / qty).quantize(Decimal("0.01")) if qty else gross,
        "gross_amount": gross,
        "discount_amount": gross - net,
        "tax_amount": tax,
        "line_total": net + (Decimal(0) if included else tax),
        "currency": currency,
        "modifiers": json.dumps(modifiers, ensure_ascii=False) if modifiers else None,
        "mapped_product_id": None,
        "is_mapped": False,
    }


def _base(ctx: ToastContext, order: Row, check: Row, currency: str) -> Row:
    return {
        "tenant_id": ctx.tenant_id,
        "pos_account_id": ctx.account_id,
        "pos_provider": PROVIDER,
        "location_id": order.get("_pos_restaurant_guid"),
        "currency": currency,
        "cashier_id": order.get("server__guid"),
        "cashier_name": ctx.cashier_name(order.get("server__guid")),
        "device_id": order.get("created_device__id"),
        "device_name": ctx.device_name(order.get("created_device__id")),
        "receipt_number": check.get("display_number") or order.get("display_number"),
        "customer_ref": ctx.pseudonymize(check.get("customer__guid")),
        "customer_name": ctx.pseudonymize(_guest_name(check)),
        "customer_email": ctx.pseudonymize_email(check.get("customer__email")),
        "customer_phone": ctx.pseudonymize_phone(check.get("customer__phone")),
        "source_version": str(as_utc(check.get("modified_date") or order.get("modified_date")) or ""),
        "source_updated_at": as_utc(order.get("modified_date")),
        "source_load_id": order.get("_dlt_load_id"),
    }


def normalize_check(ctx: ToastContext, order: Row, check: Row) -> CanonicalBatch:
    """One check → a sale or void row with items and tenders, plus a refund row per refunded payment."""
    restaurant = order.get("_pos_restaurant_guid") or ""
    currency = ctx.currency(restaurant)
    voided = bool(order.get("voided") or check.get("voided"))
    if voided:
        kind, status = "void", "voided"
    else:
        kind, status = "sale", "completed" if check.get("payment_status") in PAID else "pending"
    selections = _selections(check)
    payments = _live_payments(check)
    amounts = [_amounts(s, currency) for s in selections]
    gross = sum((a[0] for a in amounts), Decimal("0.00"))
    net = sum((a[1] for a in amounts), Decimal("0.00"))
    tax = sum((a[2] for a in amounts), Decimal("0.00"))
    added_tax = sum((a[2] for a, s in zip(amounts, selections, strict=True) if s.get("tax_inclusion") != "INCLUDED"),
                    Decimal("0.00"))
    service = sum((from_major(c.get("charge_amount"), currency) for c in check.get("applied_service_charges") or []),
                  Decimal("0.00"))
    tip = sum((from_major(p.get("tip_amount"), currency) for p in payments), Decimal("0.00"))
    when = as_utc(check.get("closed_date") or check.get("paid_date") or order.get("closed_date")
                  or order.get("opened_date"))
    methods = {_method(p) for p in payments}
    card = next((p for p in payments if p.get("last4_digits")), None)
    transaction: Row = {
        "id": ctx.check_id(check["guid"]),
        **_base(ctx, order, check, currency),
        "pos_transaction_id": check["guid"],
        "transaction_type": kind,
        "status": status,
        "refunded_transaction_id": None,
        "transaction_date": when,
        "business_date": business_date(order.get("business_date")),
        "subtotal": gross,
        "discount_amount": gross - net,
        "service_charge_amount": service,
        "tax_amount": tax,
        "tip_amount": tip,
        "total_amount": net + service + added_tax + tip,
        "items_quantity": sum((a[3] for a in amounts), Decimal(0)),
        "payment_method": (methods.pop() if len(methods) == 1 else "split") if methods else None,
        "card_brand": card.get("card_type") if card else None,
        "card_last_four": card.get("last4_digits") if card else None,
    }
    batch = CanonicalBatch(transactions=[transaction])
    batch.items = [_item_row(ctx, transaction, n, s, currency, refund=False, amounts=a)
                   for n, (s, a) in enumerate(zip(selections, amounts, strict=True))]
    for n, p in enumerate(payments):
        batch.tenders.append({
            "id": canonical_id(transaction["id"], "tender", p.get("guid") or n),
            "transaction_id": transaction["id"],
            "tenant_id": ctx.tenant_id,
            "pos_provider": PROVIDER,
            "pos_tender_id": p.get("guid"),
            "method": _method(p),
            "card_brand": p.get("card_type"),
            "card_last_four": p.get("last4_digits"),
            "entry_method": p.get("card_entry_mode"),
            "amount": from_major(p.get("amount"), currency),  # Toast's amount excludes the tip
            "tip_amount": from_major(p.get("tip_amount"), currency),
            "currency": currency,
            "status": (p.get("payment_status") or "").lower() or None,
        })
    if not voided:
        refunded_selections = [s for s in selections if s.get("refund_details__refund_amount") not in (None, "")]
        for p in payments:
            if p.get("refund__refund_amount") in (None, ""):
                continue
            amount = from_major(p.get("refund__refund_amount"), currency)
            tip_refund = from_major(p.get("refund__tip_refund_amount"), currency)
            refund: Row = {
                "id": canonical_id(ctx.tenant_id, PROVIDER, "refund", p["guid"]),
                **_base(ctx, order, check, currency),
                "pos_transaction_id": f"{p['guid']}:refund",
                "transaction_type": "refund",
                "status": "completed",
                "refunded_transaction_id": transaction["id"],
                "transaction_date": as_utc(p.get("refund__refund_date")),
                "business_date": business_date(p.get("refund__refund_business_date")),
                "subtotal": sum((from_major(s.get("refund_details__refund_amount"), currency)
                                 for s in refunded_selections), Decimal("0.00")),
                "discount_amount": Decimal("0.00"),
                "service_charge_amount": Decimal("0.00"),
                "tax_amount": sum((from_major(s.get("refund_details__tax_refund_amount"), currency)
                                   for s in refunded_selections), Decimal("0.00")),
                "tip_amount": tip_refund,
                "total_amount": amount + tip_refund,
                "items_quantity": Decimal(0),
                "payment_method": _method(p),
                "card_brand": p.get("card_type"),
                "card_last_four": p.get("last4_digits"),
            }
            items = [_item_row(ctx, refund, n, s, currency, refund=True) for n, s in enumerate(refunded_selections)]
            refund["items_quantity"] = sum((i["quantity"] for i in items), Decimal(0))
            batch.transactions.append(refund)
            batch.items += items
    return batch


def normalize(ctx: ToastContext, orders: Iterable[Row]) -> CanonicalBatch:
    batch = CanonicalBatch()
    for order in orders:
        if order.get("deleted"):
            continue
        for check in order.get("checks") or []:
            if check.get("deleted"):
                continue
            batch.extend(normalize_check(ctx, order, check))
    return batch


def check_ids(orders: Iterable[Row]) -> list[str]:
    """Every check guid of the orders, deleted ones included (their rows must disappear)."""
    return [c["guid"] for o in orders for c in o.get("checks") or []]


def normalize_products(ctx: ToastContext, menu_items: Iterable[Row]) -> list[Row]:
    out = []
    for item in menu_items:
        restaurant = item.get("_restaurant_guid") or ""
        currency = ctx.currency(restaurant)
        out.append({
            "tenant_id": ctx.tenant_id,
            "pos_account_id": ctx.account_id,
            "pos_provider": PROVIDER,
            "pos_item_id": item["guid"],
            "pos_parent_item_id": item.get("menu_group_guid"),
            "name": item.get("name"),
            "variation_name": None,
            "category": item.get("sales_category__name"),
            "sku": item.get("sku") or None,
            "price": from_major(item.get("price"), currency) if item.get("price") not in (None, "") else None,
            "currency": currency,
            "is_deleted": False,
            "is_archived": False,  # listed in a menu; archived items leave the menus (transforms.catalog)
            "source_version": None,
            "valid_from": item.get("_seen_at"),
            "first_seen_at": item.get("_seen_at"),
            "last_seen_at": item.get("_seen_at"),
        })
    return out


def refund_ids(ctx: ToastContext, orders: Iterable[Row]) -> list[str]:
    """Canonical ids of the refund rows the orders' payments may own (a refund undone disappears)."""
    return [canonical_id(ctx.tenant_id, PROVIDER, "refund", p["guid"])
            for o in orders for c in o.get("checks") or [] for p in c.get("payments") or []]


def normalize_locations(ctx: ToastContext, now: datetime) -> list[Row]:
    """The account's restaurants (Toast's menu prices exclude tax)."""
    return [
        {"tenant_id": ctx.tenant_id, "pos_account_id": ctx.account_id, "pos_provider": PROVIDER, "location_id": guid,
         "name": r.get("general__location_name") or r.get("general__name"), "timezone": r.get("general__time_zone"),
         "currency": r.get("general__currency_code"), "prices_include_tax": False,
         "country": r.get("location__country"), "updated_at": now, "postal_code": r.get("location__zip_code")}
        for guid, r in ctx.restaurants.items()
    ]
