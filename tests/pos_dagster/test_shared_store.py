"""A store linked by two tenants: each tenant's canonical figures are the store's, to the cent,
through the real CLI (``pos-sync sync``) and the Dagster job, before and after later sales, edits
and refunds — neither tenant's import takes the other's raw rows (the raw keys hold the account:
``dlt_sources.common.rows.merge_key``), and each keeps syncing incrementally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.accounts import link_account
from support.destination import open_warehouse
from support.sandboxes import sandboxes
from support.worlds import mid_window, sandbox_world, set_clock

from pos_sandbox.ledger import compute_truth

DAYS = 3
OTHER_TENANT = "hornos-luna"


@pytest.fixture()
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    world = sandbox_world(10, "square", "toast", "lightspeed", days=DAYS)
    mid = mid_window(world)
    world.set_now(mid)
    with sandboxes(app_store=True) as started:
        server = started.serve(world)
        set_clock(world, monkeypatch, mid)
        yield world, server, monkeypatch, capsys


def _sync(capsys: pytest.CaptureFixture[str], account_id: str) -> dict[str, Any]:
    from pos_sync.cli import main

    capsys.readouterr()
    code = main(["sync", "--account", account_id, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    return dict(json.loads(out)[0])


def _reconciles(world: Any, provider: str, tenant: str) -> None:
    from pos_sync.canonical.reconcile import canonical_daily, compare_daily

    truth = [r for r in compute_truth(world)["daily"] if r["provider"] == provider]
    with open_warehouse() as wh:
        actual = [r for r in canonical_daily(wh, tenant) if r["provider"] == provider]
        dupes = wh.scalar("select count(*) - count(distinct pos_transaction_id) from pos.pos_transactions "
                          "where pos_provider = %s and tenant_id = %s", (provider, tenant))
    assert actual and compare_daily(truth, actual) == [], (tenant, compare_daily(truth, actual)[:3])
    assert dupes == 0


@pytest.mark.parametrize("provider", ["square", "toast", "lightspeed"])
def test_a_store_linked_by_two_tenants_is_each_tenants_to_the_cent(shared: Any, provider: str) -> None:
    world, server, monkeypatch, capsys = shared
    tenants = (world.tenant_id, OTHER_TENANT)
    # Toast reads history in day windows at 5 requests/s: the world's days, not the default 90
    options = {"historical_import_days": DAYS + 2} if provider == "toast" else {}
    accounts = {tenant: link_account(server, tenant, provider, **options) for tenant in tenants}
    assert len(set(accounts.values())) == 2  # two accounts of one store
    for tenant in tenants:
        assert _sync(capsys, accounts[tenant])["sync_type"] == "historical"
    for tenant in tenants:
        _reconciles(world, provider, tenant)
    with open_warehouse() as wh:  # each account holds the store's raw rows of its own
        root = {"square": "payments", "toast": "orders", "lightspeed": "sales"}[provider]
        rows = wh.query(f"select _pos_account_id as a, count(*) as n from raw_{provider}.{root} group by 1")
    per_account = {r["a"]: r["n"] for r in rows}
    assert set(per_account) == set(accounts.values()) and len(set(per_account.values())) == 1, per_account

    set_clock(world, monkeypatch, world.window_end_utc + timedelta(days=2))  # later sales, edits, refunds
    for tenant in reversed(tenants):
        assert _sync(capsys, accounts[tenant])["sync_type"] == "incremental"
    for tenant in tenants:
        _reconciles(world, provider, tenant)
