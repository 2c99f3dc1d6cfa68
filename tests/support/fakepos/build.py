"""FakePOS raw → canonical: the pure normaliser and the account's builder over it."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from transforms.build import BuildJob, CanonicalSink, RawRows, chunks
from transforms.canonical import CanonicalBatch, canonical_id
from transforms.times import as_utc, local_date

PROVIDER = "fakepos"
CENT = Decimal("0.01")


def _euros(cents: Any) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(CENT)


def normalize(job: BuildJob, shops: dict[str, dict[str, Any]], sales: Iterable[dict[str, Any]]) -> CanonicalBatch:
    batch = CanonicalBatch()
    for sale in sales:
        tx_id = canonical_id(job.tenant_id, PROVIDER, "sale", sale["id"])
        when = as_utc(sale["closed_at"])
        day = local_date(when, ZoneInfo(shops[sale["shop_id"]]["time_zone"]))
        lines = sale.get("lines") or []
        subtotal = sum((_euros(li["unit_cents"]) * int(li["quantity"]) for li in lines), Decimal("0.00"))
        common = {"tenant_id": job.tenant_id, "pos_provider": PROVIDER, "location_id": sale["shop_id"],
                  "currency": "EUR"}
        batch.transactions.append({
            **common, "id": tx_id, "pos_account_id": job.account_id, "pos_transaction_id": sale["id"],
            "transaction_type": "sale", "status": "completed", "transaction_date": when, "business_date": day,
            "subtotal": subtotal, "discount_amount": Decimal("0.00"), "service_charge_amount": Decimal("0.00"),
            "tax_amount": _euros(sale["tax_cents"]), "tip_amount": _euros(sale["tip_cents"]),
            "total_amount": _euros(sale["total_cents"]), "items_quantity": Decimal(sum(int(li["quantity"]) for li in lines)),
            "payment_method": "card", "source_version": str(as_utc(sale["updated_at"])),
            "source_updated_at": as_utc(sale["updated_at"]),
        })
        for n, li in enumerate(lines):
            gross = _euros(li["unit_cents"]) * int(li["quantity"])
            batch.items.append({
                **common, "id": canonical_id(tx_id, "line", n), "transaction_id": tx_id, "pos_account_id": job.account_id,
                "business_date": day, "transaction_type": "sale", "line_number": n, "pos_item_id": li["sku"],
                "product_name": li["name"], "product_sku": li["sku"], "quantity": Decimal(int(li["quantity"])),
                "unit_price": _euros(li["unit_cents"]), "gross_amount": gross, "discount_amount": Decimal("0.00"),
                "tax_amount": Decimal("0.00"), "line_total": gross, "is_mapped": False,
            })
        batch.tenders.append({
            "id": canonical_id(tx_id, "tender", 0), "transaction_id": tx_id, "tenant_id": job.tenant_id,
            "pos_provider": PROVIDER, "pos_tender_id": sale["id"], "method": "card",
            "amount": _euros(int(sale["total_cents"]) - int(sale["tip_cents"])), "tip_amount": _euros(sale["tip_cents"]),
            "currency": "EUR", "status": "completed",
        })
    return batch


def build(raw: RawRows, out: CanonicalSink, job: BuildJob) -> None:
    shops = {r["id"]: r for r in raw.account_table("shops")}
    for chunk in chunks(raw.changed_ids("sales", "id", job.loads)):
        sales = raw.attach("sales", raw.roots("sales", "id", chunk), {"sales__lines": ("lines", "sales")})
        out.write(normalize(job, shops, sales))
    out.replace_locations([
        {"tenant_id": job.tenant_id, "pos_account_id": job.account_id, "pos_provider": PROVIDER, "location_id": sid,
         "name": s.get("name"), "timezone": s.get("time_zone"), "currency": s.get("currency"),
         "prices_include_tax": False, "country": "ES", "updated_at": job.now}
        for sid, s in shops.items()
    ])
