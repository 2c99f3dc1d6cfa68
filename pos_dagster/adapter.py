"""The Dagster side of :mod:`pos_sync.runner`: a sync asked for by the service core (the CLI's
``pos-sync sync`` and ``pos-sync demo``) runs the account's provider sync job in-process on the
configured Dagster instance, so it shows up in ``dagster dev`` like a daemon-launched run."""

from __future__ import annotations

import os
import re
import socket
import time
from typing import Any

import dagster as dg

from pos_dagster.lib.instance import get_instance
from pos_dagster.lib.pools import ensure_writer_limit
from pos_dagster.lib.tags import ACCOUNT, ACCOUNT_LABEL, PROVIDER, TRIGGER, account_label

DEAD_RUN_MESSAGE = "the pos-sync process running this sync ended without finishing it (killed?)"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_cli_runs(instance: dg.DagsterInstance, account_id: str) -> list[str]:
    """Runs of this account that ``pos-sync`` started on this host and whose process is gone (a
    killed sync) are marked failed and give back the pool slots they held; otherwise the next
    run waits for the provider's pool slot forever (no daemon watches in-process runs)."""
    reaped = []
    runs = instance.get_runs(dg.RunsFilter(
        tags={"pos/account": account_id, "pos/host": socket.gethostname()},
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]))
    for run in runs:
        pid = int(run.tags.get("pos/pid") or 0)
        if pid and _process_alive(pid):
            continue
        instance.report_run_failed(run, DEAD_RUN_MESSAGE)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


INTERRUPTED_RUN_MESSAGE = "the previous `pos-sync dev` stopped while this run was in progress"


def fail_interrupted_runs(instance: dg.DagsterInstance | None = None) -> list[str]:
    """Runs a stopped ``pos-sync dev`` left started (its run workers were stopped with it) are
    marked failed and give back their pool slots, so the sensor does not take their accounts for
    busy forever. Called before ``dagster dev`` starts on this instance; a run of a ``pos-sync``
    process that is still alive (``pos/pid`` on this host) is left alone."""
    instance = instance or get_instance()
    failed = []
    runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING,
                                                     dg.DagsterRunStatus.CANCELING]))
    for run in runs:
        pid = int(run.tags.get("pos/pid") or 0)
        if pid and run.tags.get("pos/host") == socket.gethostname() and _process_alive(pid):
            continue
        instance.report_run_failed(run, INTERRUPTED_RUN_MESSAGE)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return failed


