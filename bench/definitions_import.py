"""Benchmark: what loading pos-sync's Dagster definitions costs a new process — the code server, every
run worker Dagster's default launcher spawns (the topology), the zygote of the warm launcher, ``pos-sync``
commands that run a job, ``dagster dev`` — in CPU seconds (user + system: what the load changes least)
and wall seconds, each a new interpreter:

* ``definitions``: ``import pos_dagster.definitions`` (the imports, and the Definitions built);
* ``worker_boot``: what a spawned run worker loads before its first step — Dagster's run-worker
  module (``dagster._grpc.impl``), the definitions, the sync job resolved — then what the steps of a
  sync import themselves (``STEP_MODULES``, pyarrow): an import moved out
  of the definitions into a step shows here as saved only if no step needs it;
* ``baseline``: ``import dagster, dagster_dlt`` (what any load of the definitions pays first).

With ``--compare DIR`` (another checkout, e.g. the main branch's) every case also runs on that code
(``PYTHONPATH`` and working directory set to it; the same interpreter and packages), alternating with
this checkout's in a rotating order, so both are measured under the same load; the document gives the
medians of each and ``this / compared``. The 1-minute load average is recorded at the start and end.

    python -m bench.definitions_import [--repeat 7] [--compare /path/to/main-checkout] \\
        [--out bench/results/definitions_import.json]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit, machine

# what a sync's steps import (a copy of pos_dagster.lib.run_launcher.STEP_MODULES, so that a checkout
# from before it was there can be compared)
STEP_MODULES = ("pos_sync.appstore", "pos_sync.appstore.db", "pos_sync.appstore.mappings",
                "pos_sync.appstore.monitoring", "pos_sync.appstore.product_stats", "pos_sync.appstore.sync_requests",
                "pos_sync.appstore.webhooks", "pos_sync.ingest.bookkeeping", "pos_sync.ingest.sync",
                "pos_sync.warehouse.pipelines", "pos_sync.canonical.build", "pos_sync.canonical.product_stats",
                "pos_sync.canonical.restate", "pos_sync.events.emit", "numpy")

CASES = {
    "baseline": "import dagster, dagster_dlt",
    "definitions": "import pos_dagster.definitions",
    "worker_boot": ("import dagster._grpc.impl\n"
                    "from pos_dagster.definitions import defs\n"
                    "defs.get_repository_def().get_job('square_sync')\n"
                    f"for m in {STEP_MODULES!r}:\n"
                    "    __import__(m)\n"
                    "import pyarrow\n"),
}


def run_once(code: Path, source: str, home: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``python -c source`` with ``code`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(code), "POS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", source], cwd=code, env=env, check=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout, measured alternately")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    codes = {"this": ROOT} | ({"compared": args.compare.resolve()} if args.compare else {})
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        c: {case: {"cpu": [], "wall": []} for case in CASES} for c in codes}
    loads = [round(os.getloadavg()[0], 2)]
    pairs = [(c, case) for case in CASES for c in codes]
    with tempfile.TemporaryDirectory(prefix="defs-import-") as tmp:
        for round_ in range(args.repeat):
            shift = round_ % len(pairs)
            for c, case in pairs[shift:] + pairs[:shift]:
                cpu, wall = run_once(codes[c], CASES[case], Path(tmp) / "home")
                samples[c][case]["cpu"].append(round(cpu, 3))
                samples[c][case]["wall"].append(round(wall, 3))
            loads.append(round(os.getloadavg()[0], 2))
    medians = {c: {case: {k: round(statistics.median(v), 3) for k, v in m.items()} for case, m in by.items()}
               for c, by in samples.items()}
    document: dict[str, Any] = {
        "benchmark": "definitions_import", "machine": machine(), "repeat": args.repeat,
        "codes": {c: str(p) for c, p in codes.items()}, "cases": CASES, "load1": loads,
        "median": medians, "samples": samples}
    if args.compare:
        document["this_over_compared_cpu"] = {
            case: round(medians["this"][case]["cpu"] / medians["compared"][case]["cpu"], 3) for case in CASES}
        document["saved_cpu_seconds"] = {
            case: round(medians["compared"][case]["cpu"] - medians["this"][case]["cpu"], 3) for case in CASES}
    emit(document, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
