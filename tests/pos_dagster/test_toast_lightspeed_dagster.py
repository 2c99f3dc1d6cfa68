"""Toast and Lightspeed through the product: accounts linked as a merchant would (Toast machine
client login + restaurant details, Lightspeed OAuth code flow + outlet discovery), synced with
``pos_dagster.adapter.sync_account`` (the Dagster job, in-process) against a real sandbox on
loopback, on DuckDB and on PostgreSQL.

* raw counts equal the ledger's ``objects``; a second sync loads nothing;
* Toast's machine-client token is stored encrypted in the app store and reused across syncs
  (logins counted at the emulator); a token Toast expired is replaced by one login, stored, reused;
* Toast's account × day backfill job loads one business date without touching the cursor;
* Lightspeed's rotated refresh tokens are saved as they arrive (the stored one is the live one);
  a refresh whose response is lost with no grace period fails the sync, marks the account
  ``reauth_required`` with what to do, logs the sync as failed and loses nothing; after
  re-linking, the next sync completes the ledger;
* the CLI adds both against the emulators (discovery), the demo syncs and reconciles all three.

Tiny worlds of 3 days; the connector's clock (``POS_NOW``) follows the sandbox clock.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from dagster_sync_support import QUIET
from support import ledger
from support.accounts import link_account, manifest_account
from support.destination import raw_query
from support.postgres import use_postgres
from support.sandboxes import dagster_home, sandboxes
from support.worlds import START, sandbox_world, set_clock

from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 10
DAYS = 3


# ---------------------------------------------------------------------- environment
@dataclass
class Env:
    world: World
    server: SandboxServer
    instance: dg.DagsterInstance
    monkeypatch: pytest.MonkeyPatch

    def cred(self, provider: str) -> dict[str, Any]:
        return manifest_account(self.server, provider)

    def set_now(self, when: datetime) -> None:
        set_clock(self.world, self.monkeypatch, when)

    def link(self, provider: str) -> str:
        # Toast: the world starts DAYS before its end: no 90 empty days of windows
        options = {"historical_import_days": DAYS + 2} if provider == "toast" else {}
        return link_account(self.server, self.world.tenant_id, provider, **options)

    def sync(self, account_id: str) -> dict[str, Any]:
        from pos_dagster.adapter import sync_account

        return sync_account(account_id, instance=self.instance)

    def truth(self) -> dict[str, Any]:
        return compute_truth(self.world)

    # ------------------------------------------------------------------ emulator hooks
    def toast_logins(self) -> int:
        return int(httpx.get(self.cred("toast")["base_url"] + "/_sandbox/toast/stats").json()["login_calls"])

    def post(self, provider: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.cred(provider)["base_url"] + path, json=body)

    @property
    def lightspeed_store(self) -> Any:
        for route in self.server.app.routes:
            if getattr(route, "path", "") == "/lightspeed":
                return route.app.state.lightspeed.store  # type: ignore[attr-defined]
        raise LookupError("no Lightspeed mount")


@pytest.fixture()
def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             request: pytest.FixtureRequest) -> Iterator[Callable[..., Env]]:
    dagster_home(monkeypatch, tmp_path)
    with sandboxes(app_store=True) as started:

        def make(warehouse: str = "duckdb", **options: Any) -> Env:
            if warehouse == "postgres":
                use_postgres(monkeypatch, str(request.getfixturevalue("pg_url")))
            world = sandbox_world(SEED, "toast", "lightspeed", days=DAYS)
            set_clock(world, monkeypatch)  # the window's end: a past world syncs as current
            server = started.serve(world, **options)
            return Env(world, server, started.dagster_instance(), monkeypatch)

        yield make


# ---------------------------------------------------------------------- warehouse checks


TOAST_CHECKS = "from orders o join orders__checks c on c._dlt_parent_id = o._dlt_id"
TOAST_QUERIES = {
    "orders": "select _pos_restaurant_guid, count(*) from orders group by 1",
    "checks": f"select o._pos_restaurant_guid, count(*) {TOAST_CHECKS} group by 1",
    "deleted_checks": f"select o._pos_restaurant_guid, count(*) {TOAST_CHECKS} where c.deleted group by 1",
    "payments": f"select o._pos_restaurant_guid, count(*) {TOAST_CHECKS} join orders__checks__payments p "
                "on p._dlt_parent_id = c._dlt_id group by 1",
    "refunded_payments": f"select o._pos_restaurant_guid, count(*) {TOAST_CHECKS} join orders__checks__payments p "
                         "on p._dlt_parent_id = c._dlt_id where p.refund_status <> 'NONE' group by 1",
    "selections": f"select o._pos_restaurant_guid, count(*) {TOAST_CHECKS} join orders__checks__selections s "
                  "on s._dlt_parent_id = c._dlt_id group by 1",
    "voided_selections": f"select o._pos_restaurant_guid, count(*) {TOAST_CHECKS} join orders__checks__selections s "
                         "on s._dlt_parent_id = c._dlt_id where s.voided and not c.voided group by 1",
    "voided_orders": "select _pos_restaurant_guid, count(*) from orders where voided group by 1",
}
LIGHTSPEED_QUERIES = {
    "sales": "select outlet_id, count(*) from sales group by 1",
    "return_sales": "select outlet_id, count(*) from sales where return_for is not null group by 1",
    "voided_sales": "select outlet_id, count(*) from sales where status = 'VOIDED' group by 1",
    "payments": "select s.outlet_id, count(*) from sales__payments p join sales s on p._dlt_parent_id = s._dlt_id "
                "group by 1",
    "line_items": "select s.outlet_id, count(*) from sales__line_items li join sales s "
                  "on li._dlt_parent_id = s._dlt_id where s.return_for is null group by 1",
}
QUERIES = {"toast": TOAST_QUERIES, "lightspeed": LIGHTSPEED_QUERIES}


def loaded_objects(provider: str) -> dict[str, dict[str, int]]:
    return ledger.counts_per_location(lambda sql: raw_query(provider, sql), QUERIES[provider])


def expected_objects(truth: dict[str, Any], provider: str) -> dict[str, dict[str, int]]:
    return ledger.expected_objects(truth, provider, QUERIES[provider])


def assert_matches_ledger(env: Env, provider: str) -> None:
    expected = expected_objects(env.truth(), provider)
    assert expected, "the world has objects of this provider"
    assert loaded_objects(provider) == expected
    table, key = ("orders", "guid") if provider == "toast" else ("sales", "id")
    [(total, distinct)] = raw_query(provider, f"select count(*), count(distinct {key}) from {table}")
    assert total == distinct, f"duplicate {table}"


def raw_rows(summary: dict[str, Any], provider: str) -> dict[str, int]:
    return {k: v for k, v in summary["rows_loaded"].items() if k.startswith(f"{provider}/")}


def last_log(account_id: str) -> Any:
    from pos_sync import appstore

    return appstore.sync_history(account_id, limit=1)[0]


# ---------------------------------------------------------------------- Toast
def test_toast_sync_matches_ledger_reuses_the_stored_token_and_a_second_sync_loads_nothing(
        make_env: Callable[..., Env]) -> None:
    import sqlalchemy as sa

    from pos_sync import appstore
    from pos_sync.appstore.models import PosAccount

    env = make_env()
    account_id = env.link("toast")
    assert env.toast_logins() == 1  # the link's login: its token is stored with the account
    account = appstore.get_account(account_id)
    cred = env.cred("toast")
    assert account.location_ids == sorted(cred["location_ids"])
    restaurant = account.locations[0]
    loc = next(lc for lc in env.world.locations if lc.location_id == restaurant.location_id)
    assert (restaurant.name, restaurant.timezone, restaurant.currency) == (loc.name, loc.timezone, loc.currency)

    first = env.sync(account_id)
    assert first["status"] == "success", first["error"]
    assert first["sync_type"] == "historical" and first["account_status"] == "active"
    assert raw_rows(first, "toast")["toast/orders"] > 0
    assert_matches_ledger(env, "toast")
    assert last_log(account_id).status == "success"

    second = env.sync(account_id)
    assert second["status"] == "success" and second["sync_type"] == "incremental"
    assert set(raw_rows(second, "toast").values()) == {0}
    assert_matches_ledger(env, "toast")
    assert env.toast_logins() == 1  # both syncs reused the stored token: no login

    # the token is stored encrypted: its text is nowhere in the app store's row
    token = appstore.account_credentials(account_id).access_token
    assert token
    with appstore.session_scope() as s:
        row = s.execute(sa.select(PosAccount).where(PosAccount.id == account_id)).scalar_one()
        assert token not in (row.access_token_enc or "") and row.access_token_enc

    # Toast expires the token: one login, the new token stored and reused by the next sync
    assert env.post("toast", "/_sandbox/toast/tokens/expire", {"accessToken": token}).json() == {"expired": True}
    third = env.sync(account_id)
    assert third["status"] == "success", third["error"]
    assert env.toast_logins() == 2
    renewed = appstore.account_credentials(account_id)
    assert renewed.access_token and renewed.access_token != token
    assert renewed.token_expires_at is not None and renewed.token_expires_at > datetime.now(UTC)
    fourth = env.sync(account_id)
    assert fourth["status"] == "success" and set(raw_rows(fourth, "toast").values()) == {0}
    assert env.toast_logins() == 2
    assert_matches_ledger(env, "toast")


def test_toast_backfill_window_job_loads_one_business_date_and_leaves_the_cursor(
        make_env: Callable[..., Env]) -> None:
    from pos_dagster.definitions import defs
    from pos_sync import appstore
    from pos_sync.warehouse.pipelines import pipeline_name

    env = make_env()
    account_id = env.link("toast")
    env.instance.add_dynamic_partitions("toast_accounts", [account_id])
    day = START + timedelta(days=1)
    key = dg.MultiPartitionKey({"account": account_id, "date": day.isoformat()})
    job = defs.resolve_job_def("toast_historical_backfill")
    result = job.execute_in_process(partition_key=key, instance=env.instance, raise_on_error=False, run_config=QUIET)
    assert result.success
    mats = {tuple(e.event_specific_data.materialization.asset_key.path): e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()}
    assert mats[("raw", "toast", "orders")].partition == account_id
    log = last_log(account_id)
    assert (log.sync_type, log.status) == ("backfill", "success")
    business_dates = {int(r[0]) for r in raw_query("toast", "select distinct business_date from orders")}
    assert business_dates == {int(day.strftime("%Y%m%d"))}  # that business date only
    window_orders = raw_query("toast", "select count(*) from orders")[0][0]
    assert window_orders > 0
    incremental = pipeline_name("toast", account_id)
    states = {str(r[0]) for r in raw_query("toast", "select pipeline_name from _dlt_pipeline_state")}
    assert incremental not in states and any(s.startswith(incremental + "__window_") for s in states)
    assert appstore.get_account(account_id).historical_import_done_at is None

    # the regular sync still imports everything; the window's orders merge, no duplicates
    summary = env.sync(account_id)
    assert summary["status"] == "success" and summary["sync_type"] == "historical"
    assert_matches_ledger(env, "toast")
    day_int = int(day.strftime("%Y%m%d"))
    assert raw_query("toast", f"select count(*) from orders where business_date = {day_int}")[0][0] \
        == window_orders


# ---------------------------------------------------------------------- Lightspeed
def test_lightspeed_sync_matches_ledger_saves_rotated_tokens_and_a_second_sync_loads_nothing(
        make_env: Callable[..., Env]) -> None:
    from pos_sync import appstore
    from pos_sync.appstore.product_stats import product_stats

    env = make_env()
    account_id = env.link("lightspeed")
    account = appstore.get_account(account_id)
    cred = env.cred("lightspeed")
    assert account.location_ids == sorted(cred["location_ids"])  # discovered from /api/2.0/outlets
    outlet = account.locations[0]
    loc = next(lc for lc in env.world.locations if lc.location_id == outlet.location_id)
    assert (outlet.name, outlet.timezone, outlet.currency) == (loc.name, loc.timezone, loc.currency)
    assert account.extra["domain_prefix"] == cred["account_id"].lower()

    first = env.sync(account_id)
    assert first["status"] == "success", first["error"]
    assert first["sync_type"] == "historical"
    assert raw_rows(first, "lightspeed")["lightspeed/sales"] > 0
    assert_matches_ledger(env, "lightspeed")
    # every table a first sync writes says how many rows it wrote (none reports a 0 it did not mean)
    loaded = raw_rows(first, "lightspeed")
    assert loaded["lightspeed/pos_locations"] == len(account.locations)
    assert loaded["lightspeed/product_stats"] == len(product_stats(account.tenant_id, account_id=account_id)) > 0
    [(demand_rows,)] = raw_query("lightspeed",
        f"select count(*) from pos.demand_history where pos_account_id = '{account_id}'")
    assert loaded["lightspeed/demand_history"] == demand_rows > 0
    [(daily_rows,)] = raw_query("lightspeed", "select count(*) from pos.daily_product_sales where pos_provider = 'lightspeed'")
    assert loaded["lightspeed/daily_product_sales"] == daily_rows  # rows, not the location-days recomputed
    assert all(loaded.values()), loaded

    second = env.sync(account_id)
    assert second["status"] == "success" and set(raw_rows(second, "lightspeed").values()) == {0}

    # the access token expires: the sync refreshes, and the rotated refresh token is the stored one
    before = appstore.account_credentials(account_id)
    env.post("lightspeed", "/_sandbox/lightspeed/tokens/expire", {"access_token": before.access_token})
    third = env.sync(account_id)
    assert third["status"] == "success", third["error"]
    after = appstore.account_credentials(account_id)
    assert after.refresh_token != before.refresh_token and after.access_token != before.access_token
    store = env.lightspeed_store
    assert store.refresh_tokens[before.refresh_token].successor == after.refresh_token
    assert store.refresh_tokens[after.refresh_token].successor is None  # the live one
    assert set(raw_rows(third, "lightspeed").values()) == {0}
    assert_matches_ledger(env, "lightspeed")


def test_lightspeed_lost_refresh_without_grace_needs_reauth_and_loses_nothing(make_env: Callable[..., Env]) -> None:
    from pos_dagster.defs.automation.sensors import is_due
    from pos_sync import appstore

    env = make_env()  # refresh_grace_seconds = 0: the emulator's (and presumably Lightspeed's) default
    world = env.world
    env.set_now(world.window_end_utc - timedelta(hours=30))
    account_id = env.link("lightspeed")
    assert env.sync(account_id)["status"] == "success"
    loaded = loaded_objects("lightspeed")
    loads = {r[0] for r in raw_query("lightspeed", "select distinct _dlt_load_id from sales")}
    assert loaded

    env.set_now(world.window_end_utc)
    tokens = appstore.account_credentials(account_id)
    env.post("lightspeed", "/_sandbox/lightspeed/tokens/expire", {"access_token": tokens.access_token})
    env.post("lightspeed", "/_sandbox/lightspeed/lose_refresh", {"count": 1})
    failed = env.sync(account_id)
    assert failed["status"] == "failed"
    account = appstore.get_account(account_id)
    assert account.status == "reauth_required" and failed["account_status"] == "reauth_required"
    message = account.error_message or ""
    assert "pos-sync accounts add lightspeed" in message and "Nothing synced so far is lost" in message, message
    for secret in (tokens.access_token, tokens.refresh_token, tokens.client_secret):
        assert secret and secret not in message
    log = last_log(account_id)
    assert log.status == "failed" and log.error_message == message and log.sync_completed_at is not None
    # nothing lost and nothing half-written
    assert loaded_objects("lightspeed") == loaded
    assert {r[0] for r in raw_query("lightspeed", "select distinct _dlt_load_id from sales")} == loads
    # not scheduled until a human reconnects it
    assert account_id not in {a.id for a in appstore.list_accounts() if is_due(a, datetime.now(UTC) + timedelta(days=1))}

    # reconnect through OAuth: same account, active, and the next sync completes the ledger
    assert env.link("lightspeed") == account_id
    assert appstore.get_account(account_id).status == "active"
    resumed = env.sync(account_id)
    assert resumed["status"] == "success" and resumed["sync_type"] == "incremental", resumed["error"]
    assert raw_rows(resumed, "lightspeed")["lightspeed/sales"] > 0
    assert_matches_ledger(env, "lightspeed")
    assert [lg.status for lg in appstore.sync_history(account_id)] == ["success", "failed", "success"]


def test_failure_classification_per_provider() -> None:
    from dlt_sources.common.errors import MissingScopes, ReauthorizationRequired
    from pos_sync.ingest.bookkeeping import classify_failure
    from pos_sync.providers import registry

    wrapped = RuntimeError("pipeline step failed")
    wrapped.__cause__ = ReauthorizationRequired("reconnect")
    assert classify_failure(wrapped) == ("disconnected", "reconnect")  # the default
    assert classify_failure(wrapped, registry.get("square").reauth_status) == ("disconnected", "reconnect")
    assert classify_failure(wrapped, registry.get("lightspeed").reauth_status) == ("reauth_required", "reconnect")
    assert classify_failure(wrapped, registry.get("toast").reauth_status) == ("reauth_required", "reconnect")
    assert classify_failure(MissingScopes("needs orders:read"), "reauth_required") == ("error", "needs orders:read")
    assert classify_failure(ValueError("boom"), "reauth_required") == ("error", "ValueError: boom")


# ---------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_toast_and_lightspeed_on_postgresql(make_env: Callable[..., Env]) -> None:
    env = make_env("postgres")
    for provider in ("toast", "lightspeed"):
        account_id = env.link(provider)
        first = env.sync(account_id)
        assert first["status"] == "success", first["error"]
        assert_matches_ledger(env, provider)
        second = env.sync(account_id)
        assert second["status"] == "success" and set(raw_rows(second, provider).values()) == {0}
    assert env.toast_logins() == 1


# ---------------------------------------------------------------------- CLI and demo
def test_cli_adds_toast_and_lightspeed_with_discovery(make_env: Callable[..., Env],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from pos_sync import appstore
    from pos_sync.cli import main

    env = make_env()
    toast = env.cred("toast")
    guid = toast["location_ids"][0]
    argv = ["accounts", "add", "toast", "--tenant", "t1", "--client-id", toast["client_id"], "--client-secret", "-",
            "--base-url", toast["base_url"], "--json"]
    def secret_on_stdin() -> None:
        env.monkeypatch.setattr("sys.stdin", io.StringIO(toast["client_secret"] + "\n"))

    secret_on_stdin()
    assert main([*argv, "--location", guid]) == 0
    out, err = capsys.readouterr()
    added = json.loads(out)
    loc = next(lc for lc in env.world.locations if lc.location_id == guid)
    assert added["location_ids"] == [guid] and added["locations"][0]["timezone"] == loc.timezone
    assert added["has_access_token"] and toast["client_secret"] not in out + err
    # without --location: the emulator (like a standard Toast client) has no partners list
    secret_on_stdin()
    assert main(argv) == 1
    assert "--location" in capsys.readouterr().err
    secret_on_stdin()
    assert main([*argv, "--location", "not-a-restaurant"]) == 1
    assert "not-a-restaurant" in capsys.readouterr().err

    ls = env.cred("lightspeed")
    ls_argv = ["accounts", "add", "lightspeed", "--tenant", "t1", "--domain-prefix", ls["account_id"],
               "--access-token", ls["access_token"], "--refresh-token", ls["refresh_token"],
               "--client-id", ls["client_id"], "--client-secret", ls["client_secret"], "--base-url", ls["base_url"],
               "--json"]
    assert main(ls_argv) == 0
    out, err = capsys.readouterr()
    added_ls = json.loads(out)
    assert added_ls["location_ids"] == sorted(ls["location_ids"])  # every outlet, discovered
    assert ls["access_token"] not in out + err and ls["refresh_token"] not in out + err
    assert main([*ls_argv, "--location", "nope"]) == 1
    assert "nope" in capsys.readouterr().err
    # the domain prefix must be the store's the credentials reach: a wrong one is refused, not stored
    wrong = [a if a != ls["account_id"] else "nosuchstore123" for a in ls_argv]
    assert main(wrong) == 1
    err = capsys.readouterr().err
    assert f"belong to the store {ls['account_id']!r}, not 'nosuchstore123'" in err and len(err.splitlines()) == 1
    assert not [a for a in appstore.list_accounts() if a.merchant_id == "nosuchstore123"]
    creds = appstore.account_credentials(added_ls["id"])
    assert (creds.client_id, creds.client_secret) == (ls["client_id"], ls["client_secret"])
