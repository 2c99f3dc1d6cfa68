"""Catalog history end to end for Toast and Lightspeed (real sources, sandbox, DuckDB): the world
renames, re-prices and deletes products during its window (Toast leaves the deleted one out of
its menus, Lightspeed soft-deletes it); a sync before those edits and one after give each edited
product exactly two versions — the current one with the world's latest name and the archived /
deleted flags — and every other product one; the second build counts as new exactly the products
the world created in between; the daily figures still reconcile with the ledger to the cent."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from support.destination import open_warehouse
from support.worlds import sandbox_world
from test_toast_lightspeed_canonical import _assert_reconciled, _pipeline, _sync_and_build

from pos_sandbox.server import SandboxServer


@pytest.mark.parametrize(("provider", "start"), [("toast", date(2026, 3, 6)), ("lightspeed", date(2026, 3, 27))])
def test_edits_between_two_syncs_give_second_versions_flags_and_new_products(provider: str, start: date,
                                                                             tmp_path: object) -> None:
    world = sandbox_world(7, provider, days=4, start=start, scale="small")
    account = next(a for a in world.accounts if a.provider == provider)
    items = world.items[account.account_id]
    created = min(it.created_at for it in items)
    later = sorted({s.at for it in items for s in it.history if s.at > created})
    assert later, "the world no longer edits or adds products during its window"
    t1, t2 = later[0] - timedelta(minutes=1), world.window_end_utc + timedelta(days=1)
    pipeline = _pipeline(provider, tmp_path)
    with SandboxServer(world) as server:
        world.set_now(t1)
        first = _sync_and_build(server, world, provider, pipeline)
        sellable_t1 = [it for it in items if it.created_at <= t1 and not it.state_at(t1).deleted]
        assert first.new_products == len(sellable_t1) > 0
        world.set_now(t2)
        second = _sync_and_build(server, world, provider, pipeline)
        _assert_reconciled(world, provider)
    new_meanwhile = [it for it in items if t1 < it.created_at <= t2]
    if provider == "toast":  # an item created and archived between two syncs is never listed
        new_meanwhile = [it for it in new_meanwhile if not it.state_at(t2).deleted]
    assert second.new_products == len(new_meanwhile)
    with open_warehouse() as wh:
        rows = wh.query("select * from pos.pos_products where pos_provider = %s order by pos_item_id, version",
                        (provider,))
    versions: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        versions.setdefault(str(r["pos_item_id"]), []).append(r)
    edited = {it.item_id: it for it in sellable_t1 if any(t1 < s.at <= t2 for s in it.history)}
    assert any(it.history[-1].deleted for it in edited.values()), "the world deletes a product in between"
    assert any(it.history[-1].name != it.state_at(t1).name for it in edited.values()), "…and renames one"
    for item in sellable_t1:
        got = versions[item.item_id]
        assert [v["is_current"] for v in got] == ([False, True] if item.item_id in edited else [True]), item.item_id
        old, now = item.state_at(t1), item.state_at(t2)
        assert got[0]["name"] == old.name
        assert got[-1]["name"] == now.name and got[-1]["valid_to"] is None
        assert got[-1]["is_archived"] is now.deleted  # Toast: gone from the menus; Lightspeed: inactive
        assert got[-1]["is_deleted"] is (now.deleted and provider == "lightspeed")  # Toast says archived only
        if item.item_id in edited:
            assert got[0]["valid_to"] == got[1]["valid_from"] and t1 < got[1]["valid_from"] <= t2
            if now.price_cents != old.price_cents and provider == "toast":
                assert got[1]["price"] == Decimal(now.price_cents) / 100
