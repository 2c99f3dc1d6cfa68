"""Lightspeed's set-based build (SQL in DuckDB, :mod:`transforms.lightspeed.sales_sql`) writes the
same canonical rows as the Python normaliser, column for column — on a sandbox world loaded through
the real source (returns, voids, tips, surcharges, notes of add-ons, customers, a DST change) and on
raw rows changed to reach the rules' corners: a unit price that rounds half-even, a line of no
quantity, a voided line between kept ones, a line without an id, a sale without payments or
receipt number, one without an outlet, a soft-deleted one, a product renamed after its sales.
First builds and an incremental one, both ways."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from canonical.canonical_support import (
    SetBasedProbe,
    first_build_both_ways,
    incremental_build_both_ways,
    wipe_canonical,
)
from canonical.test_toast_lightspeed_canonical import ACCOUNT, _pipeline, _source, _sync_and_build
from support.accounts import manifest_account
from support.destination import open_warehouse
from support.worlds import sandbox_world

from pos_sandbox.server import SandboxServer
from pos_sync.canonical.build import build_account
from transforms.canonical import canonical_id

SALES = "raw_lightspeed.sales"
LINES = "raw_lightspeed.sales__line_items"


def _corners() -> dict[str, Any]:
    """Raw rows changed to reach the normaliser's corners (what each change is meant to reach)."""
    with open_warehouse() as wh:
        sales = wh.column(f"select s.id from {SALES} s where coalesce(s.return_for, '') = '' and s.status = 'CLOSED' "
                          f"and (select count(*) from {LINES} l where l._dlt_parent_id = s._dlt_id) >= 3 order by s.id")
        assert len(sales) >= 8, "the world has sales of three lines or more"
        line = f"(select _dlt_id from {SALES} where id = %s)"

        def first_line(sale: str, n: int = 0) -> str:
            return wh.scalar(f"select _dlt_id from {LINES} where _dlt_parent_id = {line} order by _dlt_list_idx "
                             f"limit 1 offset {n}", (sale,))

        # 1.00 over 8: 0.125 rounds half-even to 0.12 (half-up would give 0.13)
        wh.execute(f"update {LINES} set quantity = 8, total_price = 1, total_tax = 0, total_discount = 0 "
                   f"where _dlt_id = %s", (first_line(sales[0]),))
        wh.execute(f"update {LINES} set quantity = 0 where _dlt_id = %s", (first_line(sales[1]),))
        wh.execute(f"update {LINES} set status = 'VOIDED' where _dlt_id = %s", (first_line(sales[2], 1),))
        wh.execute(f"update {LINES} set id = '' where _dlt_id = %s", (first_line(sales[3], 2),))
        wh.execute(f"delete from raw_lightspeed.sales__payments where _dlt_parent_id = {line}", (sales[4],))
        wh.execute(f"update {SALES} set receipt_number = '' where id = %s", (sales[4],))
        wh.execute(f"update {SALES} set outlet_id = null where id = %s", (sales[5],))
        wh.execute(f"update {SALES} set deleted_at = sale_date where id = %s", (sales[6],))
        # a product renamed after the sales: its lines take the version recorded as valid when sold
        product = wh.scalar(f"select product_id from {LINES} where _dlt_id = %s", (first_line(sales[7]),))
        name = wh.scalar("select name from raw_lightspeed.products where id = %s", (product,))
        wh.execute("update raw_lightspeed.products set updated_at = updated_at + interval 400 day, "
                   "name = name || ' (nuevo)' where id = %s", (product,))
        wh.commit()
    return {"sales": sales, "product": product, "name": name}


def _wipe_and_record_version(tenant: str, product: str, name: str) -> None:
    """Empty canonical tables, but for the renamed product's first version (its old name, valid
    since long before the sales): what an earlier build had recorded."""
    wipe_canonical()
    with open_warehouse() as wh:
        wh.execute("insert into pos.pos_products (id, tenant_id, pos_account_id, pos_provider, pos_item_id, version, "
                   "name, currency, is_deleted, is_archived, source_version, valid_from, is_current, first_seen_at, "
                   "last_seen_at) values (%s, %s, %s, 'lightspeed', %s, 1, %s, 'EUR', false, false, '1', "
                   "'2020-01-01 00:00:00+00', true, '2020-01-01 00:00:00+00', '2020-01-01 00:00:00+00')",
                   (canonical_id(tenant, "lightspeed", "product", product, 1), tenant, ACCOUNT, product, name))
        wh.commit()


def test_set_based_build_writes_the_normalisers_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    world = sandbox_world(7, "lightspeed", days=4, start=date(2026, 3, 27), scale="small")
    tenant = world.tenant_id
    pipeline = _pipeline("lightspeed", tmp_path)
    probe = SetBasedProbe(monkeypatch, "transforms.lightspeed.build")
    with SandboxServer(world) as server:
        world.set_now(world.window_end_utc - timedelta(days=2))
        probe.switch(False)
        _sync_and_build(server, world, "lightspeed", pipeline)  # raw load 1 (its build is wiped below)
        corners = _corners()

        def reset() -> None:
            _wipe_and_record_version(tenant, corners["product"], corners["name"])

        reset()
        by_sql = first_build_both_ways(probe, lambda: build_account(ACCOUNT, "lightspeed", tenant), reset)

        # the corners were reached (and so compared)
        items = list(by_sql["pos_transaction_items"].values())
        assert any(i["unit_price"] == "0.12" and i["quantity"] == "8.000" for i in items), "half-even unit price"
        assert any(i["quantity"] == "0.000" for i in items)
        renamed = {i["product_name"] for i in items if i["pos_item_id"] == corners["product"]}
        assert renamed == {corners["name"]}, "sold before the rename: the version then"
        transactions = {t["pos_transaction_id"]: t for t in by_sql["pos_transactions"].values()}
        assert corners["sales"][6] not in transactions  # soft-deleted
        assert transactions[corners["sales"][4]]["payment_method"] is None
        assert transactions[corners["sales"][5]]["location_id"] == ""

        # an incremental build on top (late refunds and edits, renamed products), both ways from the same state
        world.set_now(world.window_end_utc + timedelta(days=3))
        pipeline.run(_source("lightspeed", manifest_account(server, "lightspeed"), world),
                     loader_file_format="parquet").raise_on_failed_jobs()
        incremental_build_both_ways(probe, lambda: build_account(ACCOUNT, "lightspeed", tenant))
