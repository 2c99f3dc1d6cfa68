"""Square raw → canonical rows (pure: plain dicts in, plain dicts out).

Inputs are the raw rows dlt loaded (flattened column names such as ``total_money__amount``), with
each order's child tables attached as lists (``line_items`` with their ``modifiers``,
``tenders``, ``returns`` with their ``return_line_items`` …) — see
:func:`pos_sync.canonical.square_io.load_square_raw`.

Square's model, as we read it:
* a sale is an order that is not a return order; COMPLETED → a completed sale, CANCELED → a
  void row (status ``voided``), OPEN/DRAFT → a pending sale;
* a refund is a ``PaymentRefund``; its ``order_id`` is the *return order* (``returns[]`` with
  ``source_order_id``), which carries the refunded lines and amounts; the original order is
  never changed, and ``Order.refunds[]`` is not counted again;
* amounts are integer minor units: exact; ``Tender.amount_money`` includes the tip,
  ``Payment.amount_money`` does not — totals come from the order, tips from ``total_tip_money``;
* business date: the local date of the close (refunds: of their creation) in the location's zone;
* customer: the order's ``customer_id`` (a refund: its return order's) looked up in the customer
  profiles (ListCustomers): ``given_name`` + ``family_name``, ``email_address``, ``phone_number``,
  pseudonymised like every customer field (the raw values already are, unless the tenant opted in
  to clear storage; the id is hashed alike in both tables, so they still join).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from transforms.canonical import CanonicalBatch, canonical_id
from transforms.money import from_minor, quantity
from transforms.pii import full_name
from transforms.times import as_utc, local_date
from transforms.times import zone as zone_of

PROVIDER = "square"
Row = dict[str, Any]

_LINE = ("uid", "catalog_object_id", "name", "variation_name", "quantity", "quantity_unit__measurement_unit__weight_unit",
         "base_price_money__amount", "total_discount_money__amount", "total_tax_money__amount", "total_money__amount")
# The raw columns the normaliser reads, per raw table (the builder reads no others: Square's raw rows
# are wide — payments 56 columns, orders 44, line items 29 — and turning the unused values into Python
# objects cost more than normalising the used ones). A column read here must be listed there: a
# test runs the normaliser over rows that record every key it reads.
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("id", "location_id", "state", "version", "customer_id", "closed_at", "updated_at", "created_at",
               "total_money__currency", "total_money__amount", "total_discount_money__amount",
               "total_service_charge_money__amount", "total_tax_money__amount", "total_tip_money__amount",
               "return_amounts__discount_money__amount", "return_amounts__service_charge_money__amount",
               "return_amounts__tax_money__amount", "return_amounts__tip_money__amount", "_dlt_load_id"),
    "orders__line_items": (*_LINE, "gross_sales_money__amount"),
    "orders__line_items__modifiers": ("name", "quantity", "base_price_money__amount", "catalog_object_id"),
    "orders__tenders": ("id", "type", "payment_id", "amount_money__amount", "tip_money__amount",
                        "card_details__card__card_brand", "card_details__card__last_4", "card_details__entry_method",
                        "card_details__status"),
    "orders__returns": ("source_order_id",),
    "orders__returns__return_line_items": (*_LINE, "gross_return_money__amount"),
    # a sale's cashier, device and receipt; a refund's order
    "payments": ("id", "order_id", "team_member_id", "device_details__device_id", "device_details__device_name",
                 "receipt_number"),
}

SALE_STATUS = {"COMPLETED": ("sale", "completed"), "CANCELED": ("void", "voided"),
               "OPEN": ("sale", "pending"), "DRAFT": ("sale", "pending")}
REFUND_STATUS = {"COMPLETED": "completed", "PENDING": "pending", "APPROVED": "pending",
                 "REJECTED": "failed", "FAILED": "failed"}


@dataclass
class SquareContext:
    """What the normalizer needs besides the orders: ids, lookups and the PII policy."""

    tenant_id: str
    account_id: str
    locations: dict[str, Row]  # location id -> raw location row (timezone, currency)
    payments: dict[str, Row] = field(default_factory=dict)  # payment id -> raw payment
    catalog: dict[str, Row] = field(default_factory=dict)  # catalog object id -> raw catalog row
    team: dict[str, Row] = field(default_factory=dict)  # team member id -> raw row
    customers: dict[str, Row] = field(default_factory=dict)  # customer id (as stored) -> raw profile
    pseudonymize: Callable[[str | None], str | None] = lambda value: value
    pseudonymize_email: Callable[[str | None], str | None] = lambda value: value
    pseudonymize_phone: Callable[[str | None], str | None] = lambda value: value

    def zone(self, location_id: str) -> ZoneInfo:
        tz = (self.locations.get(location_id) or {}).get("timezone") or "UTC"
        return zone_of(tz)  # read once per process (transforms.times.zone is cached)

    def currency(self, location_id: str, fallback: str | None = None) -> str:
        return fallback or (self.locations.get(location_id) or {}).get("currency") or "USD"

    def sale_id(self, order_id: str) -> str:
        return canonical_id(self.tenant_id, PROVIDER, "order", order_id)

    # what a build computes again and again, kept per context (the build's lookups and PII policy
    # do not change while it runs): money converters per currency, quantities, catalog details of
    # a variation, the customer columns of a customer id
    _money: dict[str, Callable[[Any], Decimal]] = field(default_factory=dict)
    _catalog_memo: dict[str, tuple[str | None, str | None, str | None]] = field(default_factory=dict)
    _customer_memo: dict[str | None, Row] = field(default_factory=dict)

    def money(self, currency: str) -> Callable[[Any], Decimal]:
        """``amount -> from_minor(amount, currency)``, one shared Decimal per distinct amount (a
        Decimal is immutable; a build converts the same few prices and totals ~10⁶ times)."""
        convert = self._money.get(currency)
        if convert is None:
            convert = self._money[currency] = _converter(currency)
        return convert


_CACHED = 1 << 16  # distinct amounts (or quantities) remembered per converter


def _converter(currency: str) -> Callable[[Any], Decimal]:
    seen: dict[Any, Decimal] = {}

    def convert(amount: Any) -> Decimal:
        value = seen.get(amount)
        if value is None:
            value = from_minor(amount, currency)
            if len(seen) < _CACHED:
                seen[amount] = value
        return value

    return convert


_QUANTITIES: dict[Any, Decimal] = {}


def _quantity(value: Any) -> Decimal:
    """:func:`quantity`, one shared Decimal per distinct text (``"1"``, ``"2"``, ``"0.350"`` …; only
    texts are remembered: ``1.0`` and ``1`` are equal keys but give Decimals of other exponents)."""
    if value.__class__ is not str:
        return quantity(value)
    found = _QUANTITIES.get(value)
    if found is None:
        found = quantity(value)
        if len(_QUANTITIES) < _CACHED:
            _QUANTITIES[value] = found
    return found


def _m(row: Row, prefix: str, currency: str) -> Decimal:
    return from_minor(row.get(f"{prefix}__amount"), currency)


def _tender_method(tender: Row) -> str:
    kind = tender.get("type")
    if kind == "CASH":
        return "cash"
    if kind == "WALLET":
        return "mobile"
    if kind in ("CARD", "THIRD_PARTY_CARD", "SQUARE_GIFT_CARD"):
        return "contactless" if tender.get("card_details__entry_method") == "CONTACTLESS" else "card"
    return "other"


def _payment_method(tenders: list[Row]) -> str | None:
    methods = {_tender_method(t) for t in tenders}
    if not methods:
        return None
    return methods.pop() if len(methods) == 1 else "split"


def _team_name(ctx: SquareContext, member_id: str | None) -> str | None:
    member = ctx.team.get(member_id or "")
    if not member:
        return None
    return " ".join(p for p in (member.get("given_name"), member.get("family_name")) if p) or None


def customer_name(customer: Row) -> str | None:
    """Given and family name of a customer profile (as the source stored them)."""
    return full_name(customer.get("given_name"), customer.get("family_name"))


def customer_columns(ctx: SquareContext, customer_id: str | None) -> Row:
    """``customer_ref``, ``customer_name``, ``customer_email``, ``customer_phone`` of an order's customer
    (all None without one; the ref alone when its profile is not loaded, e.g. no CUSTOMERS_READ)."""
    found = ctx._customer_memo.get(customer_id)
    if found is not None:
        return found
    customer = ctx.customers.get(customer_id or "") or {}
    columns = {
        "customer_ref": ctx.pseudonymize(customer_id),
        "customer_name": ctx.pseudonymize(customer_name(customer)),
        "customer_email": ctx.pseudonymize_email(customer.get("email_address")),
        "customer_phone": ctx.pseudonymize_phone(customer.get("phone_number")),
    }
    if isinstance(customer_id, str | None):
        ctx._customer_memo[customer_id] = columns
    return columns


def _catalog_details(ctx: SquareContext, variation_id: str | None) -> tuple[str | None, str | None, str | None]:
    """(parent item id, SKU, category name) of a variation, from the raw catalog."""
    found = ctx._catalog_memo.get(variation_id or "")
    if found is not None:
        return found
    variation = ctx.catalog.get(variation_id or "")
    if not variation:
        return None, None, None
    item_id = variation.get("item_variation_data__item_id")
    item = ctx.catalog.get(item_id or "") or {}
    category_id = item.get("item_data__reporting_category__id")
    category = (ctx.catalog.get(category_id or "") or {}).get("category_data__name")
    found = ctx._catalog_memo[variation_id or ""] = (item_id, variation.get("item_variation_data__sku"), category)
    return found


def _unit(line: Row) -> str | None:
    weight = line.get("quantity_unit__measurement_unit__weight_unit")
    return {"METRIC_KILOGRAM": "kg", "METRIC_GRAM": "g", "IMPERIAL_POUND": "lb"}.get(weight or "", weight)


def _items(ctx: SquareContext, transaction: Row, lines: Iterable[Row], *, gross_key: str, currency: str) -> list[Row]:
    rows = []
    money = ctx.money(currency)
    gross_amount = f"{gross_key}__amount"
    transaction_id = transaction["id"]
    for n, line in enumerate(lines):
        item_id = line.get("catalog_object_id")
        parent, sku, category = _catalog_details(ctx, item_id)
        raw_modifiers = line.get("modifiers")
        modifiers = [
            {"name": m.get("name"), "quantity": str(m.get("quantity") or "1"),
             "price": str(money(m.get("base_price_money__amount"))), "pos_modifier_id": m.get("catalog_object_id")}
            for m in raw_modifiers
        ] if raw_modifiers else None
        uid = line.get("uid")
        rows.append({
            "id": canonical_id(transaction_id, "line", uid or n),
            "transaction_id": transaction_id,
            "tenant_id": ctx.tenant_id,
            "pos_account_id": ctx.account_id,
            "pos_provider": PROVIDER,
            "location_id": transaction["location_id"],
            "business_date": transaction["business_date"],
            "transaction_type": transaction["transaction_type"],
            "line_number": n + 1,
            "pos_line_id": uid,
            "pos_item_id": item_id,
            "pos_parent_item_id": parent,
            "product_name": line.get("name") or "(custom amount)",
            "variation_name": line.get("variation_name"),
            "product_sku": sku,
            "category": category,
            "quantity": _quantity(line.get("quantity")),
            "unit": _unit(line),
            "unit_price": money(line.get("base_price_money__amount")),
            "gross_amount": money(line.get(gross_amount)),
            "discount_amount": money(line.get("total_discount_money__amount")),
            "tax_amount": money(line.get("total_tax_money__amount")),
            "line_total": money(line.get("total_money__amount")),
            "currency": currency,
            "modifiers": json.dumps(modifiers, ensure_ascii=False) if modifiers else None,
            "mapped_product_id": None,
            "is_mapped": False,
        })
    return rows


def normalize_sale(ctx: SquareContext, order: Row) -> CanonicalBatch:
    """One non-return order → a sale (or void) row with its items and tenders."""
    location_id = order["location_id"]
    currency = ctx.currency(location_id, order.get("total_money__currency"))
    money = ctx.money(currency)
    kind, status = SALE_STATUS.get(order.get("state") or "", ("sale", "pending"))
    closed = as_utc(order.get("closed_at"))
    when = closed or as_utc(order.get("updated_at")) or as_utc(order.get("created_at"))
    tenders = order.get("tenders") or []
    payments = [ctx.payments[t["payment_id"]] for t in tenders if t.get("payment_id") in ctx.payments]
    payment = payments[0] if payments else {}
    card = next((t for t in tenders if t.get("card_details__card__card_brand")), None)
    lines = order.get("line_items") or []
    transaction: Row = {
        "id": ctx.sale_id(order["id"]),
        "tenant_id": ctx.tenant_id,
        "pos_account_id": ctx.account_id,
        "pos_provider": PROVIDER,
        "location_id": location_id,
        "pos_transaction_id": order["id"],
        "transaction_type": kind,
        "status": status,
        "refunded_transaction_id": None,
        "transaction_date": when,
        "business_date": local_date(when, ctx.zone(location_id)),
        "subtotal": sum([money(line.get("gross_sales_money__amount")) for line in lines], Decimal("0.00")),
        "discount_amount": money(order.get("total_discount_money__amount")),
        "service_charge_amount": money(order.get("total_service_charge_money__amount")),
        "tax_amount": money(order.get("total_tax_money__amount")),
        "tip_amount": money(order.get("total_tip_money__amount")),
        "total_amount": money(order.get("total_money__amount")),
        "currency": currency,
        "items_quantity": sum([_quantity(line.get("quantity")) for line in lines], Decimal(0)),
        "payment_method": _payment_method(tenders),
        "card_brand": card.get("card_details__card__card_brand") if card else None,
        "card_last_four": card.get("card_details__card__last_4") if card else None,
        "cashier_id": payment.get("team_member_id"),
        "cashier_name": _team_name(ctx, payment.get("team_member_id")),
        "device_id": payment.get("device_details__device_id"),
        "device_name": payment.get("device_details__device_name"),
        "receipt_number": payment.get("receipt_number"),
        **customer_columns(ctx, order.get("customer_id")),
        "source_version": str(order.get("version") or ""),
        "source_updated_at": as_utc(order.get("updated_at")),
        "source_load_id": order.get("_dlt_load_id"),
    }
    batch = CanonicalBatch(transactions=[transaction])
    batch.items = _items(ctx, transaction, lines, gross_key="gross_sales_money", currency=currency)
    for n, tender in enumerate(tenders):
        batch.tenders.append({
            "id": canonical_id(transaction["id"], "tender", tender.get("id") or n),
            "transaction_id": transaction["id"],
            "tenant_id": ctx.tenant_id,
            "pos_provider": PROVIDER,
            "pos_tender_id": tender.get("id"),
            "method": _tender_method(tender),
            "card_brand": tender.get("card_details__card__card_brand"),
            "card_last_four": tender.get("card_details__card__last_4"),
            "entry_method": tender.get("card_details__entry_method"),
            # Tender.amount_money includes the tip: the canonical tender amount excludes it
            "amount": money(tender.get("amount_money__amount")) - money(tender.get("tip_money__amount")),
            "tip_amount": money(tender.get("tip_money__amount")),
            "currency": currency,
            "status": (tender.get("card_details__status") or "CAPTURED").lower(),
        })
    return batch


def normalize_refund(ctx: SquareContext, refund: Row, return_order: Row | None) -> CanonicalBatch:
    """One PaymentRefund (+ its return order, when loaded) → a refund row linked to the sale."""
    location_id = refund["location_id"]
    currency = ctx.currency(location_id, refund.get("amount_money__currency"))
    created = as_utc(refund.get("created_at"))
    payment = ctx.payments.get(refund.get("payment_id") or "") or {}
    source_order_id = payment.get("order_id")
    returns = (return_order or {}).get("returns") or []
    if source_order_id is None and returns:
        source_order_id = returns[0].get("source_order_id")
    ret = return_order or {}
    lines = [line for r in returns for line in (r.get("return_line_items") or [])]
    transaction: Row = {
        "id": canonical_id(ctx.tenant_id, PROVIDER, "refund", refund["id"]),
        "tenant_id": ctx.tenant_id,
        "pos_account_id": ctx.account_id,
        "pos_provider": PROVIDER,
        "location_id": location_id,
        "pos_transaction_id": refund["id"],
        "transaction_type": "refund",
        "status": REFUND_STATUS.get(refund.get("status") or "", "pending"),
        "refunded_transaction_id": ctx.sale_id(source_order_id) if source_order_id else None,
        "transaction_date": created,
        "business_date": local_date(created, ctx.zone(location_id)),
        "subtotal": sum((_m(line, "gross_return_money", currency) for line in lines), Decimal("0.00")),
        "discount_amount": _m(ret, "return_amounts__discount_money", currency),
        "service_charge_amount": _m(ret, "return_amounts__service_charge_money", currency),
        "tax_amount": _m(ret, "return_amounts__tax_money", currency),
        "tip_amount": _m(ret, "return_amounts__tip_money", currency),
        "total_amount": _m(refund, "amount_money", currency),
        "currency": currency,
        "items_quantity": sum((quantity(line.get("quantity")) for line in lines), Decimal(0)),
        "payment_method": None,
        "card_brand": refund.get("destination_details__card_details__card__card_brand"),
        "card_last_four": refund.get("destination_details__card_details__card__last_4"),
        "cashier_id": refund.get("team_member_id"),
        "cashier_name": _team_name(ctx, refund.get("team_member_id")),
        "device_id": None,
        "device_name": None,
        "receipt_number": None,
        **customer_columns(ctx, ret.get("customer_id")),
        "source_version": str(as_utc(refund.get("updated_at")) or ""),
        "source_updated_at": as_utc(refund.get("updated_at")),
        "source_load_id": refund.get("_dlt_load_id"),
    }
    batch = CanonicalBatch(transactions=[transaction])
    batch.items = _items(ctx, transaction, lines, gross_key="gross_return_money", currency=currency)
    return batch


def is_return_order(order: Row) -> bool:
    return bool(order.get("returns"))


def normalize(ctx: SquareContext, orders: Iterable[Row], refunds: Iterable[Row]) -> CanonicalBatch:
    """Sales and voids from non-return orders; refunds from PaymentRefunds (+ return orders)."""
    batch = CanonicalBatch()
    return_orders: dict[str, Row] = {}
    for order in orders:
        if is_return_order(order):
            return_orders[order["id"]] = order
        else:
            batch.extend(normalize_sale(ctx, order))
    for refund in refunds:
        batch.extend(normalize_refund(ctx, refund, return_orders.get(refund.get("order_id") or "")))
    return batch


def _present_nowhere(obj: Row) -> bool:
    """Not at all locations and at none in particular (``present_at_location_ids`` re-attached
    by the builder: absent or empty means none)."""
    return obj.get("present_at_all_locations") is False and not obj.get("present_at_location_ids")


def is_archived(variation: Row, item: Row) -> bool:
    """Square archives an ITEM (``item_data.is_archived``); an item or variation present at no
    location is not sold anywhere either."""
    return bool(item.get("item_data__is_archived")) or _present_nowhere(item) or _present_nowhere(variation)


def normalize_products(ctx: SquareContext, catalog_rows: Iterable[Row]) -> list[Row]:
    """ITEM_VARIATIONs (the sellable products) with their item's name and category; ``valid_from``
    is the later ``updated_at`` of the variation and its item (a rename changes the item, a new
    price the variation)."""
    out = []
    for row in catalog_rows:
        if row.get("type") != "ITEM_VARIATION":
            continue
        parent, sku, category = _catalog_details(ctx, row["id"])
        item = ctx.catalog.get(parent or "") or {}
        currency = row.get("item_variation_data__price_money__currency") or "USD"
        price = row.get("item_variation_data__price_money__amount")
        updated = as_utc(row.get("updated_at"))
        item_updated = as_utc(item.get("updated_at"))
        changed_at = max(updated, item_updated) if updated and item_updated else (updated or item_updated)
        out.append({
            "tenant_id": ctx.tenant_id,
            "pos_account_id": ctx.account_id,
            "pos_provider": PROVIDER,
            "pos_item_id": row["id"],
            "pos_parent_item_id": parent,
            "name": item.get("item_data__name") or row.get("item_variation_data__name"),
            "variation_name": row.get("item_variation_data__name"),
            "category": category,
            "sku": sku,
            "price": from_minor(price, currency) if price is not None else None,
            "currency": currency,
            "is_deleted": bool(row.get("is_deleted")) or bool(item.get("is_deleted")),
            "is_archived": is_archived(row, item),
            "source_version": str(row.get("version") or ""),
            "valid_from": changed_at,
            "first_seen_at": updated,
            "last_seen_at": changed_at,
        })
    return out


def normalize_locations(ctx: SquareContext, include_tax: Callable[[Row], bool],
                        now: datetime | None = None) -> list[Row]:
    """The account's locations (``updated_at``: ``now``, the build's time)."""
    when = now or datetime.now(UTC)
    return [
        {
            "tenant_id": ctx.tenant_id,
            "pos_account_id": ctx.account_id,
            "pos_provider": PROVIDER,
            "location_id": loc_id,
            "name": loc.get("name"),
            "timezone": loc.get("timezone"),
            "currency": loc.get("currency"),
            "prices_include_tax": include_tax(loc),
            "country": loc.get("country"),
            "updated_at": when,
            "postal_code": loc.get("address__postal_code") or (loc.get("address") or {}).get("postal_code"),
        }
        for loc_id, loc in ctx.locations.items()
    ]
