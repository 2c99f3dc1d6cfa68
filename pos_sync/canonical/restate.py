"""Restating the canonical rows of remapped POS products: one account's ``pos_transaction_items``
of those products and the ``daily_product_sales`` rows of its locations for them get the bakery
product their mapping now names — nothing else is read or written (no rebuild from raw; the
amounts do not change, so the daily feed's totals stay those of the transactions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA


@dataclass
class RestateResult:
    products: int
    items: int  # line items whose mapping changed
    daily_rows: int  # daily_product_sales rows whose mapping changed


def restate_products(wh: Warehouse, account_id: str, provider: str, targets: Mapping[str, str | None]) -> RestateResult:
    """Give the account's rows of each POS product in ``targets`` its mapped bakery product (None:
    unmapped), in one transaction; rows already right are left alone."""
    if not targets or not wh.table_exists(SCHEMA, "pos_transaction_items"):
        return RestateResult(len(targets), 0, 0)
    with wh.transaction():
        tmp = wh.temp_keys(["pos_item_id", "target"], sorted(targets.items()))
        target = "CAST(k.target AS TEXT)"
        items_where = (f"i.pos_account_id = %s AND i.pos_provider = %s AND i.pos_item_id = k.pos_item_id "
                       f"AND (i.mapped_product_id IS DISTINCT FROM {target} OR i.is_mapped IS DISTINCT FROM "
                       f"({target} IS NOT NULL))")
        items = int(wh.scalar(f"SELECT count(*) FROM {SCHEMA}.pos_transaction_items i JOIN {tmp} k "
                              f"ON k.pos_item_id = i.pos_item_id WHERE {items_where}", (account_id, provider)))
        wh.execute(f"UPDATE {SCHEMA}.pos_transaction_items AS i SET mapped_product_id = {target}, "
                   f"is_mapped = ({target} IS NOT NULL) FROM {tmp} k WHERE {items_where}", (account_id, provider))
        locations = (f"SELECT DISTINCT t.tenant_id, t.location_id FROM {SCHEMA}.pos_transactions t "
                     "WHERE t.pos_account_id = %s AND t.pos_provider = %s")
        daily_where = (f"d.pos_provider = %s AND d.pos_item_id = k.pos_item_id "
                       f"AND d.mapped_product_id IS DISTINCT FROM {target} "
                       f"AND (d.tenant_id, d.location_id) IN ({locations})")
        params = (provider, account_id, provider)
        daily = int(wh.scalar(f"SELECT count(*) FROM {SCHEMA}.daily_product_sales d JOIN {tmp} k "
                              f"ON k.pos_item_id = d.pos_item_id WHERE {daily_where}", params))
        wh.execute(f"UPDATE {SCHEMA}.daily_product_sales AS d SET mapped_product_id = {target} "
                   f"FROM {tmp} k WHERE {daily_where}", params)
    return RestateResult(len(targets), items, daily)
