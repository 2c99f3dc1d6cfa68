"""Toast and Lightspeed raw → canonical, end to end through the real sources and the sandbox:
daily figures reproduce the ledger exactly (DST windows, late refunds and edits after the clock
moves), the integrity checks pass, and a rebuild changes nothing. One PostgreSQL run."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import dlt
import pytest
from support.accounts import manifest_account
from support.destination import open_warehouse
from support.postgres import use_postgres_warehouse
from support.worlds import sandbox_world

from dlt_sources.common.auth import TokenSet
from dlt_sources.lightspeed import lightspeed_source
from dlt_sources.lightspeed.helpers import lightspeed_tokens
from dlt_sources.toast import toast_source, toast_tokens
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World
from pos_sync.canonical.build import build_account
from pos_sync.canonical.checks_sql import CHECKS
from pos_sync.canonical.reconcile import canonical_daily, compare_daily
from pos_sync.settings import load_settings
from pos_sync.warehouse.pipelines import dlt_destination

ACCOUNT = "acct-under-test"


def _source(provider: str, acc: dict[str, Any], world: World) -> Any:
    if provider == "toast":
        tokens = toast_tokens(acc["client_id"], acc["client_secret"], acc["base_url"])
        return toast_source(tokens, acc["location_ids"], base_url=acc["base_url"], account_id=ACCOUNT, now=world.now,
                            initial_start=world.window_start_utc - timedelta(days=1))
    tokens = lightspeed_tokens(TokenSet(acc["access_token"], acc["refresh_token"]), base_url=acc["base_url"],
                               client_id=acc["client_id"], client_secret=acc["client_secret"])
    return lightspeed_source(tokens, acc["account_id"], acc["location_ids"], base_url=acc["base_url"],
                             account_id=ACCOUNT, now=world.now)


def _sync_and_build(server: SandboxServer, world: World, provider: str, pipeline: dlt.Pipeline) -> Any:
    acc = manifest_account(server, provider)
    pipeline.run(_source(provider, acc, world), loader_file_format="parquet"
                 if load_settings().warehouse_url is None else None).raise_on_failed_jobs()
    return build_account(ACCOUNT, provider, world.tenant_id)


def _assert_reconciled(world: World, provider: str) -> None:
    with open_warehouse() as wh:
        truth = [r for r in compute_truth(world)["daily"] if r["provider"] == provider]
        assert truth, "the world has no rows for the provider"
        assert compare_daily(truth, canonical_daily(wh, world.tenant_id)) == []
        assert {name: check(wh) for name, check in CHECKS.items()} == dict.fromkeys(CHECKS, 0)


def _assert_complete(world: World, provider: str) -> None:
    """Every column the provider has a value for is filled: cashier and device names (readable
    staff and till names), the customer's name, e-mail and phone (pseudonymised: keyed hashes),
    Lightspeed's modifiers (from the line note)."""
    staff = {m.id: f"{m.given_name} {m.family_name}" for members in world.team.values() for m in members}
    tills = {reg: name for loc in world.locations for reg, name in zip(loc.registers, loc.register_names, strict=True)}
    clear = {v for people in world.customers.values() for c in people
             for v in (c.given_name, c.family_name, f"{c.given_name} {c.family_name}", c.email, c.phone)}
    with open_warehouse() as wh:
        rows = wh.query("select transaction_type, cashier_id, cashier_name, device_id, device_name, customer_ref, "
                        "customer_name, customer_email, customer_phone from pos.pos_transactions")
        items = wh.query("select modifiers from pos.pos_transaction_items where modifiers is not null")
    assert rows
    for r in rows:
        assert r["cashier_id"] in staff and r["cashier_name"] == staff[r["cashier_id"]], r
        assert r["device_id"] in tills and r["device_name"] == tills[r["device_id"]], r
        assert (r["customer_name"] is None) == (r["customer_ref"] is None), r
        assert (r["customer_email"] is None) == (r["customer_ref"] is None), r
        assert (r["customer_phone"] is None) == (r["customer_ref"] is None), r
        for column in ("customer_ref", "customer_name", "customer_email", "customer_phone"):
            assert r[column] is None or (r[column].startswith("h:") and r[column] not in clear), r
    assert sum(r["customer_ref"] is not None for r in rows) >= 3
    assert len({r["customer_name"] for r in rows if r["customer_name"]}) >= 2
    modifier_names = {m.name for mods in world.modifiers.values() for m in mods}
    assert items, "lines with modifiers"
    for item in items:
        mods = item["modifiers"] if isinstance(item["modifiers"], list) else json.loads(item["modifiers"])
        assert mods and {m["name"] for m in mods} <= modifier_names


def _rows(table: str) -> list[tuple[Any, ...]]:
    with open_warehouse() as wh:
        return [tuple(r.values()) for r in wh.query(f"select * from pos.{table} order by 1")]


def _pipeline(provider: str, tmp_path: Any) -> dlt.Pipeline:
    load_settings().pos_home.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(pipeline_name=f"{provider}_canonical_test", destination=dlt_destination(),
                        dataset_name=f"raw_{provider}", pipelines_dir=str(tmp_path / "pipelines"))


@pytest.mark.parametrize(("provider", "start"), [("toast", date(2026, 3, 6)), ("lightspeed", date(2026, 3, 27))],
                         ids=["toast-us-dst", "lightspeed-eu-dst"])
def test_canonical_reconciles_through_dst_and_late_events(provider: str, start: date, tmp_path: Any) -> None:
    world = sandbox_world(7, provider, days=4, start=start, scale="small")
    pipeline = _pipeline(provider, tmp_path)
    with SandboxServer(world) as server:
        world.set_now(world.window_end_utc - timedelta(days=2))  # refunds and tip edits still to come
        first = _sync_and_build(server, world, provider, pipeline)
        assert first.loads == 1 and first.transactions > 0
        _assert_reconciled(world, provider)
        _assert_complete(world, provider)
        with open_warehouse() as wh:  # the demand calendar's holiday region comes from the postal code
            assert {r["location_id"]: r["postal_code"] for r in wh.query(
                "select location_id, postal_code from pos.pos_locations")} == {
                loc.location_id: loc.postal_code for loc in world.locations}
        before = {r[0]: r for r in _rows("pos_transactions")}

        world.set_now(world.window_end_utc + timedelta(days=3))  # the late events arrive
        second = _sync_and_build(server, world, provider, pipeline)
        assert second.loads == 1
        _assert_reconciled(world, provider)
        after = {r[0]: r for r in _rows("pos_transactions")}
        changed = {k for k in before if k in after and before[k] != after[k]}
        assert set(before) <= set(after)
        assert any(r[6] == "refund" for k, r in after.items() if k not in before), "a late refund arrived"
        assert changed, "late edits changed existing rows"

        rebuilt = build_account(ACCOUNT, provider, world.tenant_id)
        assert rebuilt.loads == 0
        assert {r[0]: r for r in _rows("pos_transactions")} == after


@pytest.mark.parametrize("provider", ["toast", "lightspeed"])
def test_canonical_on_postgres(provider: str, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    use_postgres_warehouse(monkeypatch, pg_url)
    world = sandbox_world(3, provider, start=date(2026, 6, 1))
    with SandboxServer(world) as server:
        _sync_and_build(server, world, provider, _pipeline(provider, tmp_path))
    _assert_reconciled(world, provider)
