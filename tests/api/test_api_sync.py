"""Sync control through the API: a sync or a historical import is a request (202) that the
account sync sensor turns into Dagster runs — the account's sync job, or one backfill run per
day — and settles with their run ids on a later tick; Lightspeed's change feed has no date window
(422 that says what to do instead); status and paginated history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from api_support import Api, add_account
from support.sensor import tick


@pytest.fixture()
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def test_a_sync_request_becomes_one_run_then_shows_its_run_id(sqlite_api: Api, instance: dg.DagsterInstance) -> None:
    api = sqlite_api
    account_id = add_account(api)
    accepted = api.post(f"/api/v1/pos/sync/{account_id}")
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "pending" and body["status_url"].endswith(f"/api/v1/pos/sync/{account_id}/status")

    first = tick(instance)
    [run] = [r for r in first.run_requests if r.tags.get("pos/sync-request") == body["request_id"]]
    assert (run.job_name, run.partition_key, run.tags["pos/trigger"]) == ("square_sync", account_id, "api")
    assert [r.run_key for r in tick(instance).run_requests if r.tags.get("pos/trigger") == "api"] == [run.run_key]
    # the daemon launched it (a run with the request's tag exists): the next tick settles the request
    instance.add_run(dg.DagsterRun(job_name="square_sync", run_id="run-from-request", tags=dict(run.tags)))
    assert not [r for r in tick(instance).run_requests if r.tags.get("pos/trigger") == "api"]
    status = api.get(f"/api/v1/pos/sync/{account_id}/status").json()
    assert status["requests"][0]["status"] == "launched" and status["requests"][0]["run_ids"] == ["run-from-request"]


def test_historical_imports_are_day_backfills_except_without_date_windows(sqlite_api: Api,
                                                                          instance: dg.DagsterInstance) -> None:
    api = sqlite_api
    square = add_account(api)
    lightspeed = add_account(api, provider="lightspeed", merchant="store1")
    accepted = api.post(f"/api/v1/pos/sync/{square}/historical",
                        json={"start_date": "2026-01-05", "end_date": "2026-01-07"})
    assert accepted.status_code == 202, accepted.text
    runs = [r for r in tick(instance).run_requests if r.tags.get("pos/trigger") == "api"]
    assert {r.job_name for r in runs} == {"square_historical_backfill"}
    assert sorted(r.partition_key.keys_by_dimension["date"] for r in runs) == [  # type: ignore[union-attr]
        "2026-01-05", "2026-01-06", "2026-01-07"]
    refused = api.post(f"/api/v1/pos/sync/{lightspeed}/historical",
                       json={"start_date": "2026-01-05", "end_date": "2026-01-07"})
    assert refused.status_code == 422 and "POST /api/v1/pos/sync/" in refused.json()["detail"]
    backwards = api.post(f"/api/v1/pos/sync/{square}/historical",
                         json={"start_date": "2026-01-07", "end_date": "2026-01-05"})
    assert backwards.status_code == 422 and "before" in backwards.json()["detail"]
    # without dates: the account's own history (HISTORICAL_IMPORT_DAYS before it was linked) to today
    defaulted = api.post(f"/api/v1/pos/sync/{square}/historical", json={})
    assert defaulted.status_code == 202, defaulted.text
    account = api.store.get_account(square)
    [latest, *_] = api.store.latest_sync_requests(square, account.tenant_id)
    linked = account.created_at.astimezone(UTC)
    assert latest.start_date == (linked - timedelta(days=api.store.settings.historical_import_days)).date()
    assert latest.end_date == datetime.now(UTC).date()


def test_status_and_paginated_history(api: Api) -> None:
    account_id = add_account(api)
    for n in range(5):
        log_id = api.store.start_sync_log(account_id, "incremental", f"run-{n}")
        api.store.finish_sync_log(log_id, "success" if n % 2 == 0 else "failed", error_message="boom" if n % 2 else None,
                                  error_type="provider_unavailable" if n % 2 else None)
    page = api.get(f"/api/v1/pos/sync/{account_id}/history", params={"limit": 2, "offset": 1}).json()
    assert (page["limit"], page["offset"]) == (2, 1)
    assert [item["dagster_run_id"] for item in page["items"]] == ["run-3", "run-2"]
    assert page["items"][0]["error_type"] == "provider_unavailable"
    status = api.get(f"/api/v1/pos/sync/{account_id}/status").json()
    assert status["last_sync"]["dagster_run_id"] == "run-4" and status["running"] is False
    assert status["status"] == "active" and status["provider"] == "square"
