"""Toast's set-based build (checks in DuckDB SQL, :mod:`transforms.toast.sales_sql`) writes the same
canonical rows as the Python normaliser, column for column — on a sandbox world loaded through the
real source (checks, voids, refunds in place, tips, service charges, modifiers, guests) and on raw
rows changed to reach the rules' corners: a unit price that rounds half-even, a double's long
decimal text, an open item, a weighed selection, a tax-included one, a voided payment and one
without a status, a deleted check, an order without business date or check number, two modifiers
with JSON escapes. Orders with a refunded payment are left to the normaliser (their refund rows).
A first build and an incremental one, both ways."""

from __future__ import annotations

import json
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

CHECKS = "raw_toast.orders__checks"
SELECTIONS = "raw_toast.orders__checks__selections"
PAYMENTS = "raw_toast.orders__checks__payments"
MODIFIERS = "raw_toast.orders__checks__selections__modifiers"
ESCAPED = 'Leche "de" avena\\ ñ/€\ttab'


def _corners() -> str:
    """Raw rows changed to reach the normaliser's corners; the guid of the check deleted."""
    with open_warehouse() as wh:
        checks = wh.column(
            f"select c._dlt_id from {CHECKS} c where not coalesce(c.voided, false) and (select count(*) from "
            f"{SELECTIONS} s where s._dlt_parent_id = c._dlt_id and not coalesce(s.voided, false)) >= 2 and "
            f"(select count(*) from {PAYMENTS} p where p._dlt_parent_id = c._dlt_id) >= 1 order by c.guid")
        assert len(checks) >= 10, "the world has checks of two selections or more"

        def selection(check: str) -> str:  # its first selection not voided (a voided one writes no item)
            return wh.scalar(f"select _dlt_id from {SELECTIONS} where _dlt_parent_id = %s and not coalesce(voided, "
                             f"false) order by _dlt_list_idx limit 1", (check,))

        wh.execute(f"update {SELECTIONS} set quantity = '8', pre_discount_price = '1.0', price = '1.0' "
                   f"where _dlt_id = %s", (selection(checks[0]),))  # 1.00 / 8 = 0.125 → 0.12 half-even
        wh.execute(f"update {SELECTIONS} set pre_discount_price = '2.6749999999999998', price = '2.675' "
                   f"where _dlt_id = %s", (selection(checks[1]),))  # 2.67 and 2.68: the text's digits
        wh.execute(f"update {SELECTIONS} set display_name = '', item__guid = 'not-on-a-menu', unit_of_measure = 'LB' "
                   f"where _dlt_id = %s", (selection(checks[2]),))
        wh.execute(f"update {SELECTIONS} set tax_inclusion = 'INCLUDED', unit_of_measure = 'ΟΔΟΣ' where _dlt_id = %s",
                   (selection(checks[3]),))  # lower-cased as Python does: 'οδος'
        # the first payment with a card has no card type, a second one has: the check's brand is the first's
        first = wh.scalar(f"select _dlt_id from {PAYMENTS} where _dlt_parent_id = %s order by _dlt_list_idx limit 1",
                          (checks[8],))
        wh.execute(f"insert into {PAYMENTS} select * replace ('x' || _dlt_id as _dlt_id, _dlt_list_idx + 100 as "
                   f"_dlt_list_idx, 'x' || guid as guid, 'VISA' as card_type, '2222' as last4_digits) from {PAYMENTS} "
                   f"where _dlt_id = %s", (first,))
        wh.execute(f"update {PAYMENTS} set card_type = null, last4_digits = '1111' where _dlt_id = %s", (first,))
        # a service charge of no check of these orders, unreadable: the build never reads it
        assert wh.table_exists("raw_toast", "orders__checks__applied_service_charges"), "the world has service charges"
        wh.execute("insert into raw_toast.orders__checks__applied_service_charges select * replace ('abc' as "
                   "charge_amount, 'nowhere' as _dlt_parent_id, 'stray' as _dlt_id) "
                   "from raw_toast.orders__checks__applied_service_charges limit 1")
        wh.execute(f"update {PAYMENTS} set payment_status = 'VOIDED' where _dlt_parent_id = %s", (checks[4],))
        wh.execute(f"update {PAYMENTS} set payment_status = null where _dlt_parent_id = %s", (checks[5],))
        wh.execute(f"update {CHECKS} set deleted = true where _dlt_id = %s", (checks[6],))
        wh.execute(f"update {CHECKS} set display_number = '' where _dlt_id = %s", (checks[7],))
        wh.execute(f"update raw_toast.orders set business_date = 0 where _dlt_id = "
                   f"(select _dlt_parent_id from {CHECKS} where _dlt_id = %s)", (checks[7],))
        wh.execute(f"update raw_toast.orders set business_date = 2026036 where _dlt_id = "  # 7 digits: 2026-03-06
                   f"(select _dlt_parent_id from {CHECKS} where _dlt_id = %s)", (checks[9],))
        modifier = wh.scalar(  # on an item written: its selection and check neither voided nor deleted
            f"select m._dlt_id from {MODIFIERS} m join {SELECTIONS} s on s._dlt_id = m._dlt_parent_id join {CHECKS} c on "
            f"c._dlt_id = s._dlt_parent_id where not coalesce(s.voided, false) and not coalesce(c.voided, false) and "
            f"not coalesce(c.deleted, false) order by s.guid, m._dlt_list_idx limit 1")
        assert modifier, "the world has modifiers"
        wh.execute(f"update {MODIFIERS} set display_name = %s, quantity = null where _dlt_id = %s", (ESCAPED, modifier))
        wh.execute(f"insert into {MODIFIERS} select * replace ('x' || _dlt_id as _dlt_id, _dlt_list_idx + 1 as "
                   f"_dlt_list_idx, 'Extra shot' as display_name) from {MODIFIERS} where _dlt_id = %s", (modifier,))
        wh.commit()
        return wh.scalar(f"select guid from {CHECKS} where _dlt_id = %s", (checks[6],))


