"""The production topology (``pos-sync topology up``: a gRPC code server, dagster-daemon,
dagster-webserver and the HTTP API as separate processes, Dagster's instance, the app store and the
warehouse on PostgreSQL) under concurrent syncs and process deaths. One topology for the module, four
accounts (a sandbox world with a Square, a Toast and a Lightspeed account, a second world with a Square
account: two accounts on one provider pool; the sensors that launch monitoring and forecasting runs after
syncs are stopped, to keep the module within its time), the tests in file order:

1. the daemon's sensor launches every account's first sync at once; all succeed, every account
   reconciles to the ledger to the cent, and the instance's own records show the limits held: each
   provider's raw step runs in its provider's pool, at most one raw step per pool (``--pool-limit 1``:
   the two Square accounts' took turns), one run per account, eight runs in all;
2. new sales and late tip edits arrive in one world (the sandbox clock follows the wall clock), its three syncs are submitted
   through GraphQL (queued), and while they run one run worker is SIGKILLed in its raw step and the
   daemon is SIGKILLed: the launcher starts the daemon again, the code server reports the killed run
   failed, run retries re-execute it, the killed run's sync log is closed, every other run succeeds,
   no sync run is left started, and the ledger reconciles with no duplicate;
3. ``pos-sync topology down`` stops every process group.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from topology_support import (
    FINISHED,
    POOL_LIMIT,
    POOLS,
    Topology,
    duplicate_transactions,
    max_overlap,
    reconciliation_problems,
    start_topology,
    stop_topology,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]

ROUND_SECONDS = 300  # six syncs on a shared two-core machine, each run worker booting the code base


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory, pg_admin_dsn: str) -> Iterator[Topology]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        started = None
        try:
            started = start_topology(tmp_path_factory.mktemp("topology"), pg_admin_dsn, monkeypatch)
            yield started
        finally:
            if started is not None:
                stop_topology(started, pg_admin_dsn)


@pytest.fixture()
def topo(topology: Topology, monkeypatch: pytest.MonkeyPatch) -> Topology:
    topology.use(monkeypatch)  # this test's settings: the topology's app store, warehouse and instance
    return topology


@contextmanager
def instance(topology: Topology) -> Iterator[Any]:
    import dagster as dg

    inst = dg.DagsterInstance.from_config(str(topology.home / "dagster"))
    try:
        yield inst
    finally:
        inst.dispose()


def sync_runs(inst: Any, **tags: str) -> list[Any]:
    import dagster as dg

    return [r for r in inst.get_run_records(dg.RunsFilter(tags=tags or None))
            if "pos/account" in r.dagster_run.tags and r.dagster_run.job_name.endswith("_sync")]


def statuses(inst: Any, run_ids: list[str]) -> dict[str, str]:
    return {run_id: inst.get_run_by_id(run_id).status.value for run_id in run_ids}


def final_status(inst: Any, run_id: str) -> str:
    """The run's status, or — when run retries re-executed it (a crashed worker, a launch that timed
    out on an overloaded code server) — its last re-execution's."""
    import dagster as dg

    retries = inst.get_runs(dg.RunsFilter(tags={"dagster/root_run_id": run_id}))
    run = max(retries, key=lambda r: int(r.tags.get("dagster/retry_number", "0"))) if retries else None
    return str((run or inst.get_run_by_id(run_id)).status.value)


def all_finished(inst: Any, run_ids: list[str]) -> bool:
    """Every run finished, and every failed one's retries too (run retries: max 2)."""
    def settled(run_id: str) -> bool:
        status = final_status(inst, run_id)
        if status not in FINISHED:
            return False
        if status == "FAILURE":  # a retry may still be on its way (the daemon re-executes within seconds)
            import dagster as dg

            tries = len(inst.get_runs(dg.RunsFilter(tags={"dagster/root_run_id": run_id})))
            return tries >= 2 or time.monotonic() - settled_since.setdefault(run_id, time.monotonic()) > 60
        return True

    settled_since: dict[str, float] = _SETTLED
    return all(settled(run_id) for run_id in run_ids)


_SETTLED: dict[str, float] = {}


def describe(inst: Any, run_ids: list[str]) -> str:
    """Each run's job, status and last event (what a timeout shows)."""
    out = []
    for run_id in run_ids:
        run = inst.get_run_by_id(run_id)
        last = inst.all_logs(run_id)[-1:] if run else []
        out.append(f"{run_id[:8]} {run.job_name} {run.status.value} "
                   f"{last[0].dagster_event_type if last else ''} {(last[0].message or '')[:120] if last else ''}")
    return "; ".join(out)


