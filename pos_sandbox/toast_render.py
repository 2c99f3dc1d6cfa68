"""Render the bakery world's Toast restaurants as Toast's Orders v2, Menus v2 and Restaurants v1 APIs.

Money is rendered from the world's integer cents as major-unit doubles (``cents / 100``: the
double nearest the exact decimal, so its shortest text is the exact amount). Aggregates that Toast
computes (check ``amount``, ``taxAmount``, ``totalAmount``) are float sums of the rendered parts,
so they can carry binary artefacts such as ``12.340000000000002``, as real Toast payloads do; a
connector must round the decimal text half-up to cents, once. Fields the sandbox has no value for
are left out (the Swagger copies allow no ``null`` except on ``x-nullable`` fields).

Modelling choices (documented here, relied on by tests):

* One order = one check = one world sale (``Sale.id`` / ``Sale.check_id``); selections are the
  sale's lines (``Line.uid``) with modifiers as nested selections whose price is already in the
  parent's ``price`` (never add it again).
* ``modifiedDate`` (order and check) = the latest of: the close, a visible tip edit, the refund's
  completion (refunds show *in place* once completed), the deletion. ``createdDate`` =
  ``openedDate`` = the sale's opening; ``businessDate`` from the opening and the closeout hour.
* Voided sales: ``voided`` on the order, the check and every selection (``voidDate`` = the void,
  ``voidBusinessDate``); payments ``paymentStatus`` VOIDED with ``voidInfo``. Voided selections
  inside a completed check (``Line.voided``) keep their prices but are in no check total;
  their ``voidDate`` is one minute before the close (or the opening, if later).
* Deleted sales: ``deleted=true`` with ``deletedDate`` (order and check) from ``deleted_at``; before
  that they are open, unpaid checks (``paymentStatus`` OPEN, no payments). Every other order and
  check has ``deletedDate`` = ``1970-01-01T00:00:00.000+0000`` and ``deleted=false``.
* Discounts: the item-level promo is a selection ``appliedDiscounts`` entry; the order-level staff
  discount is a check ``appliedDiscounts`` entry whose amount is the sum of its per-line shares.
  ``price`` = ``preDiscountPrice`` − both (Toast's ``price`` includes check-level discounts).
* Refunds: ``Payment.refundStatus`` FULL/PARTIAL and ``refund`` {refundAmount (excl. tip),
  tipRefundAmount, refundDate = the refund's creation, refundBusinessDate}; refunded selections
  carry ``refundDetails`` {refundAmount (excl. tax), taxRefundAmount}; a fully refunded service
  charge carries ``refundDetails`` too.
* Menus: one menu whose groups nest (``Bakery`` → Bread/Pastries/Cakes, ``Café`` → Coffee/Drinks);
  leaf groups are the POS categories (their guid is the selections' ``itemGroup``); items deleted
  (archived) by ``now`` are missing; the coffee modifiers are one modifier group (reference 1) with
  options referenced from 10 on. ``lastUpdated`` = the latest catalog change at or before ``now``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pos_sandbox.model import Account, Customer, Line, Location, Modifier, PosItem, Sale, Tax, Tender
from pos_sandbox.toast_http import EPOCH_SENTINEL, business_int, toast_ts
from pos_sandbox.world import World, guid, half_up_div

CARD_TYPE = {"VISA": "VISA", "MASTERCARD": "MASTERCARD", "AMERICAN_EXPRESS": "AMEX", "DISCOVER": "DISCOVER"}
ENTRY_MODE = {"EMV": "EMV_CHIP_SIGN", "SWIPED": "SWIPED", "KEYED": "KEYED", "CONTACTLESS": "CONTACTLESS"}
PARENT_GROUPS = (("Bakery", ("Panadería", "Bollería", "Pastelería")), ("Café", ("Cafetería", "Bebidas")))
MODIFIER_GROUP_REF = 1
MODIFIER_OPTION_REF0 = 10
COORDS = {"New York": (40.7330, -74.0030), "Brooklyn": (40.7197, -73.9613)}


def money(cents: int) -> float:
    return cents / 100


def _int64(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "big") >> 2


def ref(guid_: str, entity: str) -> dict[str, Any]:
    return {"guid": guid_, "entityType": entity}


class ToastRenderer:
    """Renders one world's Toast accounts; lookups are built once."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.accounts: dict[str, Account] = {a.account_id: a for a in world.accounts if a.provider == "toast"}
        self.locations: dict[str, Location] = {
            loc.location_id: loc for loc in world.locations if loc.account_id in self.accounts
        }
        self.items: dict[str, PosItem] = {}
        self.modifiers: dict[str, Modifier] = {}
        self.taxes: dict[str, Tax] = {}
        self.customers: dict[str, Customer] = {}
        self.discount_pct: dict[str, Decimal] = {}
        for account_id in self.accounts:
            self.items.update({i.item_id: i for i in world.items[account_id]})
            self.modifiers.update({m.id: m for m in world.modifiers[account_id]})
            self.taxes.update({t.id: t for t in world.taxes[account_id]})
            self.customers.update({c.id: c for c in world.customers[account_id]})
            self.discount_pct.update({d.id: d.percentage for d in world.discounts[account_id]})
        self.discounts = {d.id: d for account_id in self.accounts for d in world.discounts[account_id]}

    # ------------------------------------------------------------------ clock-dependent views
    @staticmethod
    def refund_visible(sale: Sale, now: datetime) -> bool:
        return sale.refund is not None and sale.refund.completed_at <= now

    @staticmethod
    def deleted(sale: Sale, now: datetime) -> bool:
        return sale.deleted_at is not None and sale.deleted_at <= now

    def modified(self, sale: Sale, now: datetime) -> datetime:
        stamp = sale.closed_at
        edit = sale.tip_edit
        if edit is not None and edit.at <= now:
            stamp = max(stamp, edit.at)
        if sale.refund is not None and sale.refund.completed_at <= now:
            stamp = max(stamp, sale.refund.completed_at)
        if sale.deleted_at is not None and sale.deleted_at <= now:
            stamp = max(stamp, sale.deleted_at)
        return stamp

    def business_date(self, sale: Sale, when: datetime) -> int:
        return business_int(self.world.business_date(self.locations[sale.location_id], when))

    # ------------------------------------------------------------------ orders
    def order(self, sale: Sale, now: datetime) -> dict[str, Any]:
        loc = self.locations[sale.location_id]
        account_id = loc.account_id
        deleted = self.deleted(sale, now)
        voided = sale.state == "voided"
        modified = toast_ts(self.modified(sale, now))
        out: dict[str, Any] = {
            "guid": sale.id,
            "entityType": "Order",
            "openedDate": toast_ts(sale.opened_at),
            "createdDate": toast_ts(sale.opened_at),
            "modifiedDate": modified,
            "diningOption": ref(guid(self.world.seed, "dining", account_id, "take-out"), "DiningOption"),
            "checks": [self.check(sale, now, modified)],
            "revenueCenter": ref(guid(self.world.seed, "revenue-center", loc.location_id), "RevenueCenter"),
            "source": sale.source,
            "duration": int((sale.closed_at - sale.opened_at).total_seconds()),
            "numberOfGuests": 1,
            "voided": voided,
            "businessDate": business_int(sale.local_date),
            "server": ref(sale.cashier_id, "RestaurantUser"),
            "pricingFeatures": ["TAXESV3"],
            "approvalStatus": "APPROVED",
            "createdDevice": {"id": sale.register_id},
            "lastModifiedDevice": {"id": sale.register_id},
            "createdInTestMode": False,
            "excessFood": False,
            "displayNumber": str(sale.number),
            "deleted": deleted,
            "deletedDate": toast_ts(sale.deleted_at) if deleted and sale.deleted_at else EPOCH_SENTINEL,
        }
        if voided and sale.void_at is not None:
            out["voidDate"] = toast_ts(sale.void_at)
            out["voidBusinessDate"] = business_int(sale.local_date)
        if sale.state != "deleted":
            out["paidDate"] = toast_ts(sale.closed_at)
            out["closedDate"] = toast_ts(sale.closed_at)
        return out

    def check(self, sale: Sale, now: datetime, modified: str) -> dict[str, Any]:
        deleted = self.deleted(sale, now)
        voided = sale.state == "voided"
        refund = sale.refund if self.refund_visible(sale, now) else None
        refunded_lines = {r.line_uid: r for r in refund.lines} if refund is not None else {}
        selections = [self.selection(sale, line, now, refunded_lines.get(line.uid)) for line in sale.lines]
        amount = 0.0
        tax = 0.0
        for line, sel in zip(sale.lines, selections, strict=True):
            if not line.voided:
                amount += sel["price"]
                tax += sel["tax"]
        charges: list[dict[str, Any]] = []
        if sale.service_charge_cents:
            charge: dict[str, Any] = {
                "guid": guid(sale.check_id, "service-charge"),
                "entityType": "AppliedServiceCharge",
                "chargeAmount": money(sale.service_charge_cents),
                "serviceCharge": ref(guid(self.world.seed, "service-charge", sale.service_charge_name), "ServiceCharge"),
                "chargeType": "FIXED",
                "name": sale.service_charge_name or "Service charge",
                "delivery": True, "takeout": False, "dineIn": False, "gratuity": False, "taxable": False,
                "appliedTaxes": [],
                "serviceChargeCategory": "SERVICE_CHARGE",
            }
            if refund is not None and refund.service_charge_cents:
                charge["refundDetails"] = {"refundAmount": money(refund.service_charge_cents), "taxRefundAmount": 0.0,
                                           "refundTransaction": ref(refund.id, "PaymentRefund")}
            charges.append(charge)
            amount += charge["chargeAmount"]
        if sale.prices_include_tax:  # Toast's `amount` excludes tax even where prices include it
            amount -= tax
        out: dict[str, Any] = {
            "guid": sale.check_id,
            "entityType": "Check",
            "createdDate": toast_ts(sale.opened_at),
            "openedDate": toast_ts(sale.opened_at),
            "modifiedDate": modified,
            "deletedDate": toast_ts(sale.deleted_at) if deleted and sale.deleted_at else EPOCH_SENTINEL,
            "deleted": deleted,
            "selections": selections,
            "taxExempt": False,
            "displayNumber": str(sale.number),
            "appliedServiceCharges": charges,
            "amount": amount,
            "taxAmount": tax,
            "totalAmount": amount + tax,
            "payments": [self.payment(sale, k, now) for k in range(len(sale.tenders))],
            "paymentStatus": "OPEN" if sale.state == "deleted" else "CLOSED",
            "appliedDiscounts": self.check_discounts(sale),
            "voided": voided,
            "duration": int((sale.closed_at - sale.opened_at).total_seconds()),
            "openedBy": ref(sale.cashier_id, "RestaurantUser"),
            "createdDevice": {"id": sale.register_id},
            "lastModifiedDevice": {"id": sale.register_id},
        }
        if sale.state != "deleted":
            out["closedDate"] = toast_ts(sale.closed_at)
            out["paidDate"] = toast_ts(sale.closed_at)
        if voided and sale.void_at is not None:
            out["voidDate"] = toast_ts(sale.void_at)
            out["voidBusinessDate"] = business_int(sale.local_date)
        if sale.customer_id and sale.customer_id in self.customers:
            c = self.customers[sale.customer_id]
            out["customer"] = {"guid": c.id, "entityType": "Customer", "firstName": c.given_name,
                               "lastName": c.family_name, "phone": c.phone.replace(" ", ""), "email": c.email}
        return out

    def _promo_cents(self, line: Line) -> int:
        if line.discount_id is None:
            return 0
        pct = self.discount_pct.get(line.discount_id, Decimal(10))
        return half_up_div(line.gross_cents * int(pct * 100), 10_000)

    def check_discounts(self, sale: Sale) -> list[dict[str, Any]]:
        if sale.order_discount_id is None:
            return []
        share = sum(line.discount_cents - self._promo_cents(line) for line in sale.lines if not line.voided)
        discount = self.discounts.get(sale.order_discount_id)
        return [{
            "guid": guid(sale.check_id, "check-discount"),
            "entityType": "AppliedDiscount",
            "name": discount.name if discount else "Discount",
            "discountAmount": money(share),
            "nonTaxDiscountAmount": money(share),
            "discount": ref(sale.order_discount_id, "Discount"),
            "triggers": [],
            "processingState": "APPLIED",
            "discountType": "PERCENT",
            "discountPercent": float(discount.percentage) if discount else 20.0,
        }]

    def selection(self, sale: Sale, line: Line, now: datetime, refund_line: Any) -> dict[str, Any]:
        loc = self.locations[sale.location_id]
        voided = line.voided or sale.state == "voided"
        closed = toast_ts(sale.closed_at)
        modified = sale.refund.completed_at if refund_line is not None and sale.refund is not None else sale.closed_at
        item = self.items.get(line.item_id)
        modifiers = []
        for k, mod in enumerate(line.modifiers):
            option = self.modifiers.get(mod.modifier_id)
            cents = half_up_div(int(line.quantity * 1000) * mod.price_cents, 1000)
            modifiers.append({
                "guid": guid(line.uid, "modifier", k),
                "entityType": "MenuItemSelection",
                "item": ref(mod.modifier_id, "MenuItem"),
                "optionGroup": ref(option.list_id if option else guid("modifier-group", mod.modifier_id),
                                   "MenuOptionGroup"),
                "quantity": float(line.quantity),
                "unitOfMeasure": "NONE",
                "selectionType": "NONE",
                "appliedDiscounts": [],
                "deferred": False,
                "preDiscountPrice": money(cents),
                "price": money(cents),
                "tax": 0.0,
                "voided": voided,
                "displayName": mod.name,
                "createdDate": toast_ts(sale.opened_at),
                "modifiedDate": closed,
                "modifiers": [],
                "taxInclusion": "INHERITED",
                "appliedTaxes": [],
                "receiptLinePrice": money(mod.price_cents),
                "optionGroupPricingMode": "ADJUSTS_PRICE",
            })
        promo = self._promo_cents(line)
        discounts = []
        if promo:
            discount = self.discounts.get(line.discount_id or "")
            discounts.append({
                "guid": guid(line.uid, "promo"),
                "entityType": "AppliedDiscount",
                "name": discount.name if discount else "Promo",
                "discountAmount": money(promo),
                "nonTaxDiscountAmount": money(promo),
                "discount": ref(line.discount_id or "", "Discount"),
                "triggers": [],
                "processingState": "APPLIED",
                "discountType": "PERCENT",
                "discountPercent": float(discount.percentage) if discount else 10.0,
            })
        tax = self.taxes.get(line.tax_id)
        out: dict[str, Any] = {
            "guid": line.uid,
            "entityType": "MenuItemSelection",
            "item": ref(line.item_id, "MenuItem"),
            "itemGroup": ref(line.category_id, "MenuGroup"),
            "quantity": float(line.quantity),
            "seatNumber": 0,
            "unitOfMeasure": "KG" if line.unit == "kg" else "NONE",
            "selectionType": "NONE",
            "salesCategory": ref(guid(self.world.seed, "sales-category", loc.account_id, line.category_name),
                                 "SalesCategory"),
            "appliedDiscounts": discounts,
            "deferred": False,
            "preDiscountPrice": money(line.gross_cents),
            "price": money(line.gross_cents - line.discount_cents),
            "tax": money(line.tax_cents),
            "voided": voided,
            "displayName": line.name,
            "createdDate": toast_ts(sale.opened_at),
            "modifiedDate": toast_ts(modified),
            "modifiers": modifiers,
            "fulfillmentStatus": "SENT",
            "taxInclusion": "INCLUDED" if sale.prices_include_tax else "NOT_INCLUDED",
            "appliedTaxes": [{
                "guid": guid(line.uid, "applied-tax"),
                "entityType": "AppliedTaxRate",
                "taxRate": ref(line.tax_id, "TaxRate"),
                "name": tax.name if tax else "Sales Tax",
                "rate": float(line.tax_rate / 100),
                "taxAmount": money(line.tax_cents),
                "type": "PERCENT",
                "facilitatorCollectAndRemitTax": False,
            }],
            "receiptLinePrice": money(line.unit_price_cents),
        }
        if item is not None and line.sku:
            out["plu"] = line.sku
        if voided:
            if sale.state == "voided" and sale.void_at is not None:
                when = sale.void_at
                out["voidBusinessDate"] = business_int(sale.local_date)
            else:
                when = max(sale.opened_at, sale.closed_at - timedelta(minutes=1))
                out["voidBusinessDate"] = self.business_date(sale, when)
            out["voidDate"] = toast_ts(when)
        if refund_line is not None and sale.refund is not None:
            out["refundDetails"] = {
                "refundAmount": money(refund_line.amount_cents - refund_line.tax_cents),
                "taxRefundAmount": money(refund_line.tax_cents),
                "refundTransaction": ref(sale.refund.id, "PaymentRefund"),
            }
        return out

    def payment(self, sale: Sale, k: int, now: datetime) -> dict[str, Any]:
        tender: Tender = sale.tenders[k]
        voided = sale.state == "voided"
        tip = sale.tender_tip_as_of(tender, now)
        paid = sale.closed_at - timedelta(seconds=2 * (len(sale.tenders) - 1 - k))
        out: dict[str, Any] = {
            "guid": tender.id,
            "entityType": "OrderPayment",
            "paidDate": toast_ts(paid),
            "paidBusinessDate": self.business_date(sale, paid),
            "type": "CASH" if tender.kind == "cash" else "CREDIT",
            "amount": money(tender.amount_cents),
            "tipAmount": money(tip),
            "server": ref(sale.cashier_id, "RestaurantUser"),
            "refundStatus": "NONE",
            "paymentStatus": "VOIDED" if voided else "CAPTURED",
            "createdDevice": {"id": sale.register_id},
            "lastModifiedDevice": {"id": sale.register_id},
            "orderGuid": sale.id,
            "checkGuid": sale.check_id,
        }
        if tender.kind == "cash":
            total = tender.amount_cents
            out["amountTendered"] = money(total if total % 500 == 0 else (total // 500 + 1) * 500)
        else:
            out["cardEntryMode"] = ENTRY_MODE.get(tender.entry_method or "EMV", "EMV_CHIP_SIGN")
            out["cardType"] = CARD_TYPE.get(tender.card_brand or "", "UNKNOWN")
            out["last4Digits"] = tender.last_4 or "0000"
            if not voided:
                out["originalProcessingFee"] = money(half_up_div((tender.amount_cents + tender.tip_cents) * 260,
                                                                 10_000) + 10)
        if voided and sale.void_at is not None:
            out["voidInfo"] = {"voidDate": toast_ts(sale.void_at), "voidBusinessDate": business_int(sale.local_date)}
        refund = sale.refund
        if refund is not None and refund.tender_id == tender.id and refund.completed_at <= now:
            out["refundStatus"] = "FULL" if refund.full else "PARTIAL"
            out["refund"] = {
                "refundAmount": money(refund.amount_cents - refund.tip_cents),
                "tipRefundAmount": money(refund.tip_cents),
                "refundDate": toast_ts(refund.created_at),
                "refundBusinessDate": self.business_date(sale, refund.created_at),
                "refundTransaction": ref(refund.id, "PaymentRefund"),
            }
        return out

    # ------------------------------------------------------------------ restaurants
    def restaurant(self, location_id: str) -> dict[str, Any]:
        loc = self.locations[location_id]
        account = self.accounts[loc.account_id]
        lat, lon = COORDS.get(loc.city, (40.7128, -74.0060))
        return {
            "guid": loc.location_id,
            "general": {
                "name": account.name,
                "locationName": loc.name,
                "locationCode": loc.city[:3].upper(),
                "description": "Spanish bakery and café",
                "timeZone": loc.timezone,
                "closeoutHour": loc.closeout_hour,
                "managementGroupGuid": account.account_id,
                "currencyCode": loc.currency,
                "firstBusinessDate": business_int(self.world.business_date(loc, account.created_at)),
                "archived": False,
            },
            "urls": {"website": "https://sanbartolo.example", "facebook": "", "twitter": "", "orderOnline": "",
                     "purchaseGiftCard": "", "checkGiftCard": ""},
            "location": {
                "address1": loc.address, "address2": "", "city": loc.city, "stateCode": "NY",
                "administrativeArea": "NY", "zipCode": loc.postal_code, "country": loc.country,
                "phone": "2125550" + str(_int64(loc.location_id) % 900 + 100),
                "phoneCountryCode": "1", "latitude": lat, "longitude": lon,
            },
            "delivery": {"enabled": False, "minimum": 0.0, "area": ""},
            "onlineOrdering": {"enabled": False, "scheduling": False, "specialRequests": False,
                               "specialRequestsMessage": ""},
        }

    # ------------------------------------------------------------------ menus
    def menu_last_updated(self, account_id: str, now: datetime) -> datetime:
        stamps = [self.accounts[account_id].created_at]
        for item in self.world.items[account_id]:
            stamps += [s.at for s in item.history if s.at <= now]
        stamps += [m.created_at for m in self.world.modifiers[account_id] if m.created_at <= now]
        stamps += [c.created_at for c in self.world.categories[account_id] if c.created_at <= now]
        return max(stamps)

    def metadata(self, location_id: str, now: datetime) -> dict[str, Any]:
        loc = self.locations[location_id]
        return {"restaurantGuid": location_id, "lastUpdated": toast_ts(self.menu_last_updated(loc.account_id, now))}

    def menus(self, location_id: str, now: datetime) -> dict[str, Any]:
        loc = self.locations[location_id]
        account_id = loc.account_id
        seed = self.world.seed
        categories = {c.name: c for c in self.world.categories[account_id]}
        sellable = self.world.catalog_as_of(account_id, now)
        by_category: dict[str, list[dict[str, Any]]] = {}
        tax_incl = "TAX_INCLUDED" if loc.prices_include_tax else "TAX_NOT_INCLUDED"
        for position, (item, state) in enumerate(sellable):
            product = self.world.product_by_id[item.product_id]
            coffee = product.category == "Cafetería"
            by_category.setdefault(item.category_id, []).append({
                "name": state.name,
                "kitchenName": state.name,
                "guid": item.item_id,
                "multiLocationId": str(_int64(seed, "mlid", item.product_id)),
                "masterId": _int64(seed, "master", item.item_id),
                "description": "",
                "posName": state.name[:30],
                "visibility": ["POS", "KIOSK"],
                "price": money(state.price_cents),
                "pricingStrategy": "BASE_PRICE",
                "isDeferred": False,
                "isDiscountable": True,
                "salesCategory": {"name": item.category_name,
                                  "guid": guid(seed, "sales-category", account_id, item.category_name)},
                "taxInfo": [self.world.tax_for(account_id, item.item_id).id],
                "taxInclusion": tax_incl,
                "itemTags": [],
                "plu": "",
                "sku": state.sku or "",
                "unitOfMeasure": "KG" if item.by_weight else "NONE",
                "portions": [],
                "prepStations": [],
                "modifierGroupReferences": [MODIFIER_GROUP_REF] if coffee else [],
                "eligiblePaymentAssistancePrograms": [],
                "images": [],
                "sortOrder": position,
            })
        category_of_family = {}
        for cat in self.world.categories[account_id]:
            family = next((f for f, (_, names) in enumerate(PARENT_GROUPS)
                           if self._spanish_category(account_id, cat.id) in names), 0)
            category_of_family.setdefault(family, []).append(cat)
        parents = []
        for family, (parent_name, _) in enumerate(PARENT_GROUPS):
            leaves = [self._group(cat.name, cat.id, by_category.get(cat.id, []), [])
                      for cat in sorted(category_of_family.get(family, []), key=lambda c: c.name)]
            parents.append(self._group(parent_name, guid(seed, "menu-group", account_id, parent_name), [], leaves))
        del categories
        modifiers = self.world.modifiers[account_id]
        options = {}
        for k, mod in enumerate(modifiers):
            ref_id = MODIFIER_OPTION_REF0 + k
            options[str(ref_id)] = {
                "referenceId": ref_id, "name": mod.name, "kitchenName": mod.name, "guid": mod.id,
                "multiLocationId": str(_int64(seed, "mlid", mod.name)), "masterId": _int64(seed, "master", mod.id),
                "description": "", "posName": mod.name[:30], "prepStations": [], "visibility": ["POS", "KIOSK"],
                "price": money(mod.price_cents), "pricingStrategy": "BASE_PRICE", "taxInfo": [], "itemTags": [],
                "plu": "", "sku": "", "unitOfMeasure": "NONE", "isDefault": False, "allowsDuplicates": False,
                "portions": [], "modifierGroupReferences": [], "images": [], "sortOrder": k,
            }
        groups = {}
        if modifiers:
            groups[str(MODIFIER_GROUP_REF)] = {
                "name": modifiers[0].list_name, "guid": modifiers[0].list_id, "referenceId": MODIFIER_GROUP_REF,
                "multiLocationId": str(_int64(seed, "mlid", "modifier-group")),
                "masterId": _int64(seed, "master", modifiers[0].list_id), "posName": modifiers[0].list_name[:30],
                "visibility": ["POS", "KIOSK"], "pricingStrategy": "NONE",
                "minSelections": 0, "maxSelections": 1,
                "requiredMode": "OPTIONAL", "isMultiSelect": False,
                "modifierOptionReferences": [int(k) for k in options],
            }
        return {
            "restaurantGuid": location_id,
            "lastUpdated": toast_ts(self.menu_last_updated(account_id, now)),
            "restaurantTimeZone": loc.timezone,
            "menus": [{
                "name": "All Day",
                "guid": guid(seed, "menu", account_id),
                "multiLocationId": str(_int64(seed, "mlid", "menu")),
                "masterId": _int64(seed, "master", "menu", account_id),
                "description": "Bakery and café, all day",
                "posName": "All Day",
                "visibility": ["POS", "KIOSK"],
                "availability": {"alwaysAvailable": True},
                "menuGroups": parents,
            }],
            "modifierGroupReferences": groups,
            "modifierOptionReferences": options,
            "preModifierGroupReferences": {},
        }

    def _spanish_category(self, account_id: str, category_id: str) -> str:
        for item in self.world.items[account_id]:
            if item.category_id == category_id:
                return self.world.product_by_id[item.product_id].category
        return ""

    def _group(self, name: str, guid_: str, items: list[dict[str, Any]], groups: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "name": name, "guid": guid_, "multiLocationId": str(_int64("mlid", guid_)), "masterId": _int64("m", guid_),
            "description": "", "posName": name[:30], "visibility": ["POS", "KIOSK"], "itemTags": [],
            "menuGroups": groups, "menuItems": items,
        }
