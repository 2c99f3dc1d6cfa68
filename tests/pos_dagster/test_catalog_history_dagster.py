"""Catalog history through the real ``square_sync`` job (Dagster's own APIs, a sandbox server):
the first sync discovers every catalog product (the sync log's ``new_products_discovered``); a
second sync after the sandbox renamed a product gives that product two versions — the old one
closed at the rename, the new one current — while the sales made before the rename keep the name
they were sold under; the products the world added meanwhile are the only ones counted new; a
third sync with no change opens no version and discovers nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dagster_sync_support import EnvFactory, make_world
from support.destination import warehouse_query

from pos_sandbox.model import PosItem


def _renamed(items: list[PosItem]) -> tuple[PosItem, int]:
    """An item the world renames during the window (and the index of its rename in its history)."""
    for item in sorted(items, key=lambda it: it.item_id):
        for k in range(1, len(item.history)):
            state, before = item.history[k], item.history[k - 1]
            if state.name != before.name and not state.deleted and before.at < state.at:
                return item, k
    raise AssertionError("the world no longer renames a product during its window")


@pytest.mark.parametrize("warehouse", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_sync_after_a_rename_gives_two_versions_and_counts_only_new_products(make_env: EnvFactory,
                                                                              warehouse: str) -> None:
    world = make_world()
    account = next(a for a in world.accounts if a.provider == "square")
    items = world.items[account.account_id]
    item, k = _renamed(items)
    rename = item.history[k]
    t1, t2 = rename.at - timedelta(minutes=1), rename.at + timedelta(minutes=1)
    env = make_env(warehouse, world=world, now=t1)

    first = env.sync()
    assert first.success and first.log.sync_type == "historical"
    known_at_t1 = [it for it in items if it.created_at <= t1]
    assert first.log.new_products_discovered == len(known_at_t1) > 0  # every catalog variation is new
    assert "pos/square/pos_products" in first.materialized
    old_name = item.history[k - 1].name

    env.set_now(t2)
    second = env.sync()
    assert second.success and second.log.status == "success"
    created_meanwhile = [it for it in items if t1 < it.created_at <= t2]
    assert second.log.new_products_discovered == len(created_meanwhile)
    versions = warehouse_query(
        "select version, name, valid_from, valid_to, is_current, first_seen_at from pos.pos_products "
        "where pos_item_id = %s order by version", (item.variation_id,))
    assert [(v["version"], v["name"], v["is_current"]) for v in versions] == \
        [(1, old_name, False), (2, rename.name, True)]
    assert versions[0]["valid_to"] == versions[1]["valid_from"] == rename.at  # the catalog's updated_at
    assert versions[0]["first_seen_at"] == versions[1]["first_seen_at"]
    # exactly the products the world changed between the syncs have a second version
    counts = warehouse_query("select pos_item_id, count(*) as n, sum(case when is_current then 1 else 0 end) as cur "
                             "from pos.pos_products where pos_provider = 'square' group by pos_item_id")
    changed = {it.variation_id for it in items if any(t1 < s.at <= t2 for s in it.history[1:])}
    assert {r["pos_item_id"] for r in counts if r["n"] > 1} == changed  # the world edits several items at once
    assert item.variation_id in changed
    assert all(r["cur"] == 1 for r in counts) and len(counts) == len(known_at_t1) + len(created_meanwhile)
    # a sale before the rename keeps the name it was sold under; one after has the new name
    names = warehouse_query(
        "select i.product_name, t.transaction_date < %s as before_rename from pos.pos_transaction_items i "
        "join pos.pos_transactions t on t.id = i.transaction_id where i.pos_item_id = %s "
        "and t.transaction_type = 'sale'", (rename.at, item.variation_id))
    assert {r["product_name"] for r in names if r["before_rename"]} <= {old_name}
    assert {r["product_name"] for r in names if not r["before_rename"]} <= {rename.name}

    third = env.sync()  # nothing changed: no version, nothing discovered
    assert third.success and third.log.new_products_discovered == 0
    again = warehouse_query("select count(*) as n from pos.pos_products where pos_provider = 'square'")
    assert again[0]["n"] == len(known_at_t1) + len(created_meanwhile) + len(changed)
