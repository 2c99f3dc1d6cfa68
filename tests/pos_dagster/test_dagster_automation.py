"""The partitions sensor and the per-account sync schedule, evaluated with Dagster's test contexts
against a real instance and app store (no sandbox needed: nothing is synced)."""

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


def _evaluate_sensor(instance: dg.DagsterInstance) -> dg.SensorResult:
    from pos_dagster.definitions import defs
    from pos_dagster.sensors import account_partitions_sensor

    context = dg.build_sensor_context(instance=instance, definitions=defs)
    result = account_partitions_sensor(context)
    assert isinstance(result, dg.SensorResult)
    # as the daemon would: apply the partition requests to the instance
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def test_partitions_sensor_follows_the_app_store_and_requests_first_syncs(instance: dg.DagsterInstance) -> None:
    from pos_dagster.definitions import defs
    from pos_dagster.partitions import ACCOUNT_PARTITIONS
    from pos_dagster.sensors import first_sync_key
    from pos_sync import appstore

    sensor = defs.get_sensor_def("account_partitions_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    square = _add("M1")
    paused = _add("M2", sync_enabled=False)
    toast = _add("T1", provider="toast")  # its first sync runs Toast's own job
    first = _evaluate_sensor(instance)
    [add] = first.dynamic_partitions_requests or []
    assert isinstance(add, dg.AddDynamicPartitionsRequest) and add.partitions_def_name == ACCOUNT_PARTITIONS
    assert sorted(add.partition_keys) == sorted([square, paused, toast])
    runs = {r.partition_key: r for r in first.run_requests or []}
    assert sorted(runs) == sorted([square, toast])  # not the paused account
    assert (runs[toast].job_name, runs[toast].run_key) == ("toast_sync", first_sync_key(appstore.get_account(toast)))
    run = runs[square]
    assert (run.partition_key, run.job_name, run.run_key) == (square, "square_sync",
                                                              first_sync_key(appstore.get_account(square)))
    assert run.tags["pos/account"] == square and run.tags["pos/trigger"] == "new-account"
    assert sorted(instance.get_dynamic_partitions(ACCOUNT_PARTITIONS)) == sorted([square, paused, toast])

    # the daemon's evaluation path accepts the result (job and partition resolve)
    data = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert data.run_requests == [] and not data.dynamic_partitions_requests  # nothing new any more

    appstore.remove_account(square)
    later = _add("M3")
    third = _evaluate_sensor(instance)
    kinds = {type(r).__name__: sorted(r.partition_keys) for r in third.dynamic_partitions_requests or []}
    assert kinds == {"AddDynamicPartitionsRequest": [later], "DeleteDynamicPartitionsRequest": [square]}
    assert [r.partition_key for r in third.run_requests or []] == [later]
    assert sorted(instance.get_dynamic_partitions(ACCOUNT_PARTITIONS)) == sorted([paused, toast, later])


def test_schedule_requests_runs_only_for_accounts_whose_frequency_elapsed(
        instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_dagster.definitions import defs
    from pos_dagster.partitions import ACCOUNT_PARTITIONS
    from pos_sync import appstore

    never = _add("M1")  # never synced: due
    fresh = _add("M2")  # synced 5 min ago, every 15 min: not due
    _synced(fresh, 5)
    stale = _add("M3")  # synced 20 min ago, every 15 min: due
    _synced(stale, 20)
    hourly = _add("M4", sync_frequency_minutes=60)  # synced 20 min ago, hourly: not due
    _synced(hourly, 20)
    paused = _add("M5", sync_enabled=False)
    broken = _add("M6")
    appstore.mark_account_error(broken, status="disconnected", message="revoked")
    toast = _add("T1", provider="toast")
    instance.add_dynamic_partitions(ACCOUNT_PARTITIONS, [never, fresh, stale, hourly, paused, broken, toast])
    assert appstore.get_account(fresh).sync_frequency_minutes == 15  # DEFAULT_SYNC_FREQUENCY_MINUTES

    # the connector's clock (POS_NOW, a past sandbox world) does not drive the schedule
    monkeypatch.setenv("POS_NOW", "2026-03-05T00:00:00Z")
    schedule = defs.get_schedule_def("square_sync_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "square_sync"

    def tick() -> list[dg.RunRequest]:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime.now(UTC),
                                            repository_def=defs.get_repository_def())
        data = schedule.evaluate_tick(context)
        assert bool(data.skip_message) == (not data.run_requests), data.skip_message
        return list(data.run_requests or [])

    requests = tick()
    assert sorted(r.partition_key for r in requests) == sorted([never, stale])
    for request in requests:
        assert request.tags["pos/account"] == request.partition_key and request.tags["pos/trigger"] == "schedule"
        assert request.tags["dagster/partition"] == request.partition_key
    # a tick evaluated twice in the same slot asks for the same runs (same run keys: no double launch)
    assert sorted(r.run_key for r in tick()) == sorted(r.run_key for r in requests)

    _synced(never, 0)
    _synced(stale, 0)
    assert tick() == []
