"""One account's POS products as the app store's ``pos_product_stats`` publishes them: each
product of its catalog and each POS product it sold, with its net revenue (completed sales minus
refunds, line totals) over the last 7 and 30 business days up to ``today`` in integer cents, its
sale transactions over the same days and the last business date it sold."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA
from transforms.mapping.apply import display_name
from transforms.money import to_cents


def account_product_stats(wh: Warehouse, account_id: str, provider: str, today: date) -> list[dict[str, Any]]:
    if not wh.table_exists(SCHEMA, "pos_transaction_items"):
        return []
    d7, d30 = today - timedelta(days=6), today - timedelta(days=29)
    sale = "t.transaction_type = 'sale'"
    net = f"CASE WHEN {sale} THEN i.line_total ELSE -i.line_total END"
    sold = wh.query(f"""
        SELECT i.pos_item_id, max(i.product_name) AS product_name, max(i.variation_name) AS variation_name,
               max(i.product_sku) AS sku, max(i.category) AS category, max(i.currency) AS currency,
               coalesce(sum(CASE WHEN i.business_date BETWEEN %s AND %s THEN {net} END), 0) AS revenue_7d,
               coalesce(sum(CASE WHEN i.business_date BETWEEN %s AND %s THEN {net} END), 0) AS revenue_30d,
               count(DISTINCT CASE WHEN {sale} AND i.business_date BETWEEN %s AND %s THEN i.transaction_id END) AS tx_7d,
               count(DISTINCT CASE WHEN {sale} AND i.business_date BETWEEN %s AND %s THEN i.transaction_id END) AS tx_30d,
               max(CASE WHEN {sale} THEN i.business_date END) AS last_seen
        FROM {SCHEMA}.pos_transaction_items i JOIN {SCHEMA}.pos_transactions t ON t.id = i.transaction_id
        WHERE i.pos_account_id = %s AND i.pos_provider = %s AND i.pos_item_id IS NOT NULL
          AND t.status = 'completed' AND t.transaction_type IN ('sale', 'refund')
        GROUP BY i.pos_item_id""", (d7, today, d30, today, d7, today, d30, today, account_id, provider))
    catalog = wh.query(f"SELECT pos_item_id, name, variation_name, sku, category, currency FROM {SCHEMA}.pos_products "
                       "WHERE pos_account_id = %s AND pos_provider = %s AND is_current AND NOT coalesce(is_deleted, FALSE)",
                       (account_id, provider)) if wh.table_exists(SCHEMA, "pos_products") else []
    out: dict[str, dict[str, Any]] = {}
    for p in catalog:
        out[str(p["pos_item_id"])] = {
            "pos_product_id": str(p["pos_item_id"]), "name": display_name(p["name"], p["variation_name"]),
            "sku": p["sku"], "category": p["category"], "currency": p["currency"], "revenue_cents_7d": 0,
            "revenue_cents_30d": 0, "transactions_7d": 0, "transactions_30d": 0, "last_seen": None}
    for r in sold:
        row = out.setdefault(str(r["pos_item_id"]), {
            "pos_product_id": str(r["pos_item_id"]), "name": display_name(r["product_name"], r["variation_name"]),
            "sku": r["sku"], "category": r["category"], "currency": r["currency"]})
        row.update(revenue_cents_7d=to_cents(Decimal(r["revenue_7d"])),
                   revenue_cents_30d=to_cents(Decimal(r["revenue_30d"])), transactions_7d=int(r["tx_7d"]),
                   transactions_30d=int(r["tx_30d"]), last_seen=r["last_seen"])
        row["currency"] = row["currency"] or r["currency"]
    return sorted(out.values(), key=lambda r: r["pos_product_id"])
