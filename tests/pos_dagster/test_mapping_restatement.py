"""Mappings reach the warehouse: a sandbox world synced through ``square_sync`` publishes its POS
products into the app store (``pos/square/product_stats``: the unmapped-revenue check warns,
pos.mapping_needed is in the outbox); mapping one POS product asks for a restatement, which the
sensor turns into a ``square_mapping_restate`` run that changes exactly that product's line items
and daily rows — and the daily feed still sums to the canonical transactions; a remap moves the
same rows again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import dagster as dg
from dagster_sync_support import QUIET, EnvFactory

ITEMS = "select id, pos_item_id, mapped_product_id, is_mapped from pos.pos_transaction_items"
CANONICAL_NET = """
    select coalesce(sum(case when t.transaction_type = 'sale' then i.line_total else -i.line_total end), 0) as net
    from pos.pos_transaction_items i join pos.pos_transactions t on t.id = i.transaction_id
    where t.status = 'completed' and t.transaction_type in ('sale', 'refund')"""


def warehouse(sql: str) -> list[dict[str, Any]]:
    from pos_sync.settings import load_settings
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse(load_settings())
    try:
        return wh.query(sql)
    finally:
        wh.close()


def restate(env: Any) -> dg.ExecuteInProcessResult:
    """The account sync sensor's restate run for the pending request, executed as the daemon would."""
    from pos_dagster.definitions import defs
    from pos_dagster.defs.automation.sensors import requested_runs
    from pos_sync.appstore import AppStore
    from pos_sync.settings import load_settings

    store = AppStore(load_settings())
    accounts = {a.id: a for a in store.list_accounts()}
    [run] = [r for r in requested_runs(env.instance, store, accounts) if r.job_name == "square_mapping_restate"]
    assert run.partition_key == env.account_id
    result = defs.resolve_job_def("square_mapping_restate").execute_in_process(
        partition_key=env.account_id, instance=env.instance, tags=run.tags, run_config=QUIET)
    assert result.success
    return result


def daily_by_target() -> dict[Any, Decimal]:
    rows = warehouse("select mapped_product_id, sum(net_revenue) as net from pos.daily_product_sales group by 1")
    return {r["mapped_product_id"]: Decimal(r["net"]) for r in rows}


def test_a_mapping_restates_exactly_its_rows_and_the_daily_feed_still_sums(make_env: EnvFactory) -> None:
    from pos_sync.appstore import catalog, mappings
    from pos_sync.appstore.db import session_scope
    from pos_sync.appstore.models import PosEventOutbox
    from pos_sync.appstore.product_stats import product_stats

    env = make_env()
    first = env.sync()
    assert first.success and "pos/square/product_stats" in first.materialized
    tenant = env.account().tenant_id
    stats = product_stats(tenant)
    assert stats and all(p.unmapped for p in stats) and sum(p.revenue_cents_30d for p in stats) > 0
    assert first.log.unmapped_products_count == len(stats)  # the sync log counts them too
    [check] = [c for c in first.result.get_asset_check_evaluations() if c.check_name == "unmapped_revenue_share"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN  # everything is unmapped
    with session_scope() as s:
        keys = [e.routing_key for e in s.query(PosEventOutbox).all()]
    assert keys.count("pos.mapping_needed") == 1

    before = {r["id"]: r for r in warehouse(ITEMS)}
    assert before and not any(r["is_mapped"] for r in before.values())
    total = Decimal(warehouse(CANONICAL_NET)[0]["net"])
    assert sum(daily_by_target().values()) == total
    counts: dict[str, int] = {}
    for r in before.values():
        if r["pos_item_id"]:
            counts[r["pos_item_id"]] = counts.get(r["pos_item_id"], 0) + 1
    product = max(counts, key=lambda k: (counts[k], k))
    product_net = Decimal(warehouse(CANONICAL_NET + f" and i.pos_item_id = '{product}'")[0]["net"])

    catalog.upsert_products(tenant, [{"bakery_product_id": "BP-1", "name": "Croissant"},
                                     {"bakery_product_id": "BP-2", "name": "Napolitana"}])
    info, changed = mappings.set_mapping(tenant, "square", product, "BP-1", actor="test")
    assert changed
    restate(env)
    after = {r["id"]: r for r in warehouse(ITEMS)}
    moved = {i for i in after if after[i] != before[i]}
    assert moved == {i for i, r in before.items() if r["pos_item_id"] == product} and len(moved) == counts[product]
    assert all(after[i]["mapped_product_id"] == "BP-1" and after[i]["is_mapped"] for i in moved)
    by_target = daily_by_target()
    assert by_target["BP-1"] == product_net and sum(by_target.values()) == total
    assert {r["pos_item_id"] for r in warehouse(
        "select pos_item_id from pos.daily_product_sales where mapped_product_id is not null")} == {product}

    mappings.update_mapping(tenant, info.id, bakery_product_id="BP-2", actor="test")
    restate(env)
    again = {r["id"]: r for r in warehouse(ITEMS)}
    assert {i for i in again if again[i] != after[i]} == moved
    by_target = daily_by_target()
    assert "BP-1" not in by_target and by_target["BP-2"] == product_net and sum(by_target.values()) == total

    # a sync that brings nothing new keeps the mapping; the items of later syncs carry it (build gets the targets)
    assert env.sync().success
    assert {r["mapped_product_id"] for r in warehouse(ITEMS) if r["pos_item_id"] == product} == {"BP-2"}
