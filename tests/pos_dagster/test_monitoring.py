"""Monitoring: after a real sync of a sandbox account, ``monitoring_job`` publishes a sync-health
row and transaction-volume rows that reconcile with the sync log and with ``pos.pos_transactions``;
the freshness check turns WARN, then ERROR, as the connector's clock (``POS_NOW``) moves past 2×
and 4× the account's sync frequency; the sensor asks for the job after every closed sync log (and
every few minutes), not twice for one; the retention sweep prunes old sync logs of an account that
no longer syncs and old published events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest
from dagster_sync_support import QUIET, EnvFactory

FREQ = 15  # the account's sync frequency (minutes), the default


def monitor(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from pos_dagster.definitions import defs

    result = defs.resolve_job_def("monitoring_job").execute_in_process(instance=instance, run_config=QUIET)
    assert result.success
    return result


def freshness(result: dg.ExecuteInProcessResult) -> Any:
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == "sync_freshness"
    return evaluation


def warehouse_rows(sql: str) -> list[dict[str, Any]]:
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    try:
        return wh.query(sql)
    finally:
        wh.close()


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_sync_health_and_volume_reconcile_and_freshness_turns_warn_then_error(make_env: EnvFactory, warehouse: str,
                                                                              monkeypatch: Any) -> None:
    from pos_sync.appstore.monitoring import read_sync_health, read_transaction_volume

    env = make_env(warehouse)
    outcome = env.sync()
    assert outcome.success and outcome.log.status == "success"
    log = outcome.log
    result = monitor(env.instance)
    assert freshness(result).passed  # synced just now

    [row] = read_sync_health(env.world.tenant_id)
    assert row["pos_account_id"] == env.account_id and row["freshness"] == "ok"
    assert row["last_success_at"] == row["last_sync_at"] == log.sync_completed_at
    assert (row["last_sync_status"], row["error_streak"], row["syncs_counted"]) == ("success", 0, 1)
    assert row["rows_synced"] == row["rows_last_sync"] == log.transactions_processed > 0
    assert row["api_requests"] == log.api_stats["requests"] > 0
    assert row["api_response_seconds"] == round(log.api_stats["response_seconds"], 3)
    [newest] = warehouse_rows("select max(greatest(coalesce(source_updated_at, transaction_date), transaction_date)) "
                              "as t from pos.pos_transactions")
    assert row["newest_source_at"] == newest["t"]
    assert row["lag_seconds"] == int((env.world.now - newest["t"]).total_seconds())  # the clock is POS_NOW

    # volume: every completed sale and refund of the (3-day) world, by business day, in exact cents
    truth: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    for t in warehouse_rows("select business_date, currency, transaction_type, total_amount from pos.pos_transactions "
                            "where status = 'completed'"):
        if t["transaction_type"] in ("sale", "refund"):
            entry = truth[(t["business_date"].isoformat(), t["currency"])]
            entry[0 if t["transaction_type"] == "sale" else 1] += 1
            entry[2] += t["total_amount"] if t["transaction_type"] == "sale" else -t["total_amount"]
    old = datetime(2000, 1, 1, tzinfo=UTC)
    daily = read_transaction_volume(env.world.tenant_id, "day", old)
    assert len(truth) >= 3 and sum(v[1] for v in truth.values()) > 0  # 3 days of sales, refunds among them
    assert {(r["bucket_start"].date().isoformat(), r["currency"]): [r["transactions"], r["refunds"],
                                                                    Decimal(r["revenue_cents"]) / 100]
            for r in daily} == {k: v for k, v in truth.items()}
    hourly = read_transaction_volume(env.world.tenant_id, "hour", old)
    assert sum(r["transactions"] for r in hourly) == sum(v[0] for v in truth.values())  # 3 days < 7 × 24 h
    assert sum(r["revenue_cents"] for r in hourly) == sum(r["revenue_cents"] for r in daily)
    assert all(r["bucket_start"].minute == 0 and r["bucket_start"].tzinfo is not None for r in hourly)
    assert read_sync_health("another-tenant") == [] and read_transaction_volume("another-tenant", "day", old) == []

    # virtual time: no successful sync for 2.5× then 4.5× the frequency
    done = log.sync_completed_at
    monkeypatch.setenv("POS_NOW", (done + timedelta(minutes=2.5 * FREQ)).isoformat())
    warn = freshness(monitor(env.instance))
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert warn.metadata["warn"].value == 1 and warn.metadata["error"].value == 0
    assert env.account_id in warn.metadata["stale_accounts"].value
    [row] = read_sync_health(env.world.tenant_id)
    assert (row["freshness"], row["freshness_age_seconds"]) == ("warn", int(2.5 * FREQ * 60))
    monkeypatch.setenv("POS_NOW", (done + timedelta(minutes=4.5 * FREQ)).isoformat())
    error = freshness(monitor(env.instance))
    assert not error.passed and error.severity == dg.AssetCheckSeverity.ERROR
    assert read_sync_health(env.world.tenant_id)[0]["freshness"] == "error"
    # a day-bucket is the business date at midnight UTC
    assert all(r["bucket_start"].timetz() == time(tzinfo=UTC) for r in daily)


def test_error_streak_and_api_pace_come_from_the_sync_logs(tmp_path: Any) -> None:
    from pos_sync import appstore
    from pos_sync.appstore.monitoring import account_sync_facts
    from pos_sync.monitoring.health import health_rows

    account_id = appstore.add_account(tenant_id="t1", provider="square", merchant_id="M1", access_token="a")
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def close(status: str, minutes: int, processed: int, stats: dict[str, Any]) -> None:
        log_id = appstore.start_sync_log(account_id, started_at=t0 + timedelta(minutes=minutes))
        appstore.record_sync_counts(log_id, api_stats=stats, processed=processed)
        appstore.finish_sync_log(log_id, status, completed_at=t0 + timedelta(minutes=minutes, seconds=30),
                                 error_type="provider_error" if status == "failed" else None)

    close("success", 0, 40, {"requests": 10, "retries": 2, "rate_limited": 2, "response_seconds": 1.5})
    close("failed", 15, 0, {"requests": 4, "server_errors": 3, "transport_errors": 1, "waited_seconds": 6.0})
    close("failed", 30, 0, {"requests": 1})
    [facts] = account_sync_facts()
    assert (facts.error_streak, facts.syncs_counted, facts.rows_synced, facts.rows_last_sync) == (2, 3, 40, 0)
    assert facts.last_success_at == t0 + timedelta(seconds=30) and facts.last_sync_status == "failed"
    [row] = health_rows([facts], {}, t0 + timedelta(minutes=45))
    assert (row["api_requests"], row["api_retries"], row["api_rate_limited"], row["api_server_errors"],
            row["api_transport_errors"], row["api_waited_seconds"], row["api_response_seconds"]) == (
        15, 2, 2, 3, 1, 6.0, 1.5)
    assert (row["freshness"], row["lag_seconds"]) == ("warn", None)  # 44.5 min > 2 × 15; nothing in pos.*
    close("success", 45, 5, {"requests": 2})
    assert account_sync_facts()[0].error_streak == 0


def test_the_sensor_asks_once_per_closed_sync_and_refreshes_every_few_minutes() -> None:
    from pos_dagster.defs.monitoring.sensors import REFRESH_EVERY, evaluate_health
    from pos_sync import appstore
    from pos_sync.settings import load_settings

    settings = load_settings()
    account_id = appstore.add_account(tenant_id="t1", provider="square", merchant_id="M1", access_token="a")
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    # a fresh instance, no sync closed yet: nothing to judge but link times — no run ahead of the first syncs
    fresh, fresh_cursor = evaluate_health(settings, None, now)
    assert isinstance(fresh, dg.SkipReason) and "no sync has closed yet" in (fresh.skip_message or "")
    assert isinstance(evaluate_health(settings, fresh_cursor, now + REFRESH_EVERY / 2)[0], dg.SkipReason)
    idle, _ = evaluate_health(settings, fresh_cursor, now + REFRESH_EVERY)  # no sync ever closes: the refresh
    assert isinstance(idle, dg.RunRequest) and idle.tags["pos/trigger"] == "refresh"
    log_id = appstore.start_sync_log(account_id)
    appstore.finish_sync_log(log_id, "success")
    first, cursor = evaluate_health(settings, fresh_cursor, now + timedelta(seconds=30))  # the first close
    assert isinstance(first, dg.RunRequest) and first.job_name == "monitoring_job"
    assert first.tags["pos/trigger"] == "sync-closed"
    skip, cursor = evaluate_health(settings, cursor, now + timedelta(seconds=30))
    assert isinstance(skip, dg.SkipReason)
    log_id = appstore.start_sync_log(account_id)
    appstore.finish_sync_log(log_id, "failed", error_message="boom")  # a failure counts as a closed sync
    after, cursor = evaluate_health(settings, cursor, now + timedelta(seconds=60))
    assert isinstance(after, dg.RunRequest) and after.tags["pos/trigger"] == "sync-closed"
    assert after.run_key != first.run_key
    assert isinstance(evaluate_health(settings, cursor, now + timedelta(seconds=90))[0], dg.SkipReason)
    restarted, _ = evaluate_health(settings, None, now + timedelta(seconds=90))  # a new instance, syncs closed
    assert isinstance(restarted, dg.RunRequest)
    queued, same = evaluate_health(settings, cursor, now + REFRESH_EVERY + timedelta(seconds=60), waiting=True)
    assert isinstance(queued, dg.SkipReason) and same == cursor  # a monitoring run waits: nothing more
    refresh, _ = evaluate_health(settings, cursor, now + REFRESH_EVERY + timedelta(seconds=60))
    assert isinstance(refresh, dg.RunRequest) and refresh.tags["pos/trigger"] == "refresh"


def test_retention_prunes_old_logs_of_an_idle_account_and_old_published_events(monkeypatch: Any) -> None:
    import sqlalchemy as sa

    from pos_dagster.defs.monitoring.sensors import prune_appstore
    from pos_sync import appstore
    from pos_sync.appstore.db import session_scope
    from pos_sync.appstore.models import PosEventOutbox, PosSyncLog
    from pos_sync.appstore.outbox import mark_published
    from pos_sync.settings import load_settings

    monkeypatch.setenv("POS_SYNC_LOG_RETENTION_DAYS", "10")
    monkeypatch.setenv("POS_EVENTS_RETENTION_DAYS", "5")
    settings = load_settings()
    account_id = appstore.add_account(tenant_id="t1", provider="square", merchant_id="M1", access_token="a")
    now = datetime.now(UTC)
    for days_ago, status in ((30, "success"), (25, "failed"), (20, "success"), (15, "failed")):
        log_id = appstore.start_sync_log(account_id, started_at=now - timedelta(days=days_ago))
        appstore.finish_sync_log(log_id, status, completed_at=now - timedelta(days=days_ago, minutes=-1))
    with session_scope(settings) as s:  # every close emitted an event: publish them, two long ago
        ids = list(s.execute(sa.select(PosEventOutbox.id).order_by(PosEventOutbox.id)).scalars())
    assert len(ids) == 4
    mark_published(ids[:2], when=now - timedelta(days=6), settings=settings)
    mark_published(ids[2:3], when=now - timedelta(days=1), settings=settings)
    with session_scope(settings) as s:  # each sync start pruned what was old by then (the first log)
        assert s.execute(sa.select(sa.func.count()).select_from(PosSyncLog)).scalar_one() == 3
    # the account stopped syncing: no sync start prunes its logs any more; the sweep does
    assert prune_appstore(settings, now) == (1, 2)  # the log before its latest success; events published > 5 days
    with session_scope(settings) as s:
        left = [r.status for r in s.execute(sa.select(PosSyncLog).order_by(PosSyncLog.sync_started_at)).scalars()]
        outbox = s.execute(sa.select(PosEventOutbox.id, PosEventOutbox.published_at).order_by(PosEventOutbox.id)).all()
    assert left == ["success", "failed"]  # the latest success and the failure streak after it are kept
    assert [i for i, _ in outbox] == ids[2:] and outbox[1][1] is None  # the pending event is never pruned
    assert prune_appstore(settings, now) == (0, 0)


def test_the_sensors_evaluate_as_the_daemon_runs_them() -> None:
    from pos_dagster.definitions import defs
    from pos_dagster.lib.resources import pos_resources
    from pos_sync import appstore

    repo = defs.get_repository_def()
    account_id = appstore.add_account(tenant_id="t1", provider="square", merchant_id="M1", access_token="a")
    appstore.finish_sync_log(appstore.start_sync_log(account_id), "success")  # a closed sync to report
    with dg.instance_for_test() as instance:
        health = repo.get_sensor_def("sync_health_sensor")
        with dg.build_sensor_context(instance=instance, definitions=defs, resources=pos_resources()) as context:
            data = health.evaluate_tick(context)
        [request] = data.run_requests or []
        assert request.job_name == "monitoring_job" and data.cursor
        instance.add_run(dg.DagsterRun(job_name="monitoring_job", run_id="queued-monitoring",
                                       status=dg.DagsterRunStatus.NOT_STARTED))
        with dg.build_sensor_context(instance=instance, definitions=defs, resources=pos_resources()) as context:
            assert not health.evaluate_tick(context).run_requests  # no cursor: a fresh context; a run waits
        retention = repo.get_sensor_def("appstore_retention_sensor")
        with dg.build_sensor_context(instance=instance, definitions=defs, resources=pos_resources()) as context:
            tick = retention.evaluate_tick(context)
        assert not tick.run_requests and "pruned 0 sync log(s)" in (tick.skip_message or "")

