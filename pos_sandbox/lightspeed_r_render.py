"""Rendering of the bakery world in Lightspeed R-Series (API V3) shapes.

Objects are built as Python values and turned into R-Series JSON by
:func:`pos_sandbox.lightspeed_r_http.as_strings` (every scalar a string) with nested collections
shaped by :func:`~pos_sandbox.lightspeed_r_http.collection` (one element → object, none → absent).

How the world's integers become R-Series fields (never recomputed, only rendered):

* **Sale**: ``calcSubtotal`` = Σ line gross (quantity × unit price before discounts, tax included
  in tax-inclusive shops), ``calcDiscount`` = Σ line discounts, ``calcTax1`` = tax (included or
  added), ``calcTotal`` = ``total`` = what is due before tips (gross − discounts + service charge +
  added tax); ``isTaxInclusive`` per shop. ``timeStamp`` moves at the close and at a late tip edit.
* **SaleLine**: ``unitQuantity`` (``"0.532"`` for bread by the kilo), ``unitPrice`` (the unit price
  with its modifier, as the till showed it), ``calcSubtotal`` (gross), ``calcLineDiscount`` and
  ``calcTransactionDiscount`` (sale-level discount allocated to the line), ``calcTax1``,
  ``calcTotal`` (gross − discounts + added tax). A service charge is a line without item
  (``itemID "0"``) carrying a ``Note``.
* **SalePayment**: ``amount`` (excludes the tip) and ``tipAmount``; some card sales also carry an
  ``archived="true"`` payment: a declined or cancelled attempt, to be skipped. A voided sale has
  ``voided="true"`` and only archived payments.
* **Returns**: a new Sale (own ``saleID``) with negative ``unitQuantity`` lines whose
  ``parentSaleLineID`` is the sold line, a negative service-charge line for full refunds and a
  negative SalePayment (``tipAmount`` negative when the tip is refunded). It exists from the
  refund's creation (``completed="false"``) and is completed from its completion.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from pos_sandbox.lightspeed_r_http import as_strings, collection, major, stamp
from pos_sandbox.model import Line, Location, PosItem, Refund, Sale, Tender
from pos_sandbox.world import World, half_up_div

PAYMENT_TYPES = (  # world tender kind -> (paymentTypeID, name, code, type)
    ("cash", "1", "Efectivo", "CASH", "cash"),
    ("card", "2", "Tarjeta de crédito", "CREDIT", "credit card"),
    ("contactless", "3", "Contactless", "CTLS", "credit card"),
    ("mobile", "4", "Pago móvil", "MOBILE", "credit card"),
)
PAYMENT_TYPE_OF = {kind: pid for kind, pid, *_ in PAYMENT_TYPES}
ARCHIVED_ATTEMPT_RATE = 4  # percent of card sales with a declined (archived) attempt before the good one


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def derived_id(*parts: object) -> str:
    """Ids the world does not draw (archived attempts, service-charge lines): integers too."""
    return str(_h(*parts) % 10**12 + 1)


class RSeriesRenderer:
    def __init__(self, world: World) -> None:
        self.world = world
        self.exponent = 2
        self._item_cache: dict[str, dict[str, PosItem]] = {}
        self._item_numbers: dict[str, int] = {}

    # ------------------------------------------------------------------ sales
    def sale(self, sale: Sale, now: datetime, relations: set[str], stamp_at: datetime) -> dict[str, Any]:
        loc = self.world.location_by_id[sale.location_id]
        m = self._m
        voided = sale.state == "voided"
        tip = 0 if voided else sale.tip_as_of(now)
        lines = [self.line(sale, loc, line, stamp_at, relations, sale_id=sale.id) for line in sale.lines]
        if sale.service_charge_cents:
            lines.append(self.fee_line(sale, loc, sale.service_charge_cents, sale.service_charge_name, stamp_at, 1))
        payments = self.payments(sale, now, relations)
        obj: dict[str, Any] = {
            "saleID": sale.id, "timeStamp": stamp(stamp_at), "discountPercent": "0",
            "completed": not voided, "archived": False, "voided": voided, "enablePromotions": True,
            "isTaxInclusive": loc.prices_include_tax, "createTime": stamp(sale.opened_at),
            "updateTime": stamp(stamp_at), "completeTime": None if voided else stamp(sale.closed_at),
            "referenceNumber": "", "referenceNumberSource": "", "tax1Rate": "0", "tax2Rate": "0",
            "change": "0", "receiptPreference": "printed", "displayableSubtotal": m(sale.gross_cents),
            "ticketNumber": sale.receipt_number.replace("-", ""),
            "calcDiscount": m(sale.discount_cents), "calcTotal": m(sale.net_before_tip_cents),
            "calcSubtotal": m(sale.gross_cents), "calcTaxable": m(sale.gross_cents - sale.discount_cents),
            "calcNonTaxable": m(sale.service_charge_cents), "calcAvgCost": "0", "calcFIFOCost": "0",
            "calcTax1": m(sale.tax_cents), "calcTax2": "0",
            "calcPayments": "0" if voided else m(sale.net_before_tip_cents + tip),
            "calcTips": m(tip), "total": m(sale.net_before_tip_cents), "totalDue": m(sale.net_before_tip_cents),
            "displayableTotal": m(sale.net_before_tip_cents), "balance": "0",
            "customerID": sale.customer_id or "0", "discountID": self._discount_ref(sale.order_discount_id),
            "employeeID": sale.cashier_id, "quoteID": "0", "registerID": sale.register_id, "shipToID": "0",
            "shopID": sale.location_id, "taxCategoryID": "0", "tipEmployeeID": "0",
        }
        if "SaleLines" in relations:
            obj["SaleLines"] = collection("SaleLine", lines)
        if "SalePayments" in relations:
            obj["SalePayments"] = collection("SalePayment", payments)
        if "Customer" in relations and sale.customer_id:
            obj["Customer"] = self.customer(sale.location_id, sale.customer_id)
        return as_strings(obj)

    def line(self, sale: Sale, loc: Location, line: Line, stamp_at: datetime, relations: set[str], *,
             sale_id: str, ret: tuple[str, Decimal, int, int] | None = None) -> dict[str, Any]:
        """A SaleLine; ``ret`` = (return line id, quantity, money returned, tax returned) for a return."""
        m = self._m
        mods = sum(mod.price_cents for mod in line.modifiers)
        sign = 1 if ret is None else -1
        if ret is None:
            line_id, qty = line.uid, line.quantity
            gross, discount, tax, total = line.gross_cents, line.discount_cents, line.tax_cents, line.total_cents
            promo = half_up_div(gross * 10, 100) if line.discount_id is not None else 0  # the world's 10 % promo
            order_part = discount - promo
        else:  # a return line: the money returned, no discount of its own
            line_id, qty, total, tax = ret
            gross, discount, order_part = (total if loc.prices_include_tax else total - tax), 0, 0
        obj: dict[str, Any] = {
            "saleLineID": line_id, "createTime": stamp(sale.opened_at), "timeStamp": stamp(stamp_at),
            "unitQuantity": str(sign * qty), "unitPrice": m(line.unit_price_cents + mods),
            "normalUnitPrice": m(line.unit_price_cents), "discountAmount": "0", "discountPercent": "0",
            "avgCost": "0", "fifoCost": "0", "tax": True, "tax1Rate": str(line.tax_rate / 100),
            "tax2Rate": "0", "isLayaway": False, "isWorkorder": False, "isSpecialOrder": False,
            "displayableSubtotal": m(sign * gross), "displayableUnitPrice": m(line.unit_price_cents + mods),
            "lineType": "", "calcLineDiscount": m(sign * (discount - order_part)),
            "calcTransactionDiscount": m(sign * order_part), "calcTotal": m(sign * total),
            "calcSubtotal": m(sign * gross), "calcTax1": m(sign * tax), "calcTax2": "0",
            "taxClassID": line.tax_id, "customerID": sale.customer_id or "0",
            "discountID": self._discount_ref(line.discount_id if ret is None else None),
            "employeeID": sale.cashier_id, "itemID": line.item_id, "noteID": "0",
            "parentSaleLineID": line.uid if ret is not None else "0", "shopID": sale.location_id,
            "saleID": sale_id,
        }
        if line.modifiers:
            obj["Note"] = {"noteID": "0", "note": " + ".join(mod.name for mod in line.modifiers)}
        if "SaleLines.Item" in relations:
            item = self._item_of(loc.account_id, line.item_id)
            if item is not None:
                obj["Item"] = self.item(item, stamp_at, brief=True)
        return obj

    def fee_line(self, sale: Sale, loc: Location, cents: int, name: str | None, stamp_at: datetime,
                 sign: int, line_id: str | None = None, parent: str | None = None,
                 sale_id: str | None = None) -> dict[str, Any]:
        m = self._m
        fee_id = line_id or derived_id(sale.id, "service-charge")
        return {
            "saleLineID": fee_id, "createTime": stamp(sale.closed_at), "timeStamp": stamp(stamp_at),
            "unitQuantity": str(sign), "unitPrice": m(cents), "normalUnitPrice": m(cents), "tax": False,
            "tax1Rate": "0", "tax2Rate": "0", "displayableSubtotal": m(sign * cents), "lineType": "",
            "calcLineDiscount": "0", "calcTransactionDiscount": "0", "calcTotal": m(sign * cents),
            "calcSubtotal": m(sign * cents), "calcTax1": "0", "calcTax2": "0", "taxClassID": "0",
            "itemID": "0", "parentSaleLineID": parent or "0", "shopID": sale.location_id, "saleID": sale_id or sale.id,
            "employeeID": sale.cashier_id, "noteID": "1", "Note": {"noteID": "1", "note": name or "Service"},
        }

    def payments(self, sale: Sale, now: datetime, relations: set[str]) -> list[dict[str, Any]]:
        out = []
        voided = sale.state == "voided"
        for n, tender in enumerate(sale.tenders):
            if tender.kind != "cash" and (voided or _h(sale.id, "attempt") % 100 < ARCHIVED_ATTEMPT_RATE):
                out.append(self.payment(sale, tender, tender.amount_cents, 0, relations, archived=True,
                                        payment_id=derived_id(sale.id, "attempt", n),
                                        created=sale.closed_at))
            if not voided:
                out.append(self.payment(sale, tender, tender.amount_cents, sale.tender_tip_as_of(tender, now),
                                        relations, archived=False, payment_id=tender.id, created=sale.closed_at))
        return out

    def payment(self, sale: Sale, tender: Tender, amount: int, tip: int, relations: set[str], *, archived: bool,
                payment_id: str, created: datetime, sign: int = 1, ref: str | None = None,
                sale_id: str | None = None) -> dict[str, Any]:
        type_id = PAYMENT_TYPE_OF[tender.kind]
        obj: dict[str, Any] = {
            "salePaymentID": payment_id, "amount": self._m(sign * amount), "tipAmount": self._m(sign * tip),
            "createTime": stamp(created), "archived": archived, "remoteReference": "",
            "paymentID": tender.last_4 or "", "saleID": sale_id or sale.id, "paymentTypeID": type_id,
            "ccChargeID": "0" if tender.kind == "cash" else derived_id(payment_id, "charge"),
            "refPaymentID": ref or "0", "registerID": sale.register_id, "employeeID": sale.cashier_id,
            "creditAccountID": "0",
        }
        if "SalePayments.PaymentType" in relations:
            obj["PaymentType"] = self.payment_type(type_id)
        return obj

    def return_sale(self, sale: Sale, refund: Refund, now: datetime, relations: set[str],
                    stamp_at: datetime) -> dict[str, Any]:
        loc = self.world.location_by_id[sale.location_id]
        m = self._m
        completed = refund.completed_at <= now
        by_uid = {line.uid: line for line in sale.lines}
        lines = []
        for n, rl in enumerate(refund.lines):
            line_id = derived_id(refund.return_order_id, "line", n)
            lines.append(self.line(sale, loc, by_uid[rl.line_uid], stamp_at, relations, sale_id=refund.return_order_id,
                                   ret=(line_id, rl.quantity, rl.amount_cents, rl.tax_cents)))
        if refund.service_charge_cents:
            lines.append(self.fee_line(sale, loc, refund.service_charge_cents, sale.service_charge_name, stamp_at,
                                       -1, line_id=derived_id(refund.return_order_id, "fee"),
                                       parent=derived_id(sale.id, "service-charge"), sale_id=refund.return_order_id))
        tender = next(t for t in sale.tenders if t.id == refund.tender_id)
        due = refund.amount_cents - refund.tip_cents
        payments = [self.payment(sale, tender, due, refund.tip_cents, relations, archived=False,
                                 payment_id=derived_id(refund.id, "payment"), created=refund.created_at,
                                 sign=-1, ref=tender.id, sale_id=refund.return_order_id)] if completed else []
        gross = -sum((rl.amount_cents if loc.prices_include_tax else rl.amount_cents - rl.tax_cents)
                     for rl in refund.lines) - refund.service_charge_cents
        obj: dict[str, Any] = {
            "saleID": refund.return_order_id, "timeStamp": stamp(stamp_at), "discountPercent": "0",
            "completed": completed, "archived": False, "voided": False, "enablePromotions": True,
            "isTaxInclusive": loc.prices_include_tax, "createTime": stamp(refund.created_at),
            "updateTime": stamp(stamp_at), "completeTime": stamp(refund.completed_at) if completed else None,
            "referenceNumber": sale.receipt_number, "referenceNumberSource": "Return",
            "tax1Rate": "0", "tax2Rate": "0", "change": "0", "ticketNumber": derived_id(refund.id, "ticket")[:8],
            "calcDiscount": "0", "calcTotal": m(-(refund.amount_cents - refund.tip_cents)),
            "calcSubtotal": m(gross), "calcTax1": m(-refund.tax_cents), "calcTax2": "0",
            "calcPayments": m(-refund.amount_cents) if completed else "0", "calcTips": m(-refund.tip_cents),
            "total": m(-(refund.amount_cents - refund.tip_cents)), "totalDue": m(-(refund.amount_cents - refund.tip_cents)),
            "displayableTotal": m(-(refund.amount_cents - refund.tip_cents)), "balance": "0",
            "customerID": sale.customer_id or "0", "discountID": "0", "employeeID": sale.cashier_id,
            "quoteID": "0", "registerID": sale.register_id, "shipToID": "0", "shopID": sale.location_id,
            "taxCategoryID": "0", "tipEmployeeID": "0", "Note": {"note": refund.reason},
        }
        if "SaleLines" in relations:
            obj["SaleLines"] = collection("SaleLine", lines)
        if "SalePayments" in relations:
            obj["SalePayments"] = collection("SalePayment", payments)
        if "Customer" in relations and sale.customer_id:
            obj["Customer"] = self.customer(sale.location_id, sale.customer_id)
        return as_strings(obj)

    # ------------------------------------------------------------------ catalog and people
    def _item_of(self, account_id: str, item_id: str) -> PosItem | None:
        return self._items(account_id).get(item_id)

    def _items(self, account_id: str) -> dict[str, PosItem]:
        if account_id not in self._item_cache:
            items = {it.item_id: it for it in self.world.items[account_id]}
            self._item_cache[account_id] = items
            self._item_numbers.update((item_id, n + 1) for n, item_id in enumerate(sorted(items)))
        return self._item_cache[account_id]

    def item(self, item: PosItem, now: datetime, brief: bool = False) -> dict[str, Any]:
        state = item.state_at(now)
        assert state is not None
        self._items(item.account_id)
        n = self._item_numbers[item.item_id]
        ean = f"84{_h(item.item_id, 'ean') % 10**11:011d}" if _h(item.item_id, "has-ean") % 3 == 0 else ""
        obj: dict[str, Any] = {
            "itemID": item.item_id, "systemSku": f"2100000{n:06d}", "defaultCost": "0", "avgCost": "0",
            "discountable": True, "tax": True, "archived": state.deleted, "itemType": "default",
            "serialized": False, "description": state.name, "modelYear": "0", "upc": "", "ean": ean,
            "customSku": state.sku or "", "manufacturerSku": "", "createTime": stamp(item.created_at),
            "timeStamp": stamp(state.at), "publishToEcom": False, "categoryID": item.category_id,
            "taxClassID": self.world.tax_for(item.account_id, item.item_id).id, "departmentID": "0",
            "itemMatrixID": "0", "manufacturerID": "0", "seasonID": "0", "defaultVendorID": "0",
        }
        if not brief:
            prices = [{"amount": major(state.price_cents), "useTypeID": "1", "useType": "Default"},
                      {"amount": major(state.price_cents), "useTypeID": "2", "useType": "MSRP"}]
            obj["Prices"] = collection("ItemPrice", prices)
            if item.by_weight:
                obj["unitOfMeasure"] = "kg"
        return as_strings(obj)

    def item_stamp(self, item: PosItem, now: datetime) -> datetime | None:
        state = item.state_at(now)
        return None if state is None else state.at

    def category(self, account_id: str, cat: Any) -> dict[str, Any]:
        cats = sorted(self.world.categories[account_id], key=lambda c: c.name)
        n = cats.index(cat)
        return as_strings({"categoryID": cat.id, "name": cat.name, "nodeDepth": 0, "fullPathName": cat.name,
                           "leftNode": 2 * n + 1, "rightNode": 2 * n + 2, "parentID": "0",
                           "createTime": stamp(cat.created_at), "timeStamp": stamp(cat.created_at)})

    def shop(self, loc: Location) -> dict[str, Any]:
        account = self.world.account_by_id[loc.account_id]
        address = {"address1": loc.address, "address2": "", "city": loc.city, "state": "", "zip": loc.postal_code,
                   "country": loc.country, "countryCode": loc.country}
        return as_strings({
            "shopID": loc.location_id, "name": loc.name, "serviceRate": "0", "timeZone": loc.timezone,
            "taxLabor": False, "labelTitle": "Shop Name", "labelMsrp": False, "archived": False,
            "timeStamp": stamp(account.created_at), "companyRegistrationNumber": "", "vatNumber": "",
            "zipCodeRequired": False, "contactID": "0", "taxCategoryID": "0", "receiptSetupID": "1",
            "priceLevelID": "1", "currencyCode": loc.currency, "isTaxInclusive": loc.prices_include_tax,
            "Contact": {"Addresses": {"ContactAddress": address}},
            "Registers": collection("Register", [self.register(loc, i) for i in range(len(loc.registers))]),
        })

    def register(self, loc: Location, i: int) -> dict[str, Any]:
        account = self.world.account_by_id[loc.account_id]
        return as_strings({"registerID": loc.registers[i], "name": loc.register_names[i], "open": False,
                           "archived": False, "shopID": loc.location_id, "timeStamp": stamp(account.created_at)})

    def employee(self, member: Any) -> dict[str, Any]:
        return as_strings({
            "employeeID": member.id, "firstName": member.given_name, "lastName": member.family_name,
            "lockOut": False, "archived": False, "timeStamp": stamp(member.created_at), "contactID": "0",
            "employeeRoleID": "1" if member.is_owner else "2",
            "limitToShopID": "0" if member.is_owner else member.location_ids[0],
        })

    def payment_type(self, type_id: str, created: datetime | None = None) -> dict[str, Any]:
        for _kind, pid, name, code, kind in PAYMENT_TYPES:
            if pid == type_id:
                return as_strings({"paymentTypeID": pid, "name": name, "code": code, "requireCustomer": False,
                                   "archived": False, "internalReserved": pid == "1", "type": kind,
                                   "refundAsPaymentTypeID": pid, "channel": "pos",
                                   "timeStamp": stamp(created) if created is not None else None})
        raise KeyError(type_id)

    def tax_category(self, tax: Any) -> dict[str, Any]:
        return as_strings({"taxCategoryID": tax.id, "isTaxInclusive": tax.inclusive, "tax1Name": tax.name,
                           "tax2Name": "", "tax1Rate": str(tax.rate / 100), "tax2Rate": "0",
                           "timeStamp": stamp(tax.created_at)})

    def customer(self, location_id: str, customer_id: str) -> dict[str, Any]:
        account_id = self.world.location_by_id[location_id].account_id
        cust = next(c for c in self.world.customers[account_id] if c.id == customer_id)
        return as_strings({
            "customerID": cust.id, "firstName": cust.given_name, "lastName": cust.family_name,
            "archived": False, "contactID": derived_id(cust.id, "contact"),
            "Contact": {"Emails": {"ContactEmail": {"address": cust.email, "useType": "Primary"}},
                        "Phones": {"ContactPhone": {"number": cust.phone, "useType": "Mobile"}}},
        })

    # ------------------------------------------------------------------ helpers
    def _m(self, cents: int) -> str:
        return major(cents, self.exponent)

    @staticmethod
    def _discount_ref(discount_id: str | None) -> str:
        return discount_id or "0"


__all__ = ["PAYMENT_TYPES", "RSeriesRenderer", "derived_id"]
