"""``accounts remove --purge`` rebuilds the daily feed of the location-days the account's sales were
in, for its own tenant only: it used to delete every ``daily_product_sales`` row of the provider's
location ids, another tenant's of the same store included (a store two tenants linked has the same
location id in both), and the share of another account of the same tenant with it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pos_sync.canonical.writer import rebuild_daily_product_sales
from pos_sync.warehouse.pipelines import pipelines_dir
from pos_sync.warehouse.purge import purge_account_data
from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import POS_LOCATIONS, POS_TRANSACTION_ITEMS, POS_TRANSACTIONS

DAY = date(2026, 11, 20)


def _sale(n: int, tenant: str, account: str, quantity: int) -> tuple[dict[str, object], dict[str, object]]:
    tx = {"id": f"t{n}", "tenant_id": tenant, "pos_account_id": account, "pos_provider": "square",
          "location_id": "L1", "pos_transaction_id": f"p{n}", "transaction_type": "sale", "status": "completed",
          "transaction_date": datetime(2026, 11, 20, 10, tzinfo=UTC), "business_date": DAY, "subtotal": 1,
          "total_amount": 1, "currency": "EUR"}
    item = {"id": f"i{n}", "transaction_id": f"t{n}", "tenant_id": tenant, "pos_account_id": account,
            "pos_provider": "square", "location_id": "L1", "business_date": DAY, "transaction_type": "sale",
            "line_number": 0, "pos_line_id": "l1", "pos_item_id": "croissant", "product_name": "Croissant",
            "quantity": quantity, "gross_amount": 1, "discount_amount": 0, "tax_amount": 0, "line_total": 1,
            "currency": "EUR"}
    return tx, item


def _feed(wh: Warehouse) -> dict[str, int]:
    return {r["tenant_id"]: int(r["quantity_sold"]) for r in wh.query(
        "select tenant_id, quantity_sold from pos.daily_product_sales where business_date = %s", (DAY,))}


def test_a_purge_leaves_other_tenants_and_other_accounts_in_the_feed() -> None:
    pipelines_dir().mkdir(parents=True, exist_ok=True)
    wh = Warehouse()
    try:
        wh.ensure_schema()
        sales = [_sale(1, "tenant-a", "acct-a", 2), _sale(2, "tenant-a", "acct-a2", 3), _sale(3, "tenant-b", "acct-b", 5)]
        with wh.transaction():
            wh.insert_rows(POS_LOCATIONS, [
                {"tenant_id": t, "pos_account_id": a, "pos_provider": "square", "location_id": "L1", "name": "Obrador",
                 "timezone": "Europe/Madrid", "currency": "EUR"} for t, a in (("tenant-a", "acct-a"), ("tenant-b", "acct-b"))])
            wh.insert_rows(POS_TRANSACTIONS, [tx for tx, _ in sales])
            wh.insert_rows(POS_TRANSACTION_ITEMS, [item for _, item in sales])
            rebuild_daily_product_sales(wh, [(t, "square", "L1", DAY) for t in ("tenant-a", "tenant-b")])
        assert _feed(wh) == {"tenant-a": 5, "tenant-b": 5}
    finally:
        wh.close()

    purge_account_data("acct-a", "square", ["L1"])

    wh = Warehouse()
    try:
        assert _feed(wh) == {"tenant-a": 3, "tenant-b": 5}  # acct-a's 2 croissants gone, nobody else's
        assert wh.scalar("select count(*) from pos.pos_transactions where pos_account_id = 'acct-a'") == 0
    finally:
        wh.close()
