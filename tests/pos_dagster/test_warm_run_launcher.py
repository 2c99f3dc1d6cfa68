"""``pos_dagster.lib.run_launcher.WarmRunLauncher`` on a real Dagster instance (a temp DAGSTER_HOME
configured with the product's ``instance_default.yaml``), launching runs of a small code location (a
temp package, so its sources can be edited) through ``instance.launch_run``: a run forked from the
warm process succeeds with its events and captured logs (its steps in processes of their own), a
failing run ends FAILURE with its error, ``terminate`` cancels a running run, run monitoring's health
check tells a live worker from a killed one, an edited source file re-warms before the next run (which
runs the new code), a code location that cannot be warmed starts its runs cold, with one warning, and a
worker outlives its launcher (the daemon stopping) and is checked and terminated by another one."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import pytest
from dagster._core.launcher.base import WorkerStatus
from dagster._core.test_utils import in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from pos_dagster.lib.run_launcher import WarmRunLauncher

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

DEFS = '''
import time

import dagster as dg

from warm_demo.version import VERSION


@dg.op
def hello(context) -> int:
    print("printed-by-the-hello-step")
    context.log.info(f"hello from warm_demo version {VERSION}")
    return VERSION


@dg.op
def double(value: int) -> int:
    return value * 2


@dg.job  # Dagster's default executor: each step in a process the forked worker starts
def ok_job():
    double(hello())


@dg.op
def explode() -> None:
    raise ValueError("boom from warm_demo")


@dg.job(executor_def=dg.in_process_executor)
def failing_job():
    explode()


@dg.op
def linger(context) -> None:
    context.log.info("lingering")
    for _ in range(1200):
        time.sleep(0.1)


@dg.job(executor_def=dg.in_process_executor)
def slow_job():
    linger()


@dg.op
def tell_version(context) -> None:
    context.log.info(f"hello from warm_demo version {VERSION}")


@dg.job(executor_def=dg.in_process_executor)
def version_job():
    tell_version()


defs = dg.Definitions(jobs=[ok_job, failing_job, slow_job, version_job])
'''

THREADED = '''
import threading

from warm_demo.defs import defs  # noqa: F401

threading.Thread(target=threading.Event().wait, name="left-running", daemon=True).start()
'''


def wait_for(what: str, timeout: float, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("code")
    package = root / "warm_demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "version.py").write_text("VERSION = 1\n")
    (package / "defs.py").write_text(textwrap.dedent(DEFS))
    (package / "threaded.py").write_text(textwrap.dedent(THREADED))
    return root


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text((REPO / "pos_dagster" / "instance_default.yaml").read_text())
    inst = dg.DagsterInstance.from_config(str(home))
    try:
        yield inst
    finally:
        inst.dispose()  # closes the warm processes


@pytest.fixture(scope="module")
def workspace(instance: dg.DagsterInstance, code: Path) -> Iterator[Any]:
    origin = LoadableTargetOrigin(executable_path=sys.executable, module_name="warm_demo.defs",
                                  attribute="defs", working_directory=str(code))
    with in_process_test_workspace(instance, origin) as context:
        yield context


def launch(instance: dg.DagsterInstance, workspace: Any, job_name: str) -> str:
    location = next(iter(workspace.get_code_location_entries().values())).code_location
    remote_job = next(iter(location.get_repositories().values())).get_full_job(job_name)
    run = instance.create_run_for_job(
        job_def=_job_def(job_name),  # the snapshots the webserver would store
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )
    instance.launch_run(run.run_id, workspace)
    return run.run_id


def _job_def(job_name: str) -> dg.JobDefinition:
    from warm_demo.defs import defs  # type: ignore[import-not-found]

    return defs.resolve_job_def(job_name)


def finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    return wait_for(f"run {run_id} to finish", 180,
                    lambda: (r := instance.get_run_by_id(run_id)) is not None and r.is_finished and r)


def messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.message or (e.user_message or "") for e in instance.all_logs(run_id)]


def worker(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    found = WarmRunLauncher.worker_of(run)
    assert found is not None, run.tags
    return found


def forked_from(instance: dg.DagsterInstance, run_id: str) -> int:
    found = [m for text in messages(instance, run_id) if (m := re.search(r"forked from the warm process (\d+)", text))]
    assert found, messages(instance, run_id)
    return int(found[0].group(1))


@pytest.fixture(scope="module")
def launcher(instance: dg.DagsterInstance, code: Path) -> WarmRunLauncher:
    assert isinstance(instance.run_launcher, WarmRunLauncher)  # what the product's instance configures
    return instance.run_launcher


def test_a_run_forked_from_the_warm_process_succeeds_with_its_events_and_logs(
        instance: dg.DagsterInstance, workspace: Any, launcher: WarmRunLauncher) -> None:
    run_id = launch(instance, workspace, "ok_job")
    run = finished(instance, run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS, messages(instance, run_id)
    kinds = [e.dagster_event.event_type for e in instance.all_logs(run_id) if e.dagster_event]
    for kind in (dg.DagsterEventType.RUN_STARTING, dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS):
        assert kinds.count(kind) == 1, kinds
    assert kinds.count(dg.DagsterEventType.STEP_SUCCESS) == 2
    assert any("hello from warm_demo version 1" in m for m in messages(instance, run_id))
    about = worker(instance, run_id)
    assert about["mode"] == "warm"
    # Dagster's own run-worker body ran in the forked process (the event the reaper reads)
    assert f"Started process for run (pid: {about['pid']})." in messages(instance, run_id)
    assert forked_from(instance, run_id) != os.getpid()
    # the step's stdout was captured by the instance's compute log manager
    captured = [p for p in Path(instance.root_directory).rglob("*.out") if run_id in str(p)]
    assert any("printed-by-the-hello-step" in p.read_text() for p in captured), captured
    # the worker is gone and run monitoring is told so without mistaking the run for a failure
    wait_for("the worker to exit", 60, lambda: launcher.check_run_worker_health(run).status != WorkerStatus.RUNNING)
    assert launcher.check_run_worker_health(instance.get_run_by_id(run_id)).status == WorkerStatus.SUCCESS


def test_a_failing_run_ends_failure_with_its_error(instance: dg.DagsterInstance, workspace: Any) -> None:
    run_id = launch(instance, workspace, "failing_job")
    assert finished(instance, run_id).status == dg.DagsterRunStatus.FAILURE
    failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    assert len(failures) == 1
    error = failures[0].dagster_event.step_failure_data.error
    assert error is not None and "boom from warm_demo" in error.to_string()
    assert worker(instance, run_id)["mode"] == "warm"


def test_terminate_cancels_a_running_run_and_health_tells_live_from_dead(
        instance: dg.DagsterInstance, workspace: Any, launcher: WarmRunLauncher) -> None:
    first, second = launch(instance, workspace, "slow_job"), launch(instance, workspace, "slow_job")
    for run_id in (first, second):
        wait_for("the step to run", 120, lambda run_id=run_id: any("lingering" in m for m in messages(instance, run_id)))
        health = launcher.check_run_worker_health(instance.get_run_by_id(run_id))
        assert health.status == WorkerStatus.RUNNING and health.run_worker_id == str(worker(instance, run_id)["pid"])

    # the UI's terminate (from any process of the host: it reads the worker from the run's tag)
    assert instance.run_launcher.terminate(first) is True
    run = finished(instance, first)
    assert run.status == dg.DagsterRunStatus.CANCELED, messages(instance, first)
    assert instance.run_launcher.terminate(first) is False  # already finished

    # a worker that dies (killed, out of memory) is reported FAILED to run monitoring
    os.kill(worker(instance, second)["pid"], signal.SIGKILL)
    wait_for("the killed worker to be seen gone", 30,
             lambda: launcher.check_run_worker_health(instance.get_run_by_id(second)).status == WorkerStatus.FAILED)
    assert instance.get_run_by_id(second).status == dg.DagsterRunStatus.STARTED  # monitoring fails it, not us
    assert "gone" in (launcher.get_run_worker_debug_info(instance.get_run_by_id(second)) or "")
    instance.report_run_failed(instance.get_run_by_id(second))


def test_an_edited_source_file_rewarms_before_the_next_run(
        instance: dg.DagsterInstance, workspace: Any, code: Path) -> None:
    first = launch(instance, workspace, "version_job")
    assert finished(instance, first).status == dg.DagsterRunStatus.SUCCESS
    again = launch(instance, workspace, "version_job")
    assert finished(instance, again).status == dg.DagsterRunStatus.SUCCESS
    assert forked_from(instance, again) == forked_from(instance, first)  # unchanged code: the same warm process
    assert any("version 1" in m for m in messages(instance, again))

    version = code / "warm_demo" / "version.py"
    version.write_text("VERSION = 2\n")
    stat = version.stat()
    os.utime(version, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # a later mtime, whatever the clock
    edited = launch(instance, workspace, "version_job")
    assert finished(instance, edited).status == dg.DagsterRunStatus.SUCCESS
    assert worker(instance, edited)["mode"] == "warm"
    assert forked_from(instance, edited) != forked_from(instance, again)  # warmed again …
    assert any("warmed for this run" in m and "its sources changed" in m for m in messages(instance, edited))
    assert any("hello from warm_demo version 2" in m for m in messages(instance, edited))  # … with the new code


def test_a_location_that_cannot_be_warmed_starts_its_runs_cold_with_one_warning(
        instance: dg.DagsterInstance, code: Path, caplog: pytest.LogCaptureFixture) -> None:
    # its module leaves a thread running after the import: forking it would be unsafe
    origin = LoadableTargetOrigin(executable_path=sys.executable, module_name="warm_demo.threaded",
                                  attribute="defs", working_directory=str(code))
    with caplog.at_level(logging.INFO, logger="pos_dagster.run_launcher"), \
            in_process_test_workspace(instance, origin) as threaded:
        runs = [launch(instance, threaded, "failing_job"), launch(instance, threaded, "version_job")]
        statuses = [finished(instance, run_id).status for run_id in runs]
    assert statuses == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]
    assert [worker(instance, run_id)["mode"] for run_id in runs] == ["cold", "cold"]
    failure = instance.all_logs(runs[0], of_type=dg.DagsterEventType.STEP_FAILURE)[0]
    assert "boom from warm_demo" in failure.dagster_event.step_failure_data.error.to_string()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "threads running after the warm-up (left-running)" in warnings[0], warnings


def test_a_worker_outlives_its_launcher_and_stays_controllable(
        instance: dg.DagsterInstance, workspace: Any, launcher: WarmRunLauncher) -> None:
    """The daemon stopping (its launcher disposed: the warm process exits) leaves a running worker
    running; another process's launcher (a restarted daemon, the webserver) checks and terminates it."""
    from pos_dagster.lib.run_launcher import process_start_ticks

    run_id = launch(instance, workspace, "slow_job")
    wait_for("the step to run", 120, lambda: any("lingering" in m for m in messages(instance, run_id)))
    zygote = forked_from(instance, run_id)
    launcher.dispose()
    assert process_start_ticks(zygote) is None  # the warm process is gone …
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # … the run goes on

    other = dg.DagsterInstance.from_config(instance.root_directory)  # a new process's view of the instance
    try:
        fresh = other.run_launcher
        assert isinstance(fresh, WarmRunLauncher) and fresh is not launcher
        assert fresh.check_run_worker_health(other.get_run_by_id(run_id)).status == WorkerStatus.RUNNING
        assert fresh.terminate(run_id) is True
        assert finished(other, run_id).status == dg.DagsterRunStatus.CANCELED
    finally:
        other.dispose()


def test_the_checkouts_dagster_yaml_is_the_embedded_instance_with_the_warm_launcher() -> None:
    import yaml

    embedded = (REPO / "pos_dagster" / "instance_default.yaml").read_text()
    assert (REPO / "dagster.yaml").read_text() == embedded
    assert yaml.safe_load(embedded)["run_launcher"] == {"module": "pos_dagster.lib.run_launcher",
                                                         "class": "WarmRunLauncher"}
