"""A ``pos-sync sync`` process killed with SIGKILL in the middle of a sync, then re-run: no
duplicate ids, no gaps versus the ledger, and the sync log the killed run left ``in_progress`` is
closed as ``failed`` by the next run. A run re-executed from its canonical step (run retries, after
its worker died there) closes the log its parent's raw step opened.

The sandbox runs in the test process (the child connects over loopback); a ``slow`` fault makes
every request take a while so the kill lands mid-sync, after the child has fetched a few pages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from dagster_sync_support import TRANSACTION_TABLES, EnvFactory, changed_ids, make_world
from support.worlds import mid_window

from pos_sandbox.faults import FaultPlan

REPO = Path(__file__).resolve().parents[2]


def _sync_process(account_id: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pos_sync.cli", "sync", "--account", account_id, "--json"],
        cwd=REPO, env=dict(os.environ), stdout=(out / "stdout").open("wb"), stderr=(out / "stderr").open("wb"),
    )


def _wait(proc: subprocess.Popen[bytes], out: Path, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"sync process hung; stderr:\n{(out / 'stderr').read_text()[-4000:]}") from None


def test_sigkill_mid_sync_then_rerun_has_no_duplicates_and_no_gaps(make_env: EnvFactory, tmp_path: Path) -> None:
    from pos_sync import appstore

    world = make_world()
    mid = mid_window(world)
    plan = FaultPlan()
    env = make_env(world=world, faults=plan, now=mid)
    assert env.sync().success  # the historical import, in-process
    loads_before = env.data_load_ids()
    until = world.window_end_utc + timedelta(days=2)
    env.set_now(until)  # POS_NOW is inherited by the child processes

    # every request of the child is slowed down; kill it once it has fetched a few pages
    plan.probabilities, plan.slow_ms = {"slow": 1.0}, 400
    plan.reset()
    (tmp_path / "killed").mkdir()
    child = _sync_process(env.account_id, tmp_path / "killed")
    deadline = time.monotonic() + 120
    while plan.counters()["requests"] < 4:
        assert child.poll() is None, (tmp_path / "killed" / "stderr").read_text()[-2000:]
        assert time.monotonic() < deadline, "the child never reached the sandbox"
        time.sleep(0.05)
    in_progress = appstore.sync_history(env.account_id, limit=1)[0]
    assert in_progress.status == "in_progress"
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert appstore.sync_history(env.account_id, limit=1)[0].status == "in_progress"  # nobody closed it
    assert env.data_load_ids() == loads_before  # nothing of the killed run landed

    # re-run (no faults): exactly what changed since the last good sync, once
    plan.probabilities = {}
    plan.reset()
    (tmp_path / "rerun").mkdir()
    rerun = _sync_process(env.account_id, tmp_path / "rerun")
    assert _wait(rerun, tmp_path / "rerun", 150) == 0, (tmp_path / "rerun" / "stderr").read_text()[-3000:]
    summaries = json.loads((tmp_path / "rerun" / "stdout").read_text())
    assert [s["status"] for s in summaries] == ["success"] and summaries[0]["account_id"] == env.account_id

    history = appstore.sync_history(env.account_id, limit=5)
    assert [h.status for h in history] == ["success", "failed", "success"]
    stale = next(h for h in history if h.id == in_progress.id)
    assert stale.status == "failed" and stale.error_message == appstore.STALE_SYNC_MESSAGE
    assert stale.sync_completed_at is not None

    # the killed process's Dagster run was closed as failed and gave its pool slot back
    # (otherwise the re-run would wait for the pool slot forever)
    import dagster as dg

    instance = dg.DagsterInstance.get()  # DAGSTER_HOME: the one the child processes used
    try:
        statuses = sorted(run.status.value for run in instance.get_runs())
        assert statuses == ["FAILURE", "SUCCESS"], statuses
        assert not instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots
    finally:
        instance.dispose()

    new_loads = env.data_load_ids() - loads_before
    expected = changed_ids(world, mid, until)
    for table in TRANSACTION_TABLES:
        assert env.ids_in_load(table, new_loads) == expected[table], table  # no gap: the cursor had not moved
    env.assert_matches_ledger()  # no duplicate ids, the ledger's counts


def test_a_retry_that_re_executes_the_canonical_step_closes_the_log_its_parent_opened(
        make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose worker died in the canonical step (its log left ``in_progress``: nothing closed
    it) is re-executed by run retries from that step: the re-execution runs no raw step, so it opens
    no log of its own; its canonical step closes the one its parent's raw step opened, with the
    build's count — before, it found no log of its own run id and the account stayed "running" until
    its next sync closed the log as stale (seen in tests/deploy/test_topology.py)."""
    from pos_dagster.definitions import defs
    from pos_dagster.defs.canonical.assets import canonical_key
    from pos_sync import appstore
    from pos_sync.canonical import build
    from pos_sync.ingest.bookkeeping import SyncLog

    world = make_world()
    env = make_env(world=world, now=mid_window(world))
    assert env.sync().success  # the historical import
    env.set_now(world.window_end_utc + timedelta(days=2))

    with monkeypatch.context() as dying:  # the canonical step dies before it closes the log
        def died(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the run worker died here")

        dying.setattr(build, "build_account", died)
        dying.setattr(SyncLog, "fail", lambda *args, **kwargs: None)
        victim = env.sync()
    assert not victim.success
    [log] = [h for h in appstore.sync_history(env.account_id, limit=5) if h.dagster_run_id == victim.result.run_id]
    assert log.status == "in_progress"

    job = defs.resolve_job_def("square_sync")
    canonical = [key for key in job.asset_layer.executable_asset_keys if key.path[:2] == ["pos", "square"]]
    assert canonical_key("square", "pos_transactions") in canonical
    retry = job.execute_in_process(  # what run retries launch: the failed step again, tagged with its parent
        partition_key=env.account_id, instance=env.instance, raise_on_error=False, asset_selection=canonical,
        tags={"dagster/parent_run_id": victim.result.run_id, "dagster/root_run_id": victim.result.run_id})
    assert retry.success
    closed = next(h for h in appstore.sync_history(env.account_id, limit=5) if h.id == log.id)
    assert closed.status == "success" and closed.transactions_processed, closed
    assert not [h for h in appstore.sync_history(env.account_id, limit=5) if h.status == "in_progress"]
    env.assert_matches_ledger()


@pytest.mark.parametrize("damage", ["storage_without_its_package_folders", "half_deleted"])
def test_a_working_folder_a_killed_process_left_half_made_does_not_stop_the_accounts_syncs(
        make_env: EnvFactory, damage: str) -> None:
    """A run worker killed while dlt created its working folder's storages, or while dagster-dlt
    deleted the folder (it drops it before every run), leaves a storage without its package
    folders; dlt then fails reading it (``FileNotFoundError`` listing ``load/normalized``: seen in
    tests/deploy/test_topology.py, a killed run's retry), and so would every later sync of the
    account. The next sync drops such a folder (the destination keeps the state and schemas), counts
    it as pending (a package may have gone with it: the load merges) and loads exactly what changed."""
    import shutil

    from pos_sync.warehouse.pipelines import pipeline_name, pipelines_dir

    world = make_world()
    mid = mid_window(world)
    env = make_env(world=world, now=mid)
    assert env.sync().success  # the historical import
    loads_before = env.data_load_ids()
    folder = pipelines_dir() / pipeline_name("square", env.account_id, "incremental")
    load = folder / "load"
    assert (load / "normalized").is_dir() and (load / ".version").is_file()  # dlt's layout, as the test assumes
    if damage == "storage_without_its_package_folders":  # killed between the version file and the folders
        for sub in ("new", "normalized", "loaded"):
            shutil.rmtree(load / sub)
    else:  # killed in the middle of deleting it: some folders gone, the versions and the state still there
        shutil.rmtree(load / "normalized")
        shutil.rmtree(folder / "schemas", ignore_errors=True)

    until = world.window_end_utc + timedelta(days=2)
    env.set_now(until)
    outcome = env.sync()
    assert outcome.success, outcome
    new_loads = env.data_load_ids() - loads_before
    expected = changed_ids(world, mid, until)
    for table in TRANSACTION_TABLES:
        assert env.ids_in_load(table, new_loads) == expected[table], table  # the cursor was restored: no gap
    env.assert_matches_ledger()  # no duplicate ids
    assert (folder / "load" / "normalized").is_dir()  # the folder was made again whole
