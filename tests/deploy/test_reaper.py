"""``pos_dagster.adapter.reap_dead_run_workers`` (what ``pos-sync topology up`` runs every few seconds):
a started run whose run worker — the pid Dagster logged as "Started process for run (pid: N)" — is
gone is failed and gives back its pool slots; a run whose worker lives, and an in-process run with no
worker pid, are left alone. (The code server reports a worker that dies under it; this covers a worker
that died while its code server was down: docs/deploy.md.)"""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
from dagster._core.events import EngineEventData

from pos_dagster.adapter import reap_dead_run_workers


def _started_run(instance: dg.DagsterInstance, job: dg.JobDefinition, pid: int | None) -> dg.DagsterRun:
    run = instance.create_run_for_job(job)
    if pid is not None:
        instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    instance.handle_new_event(dg.EventLogEntry(
        error_info=None, level="DEBUG", user_message="", run_id=run.run_id, timestamp=0.0,
        dagster_event=dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=job.name)))
    return instance.get_run_by_id(run.run_id)  # type: ignore[return-value]


def test_a_started_run_whose_worker_is_gone_is_failed_and_frees_its_slots() -> None:
    @dg.op
    def noop() -> None: ...

    @dg.job
    def sync() -> None:
        noop()

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with dg.instance_for_test() as instance:
            dead_run = _started_run(instance, sync, gone.pid)
            live_run = _started_run(instance, sync, alive.pid)
            cli_run = _started_run(instance, sync, None)
            assert {r.status for r in (dead_run, live_run, cli_run)} == {dg.DagsterRunStatus.STARTED}
            instance.event_log_storage.set_concurrency_slots("square_api", 1)
            instance.event_log_storage.claim_concurrency_slot("square_api", dead_run.run_id, "noop")
            assert instance.event_log_storage.get_concurrency_info("square_api").claimed_slots

            assert reap_dead_run_workers(instance) == [dead_run.run_id]
            status = {r.run_id: instance.get_run_by_id(r.run_id).status for r in (dead_run, live_run, cli_run)}
            assert status == {dead_run.run_id: dg.DagsterRunStatus.FAILURE, live_run.run_id: dg.DagsterRunStatus.STARTED,
                              cli_run.run_id: dg.DagsterRunStatus.STARTED}
            assert not instance.event_log_storage.get_concurrency_info("square_api").claimed_slots
            assert reap_dead_run_workers(instance) == []  # once
    finally:
        alive.kill()
        alive.wait()


def test_topology_up_fails_the_runs_a_previous_stack_left_started() -> None:
    """Before ``topology up`` starts anything no run can be running: each one left STARTED is failed
    (a machine that went down), unless a live ``pos-sync`` process on this host owns it (``pos/pid``)."""
    import os
    import socket

    from pos_dagster.adapter import fail_interrupted_runs

    @dg.op
    def noop() -> None: ...

    @dg.job
    def sync() -> None:
        noop()

    with dg.instance_for_test() as instance:
        left = _started_run(instance, sync, 999_999_999)
        mine = _started_run(instance, sync, None)
        instance.add_run_tags(mine.run_id, {"pos/pid": str(os.getpid()), "pos/host": socket.gethostname()})
        assert fail_interrupted_runs(instance) == [left.run_id]
        assert instance.get_run_by_id(left.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(mine.run_id).status == dg.DagsterRunStatus.STARTED
