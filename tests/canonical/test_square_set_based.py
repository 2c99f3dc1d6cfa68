"""Square's set-based build (sales in DuckDB SQL, :mod:`transforms.square.sales_sql`) writes the
same canonical rows as the Python normaliser, column for column — on a sandbox world loaded through
the real source (sales, voids, refunds, tips, modifiers, customers) and on raw rows changed to reach
the rules' corners: a weighed line, lines without a name, an id or a catalog entry, a modifier whose
name needs JSON escapes and with no quantity, an order without tenders, one whose payments are not
loaded, an open one without a close time and without a location, a tender without a card status.
A first build and an incremental one, both ways."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from canonical.canonical_support import (
    CanonicalEnv,
    SetBasedProbe,
    first_build_both_ways,
    incremental_build_both_ways,
    make_world,
    wipe_canonical,
)
from support.destination import open_warehouse

ORDERS = "raw_square.orders"
LINES = "raw_square.orders__line_items"
TENDERS = "raw_square.orders__tenders"
ESCAPED = 'Leche "de" avena\\ ñ/€\ttab'


def _corners() -> list[str]:
    """Raw rows changed to reach the normaliser's corners; the orders changed, in order."""
    with open_warehouse() as wh:
        returns = ("and not exists (select 1 from raw_square.orders__returns r where r._dlt_parent_id = o._dlt_id)"
                   if wh.table_exists("raw_square", "orders__returns") else "")
        orders = wh.column(
            f"select o.id from {ORDERS} o where o.state = 'COMPLETED' {returns} and (select count(*) from {LINES} l "
            f"where l._dlt_parent_id = o._dlt_id) >= 2 and (select count(*) from {TENDERS} t where "
            f"t._dlt_parent_id = o._dlt_id and t.card_details__card__card_brand is not null) >= 1 order by o.id")
        assert len(orders) >= 10, "the world has completed card sales of two lines or more"
        dlt_id = f"(select _dlt_id from {ORDERS} where id = %s)"

        def line(order: str, n: int = 0) -> str:
            return wh.scalar(f"select _dlt_id from {LINES} where _dlt_parent_id = {dlt_id} order by _dlt_list_idx "
                             f"limit 1 offset {n}", (order,))

        wh.execute(f"update {LINES} set quantity = '0.350', quantity_unit__measurement_unit__weight_unit = "
                   f"'METRIC_GRAM' where _dlt_id = %s", (line(orders[0]),))
        wh.execute(f"update {LINES} set uid = '', name = '' where _dlt_id = %s", (line(orders[1], 1),))
        wh.execute(f"update {LINES} set catalog_object_id = 'not-in-the-catalog' where _dlt_id = %s", (line(orders[2]),))
        wh.execute(f"delete from {TENDERS} where _dlt_parent_id = {dlt_id}", (orders[3],))
        wh.execute(f"delete from raw_square.payments where id in (select payment_id from {TENDERS} "
                   f"where _dlt_parent_id = {dlt_id})", (orders[4],))
        wh.execute(f"update {ORDERS} set state = 'OPEN', closed_at = null, location_id = 'elsewhere' where id = %s",
                   (orders[5],))
        wh.execute(f"update {TENDERS} set card_details__status = null where _dlt_parent_id = {dlt_id} "
                   f"and card_details__card__card_brand is not null", (orders[6],))
        # the first card tender has no last 4 digits, a second one has: the order's card is the first's
        first = wh.scalar(f"select _dlt_id from {TENDERS} where _dlt_parent_id = {dlt_id} and "
                          f"card_details__card__card_brand is not null order by _dlt_list_idx limit 1", (orders[8],))
        wh.execute(f"insert into {TENDERS} select * replace ('x' || _dlt_id as _dlt_id, _dlt_list_idx + 100 as "
                   f"_dlt_list_idx, 'x' || id as id, 'AMEX' as card_details__card__card_brand, '9999' as "
                   f"card_details__card__last_4, 'İPTAL' as card_details__status) from {TENDERS} where _dlt_id = %s",
                   (first,))
        wh.execute(f"update {TENDERS} set card_details__card__last_4 = null where _dlt_id = %s", (first,))
        modifier = wh.scalar("select m._dlt_id from raw_square.orders__line_items__modifiers m order by m._dlt_id limit 1")
        assert modifier, "the world has modifiers"
        wh.execute("update raw_square.orders__line_items__modifiers set name = %s, quantity = null where _dlt_id = %s",
                   (ESCAPED, modifier))
        wh.execute("insert into raw_square.orders__line_items__modifiers select * replace ('x' || _dlt_id as _dlt_id, "
                   "_dlt_list_idx + 1 as _dlt_list_idx, 'Extra shot' as name) from raw_square.orders__line_items__modifiers "
                   "where _dlt_id = %s", (modifier,))  # a line of two modifiers, in list order
        wh.commit()
    return orders


def test_set_based_build_writes_the_normalisers_rows(make_env: Callable[..., CanonicalEnv],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world()
    env = make_env(world=world, now=world.window_start_utc + timedelta(days=1, hours=12))
    probe = SetBasedProbe(monkeypatch, "transforms.square.build")
    env.ingest()
    orders = _corners()
    by_sql = first_build_both_ways(probe, env.build, wipe_canonical)

    # the corners were reached (and so compared)
    transactions = {t["pos_transaction_id"]: t for t in by_sql["pos_transactions"].values()}
    items = list(by_sql["pos_transaction_items"].values())
    assert any(i["quantity"] == "0.350" and i["unit"] == "g" for i in items)
    assert any(i["product_name"] == "(custom amount)" for i in items)
    assert any(i["pos_item_id"] == "not-in-the-catalog" and i["pos_parent_item_id"] is None for i in items)
    assert any([m["name"] for m in json.loads(i["modifiers"] or "[]")] == [ESCAPED, "Extra shot"] for i in items)
    assert any(m["name"] == ESCAPED and m["quantity"] == "1" for i in items for m in json.loads(i["modifiers"] or "[]"))
    assert transactions[orders[3]]["payment_method"] is None
    assert transactions[orders[4]]["cashier_id"] is None
    assert transactions[orders[5]]["status"] == "pending"
    assert any(t["status"] == "captured" for t in by_sql["pos_tenders"].values())
    assert transactions[orders[8]]["card_brand"] != "AMEX" and transactions[orders[8]]["card_last_four"] is None
    assert any(t["status"] == "İPTAL".lower() for t in by_sql["pos_tenders"].values())  # Python's lower()

    # an incremental build on top (late refunds, tip edits), both ways from the same state
    env.set_now(world.window_end_utc + timedelta(days=2))
    env.ingest()
    by_sql = incremental_build_both_ways(probe, env.build)
    assert any(t["transaction_type"] == "refund" for t in by_sql["pos_transactions"].values()), "refunds alongside"
