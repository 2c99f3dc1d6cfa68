"""``pos-sync accounts remove ID --purge``: delete an account's data from the warehouse (GDPR
erasure / offboarding): its raw rows in ``raw_<provider>`` (top-level tables by
``_pos_account_id``, child tables through ``_dlt_root_id``), its canonical and demand rows in ``pos``, and
its dlt pipeline state (in the destination and the local working folders), so a re-linked
account — which gets the same id — starts from a clean historical import."""

from __future__ import annotations

import shutil
from typing import Any

from pos_sync.canonical.writer import rebuild_daily_product_sales
from pos_sync.warehouse.pipelines import pipeline_name, pipelines_dir
from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA


def purge_account_data(account_id: str, provider: str, location_ids: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Delete the account's rows (``location_ids``: kept in the hook's signature; the feed's rows to
    rebuild are found from the account's own sales, of its own tenant)."""
    del location_ids
    wh = Warehouse()
    deleted: dict[str, int] = {}
    raw = f"raw_{provider}"
    try:
        with wh.transaction():
            tables = {r["table_name"] for r in wh.query(
                "select table_name from information_schema.tables where table_schema = %s", (raw,))}
            parents = sorted(t for t in tables if "__" not in t and not t.startswith("_dlt"))
            for parent in parents:
                if "_pos_account_id" not in wh.columns(raw, parent):
                    continue
                for child in sorted(t for t in tables if t.startswith(f"{parent}__")):
                    before = wh.scalar(f'select count(*) from {raw}."{child}"')
                    wh.execute(f'delete from {raw}."{child}" where _dlt_root_id in '
                               f'(select _dlt_id from {raw}."{parent}" where _pos_account_id = %s)', (account_id,))
                    deleted[f"{raw}.{child}"] = int(before) - int(wh.scalar(f'select count(*) from {raw}."{child}"'))
                before = wh.scalar(f'select count(*) from {raw}."{parent}"')
                wh.execute(f'delete from {raw}."{parent}" where _pos_account_id = %s', (account_id,))
                deleted[f"{raw}.{parent}"] = int(before) - int(wh.scalar(f'select count(*) from {raw}."{parent}"'))
            if "_dlt_pipeline_state" in tables:
                prefix = pipeline_name(provider, account_id)
                wh.execute(f"delete from {raw}._dlt_pipeline_state where pipeline_name = %s "
                           f"or pipeline_name like %s", (prefix, prefix + "__%"))
            if wh.table_exists(SCHEMA, "pos_transactions"):
                # the feed's location-days this account's sales are in (the tenant's own: a store two
                # tenants linked has the same location id in both), rebuilt without them below
                days = {(r["tenant_id"], r["pos_provider"], r["location_id"], r["business_date"]) for r in wh.query(
                    f"select distinct tenant_id, pos_provider, location_id, business_date from {SCHEMA}.pos_transactions "
                    f"where pos_account_id = %s and business_date is not null", (account_id,))}
                wh.execute(f"delete from {SCHEMA}.pos_tenders where transaction_id in "
                           f"(select id from {SCHEMA}.pos_transactions where pos_account_id = %s)", (account_id,))
                for table in ("pos_transaction_items", "pos_transactions", "pos_products", "pos_locations",
                              "transform_loads"):
                    wh.execute(f"delete from {SCHEMA}.{table} where pos_account_id = %s", (account_id,))
                for table in ("demand_history", "demand_calendar", "demand_forecast"):
                    if wh.table_exists(SCHEMA, table):
                        wh.execute(f"delete from {SCHEMA}.{table} where pos_account_id = %s", (account_id,))
                rebuild_daily_product_sales(wh, days)  # what other accounts of the tenant sold there stays
    finally:
        wh.close()
    prefix = pipeline_name(provider, account_id)
    for folder in pipelines_dir().iterdir():
        if folder.name == prefix or folder.name.startswith(prefix + "__"):
            shutil.rmtree(folder)
    return {"deleted_rows": {k: v for k, v in deleted.items() if v}}
