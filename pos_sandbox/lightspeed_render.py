"""Render the bakery world's objects as Lightspeed Retail (X-Series) API 2.0 shows them.

Amounts are the world's integers (cents) and are never recomputed; they are *rendered* in
X-Series' format: JSON numbers in major units, **tax exclusive**, with up to 5 decimals. The
Lightspeed outlets of the world are Spanish stores whose prices include IVA, so:

* a line's ``total_price`` (= ``price_total``) is ``total - tax`` of the world's line and its
  ``total_tax`` (= ``tax_total``) the world's tax: both exact in cents, and ``total_price +
  total_tax`` is the tax-inclusive amount the customer paid for the line;
* a line's ``total_discount`` (= ``discount_total``) is the world's tax-inclusive discount
  divided by ``1 + rate``, rounded half-up to 5 decimals: ``round_half_up(total_discount ×
  (1 + rate), 2)`` gives the world's discount back exactly (the error is < 0.001 cent), so the
  tax-inclusive gross is ``total_price + total_tax + that``;
* unit values (``price``/``unit_price``, ``tax``/``unit_tax``, ``discount``/``unit_discount``,
  ``cost``/``unit_cost``) are the totals divided by the quantity, rounded to 5 decimals: never
  multiply them back (fractional kilos of bread make them inexact);
* ``price``/``unit_price`` is the unit price **after** discount (Vend's convention);
* the spec's response examples carry both the old names (``price``, ``price_total``,
  ``discount_total``, ``tax_total``, ``cost_total``, ``loyalty_value``) and the newer ones
  (``unit_price``, ``total_price``, ``unit_discount``, ``total_discount``, ``unit_tax``,
  ``total_tax``, ``unit_cost``, ``total_cost``, ``unit_loyalty_value``,
  ``total_loyalty_value``): both sets are sent, with equal values.

Sale-level choices (relied on by the tests; documented in ``docs/sandbox.md``):

* ``total_price`` = Σ line ``total_price`` + the sale's ``TIP`` and ``SURCHARGE`` adjustments
  (tips and the delivery service charge, untaxed), so ``total_price + total_tax`` = what was
  collected = Σ payment amounts (the spec's GET /sales/{id} example adds its NON_CASH_FEE
  adjustment to ``total_price`` the same way). A ``DISCOUNT`` adjustment *aggregates* the line
  discounts (negative, tax exclusive): it is already inside the lines' prices, never subtract it
  again. Adjustments carry both ``type`` (the examples) and ``adjustment_type`` (the schema).
* A payment's ``amount`` includes its tip (as of the clock): a tip edit changes the payment, the
  TIP adjustment, ``total_price``, ``updated_at`` and ``version`` of the sale.
* Voided sales: ``status`` VOIDED, every line ``status`` VOIDED; their payments stay listed.
* Returns are **new sales** (``return_for`` = the original sale id), visible from the refund's
  creation: SAVED (payment taken, not completed) until the refund completes, then CLOSED (lines
  SAVED → CONFIRMED; ``updated_at``/``version`` move). Quantities and totals are negative, unit
  values positive (as in the spec's return example); one negative payment of the refunded
  tender's type; full returns also return the service charge and tip as negative SURCHARGE/TIP
  adjustments. The original sale never changes its amounts because of a return, but its
  ``updated_at``/``version`` are bumped when the return is made.
* Line ``tax_components[].total_tax`` and sale ``taxes[].amount`` carry the signed totals
  (negative on returns; the spec's return example shows them positive).
* Coffee modifiers are folded into the line price (X-Series has no modifiers) and named in the
  line ``note``. Sales without a customer omit ``customer_id``.
* Payment types: one retailer payment type per tender kind (Efectivo, Tarjeta, Tarjeta
  contactless, Pago móvil), ``type_id`` 1 (cash) or 2 (card).
* Products always have an ``sku``: Lightspeed generates numeric SKUs where the till has none
  (``10001``, ``10002``…, in the world's item order); the product's category is its ``type`` /
  ``product_type_id`` (the newer "product category"); ``supply_price`` (and line costs) is 40 %
  of the first tax-exclusive price. Soft-deleted products have ``deleted_at`` and ``active:
  false``.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pos_sandbox.lightspeed_http import from_us, num, ts
from pos_sandbox.lightspeed_index import FeedRec
from pos_sandbox.model import Category, Customer, ItemState, Line, Location, PosItem, Sale, Tax, TeamMember
from pos_sandbox.world import World, guid

FIVE = Decimal("0.00001")
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
COST_SHARE = Decimal("0.4")
_SECOND = timedelta(seconds=1)
PAYMENT_KINDS: dict[str, tuple[str, int]] = {
    "cash": ("Efectivo", 1),
    "card": ("Tarjeta", 2),
    "contactless": ("Tarjeta contactless", 2),
    "mobile": ("Pago móvil", 2),
}
PLACEHOLDER_IMAGE = "https://secure.retail.lightspeed.app/images/placeholder/product/no-image-white-standard.png"
PLACEHOLDER_THUMB = "https://secure.retail.lightspeed.app/images/placeholder/product/no-image-white-thumb.png"


def r5(value: Decimal) -> Decimal:
    return value.quantize(FIVE, rounding=ROUND_HALF_UP)


def major(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _slug(text: str) -> str:
    plain = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn").lower()
    return "".join(c if c.isalnum() else "-" for c in plain).strip("-").replace("--", "-")


@dataclass(frozen=True, slots=True)
class PaymentType:
    account_id: str
    id: str
    kind: str
    name: str
    type_id: int


@dataclass(frozen=True, slots=True)
class LineAmounts:
    """A line's rendered totals (tax exclusive unless named otherwise)."""

    total_price: Decimal
    total_tax: Decimal
    total_discount: Decimal
    total_cost: Decimal