def test_set_based_build_writes_the_normalisers_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    world = sandbox_world(7, "toast", days=4, start=date(2026, 3, 6), scale="small")
    pipeline = _pipeline("toast", tmp_path)
    probe = SetBasedProbe(monkeypatch, "transforms.toast.build")
    with SandboxServer(world) as server:
        world.set_now(world.window_end_utc - timedelta(days=2))
        probe.switch(False)
        _sync_and_build(server, world, "toast", pipeline)  # raw load 1 (its build is wiped below)
        deleted = _corners()
        wipe_canonical()
        by_sql = first_build_both_ways(probe, lambda: build_account(ACCOUNT, "toast", world.tenant_id), wipe_canonical)

        # the corners were reached (and so compared)
        items = list(by_sql["pos_transaction_items"].values())
        assert any(i["unit_price"] == "0.12" and i["quantity"] == "8.000" for i in items), "half-even unit price"
        assert any(i["gross_amount"] == "2.67" and i["discount_amount"] == "-0.01" for i in items)  # 2.67 - 2.68
        assert any(i["product_name"] == "(open item)" and i["unit"] == "lb" for i in items)
        assert any([m["name"] for m in json.loads(i["modifiers"] or "[]")] == [ESCAPED, "Extra shot"] for i in items)
        transactions = by_sql["pos_transactions"].values()
        assert any(t["business_date"] is None for t in transactions)
        assert deleted not in {t["pos_transaction_id"] for t in transactions}
        assert any(t["status"] is None for t in by_sql["pos_tenders"].values())
        assert any(i["unit"] == "οδος" for i in items)
        assert any(t["card_brand"] is None and t["card_last_four"] == "1111" for t in transactions)
        assert any(t["business_date"] == date(2026, 3, 6) for t in transactions)

        # an incremental build on top (late refunds, tip edits), both ways from the same state
        world.set_now(world.window_end_utc + timedelta(days=3))
        pipeline.run(_source("toast", manifest_account(server, "toast"), world),
                     loader_file_format="parquet").raise_on_failed_jobs()
        by_sql = incremental_build_both_ways(probe, lambda: build_account(ACCOUNT, "toast", world.tenant_id))
        assert any(t["transaction_type"] == "refund" for t in by_sql["pos_transactions"].values()), "refunds too"
