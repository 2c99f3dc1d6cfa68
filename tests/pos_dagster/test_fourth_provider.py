"""Proof of the provider seam: FakePOS, a provider that exists only in the tests
(``tests/support/fakepos/``: its API on loopback, its world and ground truth, its dlt source, its
canonical builder, its description), is added with one registration line and then syncs through
the real Dagster definitions — its own partitions, raw assets, canonical slices, checks, sync job
and the account sync sensor — into ``pos.*``, reconciling with its ground truth to the cent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from support import fakepos
from support.fakepos.api import TOKEN, create_app
from support.fakepos.world import FakeWorld
from support.serve import serve_app


@pytest.fixture()
def registered() -> Iterator[None]:
    from pos_sync.providers import registry

    registry.register(fakepos.SPEC)  # the one line that adds a provider
    try:
        yield
    finally:
        registry.unregister("fakepos")


def test_a_fourth_provider_syncs_through_the_real_dagster_job(registered: None, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_dagster.adapter import sync_account
    from pos_dagster.definitions import build_definitions
    from pos_sync import appstore
    from pos_sync.canonical.checks_sql import CHECKS
    from pos_sync.canonical.reconcile import canonical_daily, compare_daily
    from pos_sync.warehouse.sql import Warehouse

    world = FakeWorld()
    monkeypatch.setenv("POS_NOW", world.now.isoformat())
    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/fakepos/sales", "raw/fakepos/shops", "pos/fakepos/pos_transactions"} <= keys
    assert defs.get_assets_def(dg.AssetKey(["raw", "fakepos", "sales"])).partitions_def.name == "fakepos_accounts"

    with serve_app(create_app(world)) as base_url, dg.DagsterInstance.ephemeral() as instance:
        account_id = appstore.add_account(tenant_id="t-fake", provider="fakepos", merchant_id="fake-merchant",
                                          base_url=base_url, access_token=TOKEN, historical_import_days=30,
                                          locations=[{"location_id": "shop-madrid"}, {"location_id": "shop-tenerife"}])
        first = sync_account(account_id, instance=instance, definitions=defs)
        assert first["status"] == "success", first
        assert first["sync_type"] == "historical" and first["rows_loaded"]["fakepos/sales"] == len(world.visible())
        again = sync_account(account_id, instance=instance, definitions=defs)  # nothing new: nothing loaded
        assert again["status"] == "success" and not again["rows_loaded"].get("fakepos/sales")

        wh = Warehouse()
        try:
            problems = compare_daily(world.truth(), canonical_daily(wh, "t-fake"))
            offending = {name: fn(wh, "fakepos") for name, fn in CHECKS.items()}
        finally:
            wh.close()
        assert problems == []  # every figure of every shop and day, to the cent
        assert set(offending.values()) == {0}
        evaluations = [e.dagster_event.event_specific_data for e in instance.all_logs(  # type: ignore[union-attr]
            first["run_id"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
        # every integrity check passes; nothing is mapped yet, so the unmapped-revenue check warns
        assert {(ev.check_name, ev.passed) for ev in evaluations} == {
            *((name, True) for name in CHECKS), ("unmapped_revenue_share", False)}
        assert appstore.get_account(account_id).status == "active"
        assert instance.get_dynamic_partitions("fakepos_accounts") == [account_id]
