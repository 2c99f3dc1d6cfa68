"""Daily figures from the canonical tables, in the sandbox ledger's shape, and a comparison.

Grouping ``pos.pos_transactions`` by (pos_provider, location_id, business_date): sales_count =
completed sale rows; subtotal/discount/service charge/tax/tip/total sums over them; refund_count
and refund_amount over completed refund rows; void_count = void rows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA
from transforms.money import quantum

FIELDS = ("sales_count", "void_count", "refund_count", "gross_sales", "discount_amount",
          "service_charge_amount", "tax_amount", "tip_amount", "total_amount", "refund_amount", "net_amount")


def canonical_daily(wh: Warehouse, tenant_id: str | None = None) -> list[dict[str, Any]]:
    where = "where tenant_id = %s" if tenant_id else ""
    params = (tenant_id,) if tenant_id else ()
    sale = "transaction_type = 'sale' and status = 'completed'"
    rows = wh.query(f"""
        select pos_provider, location_id, business_date, max(currency) as currency,
          sum(case when {sale} then 1 else 0 end) as sales_count,
          sum(case when transaction_type = 'void' then 1 else 0 end) as void_count,
          sum(case when transaction_type = 'refund' and status = 'completed' then 1 else 0 end) as refund_count,
          coalesce(sum(case when {sale} then subtotal end), 0) as gross_sales,
          coalesce(sum(case when {sale} then discount_amount end), 0) as discount_amount,
          coalesce(sum(case when {sale} then service_charge_amount end), 0) as service_charge_amount,
          coalesce(sum(case when {sale} then tax_amount end), 0) as tax_amount,
          coalesce(sum(case when {sale} then tip_amount end), 0) as tip_amount,
          coalesce(sum(case when {sale} then total_amount end), 0) as total_amount,
          coalesce(sum(case when transaction_type = 'refund' and status = 'completed' then total_amount end), 0)
            as refund_amount
        from {SCHEMA}.pos_transactions {where}
        group by pos_provider, location_id, business_date
        order by pos_provider, location_id, business_date""", params)
    out = []
    for r in rows:
        # the currency's own minor units, as the ledger writes them (JPY "1250", not "1250.00")
        q = quantum(r["currency"] or "EUR")
        money = {k: Decimal(r[k]).quantize(q) for k in FIELDS[3:10]}
        out.append({
            "provider": r["pos_provider"], "location_id": r["location_id"],
            "business_date": str(r["business_date"]), "currency": r["currency"],
            "sales_count": int(r["sales_count"]), "void_count": int(r["void_count"]),
            "refund_count": int(r["refund_count"]),
            **{k: str(v) for k, v in money.items()},
            "net_amount": str(money["total_amount"] - money["refund_amount"]),
        })
    return out


def compare_daily(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    """Differences (empty = reconciled to the cent) between ledger rows and canonical rows."""
    def key(r: dict[str, Any]) -> tuple[str, str, str]:
        return (r["provider"], r["location_id"], r["business_date"])

    exp = {key(r): r for r in expected}
    act = {key(r): r for r in actual}
    problems = []
    for k in sorted(set(exp) | set(act)):
        e, a = exp.get(k), act.get(k)
        if e is None or a is None:
            problems.append(f"{k}: {'missing in canonical' if a is None else 'not in the ledger'}")
            continue
        for f in FIELDS:
            if str(e[f]) != str(a[f]):
                problems.append(f"{k} {f}: ledger {e[f]} != canonical {a[f]}")
    return problems
