"""Render the bakery world's objects exactly as Square's v2 API shows them.

Amounts are the world's integers (minor units) and are never recomputed: where Square shows a
split the world keeps as one number (a line's promo vs order-level discount, a partial return's
gross vs discount), the split is derived so that the rendered parts add up to the world's integer
exactly. Empty fields are left out, never ``null``. Timestamps are RFC 3339 UTC with
milliseconds.

Modelling choices the spec leaves open (documented here, relied on by tests):

* Payment ``created_at`` is the close minus ``2 s`` per later tender; ``updated_at`` follows
  ``Sale.payment_updated_at_as_of``. A refund shows on its payment (``refund_ids``,
  ``refunded_money``) from the refund's creation.
* Mobile wallets (Apple/Google Pay) render as ``source_type`` WALLET with ``wallet_details``
  (brand ``UNKNOWN``: the spec's brand list has no Apple/Google Pay) and tender type WALLET.
* Voided sales: Order ``state`` CANCELED; Payment ``status`` CANCELED with ``card_details.status``
  VOIDED, no ``receipt_number``/``receipt_url``/``processing_fee``.
* The original order never changes because of a refund. The refund's RETURN order (visible from
  ``refund.created_at``) has ``returns[]`` pointing back via ``source_order_id``, zero sale totals,
  ``return_amounts`` = what was returned and ``net_amounts`` = minus that; its ``refunds[]`` entry
  goes PENDING → APPROVED at ``refund.completed_at`` (version 1 → 2, ``updated_at`` moves too).
* Order ``version``: 1 at close, +1 for a visible tip edit.
* ``processing_fee`` (card and wallet payments only): 1.25 % in EUR, 2.6 % + 10¢ in USD, on the
  total at close; a later tip edit adds an ADJUSTMENT entry. Refunds of card payments get the
  proportional fee back (negative amount) once COMPLETED.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pos_sandbox.model import (
    Account,
    Category,
    Customer,
    Discount,
    Location,
    Modifier,
    PosItem,
    Refund,
    Sale,
    Tax,
    TeamMember,
    Tender,
)
from pos_sandbox.square_http import from_us, money, ts
from pos_sandbox.square_index import OrderRec, PaymentRec, RefundRec, updated_us
from pos_sandbox.world import World, half_up_div, square_id, upper_id

TENDER_TYPE = {"cash": "CASH", "card": "CARD", "contactless": "CARD", "mobile": "WALLET"}
BIN_PREFIX = {"VISA": "4", "MASTERCARD": "5", "AMERICAN_EXPRESS": "3", "DISCOVER": "6"}
MCC_BAKERY = "5462"


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def qty(value: Decimal) -> str:
    return format(value, "f")


def pct(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def fee_cents(total: int, currency: str) -> int:
    if currency == "USD":
        return half_up_div(total * 260, 10_000) + 10
    return half_up_div(total * 125, 10_000)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One catalog object as of a moment: sort key, change time, object, tombstone flag."""

    rank: int
    id: str
    type: str
    updated_us: int
    deleted: bool
    obj: dict[str, Any]


def customer_created_at(account_created_at: datetime, index: int) -> datetime:
    """When the ``index``-th customer of an account was created (see :meth:`SquareRenderer.customer`)."""
    return account_created_at + timedelta(minutes=index)

