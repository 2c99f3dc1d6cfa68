"""Syncs that meet trouble, through the Dagster job: injected faults (a 429 storm, 503s, a token
that expires mid-sync) still give the ledger's counts; a revoked grant fails the run with a
message that says what to do, disconnects the account and logs the sync as failed, and after
re-linking through OAuth the next sync resumes without gaps or duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from dagster_sync_support import TRANSACTION_TABLES, EnvFactory, changed_ids, make_world
from support.accounts import link_account
from support.worlds import mid_window

from pos_sandbox.faults import FaultPlan


def test_faults_429_storm_503s_and_token_expiry_mid_sync(make_env: EnvFactory) -> None:
    from pos_sync import appstore

    plan = FaultPlan()  # inactive while the account is linked (OAuth + location discovery)
    env = make_env(faults=plan)
    before = appstore.account_credentials(env.account_id)
    # armed now: a storm of three 429s on one request (with and without Retry-After), two 503s
    # in a row, a 502, and the access token expiring after every 3 authorized requests
    plan.schedule = {2: "429-noretry", 3: "429", 4: "429-noretry", 8: "503", 9: "503", 13: "502"}
    plan.expire_after = 3
    plan.reset()

    out = env.sync()
    assert out.success, out.log.error_message
    assert out.log.status == "success" and out.log.sync_type == "historical"
    env.assert_matches_ledger()
    assert plan.injected["429"] == 1 and plan.injected["429-noretry"] == 2
    assert plan.injected["503"] == 2 and plan.injected["502"] == 1
    assert plan.injected["expire"] >= 2
    after = appstore.account_credentials(env.account_id)
    # every refresh was persisted (encrypted) at once: the stored token is the latest one
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token  # code-flow refresh tokens are reusable
    assert env.account().status == "active"

    # the refreshed token stored by the run is the one the next sync uses
    plan.schedule, plan.expire_after = {}, None
    plan.reset()
    again = env.sync()
    assert again.success and set(again.rows_loaded.values()) == {0}
    assert appstore.account_credentials(env.account_id).access_token == after.access_token


def test_revoked_grant_disconnects_then_relink_resumes_without_gaps(make_env: EnvFactory) -> None:
    from pos_dagster.defs.automation.sensors import is_due
    from pos_sync import appstore

    world = make_world()
    mid = mid_window(world)
    env = make_env(world=world, now=mid)
    assert env.sync().success
    loads_before = env.data_load_ids()
    until = world.window_end_utc + timedelta(days=2)
    env.set_now(until)

    # the merchant revokes the app's access: every access token and the refresh token
    cred = env.credentials
    revoked = httpx.post(f"{cred['base_url']}/oauth2/revoke", timeout=30,
                         headers={"Authorization": f"Client {cred['client_secret']}"},
                         json={"client_id": cred["client_id"], "merchant_id": cred["account_id"]})
    assert revoked.json() == {"success": True}
    tokens = appstore.account_credentials(env.account_id)

    failed = env.sync()
    assert not failed.success
    assert failed.log.status == "failed" and failed.log.sync_completed_at is not None
    message = failed.log.error_message or ""
    assert "pos-sync accounts add square" in message and "revoked" in message.lower(), message
    for secret in (tokens.access_token, tokens.refresh_token, tokens.client_secret):
        assert secret and secret not in message
    account = env.account()
    assert account.status == "disconnected" and account.error_message == message and account.error_count == 1
    assert env.data_load_ids() == loads_before  # the failed run wrote nothing
    # a disconnected account is not scheduled until it is re-linked
    assert env.account_id not in {a.id for a in appstore.list_accounts() if is_due(a, datetime.now(UTC) + timedelta(days=1))}

    # re-link through the emulator's OAuth: new tokens, same account, active again
    assert link_account(env.server, world.tenant_id, "square") == env.account_id
    relinked = appstore.account_credentials(env.account_id)
    assert relinked.access_token != tokens.access_token and relinked.refresh_token != tokens.refresh_token
    assert env.account().status == "active"

    resumed = env.sync()
    assert resumed.success and resumed.log.status == "success" and resumed.log.sync_type == "incremental"
    new_loads = env.data_load_ids() - loads_before
    expected = changed_ids(world, mid, until)
    for table in TRANSACTION_TABLES:  # exactly what changed since the last good sync: no gap
        assert env.ids_in_load(table, new_loads) == expected[table], table
    env.assert_matches_ledger()  # and no duplicates
    history = [log.status for log in appstore.sync_history(env.account_id)]
    assert history == ["success", "failed", "success"]