class DagsterSyncRunner:
    """Executes ``<provider>_sync`` for one account partition in this process. Dagster's console
    log stays quiet (``log_level``): the run's events are in the instance (``dagster dev`` shows
    them), and a failure's cause is in the summary, from the run's sync log."""

    def __init__(self, instance: dg.DagsterInstance | None = None, log_level: str = "CRITICAL",
                 on_progress: Any = None, definitions: dg.Definitions | None = None) -> None:
        self._instance = instance
        self.definitions = definitions  # default: pos_dagster.definitions.defs
        self.log_level = log_level
        self.on_progress = on_progress or (lambda _message: None)

    @property
    def instance(self) -> dg.DagsterInstance:
        if self._instance is None:
            self._instance = get_instance()
        return self._instance

    def sync(self, account_id: str) -> dict[str, Any]:
        """Run the account's sync; its summary (``pos-sync sync --json``). ``rows_loaded``: per asset
        the run materialized, the rows it wrote — a raw table's rows loaded from the provider (what
        changed), a canonical slice's rows the build (re)wrote (the account's locations are written
        whole by every build), ``daily_product_sales``' rows of the location-days recomputed, ``product_stats``'
        products published, ``demand_history``'s rows rebuilt. An asset the run skipped (nothing new
        reached it) is not listed."""
        from pos_dagster.definitions import defs
        from pos_dagster.defs.ingest.jobs import sync_job_name
        from pos_dagster.lib.partitions import accounts_partitions_name
        from pos_sync import appstore

        account = appstore.get_account(account_id)
        instance = self.instance
        partitions = accounts_partitions_name(account.provider)
        if not instance.has_dynamic_partition(partitions, account_id):
            instance.add_dynamic_partitions(partitions, [account_id])
        ensure_writer_limit(instance)
        for run_id in reap_dead_cli_runs(instance, account_id):
            self.on_progress(f"  closed run {run_id} of a killed sync as failed and freed its pool slot")
        job = (self.definitions or defs).resolve_job_def(sync_job_name(account.provider))
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance,
            partition_key=account_id,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": self.log_level}}}},
            tags={ACCOUNT: account_id, PROVIDER: account.provider, ACCOUNT_LABEL: account_label(account),
                  TRIGGER: "cli", "pos/host": socket.gethostname(), "pos/pid": str(os.getpid())},
        )
        duration = time.monotonic() - started
        logs = [lg for lg in appstore.sync_history(account_id, limit=5) if lg.dagster_run_id == result.run_id]
        last = logs[0] if logs else None
        after = appstore.get_account(account_id)
        rows: dict[str, int] = {}
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization  # type: ignore[union-attr]
            value = mat.metadata.get("rows_loaded")
            rows["/".join(mat.asset_key.path[1:])] = int(getattr(value, "value", value) or 0)
        return {
            "account_id": account_id,
            "provider": account.provider,
            "run_id": result.run_id,
            # the sync log is the truth: a run whose integrity checks failed succeeded as a run
            "status": "success" if result.success and not (last and last.status == "failed") else "failed",
            "sync_type": last.sync_type if last else None,
            "duration_seconds": round(duration, 2),
            "rows_loaded": rows,
            "account_status": after.status,
            "error": _error(result, last),
            "error_type": last.error_type if last and last.status == "failed" else None,
            "failed_step": last.failed_step if last and last.status == "failed" else None,
        }

    def webhook_syncs(self) -> list[dict[str, Any]]:
        """One evaluation of ``webhook_inbox_sensor`` (what the daemon does every tick), its run
        requests — one targeted sync per account with pending events — executed here, in-process,
        with the tags the daemon would give them (so each run settles its events). A summary per
        run: ``account_id``, ``provider``, ``run_id``, ``status``, ``duration_seconds``."""
        from datetime import UTC, datetime

        from pos_dagster.definitions import defs
        from pos_dagster.defs.automation.webhooks import evaluate
        from pos_sync.appstore import AppStore
        from pos_sync.settings import load_settings

        instance = self.instance
        ensure_writer_limit(instance)
        out = []
        for request in evaluate(instance, AppStore(load_settings()), datetime.now(UTC)):
            job = (self.definitions or defs).resolve_job_def(request.job_name)
            started = time.monotonic()
            result = job.execute_in_process(
                instance=instance, partition_key=request.partition_key, raise_on_error=False,
                asset_selection=request.asset_selection,  # None: the whole job (nothing of the account runs here)
                run_config={"loggers": {"console": {"config": {"log_level": self.log_level}}}},
                tags={**request.tags, "pos/host": socket.gethostname(), "pos/pid": str(os.getpid())})
            out.append({"account_id": request.partition_key, "provider": request.tags.get(PROVIDER),
                        "run_id": result.run_id, "status": "success" if result.success else "failed",
                        "duration_seconds": round(time.monotonic() - started, 2)})
        return out


def _error(result: Any, log: Any) -> str | None:
    """The cause of a failed sync: its sync log's message (the real one, from this run), else the
    first line of the failed step's error."""
    if log is not None and log.status == "failed":
        return str(log.error_message)
    if result.success:
        return None
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            return str(event.step_failure_data.error.message).strip().splitlines()[0]
    return "the run failed (see the run in `dagster dev`)"


def runner(**options: Any) -> DagsterSyncRunner:
    return DagsterSyncRunner(**options)


def sync_account(account_id: str, instance: dg.DagsterInstance | None = None, log_level: str = "CRITICAL",
                 definitions: dg.Definitions | None = None) -> dict[str, Any]:
    """One in-process sync of the account (tests and scripts)."""
    return DagsterSyncRunner(instance, log_level, definitions=definitions).sync(account_id)


WORKER_STARTED = re.compile(r"Started process for run \(pid: (\d+)\)")
DEAD_WORKER_MESSAGE = ("the run worker (pid {pid}) is gone and nobody reported the run's end (its code server "
                       "was restarted?): failed by `pos-sync topology`'s reaper")


def reap_dead_run_workers(instance: dg.DagsterInstance | None = None) -> list[str]:
    """Started runs whose run worker process is gone on this host are failed and give back their pool
    slots (run retries then re-execute them). The default run launcher spawns each run worker from the
    code server on the code server's host; that server reports a worker that dies under it, but not
    one that died while the server itself was down or restarted — then the run stays STARTED until
    ``run_monitoring.max_runtime_seconds``. The worker's pid is the one Dagster logs
    ("Started process for run (pid: N)"); runs without it (in-process CLI runs) are left alone."""
    instance = instance or get_instance()
    reaped = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        pids = [int(m.group(1)) for e in events if (m := WORKER_STARTED.search(e.message or ""))]
        if not pids or _process_alive(pids[-1]):
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != dg.DagsterRunStatus.STARTED:
            continue
        instance.report_run_failed(current, DEAD_WORKER_MESSAGE.format(pid=pids[-1]))
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


def set_pool_limits(limits: dict[str, int], instance: dg.DagsterInstance | None = None) -> None:
    """Each pool's slot count on the instance (Dagster keeps per-pool limits in the instance)."""
    instance = instance or get_instance()
    for pool, slots in limits.items():
        instance.event_log_storage.set_concurrency_slots(pool, slots)