class SquareRenderer:
    """Renders one world's Square accounts. Holds per-account lookups built once."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.accounts: dict[str, Account] = {a.account_id: a for a in world.accounts if a.provider == "square"}
        self.taxes: dict[str, Tax] = {}
        self.discounts: dict[str, Discount] = {}
        self.modifiers: dict[str, Modifier] = {}
        self.items_by_id: dict[str, PosItem] = {}
        for account_id in self.accounts:
            self.taxes.update({t.id: t for t in world.taxes[account_id]})
            self.discounts.update({d.id: d for d in world.discounts[account_id]})
            self.modifiers.update({m.id: m for m in world.modifiers[account_id]})
            self.items_by_id.update({i.item_id: i for i in world.items[account_id]})
        self.locations: dict[str, Location] = {
            loc.location_id: loc for loc in world.locations if loc.account_id in self.accounts
        }
        self.register_names = {
            reg: name for loc in self.locations.values() for reg, name in zip(loc.registers, loc.register_names, strict=True)
        }
        self.application_id = "sq0idp-" + square_id(22, world.seed, "square-pos-app")
        self._catalog_cache: dict[tuple[str, int], list[CatalogEntry]] = {}

    # ------------------------------------------------------------------ helpers
    def currency(self, location_id: str) -> str:
        return self.locations[location_id].currency

    @staticmethod
    def uid(*parts: object) -> str:
        return square_id(22, *parts)

    def card(self, tender: Tender) -> dict[str, Any]:
        h = _h("card", tender.id)
        brand = tender.card_brand or "OTHER_BRAND"
        out: dict[str, Any] = {"card_brand": brand, "last_4": tender.last_4 or "0000",
                               "exp_month": 1 + h % 12, "exp_year": 2027 + (h >> 8) % 5,
                               "fingerprint": "sq-1-" + square_id(62, "fp", tender.card_brand, tender.last_4, h % 997),
                               "card_type": "DEBIT" if (h >> 16) % 3 == 0 else "CREDIT",
                               "prepaid_type": "NOT_PREPAID",
                               "bin": BIN_PREFIX.get(brand, "9") + f"{(h >> 20) % 100000:05d}"}
        return out

    @staticmethod
    def payment_created(sale: Sale, k: int) -> datetime:
        return sale.closed_at - timedelta(seconds=2 * (len(sale.tenders) - k))

    # ------------------------------------------------------------------ payments
    def payment(self, rec: PaymentRec, sale: Sale, now_us: int) -> dict[str, Any]:
        tender = sale.tenders[rec.tender_idx]
        cur = self.currency(sale.location_id)
        voided = sale.state == "voided"
        tip = rec.tip1 if rec.tip_edit_us <= now_us else rec.tip0
        total = rec.amount + tip
        created = self.payment_created(sale, rec.tender_idx)
        updated = from_us(updated_us(rec, now_us))
        p: dict[str, Any] = {
            "id": tender.id,
            "created_at": ts(created),
            "updated_at": ts(updated),
            "amount_money": money(rec.amount, cur),
        }
        if tip:
            p["tip_money"] = money(tip, cur)
        p["total_money"] = money(total, cur)
        p["approved_money"] = money(total if not voided else rec.amount, cur)
        kind = tender.kind
        if kind != "cash" and not voided:
            fee0 = fee_cents(rec.amount + rec.tip0, cur)
            fees = [{"effective_at": ts(sale.closed_at), "type": "INITIAL", "amount_money": money(fee0, cur)}]
            if rec.tip_edit_us <= now_us:
                delta = fee_cents(total, cur) - fee0
                if delta:
                    fees.append({"effective_at": ts(from_us(rec.tip_edit_us)), "type": "ADJUSTMENT",
                                 "amount_money": money(delta, cur)})
            p["processing_fee"] = fees
        refund = sale.refund
        refund_visible = refund is not None and refund.tender_id == tender.id and \
            refund.created_at <= from_us(now_us)
        if refund_visible:
            assert refund is not None
            p["refunded_money"] = money(refund.amount_cents, cur)
        p["status"] = "CANCELED" if voided else "COMPLETED"
        p["source_type"] = rec.source_type
        if kind == "cash":
            supplied = total if total % 500 == 0 else (total // 500 + 1) * 500
            p["cash_details"] = {"buyer_supplied_money": money(supplied, cur),
                                 "change_back_money": money(supplied - total, cur)}
        elif kind == "mobile":
            p["wallet_details"] = {"status": "CAPTURED", "brand": "UNKNOWN"}
        else:
            timeline: dict[str, str] = {"authorized_at": ts(created)}
            if voided:
                timeline["voided_at"] = ts(sale.closed_at)
            else:
                timeline["captured_at"] = ts(sale.closed_at)
            p["card_details"] = {
                "status": "VOIDED" if voided else "CAPTURED",
                "card": self.card(tender),
                "entry_method": tender.entry_method or "EMV",
                "cvv_status": "CVV_NOT_CHECKED",
                "avs_status": "AVS_NOT_CHECKED",
                "auth_result_code": f"{_h('auth', tender.id) % 1_000_000:06d}",
                "statement_description": "SQ *" + self.accounts[self.locations[sale.location_id].account_id].name.upper()[:16],
                "card_payment_timeline": timeline,
            }
        p["location_id"] = sale.location_id
        p["order_id"] = sale.id
        if sale.customer_id:
            p["customer_id"] = sale.customer_id
        p["employee_id"] = sale.cashier_id
        p["team_member_id"] = sale.cashier_id
        if refund_visible:
            assert refund is not None
            p["refund_ids"] = [refund.id]
        if kind != "cash" and not voided:
            p["capabilities"] = ["EDIT_TIP_AMOUNT_UP", "EDIT_TIP_AMOUNT_DOWN"]
        if not voided:
            p["receipt_number"] = tender.id[:4]
            p["receipt_url"] = f"https://squareup.com/receipt/preview/{tender.id}"
        p["device_details"] = {"device_id": sale.register_id,
                               "device_name": self.register_names.get(sale.register_id, "Register")}
        p["application_details"] = {"square_product": "SQUARE_POS", "application_id": self.application_id}
        p["version_token"] = square_id(43, "vt", tender.id, updated_us(rec, now_us))
        return p

    # ------------------------------------------------------------------ refunds
    def refund(self, rec: RefundRec, sale: Sale, now_us: int) -> dict[str, Any]:
        refund = sale.refund
        assert refund is not None
        tender = next(t for t in sale.tenders if t.id == refund.tender_id)
        cur = self.currency(sale.location_id)
        completed = rec.completed_us <= now_us
        r: dict[str, Any] = {
            "id": refund.id,
            "status": "COMPLETED" if completed else "PENDING",
            "location_id": sale.location_id,
            "destination_type": rec.source_type,
        }
        if tender.kind == "cash":
            r["destination_details"] = {"cash_details": {"seller_supplied_money": money(refund.amount_cents, cur),
                                                         "change_back_money": money(0, cur)}}
        elif tender.kind != "mobile":
            r["destination_details"] = {"card_details": {"card": self.card(tender),
                                                         "entry_method": tender.entry_method or "EMV"}}
        r["amount_money"] = money(refund.amount_cents, cur)
        if completed and tender.kind != "cash":
            r["processing_fee"] = [{"effective_at": ts(refund.completed_at), "type": "INITIAL",
                                    "amount_money": money(-fee_cents(refund.amount_cents, cur), cur)}]
        r["payment_id"] = tender.id
        r["order_id"] = refund.return_order_id
        r["reason"] = refund.reason
        r["created_at"] = ts(refund.created_at)
        r["updated_at"] = ts(from_us(updated_us(rec, now_us)))
        r["team_member_id"] = sale.cashier_id
        return r

    # ------------------------------------------------------------------ orders
    def order(self, rec: OrderRec, sale: Sale, now_us: int) -> dict[str, Any]:
        if rec.is_return:
            return self.return_order(rec, sale, now_us)
        cur = self.currency(sale.location_id)
        now = from_us(now_us)
        voided = sale.state == "voided"
        tax_uids: dict[str, str] = {}
        tax_applied: dict[str, int] = {}
        disc_uids: dict[str, str] = {}
        disc_applied: dict[str, int] = {}
        order_disc = self.discounts.get(sale.order_discount_id) if sale.order_discount_id else None
        line_items = []
        for line in sale.lines:
            item = self.items_by_id.get(line.item_id)
            state = item.state_at(sale.opened_at) if item is not None else None
            units = line.quantity
            li: dict[str, Any] = {"uid": line.uid, "name": line.name, "quantity": qty(units)}
            if line.unit == "kg":
                li["quantity_unit"] = {"measurement_unit": {"weight_unit": "METRIC_KILOGRAM", "type": "TYPE_WEIGHT"},
                                       "precision": 3}
            li["catalog_object_id"] = line.variation_id
            if state is not None:
                li["catalog_version"] = state.version
            li["variation_name"] = line.variation_name
            li["item_type"] = "ITEM"
            if line.modifiers:
                li["modifiers"] = [
                    {"uid": self.uid(line.uid, "mod", k), "catalog_object_id": m.modifier_id,
                     "catalog_version": self.modifiers[m.modifier_id].version if m.modifier_id in self.modifiers else 0,
                     "name": m.name, "quantity": "1", "base_price_money": money(m.price_cents, cur),
                     "total_price_money": money(int(m.price_cents * units), cur)}
                    for k, m in enumerate(line.modifiers)
                ]
            tax_uid = tax_uids.setdefault(line.tax_id, self.uid(sale.id, "tax", line.tax_id))
            tax_applied[line.tax_id] = tax_applied.get(line.tax_id, 0) + line.tax_cents
            li["applied_taxes"] = [{"uid": self.uid(line.uid, "tax"), "tax_uid": tax_uid,
                                    "applied_money": money(line.tax_cents, cur)}]
            applied_discounts = []
            promo_part = 0
            if line.discount_id:
                promo = self.discounts[line.discount_id]
                promo_part = min(line.discount_cents, half_up_div(line.gross_cents * int(promo.percentage * 100), 10_000))
                duid = disc_uids.setdefault(promo.id, self.uid(sale.id, "disc", promo.id))
                disc_applied[promo.id] = disc_applied.get(promo.id, 0) + promo_part
                applied_discounts.append({"uid": self.uid(line.uid, "disc", promo.id), "discount_uid": duid,
                                          "applied_money": money(promo_part, cur)})
            if order_disc is not None:
                part = line.discount_cents - promo_part
                duid = disc_uids.setdefault(order_disc.id, self.uid(sale.id, "disc", order_disc.id))
                disc_applied[order_disc.id] = disc_applied.get(order_disc.id, 0) + part
                applied_discounts.append({"uid": self.uid(line.uid, "disc", order_disc.id), "discount_uid": duid,
                                          "applied_money": money(part, cur)})
            if applied_discounts:
                li["applied_discounts"] = applied_discounts
            li["base_price_money"] = money(line.unit_price_cents, cur)
            mods_total = sum(int(m.price_cents * units) for m in line.modifiers)
            li["variation_total_price_money"] = money(line.gross_cents - mods_total, cur)
            li["gross_sales_money"] = money(line.gross_cents, cur)
            li["total_tax_money"] = money(line.tax_cents, cur)
            li["total_discount_money"] = money(line.discount_cents, cur)
            li["total_money"] = money(line.total_cents, cur)
            li["total_service_charge_money"] = money(0, cur)
            line_items.append(li)

        o: dict[str, Any] = {"id": sale.id, "location_id": sale.location_id, "source": {"name": sale.source}}
        if sale.customer_id:
            o["customer_id"] = sale.customer_id
        o["line_items"] = line_items
        o["taxes"] = [self._order_tax(tax_id, uid, tax_applied[tax_id], cur) for tax_id, uid in tax_uids.items()]
        if disc_uids:
            o["discounts"] = [
                {"uid": uid, "catalog_object_id": d.id, "catalog_version": d.version, "name": d.name,
                 "type": "FIXED_PERCENTAGE", "percentage": pct(d.percentage),
                 "applied_money": money(disc_applied[d.id], cur), "scope": d.scope}
                for d, uid in ((self.discounts[i], u) for i, u in disc_uids.items())
            ]
        if sale.service_charge_cents:
            sc = money(sale.service_charge_cents, cur)
            o["service_charges"] = [{"uid": self.uid(sale.id, "sc"), "name": sale.service_charge_name or "Service",
                                     "amount_money": sc, "applied_money": sc, "total_money": sc,
                                     "total_tax_money": money(0, cur), "calculation_phase": "SUBTOTAL_PHASE",
                                     "taxable": False, "type": "CUSTOM", "scope": "ORDER"}]
        tip_total = 0
        tenders = []
        for k, tender in enumerate(sale.tenders):
            tip = sale.tender_tip_as_of(tender, now)
            tip_total += tip
            t: dict[str, Any] = {"id": tender.id, "location_id": sale.location_id, "transaction_id": sale.id,
                                 "created_at": ts(self.payment_created(sale, k)),
                                 "amount_money": money(tender.amount_cents + tip, cur)}
            if tip:
                t["tip_money"] = money(tip, cur)
            if tender.kind != "cash" and not voided:
                t["processing_fee_money"] = money(fee_cents(tender.amount_cents + tender.tip_cents, cur), cur)
            if sale.customer_id:
                t["customer_id"] = sale.customer_id
            t["type"] = TENDER_TYPE[tender.kind]
            if tender.kind in ("card", "contactless"):
                t["card_details"] = {"status": "VOIDED" if voided else "CAPTURED",
                                     "card": {"card_brand": tender.card_brand or "OTHER_BRAND",
                                              "last_4": tender.last_4 or "0000",
                                              "fingerprint": self.card(tender)["fingerprint"]},
                                     "entry_method": tender.entry_method or "EMV"}
            elif tender.kind == "cash":
                total = tender.amount_cents + tip
                supplied = total if total % 500 == 0 else (total // 500 + 1) * 500
                t["cash_details"] = {"buyer_tendered_money": money(supplied, cur),
                                     "change_back_money": money(supplied - total, cur)}
            t["payment_id"] = tender.id
            tenders.append(t)
        o["tenders"] = tenders
        total = sale.net_before_tip_cents + tip_total
        o["net_amounts"] = {"total_money": money(total, cur), "tax_money": money(sale.tax_cents, cur),
                            "discount_money": money(sale.discount_cents, cur), "tip_money": money(tip_total, cur),
                            "service_charge_money": money(sale.service_charge_cents, cur)}
        o["created_at"] = ts(sale.opened_at)
        o["updated_at"] = ts(from_us(updated_us(rec, now_us)))
        o["closed_at"] = ts(sale.closed_at)
        o["state"] = rec.state
        o["version"] = self.version(rec, now_us)
        o["total_money"] = money(total, cur)
        o["total_tax_money"] = money(sale.tax_cents, cur)
        o["total_discount_money"] = money(sale.discount_cents, cur)
        o["total_tip_money"] = money(tip_total, cur)
        o["total_service_charge_money"] = money(sale.service_charge_cents, cur)
        o["net_amount_due_money"] = money(0, cur)
        return o

    @staticmethod
    def version(rec: OrderRec, now_us: int) -> int:
        return sum(1 for t in rec.events if t <= now_us) or 1

    def _order_tax(self, tax_id: str, uid: str, applied: int, cur: str) -> dict[str, Any]:
        tax = self.taxes[tax_id]
        return {"uid": uid, "catalog_object_id": tax.id, "catalog_version": tax.version, "name": tax.name,
                "type": "INCLUSIVE" if tax.inclusive else "ADDITIVE", "percentage": pct(tax.rate),
                "applied_money": money(applied, cur), "scope": "LINE_ITEM"}

    def return_order(self, rec: OrderRec, sale: Sale, now_us: int) -> dict[str, Any]:
        refund: Refund | None = sale.refund
        assert refund is not None
        cur = self.currency(sale.location_id)
        lines = {line.uid: line for line in sale.lines}
        return_taxes: dict[str, str] = {}
        tax_applied: dict[str, int] = {}
        rlis = []
        discount_total = 0
        for k, rl in enumerate(refund.lines):
            line = lines[rl.line_uid]
            added_tax = 0 if sale.prices_include_tax else rl.tax_cents
            if line.discount_cents == 0:
                disc = 0
            elif rl.quantity == line.quantity:
                disc = line.discount_cents
            else:
                disc = half_up_div(line.discount_cents * int(rl.quantity * 1000), int(line.quantity * 1000))
            gross = rl.amount_cents - added_tax + disc
            discount_total += disc
            tax_uid = return_taxes.setdefault(line.tax_id, self.uid(rec.id, "tax", line.tax_id))
            tax_applied[line.tax_id] = tax_applied.get(line.tax_id, 0) + rl.tax_cents
            item = self.items_by_id.get(line.item_id)
            state = item.state_at(sale.opened_at) if item is not None else None
            rli: dict[str, Any] = {"uid": self.uid(rec.id, "rli", k), "source_line_item_uid": line.uid,
                                   "name": line.name, "quantity": qty(rl.quantity)}
            if line.unit == "kg":
                rli["quantity_unit"] = {"measurement_unit": {"weight_unit": "METRIC_KILOGRAM", "type": "TYPE_WEIGHT"},
                                        "precision": 3}
            rli["catalog_object_id"] = line.variation_id
            if state is not None:
                rli["catalog_version"] = state.version
            rli["variation_name"] = line.variation_name
            rli["item_type"] = "ITEM"
            rli["applied_taxes"] = [{"uid": self.uid(rec.id, "rli-tax", k), "tax_uid": tax_uid,
                                     "applied_money": money(rl.tax_cents, cur)}]
            rli["base_price_money"] = money(line.unit_price_cents, cur)
            rli["gross_return_money"] = money(gross, cur)
            rli["total_tax_money"] = money(rl.tax_cents, cur)
            rli["total_discount_money"] = money(disc, cur)
            rli["total_money"] = money(rl.amount_cents, cur)
            rlis.append(rli)
        ret: dict[str, Any] = {"uid": self.uid(rec.id, "return"), "source_order_id": sale.id, "return_line_items": rlis}
        if refund.service_charge_cents:
            sc = money(refund.service_charge_cents, cur)
            ret["return_service_charges"] = [{"uid": self.uid(rec.id, "rsc"),
                                              "source_service_charge_uid": self.uid(sale.id, "sc"),
                                              "name": sale.service_charge_name or "Service", "amount_money": sc,
                                              "applied_money": sc, "total_money": sc, "total_tax_money": money(0, cur),
                                              "calculation_phase": "SUBTOTAL_PHASE", "taxable": False,
                                              "scope": "ORDER"}]
        ret["return_taxes"] = [
            {"uid": uid, "source_tax_uid": self.uid(sale.id, "tax", tax_id), "catalog_object_id": tax_id,
             "catalog_version": self.taxes[tax_id].version, "name": self.taxes[tax_id].name,
             "type": "INCLUSIVE" if self.taxes[tax_id].inclusive else "ADDITIVE",
             "percentage": pct(self.taxes[tax_id].rate), "applied_money": money(tax_applied[tax_id], cur),
             "scope": "LINE_ITEM"}
            for tax_id, uid in return_taxes.items()
        ]
        if refund.tip_cents:
            ret["return_tips"] = [{"uid": self.uid(rec.id, "rtip"), "applied_money": money(refund.tip_cents, cur),
                                   "source_tender_id": refund.tender_id}]
        amounts = {"total_money": refund.amount_cents, "tax_money": refund.tax_cents, "discount_money": discount_total,
                   "tip_money": refund.tip_cents, "service_charge_money": refund.service_charge_cents}
        completed = rec.events[-1] <= now_us  # events: (refund created, refund completed)
        tender = next(t for t in sale.tenders if t.id == refund.tender_id)
        refund_obj: dict[str, Any] = {"id": refund.id, "location_id": sale.location_id, "transaction_id": sale.id,
                                      "tender_id": tender.id, "created_at": ts(refund.created_at),
                                      "reason": refund.reason, "amount_money": money(refund.amount_cents, cur),
                                      "status": "APPROVED" if completed else "PENDING"}
        if completed and tender.kind != "cash":
            refund_obj["processing_fee_money"] = money(-fee_cents(refund.amount_cents, cur), cur)
        o: dict[str, Any] = {"id": rec.id, "location_id": sale.location_id, "source": {"name": sale.source}}
        if sale.customer_id:
            o["customer_id"] = sale.customer_id
        o["returns"] = [ret]
        o["return_amounts"] = {k: money(v, cur) for k, v in amounts.items()}
        o["net_amounts"] = {k: money(-v, cur) for k, v in amounts.items()}
        o["refunds"] = [refund_obj]
        o["created_at"] = ts(refund.created_at)
        o["updated_at"] = ts(from_us(updated_us(rec, now_us)))
        o["closed_at"] = ts(refund.created_at)
        o["state"] = "COMPLETED"
        o["version"] = self.version(rec, now_us)
        zero = money(0, cur)
        for key in ("total_money", "total_tax_money", "total_discount_money", "total_tip_money",
                    "total_service_charge_money", "net_amount_due_money"):
            o[key] = dict(zero)
        return o

    # ------------------------------------------------------------------ locations and team
    def location(self, loc: Location) -> dict[str, Any]:
        account = self.accounts[loc.account_id]
        index = account.location_ids.index(loc.location_id)
        return {
            "id": loc.location_id,
            "name": loc.name,
            "address": {"address_line_1": loc.address, "locality": loc.city, "postal_code": loc.postal_code,
                        "country": loc.country},
            "timezone": loc.timezone,
            "capabilities": ["CREDIT_CARD_PROCESSING", "AUTOMATIC_TRANSFERS"],
            "status": "ACTIVE",
            "created_at": ts(account.created_at + timedelta(days=index)),
            "merchant_id": loc.account_id,
            "country": loc.country,
            "language_code": "es-ES" if loc.country == "ES" else "en-US",
            "currency": loc.currency,
            "business_name": account.name,
            "type": "PHYSICAL",
            "mcc": MCC_BAKERY,
        }

    @staticmethod
    def team_member(member: TeamMember) -> dict[str, Any]:
        assigned: dict[str, Any]
        if member.is_owner:
            assigned = {"assignment_type": "ALL_CURRENT_AND_FUTURE_LOCATIONS"}
        else:
            assigned = {"assignment_type": "EXPLICIT_LOCATIONS", "location_ids": list(member.location_ids)}
        return {"id": member.id, "is_owner": member.is_owner, "status": "ACTIVE", "given_name": member.given_name,
                "family_name": member.family_name, "email_address": member.email,
                "created_at": ts(member.created_at), "updated_at": ts(member.created_at),
                "assigned_locations": assigned}

    def customer(self, customer: Customer, index: int) -> dict[str, Any]:
        """A Customer profile (ListCustomers). The world has no creation time for its customers: the
        ``index``-th one of the account was created ``index`` minutes after the account (before any
        sale names it), and none was edited since (``version`` 0, ``updated_at`` = ``created_at``)."""
        created = ts(customer_created_at(self.accounts[customer.account_id].created_at, index))
        return {"id": customer.id, "created_at": created, "updated_at": created,
                "given_name": customer.given_name, "family_name": customer.family_name,
                "email_address": customer.email, "phone_number": customer.phone,
                "preferences": {"email_unsubscribed": False}, "creation_source": "DIRECTORY", "version": 0}

    # ------------------------------------------------------------------ catalog
    def measurement_unit_id(self, account_id: str) -> str:
        return upper_id(24, self.world.seed, "unit-kg", account_id)

    def catalog(self, account_id: str, now_us: int) -> list[CatalogEntry]:
        """Every catalog object of the account that exists at ``now`` (tombstones included),
        sorted by (type rank, id). Nested variations/modifiers also appear as their own entries."""
        key = (account_id, now_us)
        cached = self._catalog_cache.get(key)
        if cached is not None:
            return cached
        world = self.world
        now = from_us(now_us)
        account = self.accounts[account_id]
        currency = account.currency
        entries: list[CatalogEntry] = []

        def base(type_: str, id_: str, at: datetime, version: int, deleted: bool = False) -> dict[str, Any]:
            return {"type": type_, "id": id_, "updated_at": ts(at), "version": version, "is_deleted": deleted,
                    "present_at_all_locations": True}

        def add(rank: int, obj: dict[str, Any], at: datetime, deleted: bool = False) -> None:
            entries.append(CatalogEntry(rank, obj["id"], obj["type"], int(at.timestamp() * 1_000_000), deleted, obj))

        for cat in world.categories[account_id]:
            if cat.created_at <= now:
                add(0, self._category(base, cat), cat.created_at)
        for tax in world.taxes[account_id]:
            if tax.created_at <= now:
                obj = base("TAX", tax.id, tax.created_at, tax.version)
                obj["tax_data"] = {"name": tax.name, "calculation_phase": "TAX_SUBTOTAL_PHASE",
                                   "inclusion_type": "INCLUSIVE" if tax.inclusive else "ADDITIVE",
                                   "percentage": pct(tax.rate), "applies_to_custom_amounts": True, "enabled": True}
                add(1, obj, tax.created_at)
        for disc in world.discounts[account_id]:
            if disc.created_at <= now:
                obj = base("DISCOUNT", disc.id, disc.created_at, disc.version)
                obj["discount_data"] = {"name": disc.name, "discount_type": "FIXED_PERCENTAGE",
                                        "percentage": pct(disc.percentage), "pin_required": False,
                                        "modify_tax_basis": "MODIFY_TAX_BASIS"}
                add(2, obj, disc.created_at)
        mods = [m for m in world.modifiers[account_id] if m.created_at <= now]
        lists: dict[str, list[Modifier]] = {}
        for m in mods:
            lists.setdefault(m.list_id, []).append(m)
        for list_id, members in lists.items():
            at = max(m.created_at for m in members)
            modifier_objs = []
            for ordinal, m in enumerate(members):
                mobj = base("MODIFIER", m.id, m.created_at, m.version)
                mobj["modifier_data"] = {"name": m.name, "price_money": money(m.price_cents, currency),
                                         "ordinal": ordinal, "modifier_list_id": list_id}
                modifier_objs.append(mobj)
                add(4, mobj, m.created_at)
            lobj = base("MODIFIER_LIST", list_id, at, max(m.version for m in members))
            lobj["modifier_list_data"] = {"name": members[0].list_name, "ordinal": 0, "selection_type": "MULTIPLE",
                                          "modifiers": modifier_objs}
            add(3, lobj, at)
        unit_id = self.measurement_unit_id(account_id)
        if account.created_at <= now:
            uobj = base("MEASUREMENT_UNIT", unit_id, account.created_at, int(account.created_at.timestamp() * 1000))
            uobj["measurement_unit_data"] = {"measurement_unit": {"weight_unit": "METRIC_KILOGRAM", "type": "TYPE_WEIGHT"},
                                             "precision": 3}
            add(5, uobj, account.created_at)
        coffee_lists = list(lists)
        for item in world.items[account_id]:
            state = item.state_at(now)
            if state is None:
                continue
            product = world.product_by_id[item.product_id]
            vobj = base("ITEM_VARIATION", item.variation_id, state.at, state.version, state.deleted)
            vdata: dict[str, Any] = {"item_id": item.item_id, "name": state.variation_name}
            if state.sku:
                vdata["sku"] = state.sku
            vdata.update({"ordinal": 0, "pricing_type": "FIXED_PRICING", "price_money": money(state.price_cents, currency)})
            if item.by_weight:
                vdata["measurement_unit_id"] = unit_id
            vdata.update({"sellable": True, "stockable": True})
            vobj["item_variation_data"] = vdata
            iobj = base("ITEM", item.item_id, state.at, state.version, state.deleted)
            idata: dict[str, Any] = {"name": state.name, "is_taxable": True,
                                     "tax_ids": [world.tax_for(account_id, item.item_id).id]}
            if product.category == "Cafetería" and coffee_lists:
                idata["modifier_list_info"] = [{"modifier_list_id": coffee_lists[0], "enabled": True}]
            idata["variations"] = [vobj]
            idata["product_type"] = "REGULAR"
            idata["categories"] = [{"id": item.category_id, "ordinal": 0}]
            idata["reporting_category"] = {"id": item.category_id, "ordinal": 0}
            iobj["item_data"] = idata
            add(6, iobj, state.at, state.deleted)
            add(7, vobj, state.at, state.deleted)
        entries.sort(key=lambda e: (e.rank, e.id))
        if len(self._catalog_cache) > 64:
            self._catalog_cache.clear()
        self._catalog_cache[key] = entries
        return entries

    @staticmethod
    def _category(base: Any, cat: Category) -> dict[str, Any]:
        obj = base("CATEGORY", cat.id, cat.created_at, cat.version)
        obj["category_data"] = {"name": cat.name, "category_type": "REGULAR_CATEGORY", "is_top_level": True,
                                "online_visibility": True}
        return obj

