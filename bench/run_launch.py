"""Benchmark: how long a launched run takes to start (``RUN_STARTING`` → ``RUN_START``: the run
worker's boot), with Dagster's ``DefaultRunLauncher`` (the code server spawns a fresh interpreter
that imports dagster and the code location again) against pos-sync's ``WarmRunLauncher`` (the worker
forked from a process that has already loaded it: ``pos_dagster/lib/run_launcher.py``), in the same
run, alternating.

The code location is this module's ``defs``: the product's ``pos_dagster.definitions`` (so the
worker's boot is the product's) plus a one-op job ``launch_probe`` (so the runs do nothing but
start). Each launcher gets its own Dagster instance (a scratch ``DAGSTER_HOME`` with the product's
``instance_default.yaml``, the default launcher set back for one) and its own code server, started
as ``dagster dev`` does (a gRPC server process per location); runs are launched with
``instance.launch_run`` (what the daemon's queue does) one at a time, each after the previous
ended and its worker process exited (also reported: how long after the run's end). The warm
launcher's first run (which warms its process) is reported apart; the figures are
over the runs after it. Also: how long ``launch_run`` blocks its caller (the daemon's queue loop),
and ``RUN_STARTING`` → ``RUN_SUCCESS``.

    python -m bench.run_launch [--runs 8] [--out bench/results/run_launch.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit, machine, percentile
from pos_dagster.lib.run_launcher import process_start_ticks

WORKER_STARTED = re.compile(r"Started process for run \(pid: (\d+)\)")

DEFAULT_LAUNCHER = "\nrun_launcher:\n  module: dagster._core.launcher\n  class: DefaultRunLauncher\n"


@functools.cache
def _defs() -> Any:
    import dagster as dg

    from pos_dagster.definitions import defs as product

    @dg.op
    def probe() -> None: ...

    @dg.job(executor_def=dg.in_process_executor)
    def launch_probe() -> None:
        probe()

    return dg.Definitions.merge(product, dg.Definitions(jobs=[launch_probe]))


def __getattr__(name: str) -> Any:  # the code location's `defs`, built once per process on first use
    if name == "defs":
        return _defs()
    raise AttributeError(name)


@contextmanager
def stack(which: str, base: Path) -> Iterator[tuple[Any, Any]]:
    """(instance, workspace request context) for ``which`` launcher, its own home and code server."""
    import dagster as dg
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget

    from pos_dagster.lib.instance import default_instance_yaml

    home = base / which
    home.mkdir()
    (home / "dagster.yaml").write_text(default_instance_yaml() + (DEFAULT_LAUNCHER if which == "default" else ""))
    with ExitStack() as stack:
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        target = ModuleTarget(module_name="bench.run_launch", attribute="defs", working_directory=str(ROOT),
                              location_name="launch_probe")
        process = stack.enter_context(WorkspaceProcessContext(instance, target))
        yield instance, process.create_request_context()


def launch_once(instance: Any, workspace: Any) -> dict[str, float]:
    import dagster as dg

    entry = next(iter(workspace.get_code_location_entries().values()))
    assert entry.code_location is not None, entry.load_error
    remote = next(iter(entry.code_location.get_repositories().values())).get_full_job("launch_probe")
    run = instance.create_run_for_job(job_def=_defs().resolve_job_def("launch_probe"),
                                      remote_job_origin=remote.get_remote_origin(),
                                      job_code_origin=remote.get_python_origin())
    called = time.monotonic()
    instance.launch_run(run.run_id, workspace)
    call_s = time.monotonic() - called
    deadline = time.monotonic() + 600
    while not (done := instance.get_run_by_id(run.run_id)).is_finished:
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run.run_id} did not finish")
        time.sleep(0.05)
    if done.status != dg.DagsterRunStatus.SUCCESS:
        raise RuntimeError(f"run {run.run_id} ended {done.status}")

    def at(kind: Any) -> float:
        return instance.all_logs(run.run_id, of_type=kind)[0].timestamp

    starting = at(dg.DagsterEventType.RUN_STARTING)
    ended = time.monotonic()
    # the next run waits for this worker to be gone: an interpreter's teardown is CPU the next one would share
    pids = [int(m.group(1)) for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if (m := WORKER_STARTED.search(e.message or ""))]
    while pids and process_start_ticks(pids[0]) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    return {"launched_to_started_s": round(at(dg.DagsterEventType.RUN_START) - starting, 3),
            "launched_to_success_s": round(at(dg.DagsterEventType.RUN_SUCCESS) - starting, 3),
            "launch_call_s": round(call_s, 3),
            "worker_exit_after_run_end_s": round(time.monotonic() - ended, 3)}


def summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(samples)}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = {"p50": round(statistics.median(values), 3), "p95": round(percentile(values, 95), 3),
                    "mean": round(statistics.fmean(values), 3), "min": min(values), "max": max(values)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="runs per launcher (the warm one: after its first)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    started, at_start = time.monotonic(), machine()
    base = Path(tempfile.mkdtemp(prefix="pos-bench-run-launch-"))
    os.environ["POS_HOME"] = str(base / "pos-home")  # the definitions touch nothing; the runs neither
    sys.path.insert(0, str(ROOT))
    samples: dict[str, list[dict[str, float]]] = {"default": [], "warm": []}
    with stack("default", base) as (default_instance, default_ws), stack("warm", base) as (warm_instance, warm_ws):
        first_warm = launch_once(warm_instance, warm_ws)  # warms the process
        for _ in range(args.runs):  # alternating: the machine's load falls on both alike
            samples["default"].append(launch_once(default_instance, default_ws))
            samples["warm"].append(launch_once(warm_instance, warm_ws))
        modes = sorted({json.loads(r.tags["pos/run_worker"])["mode"] for r in warm_instance.get_runs()})
    default, warm = summary(samples["default"]), summary(samples["warm"])
    document = {
        "benchmark": "run_launch",
        "machine": {**at_start, "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "parameters": {"runs_per_launcher": args.runs, "job": "launch_probe (one op, in-process executor)",
                       "code_location": "bench.run_launch:defs = pos_dagster.definitions + launch_probe",
                       "launch": "instance.launch_run, one run at a time, launchers alternating",
                       "instance": "pos_dagster/instance_default.yaml (SQLite), DefaultRunLauncher set back for "
                                   "the baseline"},
        "results": {
            "default_launcher": default,
            "warm_launcher": warm,
            "warm_launcher_first_run (warms its process)": first_warm,
            "warm_worker_modes": modes,
            "launched_to_started_p50_ratio_warm_over_default": round(
                warm["launched_to_started_s"]["p50"] / default["launched_to_started_s"]["p50"], 3),
            "launched_to_started_p50_saved_s": round(
                default["launched_to_started_s"]["p50"] - warm["launched_to_started_s"]["p50"], 3),
        },
        "duration_seconds": round(time.monotonic() - started, 1),
    }
    emit(document, args.out)


if __name__ == "__main__":
    main()
