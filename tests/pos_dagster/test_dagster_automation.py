"""The account sync sensor, evaluated with Dagster's test contexts against a real instance and
app store (no sandbox needed: nothing is synced): per-provider partitions follow the app store,
due accounts get one run each, no double launch, accounts waiting for a human or already running
are left alone, and the wall clock — not POS_NOW — decides what is due."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest


@pytest.fixture()
def instance(monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    monkeypatch.delenv("POS_NOW", raising=False)
    with dg.instance_for_test() as inst:
        yield inst
    from pos_sync.appstore import dispose_engines

    dispose_engines()


def _add(merchant: str, provider: str = "square", **kwargs: object) -> str:
    from pos_sync import appstore

    return appstore.add_account(tenant_id="t1", provider=provider, merchant_id=merchant, access_token="tok",
                                locations=[{"location_id": f"{merchant}-L1"}], **kwargs)


def _synced(account_id: str, minutes_ago: float) -> None:
    from pos_sync import appstore

    done = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    log_id = appstore.start_sync_log(account_id, "historical", started_at=done - timedelta(seconds=40))
    appstore.finish_sync_log(log_id, "success", completed_at=done)


def _tick(instance: dg.DagsterInstance) -> dg.SensorResult:
    from support.sensor import tick

    return tick(instance)  # type: ignore[no-any-return]


def test_sensor_keeps_each_providers_partitions_and_requests_first_syncs(instance: dg.DagsterInstance) -> None:
    from pos_dagster.definitions import defs
    from pos_sync import appstore

    sensor = defs.get_sensor_def("account_sync_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    square = _add("M1")
    paused = _add("M2", sync_enabled=False)
    toast = _add("T1", provider="toast")  # its first sync runs Toast's own job, in Toast's partitions
    first = _tick(instance)
    adds = {r.partitions_def_name: sorted(r.partition_keys) for r in first.dynamic_partitions_requests or []}
    assert adds == {"square_accounts": sorted([square, paused]), "toast_accounts": [toast]}
    runs = {r.partition_key: r for r in first.run_requests or []}
    assert sorted(runs) == sorted([square, toast])  # not the paused account
    assert (runs[toast].job_name, runs[square].job_name) == ("toast_sync", "square_sync")
    assert runs[square].tags["pos/account"] == square and runs[square].tags["pos/trigger"] == "new-account"
    assert instance.get_dynamic_partitions("lightspeed_accounts") == []  # no Toast account offered to Lightspeed

    again = _tick(instance)  # evaluated again: nothing new, the same run keys (no double launch)
    assert not again.dynamic_partitions_requests
    assert sorted(r.run_key for r in again.run_requests or []) == sorted(r.run_key for r in runs.values())

    appstore.remove_account(square)
    later = _add("M3")
    third = _tick(instance)
    kinds = {(type(r).__name__, r.partitions_def_name): sorted(r.partition_keys)
             for r in third.dynamic_partitions_requests or []}
    assert kinds == {("AddDynamicPartitionsRequest", "square_accounts"): [later],
                     ("DeleteDynamicPartitionsRequest", "square_accounts"): [square]}
    assert sorted(instance.get_dynamic_partitions("square_accounts")) == sorted([paused, later])


def test_due_accounts_get_one_run_and_the_wall_clock_decides(instance: dg.DagsterInstance,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_sync import appstore

    never = _add("M1")  # never synced: due
    fresh = _add("M2")  # synced 5 min ago, every 15 min: not due
    _synced(fresh, 5)
    stale = _add("M3")  # synced 20 min ago, every 15 min: due
    _synced(stale, 20)
    hourly = _add("M4", sync_frequency_minutes=60)  # synced 20 min ago, hourly: not due
    _synced(hourly, 20)
    _add("M5", sync_enabled=False)
    broken = _add("M6")
    appstore.mark_account_error(broken, status="disconnected", message="revoked")  # waits for a re-link
    assert appstore.get_account(fresh).sync_frequency_minutes == 15  # DEFAULT_SYNC_FREQUENCY_MINUTES

    # the connector's clock (POS_NOW, a past sandbox world) does not drive what is due
    monkeypatch.setenv("POS_NOW", "2026-03-05T00:00:00Z")
    requests = list(_tick(instance).run_requests or [])
    assert sorted(r.partition_key for r in requests) == sorted([never, stale])
    for request in requests:
        assert request.tags["pos/account"] == request.partition_key and request.job_name == "square_sync"
        assert request.tags["pos/trigger"] == ("new-account" if request.partition_key == never else "due")
    # a tick evaluated twice in the same slot asks for the same runs (same run keys: no double launch)
    assert sorted(r.run_key for r in _tick(instance).run_requests or []) == sorted(r.run_key for r in requests)

    # an account whose run is queued or running is not asked for again
    instance.add_run(dg.DagsterRun(job_name="square_sync", run_id="run-in-flight", status=dg.DagsterRunStatus.STARTED,
                                   tags={"pos/account": stale}))
    assert [r.partition_key for r in _tick(instance).run_requests or []] == [never]

    _synced(never, 0)
    _synced(stale, 0)
    assert _tick(instance).run_requests == []