def why_failed(inst: Any, run_id: str) -> str:
    """A failed run's failure events and errors, in order (what a failed assertion shows)."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.ENGINE_EVENT}
    lines = []
    for e in inst.all_logs(run_id, of_type=kinds):
        error = getattr(e.dagster_event.event_specific_data, "error", None) if e.dagster_event else None
        lines.append(f"{e.step_key or ''} {e.dagster_event_type}: {(e.message or '')[:300]}"
                     + (f" | {error.to_string()[:4000]}" if error else ""))
    return f"run {run_id[:8]}:\n" + "\n".join(lines)


def raw_step_window(inst: Any, run_id: str, step: str) -> tuple[float, float] | None:
    """(start, end) of the run's raw step from its STEP_START and STEP_SUCCESS/FAILURE events."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    events = [e for e in inst.all_logs(run_id, of_type=kinds) if e.step_key == step]
    starts = [e.timestamp for e in events if e.dagster_event.event_type == dg.DagsterEventType.STEP_START]
    ends = [e.timestamp for e in events if e.dagster_event.event_type != dg.DagsterEventType.STEP_START]
    return (min(starts), max(ends)) if starts and ends else None


def assert_reconciled(topo: Topology) -> None:
    assert reconciliation_problems(topo) == []
    assert duplicate_transactions(topo) == []


def test_the_daemon_syncs_every_account_at_once_within_the_limits(topo: Topology) -> None:
    pids = topo.doc["pids"]
    assert set(pids) == {"code server", "daemon", "webserver", "API"} and len(set(pids.values())) == 4
    for pid in pids.values():
        os.killpg(pid, 0)  # each a live process group of its own
    assert httpx.get(f"{topo.doc['api_url']}/healthz", timeout=10).status_code == 200

    with instance(topo) as inst:
        assert type(inst.run_coordinator).__name__ == "PosRunCoordinator"  # QueuedRunCoordinator + the sensor loop
        assert type(inst.run_storage).__name__ == "PostgresRunStorage"
        assert inst.run_monitoring_enabled and inst.run_retries_enabled
        for pool in POOLS.values():
            assert inst.event_log_storage.get_concurrency_info(pool).slot_count == POOL_LIMIT

        def first_syncs() -> list[Any] | None:
            found = sync_runs(inst, **{"pos/trigger": "new-account"})
            return found if len(found) == len(topo.accounts) else None

        runs = wait_for("the sensor's first syncs", 120, first_syncs, topo)
        ids = [r.dagster_run.run_id for r in runs]
        wait_for("the first syncs to finish", ROUND_SECONDS, lambda: all_finished(inst, ids), topo,
                 lambda: describe(inst, ids))
        assert {final_status(inst, run_id) for run_id in ids} == {"SUCCESS"}, describe(inst, ids)
        records = sync_runs(inst, **{"pos/trigger": "new-account"})
        assert {r.dagster_run.tags["pos/account"] for r in records} == set(topo.accounts)
        import dagster as dg

        for record in records:  # launched by the daemon: from the sensor (or run retries), queued first
            assert record.dagster_run.tags.get("dagster/sensor_name") == "account_sync_sensor"
            if "dagster/parent_run_id" not in record.dagster_run.tags:
                assert inst.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)

        # the limits, from the instance's records: raw steps per provider pool, runs per account, runs in all
        raw: dict[str, list[tuple[float, float]]] = {p: [] for p in POOLS}
        for record in records:
            provider = record.dagster_run.tags["pos/provider"]
            plan = inst.get_execution_plan_snapshot(record.dagster_run.execution_plan_snapshot_id)
            [step] = [s for s in plan.steps if s.key == f"{provider}_raw"]
            assert step.pool == POOLS[provider], (provider, step.pool)  # the pool its raw step runs in
            window = raw_step_window(inst, record.dagster_run.run_id, f"{provider}_raw")
            if window is not None:  # a run whose launch failed never reached its raw step
                raw[provider].append(window)
        assert all(raw.values()), raw
        assert len(raw["square"]) >= 2, raw  # the two Square accounts' raw steps: the pool limit had work to do
        records = [r for r in records if r.start_time and r.end_time]
        runs_window = [(r.start_time, r.end_time) for r in records]
        assert max(max_overlap(w) for w in raw.values()) <= POOL_LIMIT, raw
        assert max_overlap(runs_window) > 1  # the runs did run side by side …
        assert max_overlap(runs_window) <= 8  # … within max_concurrent_runs
        for account in topo.accounts:
            mine = [(r.start_time, r.end_time) for r in records if r.dagster_run.tags["pos/account"] == account]
            assert max_overlap(mine) == 1
    assert_reconciled(topo)


WORKER = re.compile(r"Started process for run \(pid: (\d+)\)")


