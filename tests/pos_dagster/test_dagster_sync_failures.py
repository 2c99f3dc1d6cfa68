"""Syncs that meet trouble, through the Dagster job: injected faults (a 429 storm, 503s, a token
that expires mid-sync) still give the ledger's counts; a revoked grant fails the run with a
message that says what to do, disconnects the account and logs the sync as failed, and after
re-linking through OAuth the next sync resumes without gaps or duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
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


def test_revoked_grant_disconnects_then_relink_resumes_without_gaps(make_env: EnvFactory,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_dagster.defs.automation.sensors import is_due
    from pos_sync import appstore

    # another attempt cannot cure a revoked grant: never retried, whatever MAX_SYNC_RETRIES says
    monkeypatch.setenv("MAX_SYNC_RETRIES", "3")
    monkeypatch.setenv("POS_SYNC_RETRY_DELAY_SECONDS", "0")

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


class _PaymentsOutage(FaultPlan):
    """Every ``/v2/payments`` request after the first ``after`` gets a 429 until :meth:`end`."""

    def __init__(self, after: int) -> None:
        super().__init__(retry_after=0.05)
        self.after, self.on, self.seen = after, False, 0

    @property
    def active(self) -> bool:
        return True

    def decide(self, key: str) -> tuple[int, object]:  # type: ignore[override]
        number, fault = super().decide(key)
        if self.on and "/v2/payments" in key:
            self.seen += 1
            if self.seen > self.after:
                from pos_sandbox.faults import Fault

                return number, Fault.of("429", retry_after=self.retry_after)
        return number, fault


def test_an_outage_longer_than_the_retry_budget_makes_a_partial_sync_the_next_one_completes(
        make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider keeps answering 429 past the run's retry budget: the run keeps what it loaded,
    its log closes as ``partial`` naming the stream and the API's behaviour, the account stays
    active; when the outage is over the next sync completes and the ledger matches exactly."""
    monkeypatch.setenv("POS_SYNC_RETRY_BUDGET_SECONDS", "1")
    outage = _PaymentsOutage(after=1)
    env = make_env(faults=outage)
    outage.on = True

    out = env.sync()
    assert out.success, out.log.error_message
    log = out.log
    assert log.status == "partial" and log.error_type == "rate_limited", log
    assert log.partial_reason and "payments" in log.partial_reason
    assert log.api_stats is not None and log.api_stats["rate_limited"] >= 1 and log.api_stats["gave_up"] >= 1
    assert env.account().status == "active"  # nothing for a person to do: the next sync continues
    raw = out.result.asset_materializations_for_node("square_raw")
    payments = next(m for m in raw if m.asset_key.path[-1] == "payments")
    assert payments.metadata["api_rate_limited"].value >= 1 and "payments" in payments.metadata["partial"].value

    outage.on = False
    again = env.sync()
    assert again.success and again.log.status == "success" and again.log.partial_reason is None
    env.assert_matches_ledger()


class _LocationsDown(FaultPlan):
    """``/v2/locations`` answers 503 for ``seconds`` from its first request."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.until, self.armed = seconds, None, False

    @property
    def active(self) -> bool:
        return True

    def decide(self, key: str) -> tuple[int, object]:  # type: ignore[override]
        import time

        number, fault = super().decide(key)
        if self.armed and "/v2/locations" in key:
            if self.until is None:
                self.until = time.monotonic() + self.seconds
            if time.monotonic() < self.until:
                from pos_sandbox.faults import Fault

                return number, Fault.of("503")
        return number, fault


def test_a_sync_failing_on_an_outage_is_retried_max_sync_retries_times(
        make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``MAX_SYNC_RETRIES``: the provider is down longer than one attempt's retry budget; the
    attempt fails as ``provider_unavailable`` and Dagster runs the step again after
    ``POS_SYNC_RETRY_DELAY_SECONDS``; the outage is over by then, so the same run succeeds and the
    ledger matches. Every attempt has its own log; the account ends active."""
    monkeypatch.setenv("POS_SYNC_RETRY_BUDGET_SECONDS", "1")
    monkeypatch.setenv("POS_SYNC_RETRY_DELAY_SECONDS", "2")
    monkeypatch.setenv("MAX_SYNC_RETRIES", "2")
    outage = _LocationsDown(seconds=2.0)  # longer than an attempt's budget, shorter than budget + delay
    env = make_env(faults=outage)
    outage.armed = True  # after linking (which reads the locations too)
    out = env.sync()
    assert out.success, out.log.error_message
    from pos_sync import appstore

    history = [(log.status, log.error_type) for log in appstore.sync_history(env.account_id)]
    assert history == [("success", None), ("failed", "provider_unavailable")], history  # newest first
    assert env.account().status == "active"
    env.assert_matches_ledger()



def test_a_raw_schema_conflict_with_another_sync_loads_the_package_again_in_the_same_run(
        make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two accounts' syncs of one provider change the raw tables' schema at the same moment on
    PostgreSQL (the 90-account soak): the loser's load fails with dlt's ``SchemaUpdateTerminalError``.
    With ``MAX_SYNC_RETRIES=0`` the step still runs again at once, dlt loads the package it left
    pending, and the run succeeds with the ledger's figures — one sync log per attempt."""
    from dlt.common.destination.exceptions import SchemaUpdateTerminalError
    from dlt.pipeline.pipeline import Pipeline

    original, calls = Pipeline.load, []

    def load_losing_the_first_race(self: Pipeline, *args: object, **kwargs: object) -> object:
        calls.append(self.pipeline_name)
        if len(calls) == 1:  # the package is normalized and stays pending, as after the real race
            cause = RuntimeError('duplicate key value violates unique constraint "pg_type_typname_nsp_index"')
            try:
                raise SchemaUpdateTerminalError("square", ["payments"], cause)
            except SchemaUpdateTerminalError as exc:
                raise RuntimeError("Pipeline execution failed at step=load") from exc
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "load", load_losing_the_first_race)
    env = make_env("postgres")
    out = env.sync()
    assert out.success, out.log.error_message
    assert len(calls) == 2  # the failed load, then the pending package's
    from pos_sync import appstore

    assert [log.status for log in appstore.sync_history(env.account_id)] == ["success", "failed"]
    env.assert_matches_ledger()