class LightspeedRenderer:
    """Stateless rendering of world objects into X-Series JSON (see the module docstring)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.items: dict[str, PosItem] = {}
        self.auto_sku: dict[str, str] = {}
        self.taxes: dict[str, Tax] = {}
        self.payment_types: dict[str, list[PaymentType]] = {}
        self.payment_type_by_kind: dict[tuple[str, str], PaymentType] = {}
        for account in world.accounts:
            if account.provider != "lightspeed":
                continue
            for n, item in enumerate(world.items[account.account_id]):
                self.items[item.item_id] = item
                self.auto_sku[item.item_id] = str(10001 + n)
            for tax in world.taxes[account.account_id]:
                self.taxes[tax.id] = tax
            types = [PaymentType(account.account_id, guid(world.seed, "ls-payment-type", account.account_id, kind),
                                 kind, name, type_id) for kind, (name, type_id) in PAYMENT_KINDS.items()]
            self.payment_types[account.account_id] = types
            for pt in types:
                self.payment_type_by_kind[(account.account_id, pt.kind)] = pt

    # ------------------------------------------------------------------ ids and small helpers
    def rate_id(self, tax_id: str) -> str:
        return guid(self.world.seed, "ls-tax-rate", tax_id)

    @staticmethod
    def short_code(sale_id: str) -> str:
        digest = hashlib.blake2b(sale_id.encode(), digest_size=6).digest()
        return "".join("abcdefghijklmnopqrstuvwxyz"[b % 26] for b in digest)

    def unit_cost(self, item_id: str, rate: Decimal, include_tax: bool) -> Decimal:
        """Supply price: 40 % of the item's first tax-exclusive price, in cents."""
        item = self.items.get(item_id)
        if item is None:
            return Decimal(0)
        price = major(item.history[0].price_cents)
        if include_tax:
            price = price * HUNDRED / (HUNDRED + rate)
        return (price * COST_SHARE).quantize(CENT, rounding=ROUND_HALF_UP)

    def line_amounts(self, line: Line, include_tax: bool) -> LineAmounts:
        rate = line.tax_rate
        total_price = major(line.total_cents - line.tax_cents)
        discount = major(line.discount_cents)
        total_discount = r5(discount * HUNDRED / (HUNDRED + rate)) if include_tax else discount
        total_cost = r5(self.unit_cost(line.item_id, rate, include_tax) * line.quantity)
        return LineAmounts(total_price, major(line.tax_cents), total_discount, total_cost)

    @staticmethod
    def _both(old: str, new: str, value: Decimal) -> dict[str, Any]:
        return {old: num(value), new: num(value)}

    def _line_json(self, *, line_id: str, line: Line, quantity: Decimal, amounts: LineAmounts, sequence: int,
                   status: str, is_return: bool, include_tax: bool) -> dict[str, Any]:
        q = abs(quantity)
        unit_cost = self.unit_cost(line.item_id, line.tax_rate, include_tax)
        out: dict[str, Any] = {
            "id": line_id,
            "product_id": line.item_id,
            "tax_id": line.tax_id,
            "quantity": num(quantity),
            **self._both("price", "unit_price", r5(abs(amounts.total_price) / q)),
            **self._both("price_total", "total_price", amounts.total_price),
            **self._both("discount", "unit_discount", r5(abs(amounts.total_discount) / q)),
            **self._both("discount_total", "total_discount", amounts.total_discount),
            **self._both("cost", "unit_cost", unit_cost),
            **self._both("cost_total", "total_cost", amounts.total_cost),
            **self._both("tax", "unit_tax", r5(abs(amounts.total_tax) / q)),
            **self._both("tax_total", "total_tax", amounts.total_tax),
            **self._both("loyalty_value", "unit_loyalty_value", Decimal(0)),
            "total_loyalty_value": 0,
            "price_set": False,
            "sequence": sequence,
            "status": status,
            "is_return": is_return,
            "tax_components": [{"rate_id": self.rate_id(line.tax_id), "total_tax": num(amounts.total_tax)}],
        }
        if line.modifiers:
            out["note"] = ", ".join(f"+ {m.name}" for m in line.modifiers)
        return out

    def _sale_taxes(self, per_tax: dict[str, Decimal]) -> list[dict[str, Any]]:
        out = []
        for tax_id, amount in per_tax.items():
            tax = self.taxes[tax_id]
            out.append({"id": self.rate_id(tax_id), "name": tax.name, "rate": num(tax.rate / HUNDRED),
                        "amount": num(amount)})
        return out

    @staticmethod
    def _adjustment(kind: str, name: str, value: Decimal) -> dict[str, Any]:
        return {"name": name, "type": kind, "adjustment_type": kind, "value": num(value), "tax_components": []}

    def _payment(self, *, payment_id: str, sale: Sale, loc: Location, kind: str, amount_cents: int,
                 at: datetime) -> dict[str, Any]:
        pt = self.payment_type_by_kind[(loc.account_id, kind)]
        return {
            "id": payment_id,
            "register_id": sale.register_id,
            "outlet_id": sale.location_id,
            "retailer_payment_type_id": pt.id,
            "payment_type_id": str(pt.type_id),
            "name": pt.name,
            "amount": num(major(amount_cents)),
            "payment_date": ts(at),
            "external_attributes": [],
        }

    def _sale_head(self, sale: Sale, sale_id: str, rec: FeedRec, k: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": sale_id,
            "outlet_id": sale.location_id,
            "register_id": sale.register_id,
            "user_id": sale.cashier_id,
        }
        if sale.customer_id is not None:
            out["customer_id"] = sale.customer_id
        return out

    # ------------------------------------------------------------------ sales
    def sale(self, sale: Sale, rec: FeedRec, k: int, now: datetime) -> dict[str, Any]:
        """The original sale as of ``now`` (event ``k`` of ``rec`` is the one in force)."""
        loc = self.world.location_by_id[sale.location_id]
        incl = sale.prices_include_tax
        voided = sale.state == "voided"
        lines = []
        lines_ex = Decimal(0)
        tax_total = Decimal(0)
        discount_total = Decimal(0)
        per_tax: dict[str, Decimal] = {}
        for seq, line in enumerate(sale.lines):
            amounts = self.line_amounts(line, incl)
            lines_ex += amounts.total_price
            tax_total += amounts.total_tax
            discount_total += amounts.total_discount
            per_tax[line.tax_id] = per_tax.get(line.tax_id, Decimal(0)) + amounts.total_tax
            lines.append(self._line_json(line_id=line.uid, line=line, quantity=line.quantity, amounts=amounts,
                                         sequence=seq, status="VOIDED" if voided else "CONFIRMED", is_return=False,
                                         include_tax=incl))
        tip = sale.tip_as_of(now)
        adjustments = []
        if sale.service_charge_cents:
            adjustments.append(self._adjustment("SURCHARGE", sale.service_charge_name or "Servicio",
                                                major(sale.service_charge_cents)))
        if tip:
            adjustments.append(self._adjustment("TIP", "Propina", major(tip)))
        if discount_total:
            adjustments.append(self._adjustment("DISCOUNT", "Descuentos", -discount_total))
        total_price = lines_ex + major(sale.service_charge_cents) + major(tip)
        n = len(sale.tenders)
        payments = [
            self._payment(payment_id=t.id, sale=sale, loc=loc, kind=t.kind,
                          amount_cents=t.amount_cents + sale.tender_tip_as_of(t, now),
                          at=sale.closed_at.replace(microsecond=0) - (n - 1 - i) * _SECOND)
            for i, t in enumerate(sale.tenders)
        ]
        out = self._sale_head(sale, sale.id, rec, k)
        out.update({
            "invoice_number": sale.receipt_number,
            "receipt_number": sale.receipt_number,
            "invoice_sequence": sale.number,
            "source": "USER",
            "status": "VOIDED" if voided else "CLOSED",
            "note": "",
            "short_code": self.short_code(sale.id),
            "total_price": num(total_price),
            "total_tax": num(tax_total),
            "total_loyalty": 0,
            "sale_date": ts(sale.closed_at),
            "created_at": ts(sale.opened_at),
            "updated_at": ts(_at(rec, k)),
            "version": rec.versions[k],
            "taxes": self._sale_taxes(per_tax),
            "line_items": lines,
            "payments": payments,
            "adjustments": adjustments,
            "attributes": [],
        })
        return out

    def return_sale(self, sale: Sale, rec: FeedRec, k: int, now: datetime) -> dict[str, Any]:
        """The return sale of ``sale.refund`` as of ``now``: SAVED until the refund completes."""
        refund = sale.refund
        assert refund is not None
        loc = self.world.location_by_id[sale.location_id]
        incl = sale.prices_include_tax
        closed = refund.completed_at <= now
        lines_by_uid = {line.uid: line for line in sale.lines}
        lines = []
        lines_ex = Decimal(0)
        tax_total = Decimal(0)
        per_tax: dict[str, Decimal] = {}
        for seq, rl in enumerate(refund.lines):
            line = lines_by_uid[rl.line_uid]
            original = self.line_amounts(line, incl)
            share = rl.quantity / line.quantity
            amounts = LineAmounts(
                total_price=-major(rl.amount_cents - rl.tax_cents),
                total_tax=-major(rl.tax_cents),
                total_discount=-r5(original.total_discount * share),
                total_cost=-r5(original.total_cost * share),
            )
            lines_ex += amounts.total_price
            tax_total += amounts.total_tax
            per_tax[line.tax_id] = per_tax.get(line.tax_id, Decimal(0)) + amounts.total_tax
            lines.append(self._line_json(line_id=guid(refund.id, rl.line_uid), line=line, quantity=-rl.quantity,
                                         amounts=amounts, sequence=seq, status="CONFIRMED" if closed else "SAVED",
                                         is_return=True, include_tax=incl))
        adjustments = []
        if refund.service_charge_cents:
            adjustments.append(self._adjustment("SURCHARGE", sale.service_charge_name or "Servicio",
                                                -major(refund.service_charge_cents)))
        if refund.tip_cents:
            adjustments.append(self._adjustment("TIP", "Propina", -major(refund.tip_cents)))
        total_price = lines_ex - major(refund.service_charge_cents) - major(refund.tip_cents)
        tender = next(t for t in sale.tenders if t.id == refund.tender_id)
        payments = [self._payment(payment_id=refund.id, sale=sale, loc=loc, kind=tender.kind,
                                  amount_cents=-refund.amount_cents, at=refund.created_at)]
        receipt = f"{sale.receipt_number}-D"
        out = self._sale_head(sale, refund.return_order_id, rec, k)
        out.update({
            "invoice_number": receipt,
            "receipt_number": receipt,
            "invoice_sequence": sale.number,
            "source": "USER",
            "status": "CLOSED" if closed else "SAVED",
            "note": refund.reason,
            "short_code": self.short_code(refund.return_order_id),
            "return_for": sale.id,
            "total_price": num(total_price),
            "total_tax": num(tax_total),
            "total_loyalty": 0,
            "sale_date": ts(refund.created_at),
            "created_at": ts(refund.created_at),
            "updated_at": ts(_at(rec, k)),
            "version": rec.versions[k],
            "taxes": self._sale_taxes(per_tax),
            "line_items": lines,
            "payments": payments,
            "adjustments": adjustments,
            "attributes": [],
        })
        return out

    # ------------------------------------------------------------------ catalog
    def product(self, item: PosItem, rec: FeedRec, k: int) -> dict[str, Any]:
        state: ItemState = item.history[k]
        loc = self.world.account_locations(item.account_id)[0]
        tax = self.world.tax_for(item.account_id, item.item_id)
        price = major(state.price_cents)
        if loc.prices_include_tax:
            incl, excl = price, r5(price * HUNDRED / (HUNDRED + tax.rate))
        else:
            excl, incl = price, r5(price * (HUNDRED + tax.rate) / HUNDRED)
        deleted_at = ts(state.at) if state.deleted else None
        return {
            "id": item.item_id,
            "name": state.name,
            "variant_name": state.name,
            "handle": _slug(item.history[0].name),
            "sku": state.sku or self.auto_sku[item.item_id],
            "description": "",
            "active": not state.deleted,
            "is_active": not state.deleted,
            "has_inventory": not item.by_weight,
            "is_composite": False,
            "has_variants": False,
            "variant_parent_id": None,
            "variant_options": [],
            "image_url": PLACEHOLDER_IMAGE,
            "image_thumbnail_url": PLACEHOLDER_THUMB,
            "images": [],
            "source": "USER",
            "supply_price": num(self.unit_cost(item.item_id, tax.rate, loc.prices_include_tax)),
            "price_including_tax": num(incl),
            "price_excluding_tax": num(excl),
            "product_type_id": item.category_id,
            "type": {"id": item.category_id, "name": item.category_name, "leaf_category": True,
                     "category_path": [{"id": item.category_id, "name": item.category_name}]},
            "supplier": {},
            "brand": {},
            "categories": [],
            "tag_ids": [],
            "attributes": [],
            "button_order": 0,
            "created_at": ts(item.created_at),
            "updated_at": ts(state.at),
            "deleted_at": deleted_at,
            "version": rec.versions[k],
        }

    @staticmethod
    def category(cat: Category) -> dict[str, Any]:
        return {
            "id": cat.id,
            "name": cat.name,
            "root_category_id": cat.id,
            "parent_category_id": None,
            "leaf_category": True,
            "category_path": [{"id": cat.id, "name": cat.name}],
        }

    def tax(self, tax: Tax, rec: FeedRec, k: int) -> dict[str, Any]:
        return {
            "id": tax.id,
            "name": tax.name,
            "display_name": tax.name,
            "version": rec.versions[k],
            "deleted_at": None,
            "is_default": tax.rate == max(t.rate for t in self.world.taxes[tax.account_id]),
            "rates": [{"id": self.rate_id(tax.id), "name": tax.name, "rate": num(tax.rate / HUNDRED),
                       "display_name": tax.name}],
        }

    # ------------------------------------------------------------------ setup objects
    def retailer(self, account: Any) -> dict[str, Any]:
        """The store (``Retailer``): its domain prefix is the world's Lightspeed account id."""
        first = self.world.account_locations(account.account_id)[0]
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"lightspeed-retailer:{account.account_id}")),
            "domain_prefix": account.account_id,
            "name": account.name,
            "account_status": "active",
            "account_type": "standard",
            "culture": "es-ES",  # no "timezone": the spec types it as an object without saying its shape
            "tax_exclusive": not first.prices_include_tax,
            "country": first.country,
            "currency": {"code": account.currency,
                         "symbol": {"EUR": "€", "USD": "$", "GBP": "£"}.get(account.currency, account.currency)},
            "created_at": account.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def outlet(self, loc: Location, rec: FeedRec, k: int) -> dict[str, Any]:
        taxes = self.world.taxes[loc.account_id]
        default_tax = max(taxes, key=lambda t: t.rate)
        return {
            "id": loc.location_id,
            "name": loc.name,
            "default_tax_id": default_tax.id,
            "currency": loc.currency,
            "currency_symbol": {"EUR": "€", "USD": "$", "GBP": "£"}.get(loc.currency, loc.currency),
            "display_prices": "inclusive" if loc.prices_include_tax else "exclusive",
            "time_zone": loc.timezone,
            "physical_address_1": loc.address,
            "physical_address_2": "",
            "physical_suburb": "",
            "physical_city": loc.city,
            "physical_postcode": loc.postal_code,
            "physical_state": "",
            "physical_country_id": loc.country,
            "email": f"{_slug(loc.city)}@sanbartolo.example",
            "attributes": [],
            "deleted_at": None,
            "version": rec.versions[k],
        }

    def register(self, ref: tuple[Location, int], rec: FeedRec, k: int) -> dict[str, Any]:
        loc, n = ref
        cash = self.payment_type_by_kind[(loc.account_id, "cash")]
        return {
            "id": loc.registers[n],
            "name": loc.register_names[n],
            "outlet_id": loc.location_id,
            "ask_for_note_on_save": 1,
            "print_note_on_receipt": False,
            "ask_for_user_on_sale": False,
            "show_discounts_on_receipts": True,
            "print_receipt": True,
            "email_receipt": False,
            "invoice_prefix": f"{_slug(loc.city)[:3].upper()}{n + 1}-",
            "invoice_suffix": "",
            "button_layout_id": None,
            "is_open": True,
            "receipt_template_id": guid(self.world.seed, "ls-receipt-template", loc.account_id),
            "register_open_sequence_id": None,
            "cash_managed_payment_type_id": cash.id,
            "deleted_at": None,
            "version": rec.versions[k],
        }

    def user(self, member: TeamMember, rec: FeedRec, k: int) -> dict[str, Any]:
        role = (100, "Admin") if member.is_owner else (300, "Cashier")
        return {
            "id": member.id,
            "username": member.email.split("@", 1)[0],
            "display_name": f"{member.given_name} {member.family_name}",
            "email": member.email,
            "email_verified_at": None,
            "account_type": "admin" if member.is_owner else "cashier",
            "roles": [{"id": role[0], "name": role[1], "system_role_id": role[0]}],
            "enabled": True,
            "restricted_outlet_id": None,
            "restricted_outlet_ids": [] if member.is_owner else list(member.location_ids),
            "rules": {},
            "is_primary_user": member.is_owner,
            "created_at": ts(member.created_at),
            "updated_at": ts(member.created_at),
            "deleted_at": None,
            "time_until_deletion": None,
            "version": rec.versions[k],
            "enabled_mfa": None,
            "require_password_change": False,
        }

    def customer(self, c: Customer, rec: FeedRec, k: int) -> dict[str, Any]:
        """The spec's ``Customer`` (``name`` = first and last name, as the back office shows it)."""
        created = ts(self.world.account_by_id[c.account_id].created_at)
        blank = dict.fromkeys(("note", "gender", "date_of_birth", "company_name", "fax", "twitter", "website",
                               "physical_address_1", "physical_address_2", "physical_suburb", "physical_city",
                               "physical_postcode", "physical_state", "physical_country_id", "postal_address_1",
                               "postal_address_2", "postal_suburb", "postal_city", "postal_postcode",
                               "postal_state", "postal_country_id", "custom_field_1", "custom_field_2",
                               "custom_field_3", "custom_field_4", "on_account_limit", "mobile"))
        return {
            "id": c.id, "customer_code": f"C-{c.id[:8].upper()}",
            "customer_group_id": guid(self.world.seed, "ls-customer-group", c.account_id), "enable_loyalty": False,
            "first_name": c.given_name, "last_name": c.family_name, "name": f"{c.given_name} {c.family_name}",
            "email": c.email, "phone": c.phone, "do_not_email": False, **blank,
            "year_to_date": 0, "balance": 0, "loyalty_balance": 0,
            "created_at": created, "updated_at": created, "deleted_at": None, "version": rec.versions[k],
        }

    @staticmethod
    def payment_type(pt: PaymentType, rec: FeedRec, k: int) -> dict[str, Any]:
        return {"id": pt.id, "name": pt.name, "type_id": pt.type_id, "deleted_at": None,
                "version": rec.versions[k]}



def _at(rec: FeedRec, k: int) -> datetime:
    return from_us(rec.events[k])