def test_a_run_worker_and_the_daemon_killed_mid_run_lose_nothing(topo: Topology) -> None:
    import dagster as dg

    from pos_sync import appstore

    # the first world only (its three accounts, one per provider): three run boots instead of six keep the
    # module within the suite's budget; the other world's ledger stays as it was and must still reconcile
    world = topo.worlds[0]
    assert topo.add_sales("deaths", [world]) == 8  # 4 locations × (a sale, a sale whose tip is edited)
    topo.slow(150)
    ids = [topo.launch(account) for account, about in topo.accounts.items()  # queued through GraphQL
           if about["tenant"] == world.tenant_id]
    assert len(ids) == 3
    daemon = topo.state()["pids"]["daemon"]
    with instance(topo) as inst:
        def in_raw_step() -> tuple[str, int] | None:
            # not while the daemon is launching a run: a run it dies launching stays STARTING until run
            # monitoring's start timeout (180 s) fails it and run retries re-run it — Dagster's own path,
            # which took this module from ~66 s to ~235 s in 1 run of 8
            runs = {run_id: inst.get_run_by_id(run_id) for run_id in ids}
            if any(run.status.value == "STARTING" for run in runs.values()):
                return None
            for run_id, run in runs.items():
                if run.status.value != "STARTED":
                    continue
                step = f"{run.tags['pos/provider']}_raw"
                kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
                steps = [e.dagster_event.event_type for e in inst.all_logs(run_id, of_type=kinds) if e.step_key == step]
                # in its raw step: started, not finished (the sync log stays open through the canonical step)
                started = steps == [dg.DagsterEventType.STEP_START]
                pids = [int(m.group(1)) for e in inst.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                        if (m := WORKER.search(e.message or ""))]
                logs = appstore.sync_history(run.tags["pos/account"], limit=1) if started and pids else []
                if logs and logs[0].dagster_run_id == run_id and logs[0].status == "in_progress":
                    return run_id, pids[-1]  # its sync under way: the kill lands mid-sync
            return None

        victim, pid = wait_for("a run in its raw step", ROUND_SECONDS, in_raw_step, topo, lambda: describe(inst, ids))
        account = inst.get_run_by_id(victim).tags["pos/account"]
        os.kill(pid, signal.SIGKILL)  # the run worker, mid-sync …
        os.killpg(daemon, signal.SIGKILL)  # … and the daemon, with runs queued and running
        topo.slow(0)  # the slow API only made sure the kill lands mid-sync: the other syncs and the retry go at speed
        restarted = wait_for("the daemon started again", 60,
                             lambda: topo.state()["pids"]["daemon"] != daemon and topo.state(), topo)
        assert restarted["restarts"] == {"daemon": 1}
        # the code server saw its worker die: the run failed (not stuck STARTED), run retries re-execute it
        wait_for("the killed run failed", 120, lambda: statuses(inst, [victim])[victim] == "FAILURE", topo)

        def retry() -> Any:
            found = inst.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": victim}))
            return found[0] if found and found[0].status.value in FINISHED else None

        again = wait_for("the retried run", ROUND_SECONDS, retry, topo, lambda: describe(inst, ids))
        assert again.status.value == "SUCCESS" and again.tags["pos/account"] == account, why_failed(inst, again.run_id)
        wait_for("every run to finish", ROUND_SECONDS, lambda: all_finished(inst, ids), topo,
                 lambda: describe(inst, ids))
        # every account synced: each run succeeded, or failed (the killed one; a launch an overloaded
        # code server timed out) and its re-execution succeeded
        assert {final_status(inst, run_id) for run_id in ids} == {"SUCCESS"}, describe(inst, ids)
        mine = sync_runs(inst, **{"pos/trigger": "test"})
        firsts = [r for r in mine if "dagster/parent_run_id" not in r.dagster_run.tags]
        assert sorted(r.dagster_run.run_id for r in firsts) == sorted(ids)  # none launched twice
        stuck = inst.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING,
                                                      dg.DagsterRunStatus.QUEUED]))
        assert not [r.run_id for r in stuck if "pos/account" in r.tags]
        # which step the SIGKILL hit: on a loaded machine the raw step can finish between the poll and the kill
        raw_done = any(e.step_key == f"{inst.get_run_by_id(victim).tags['pos/provider']}_raw"
                       for e in inst.all_logs(victim, of_type=dg.DagsterEventType.STEP_SUCCESS))
    logs = appstore.sync_history(account, limit=10)
    killed = [log for log in logs if log.dagster_run_id == victim]
    # closed by the retry, never left in_progress: failed when the kill hit the raw step; when it hit the
    # canonical step, the retry re-executes that step alone and closes its parent's log as success
    if raw_done:  # the retry ran the canonical step alone and closed the killed run's log
        assert [log.status for log in killed] == ["success"] and logs[0].dagster_run_id == victim
    else:  # the retry ran the sync again under a log of its own
        assert [log.status for log in killed] == ["failed"]
        assert logs[0].dagster_run_id == again.run_id and logs[0].status == "success"
    assert_reconciled(topo)  # the new sales and tip edits, once each


def test_topology_down_stops_every_process(topo: Topology, tmp_path: Path) -> None:
    import subprocess
    import sys

    from topology_support import REPO

    pids = topo.state()["pids"]
    done = subprocess.run([sys.executable, "-m", "pos_sync.cli", "topology", "down"], cwd=REPO, env=topo.env,
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert topo.proc.wait(timeout=30) == 0
    alive = []
    for name, pid in pids.items():
        try:
            os.killpg(pid, 0)
            alive.append(name)
        except ProcessLookupError:
            pass
    assert alive == []
    assert not (topo.home / "topology" / "state.json").exists()
