"""``sync_health_sensor``: the monitoring job after every closed sync, and at least every
:data:`REFRESH_EVERY` so freshness keeps being judged when no sync closes; ``appstore_retention_sensor``:
the app store's hourly pruning of old sync logs and published events.

``sync_health_sensor`` (every 30 s) compares the app store's "latest closed sync log" marker (its
completion time and how many closed logs exist) with the one in its cursor: a sync that closed —
success, partial or failure, from any run, the CLI's in-process ones included — requests one
``monitoring_job`` run (run key: the marker), however many syncs closed since the last tick. While
a monitoring run is queued and not started yet, it requests nothing more (that run will read the
newest state). On a fresh instance where no sync has closed yet, its first tick requests nothing:
the first close does (or the refresh, :data:`REFRESH_EVERY` later) — a run at once would judge
nothing but link times, and take the warehouse writer ahead of the accounts' first syncs."""


import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from pos_dagster.defs.monitoring.assets import MONITORING_JOB, monitoring_job
from pos_dagster.lib.pools import ensure_writer_limit
from pos_dagster.lib.resources import AppStoreResource
from pos_sync.settings import Settings

REFRESH_EVERY = timedelta(minutes=5)
PRUNE_EVERY = timedelta(hours=1)
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]


def _state(cursor: str | None) -> dict[str, str]:
    try:
        value = json.loads(cursor or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def evaluate_health(settings: Settings, cursor: str | None, now: datetime,
                    waiting: bool = False) -> tuple[dg.RunRequest | dg.SkipReason, str]:
    """One tick: (a monitoring run request or why not, the next cursor)."""
    from pos_sync.appstore.monitoring import last_close  # the tick's, not imported with the definitions

    state = _state(cursor)
    latest, closed = last_close(settings=settings)
    marker = f"{latest}#{closed}"
    if not state and not closed:  # the first tick of a fresh instance: wait for the first close
        return (dg.SkipReason("no sync has closed yet: the first one (or a refresh) requests the first monitoring run"),
                json.dumps({"marker": marker, "started_at": now.isoformat()}, sort_keys=True))
    last = state.get("requested_at") or state.get("started_at")
    due = last is None or now - datetime.fromisoformat(last) >= REFRESH_EVERY
    if marker == state.get("marker") and not due:
        return dg.SkipReason("no sync closed since the last monitoring run was requested"), json.dumps(state)
    if waiting:
        return dg.SkipReason("a monitoring run is queued: it will read the newest state"), json.dumps(state)
    why = "sync-closed" if marker != state.get("marker") else "refresh"
    request = dg.RunRequest(run_key=f"monitoring:{marker}:{now.isoformat()}", job_name=MONITORING_JOB,
                            tags={"pos/trigger": why})
    return request, json.dumps({"marker": marker, "requested_at": now.isoformat()}, sort_keys=True)


def sync_health_sensor() -> dg.SensorDefinition:
    @dg.sensor(name="sync_health_sensor", job=monitoring_job, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Requests monitoring_job (sync_health with its freshness check, transaction_volume) "
                           "after every closed sync log — success, partial or failure — and at least every "
                           f"{int(REFRESH_EVERY.total_seconds() // 60)} minutes, so freshness turns WARN/ERROR "
                           "when syncs stop.")
    def _sensor(context: dg.SensorEvaluationContext, appstore: AppStoreResource) -> dg.RunRequest | dg.SkipReason:
        ensure_writer_limit(context.instance)  # its steps take the DuckDB writer pool
        waiting = bool(context.instance.get_run_ids(dg.RunsFilter(job_name=MONITORING_JOB, statuses=WAITING),
                                                    limit=1))
        result, cursor = evaluate_health(appstore.store().settings, context.cursor, datetime.now(UTC), waiting)
        context.update_cursor(cursor)
        return result

    return _sensor


def prune_appstore(settings: Settings, now: datetime) -> tuple[int, int]:
    """(sync logs, published events) pruned: closed logs older than POS_SYNC_LOG_RETENTION_DAYS of
    every account — also those that no longer sync, whose logs the next sync start would prune —
    keeping each account's latest success and what follows; published events older than
    POS_EVENTS_RETENTION_DAYS (pending ones never)."""
    # the outbox's pruning lives beside the AMQP publisher: imported by the tick, not with the definitions
    from pos_sync.appstore import prune_sync_logs
    from pos_sync.events.worker import prune as prune_outbox

    logs = prune_sync_logs(now - timedelta(days=settings.sync_log_retention_days), settings=settings)
    return logs, prune_outbox(settings)


def appstore_retention_sensor() -> dg.SensorDefinition:
    @dg.sensor(name="appstore_retention_sensor", minimum_interval_seconds=int(PRUNE_EVERY.total_seconds()),
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Hourly: prunes closed sync logs older than POS_SYNC_LOG_RETENTION_DAYS (each account "
                           "keeps its latest success and every log after it) and published outbox events older "
                           "than POS_EVENTS_RETENTION_DAYS. Requests no runs.")
    def _sensor(appstore: AppStoreResource) -> dg.SkipReason:
        settings = appstore.store().settings
        logs, events = prune_appstore(settings, datetime.now(UTC))
        return dg.SkipReason(f"pruned {logs} sync log(s) older than {settings.sync_log_retention_days} days and "
                             f"{events} published event(s) older than {settings.events_retention_days} days")

    return _sensor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[sync_health_sensor(), appstore_retention_sensor()])
