"""The API 1.0 shape of X-Series webhook payloads (``sale.update``, ``product.update``).

X-Series webhooks carry their object "in the API 1.0 shape, not 2.0" (``shared/providers.md``
§3A, trap 3 of §5). No 1.0 specification is in the repository, so the shape is the Vend-era
register sale / product as the 0.9/1.0 references describe it, built here **from the emulator's
2.0 rendering** (same amounts, to the digit):

* sale: ``register_sale_products`` (the line items: ``price``, ``price_total``, ``discount``,
  ``tax``, ``tax_total``, ``cost``, ``loyalty_value`` — the old names only), ``register_sale_
  payments`` (``payment_type_id``, ``retailer_payment_type_id``, ``name``, ``label``,
  ``payment_date``, ``amount``), ``taxes`` (``id``, ``tax``, ``name``, ``rate``), ``totals``
  (``total_tax``, ``total_price``, ``total_payment``, ``total_to_pay``), ``status`` (upper case)
  and ``state`` (lower case, as reported for 1.0 and webhooks: UNCONFIRMED), ``return_for`` on
  returns, ``version``;
* product: ``price`` (tax exclusive), ``tax``, ``tax_id``, ``tax_rate``, ``tax_name``,
  ``display_retail_price_tax_inclusive`` (1 in the tax-inclusive Spanish stores), ``type`` (the
  category's name), ``active``, ``deleted_at``, ``version``;
* timestamps ``2013-08-26 23:38:33`` (UTC, no ``T``, no offset), money as JSON numbers.

Only fields the world has are sent (no nested ``customer``/``user`` objects, no inventory).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pos_sandbox.lightspeed_http import num
from pos_sandbox.model import Tax

LINE_FIELDS = ("id", "product_id", "sequence", "quantity", "price", "price_total", "discount", "discount_total",
               "cost", "cost_total", "tax", "tax_total", "tax_id", "loyalty_value", "status", "is_return")


def v1_time(text: str | None) -> str | None:
    """``2014-09-11T21:09:59+00:00`` (2.0) → ``2014-09-11 21:09:59`` (1.0)."""
    if not text:
        return None
    return text[:19].replace("T", " ")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def sale_v1(sale: dict[str, Any]) -> dict[str, Any]:
    """A 2.0 sale (as the emulator renders it) in the 1.0 shape."""
    lines = []
    for li in sale["line_items"]:
        line = {k: li[k] for k in LINE_FIELDS if k in li}
        line["register_id"] = sale["register_id"]
        line["price_set"] = 1 if li.get("price_set") else 0
        if li.get("note"):
            line["note"] = li["note"]
        lines.append(line)
    payments = [{
        "id": p["id"], "register_id": p["register_id"], "retailer_payment_type_id": p["retailer_payment_type_id"],
        "payment_type_id": p["payment_type_id"], "name": p["name"], "label": p["name"],
        "payment_date": v1_time(p["payment_date"]), "amount": p["amount"],
    } for p in sale["payments"]]
    paid = sum((_dec(p["amount"]) for p in sale["payments"]), Decimal(0))
    out: dict[str, Any] = {
        "id": sale["id"],
        "source": sale.get("source", "USER"),
        "register_id": sale["register_id"],
        "outlet_id": sale["outlet_id"],
        "user_id": sale["user_id"],
    }
    if sale.get("customer_id"):
        out["customer_id"] = sale["customer_id"]
    out.update({
        "sale_date": v1_time(sale["sale_date"]),
        "created_at": v1_time(sale["created_at"]),
        "updated_at": v1_time(sale["updated_at"]),
        "deleted_at": None,
        "total_price": sale["total_price"],
        "total_tax": sale["total_tax"],
        "note": sale.get("note", ""),
        "status": sale["status"],
        "state": sale["status"].lower(),
        "short_code": sale["short_code"],
        "invoice_number": sale["invoice_number"],
        "invoice_sequence": sale["invoice_sequence"],
    })
    if sale.get("return_for"):
        out["return_for"] = sale["return_for"]
    out.update({
        "register_sale_products": lines,
        "register_sale_payments": payments,
        "taxes": [{"id": t["id"], "tax": t["amount"], "name": t["name"], "rate": t["rate"]} for t in sale["taxes"]],
        "totals": {
            "total_tax": sale["total_tax"],
            "total_price": sale["total_price"],
            "total_payment": num(paid),
            "total_to_pay": num(_dec(sale["total_price"]) + _dec(sale["total_tax"]) - paid),
        },
        "version": sale["version"],
    })
    return out


def product_v1(product: dict[str, Any], tax: Tax, prices_include_tax: bool) -> dict[str, Any]:
    """A 2.0 product (as the emulator renders it) in the 1.0 shape."""
    excl, incl = _dec(product["price_excluding_tax"]), _dec(product["price_including_tax"])
    return {
        "id": product["id"],
        "source_id": "",
        "handle": product["handle"],
        "type": product["type"]["name"],
        "has_variants": False,
        "variant_parent_id": "",
        "name": product["name"],
        "base_name": product["name"],
        "description": product.get("description", ""),
        "image": product["image_url"],
        "image_large": product["image_url"],
        "sku": product["sku"],
        "tags": "",
        "supply_price": product["supply_price"],
        "price": num(excl),
        "tax": num(incl - excl),
        "tax_id": tax.id,
        "tax_rate": num(tax.rate / 100),
        "tax_name": tax.name,
        "display_retail_price_tax_inclusive": 1 if prices_include_tax else 0,
        "active": product["active"],
        "updated_at": v1_time(product["updated_at"]),
        "deleted_at": v1_time(product["deleted_at"]),
        "version": product["version"],
    }
