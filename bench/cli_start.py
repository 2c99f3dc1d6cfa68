"""Benchmark: what a ``pos-sync`` command costs before it does anything (#18, end-to-end import
speed): the wall seconds of ``pos-sync --help``, ``pos-sync accounts --help`` and ``pos-sync
accounts add square`` (a merchant linked against the sandbox: discovery over HTTP, a new app store
migrated and written), each a new process, against ``python -c pass`` (the interpreter's own start,
the baseline) measured in the same run; their wall and CPU seconds (user + system: what the load
changes least).

With ``--compare DIR`` (another checkout of the repository, e.g. the main branch's), every command
also runs on that code (``PYTHONPATH`` and working directory set to it; the same interpreter and
packages), alternating with this checkout's, so the two are measured under the same load: the
document gives each one's medians, their ratio to the baseline and ``this / compared``.

Each round runs every (code, command) pair once, in a rotating order; ``--repeat`` rounds. ``accounts
add`` gets a fresh ``POS_HOME`` each time (as a user's first link: the app store is created), the
environment of ``bench/end_to_end_import.py`` (``POS_NOW`` the sandbox's clock, telemetry off). The
sandbox (``pos-sync sandbox serve``, small world, Square only) runs in its own process. The
machine's 1-minute load average is recorded at the start, after each round and at the end.

Then ``--sync-repeat`` first syncs per code, alternating: an account added to a new ``POS_HOME``
(not measured), then ``pos-sync sync --account ID`` (its historical import of the small world's 14
days): the process's wall seconds and the part **outside its Dagster run** (wall − the summary's
``duration_seconds``: the interpreter, the imports, the definitions, the Dagster instance, the exit),
and its CPU seconds (user + system, its waited-for children included: what the load does not change).
An import moved from the process's start into the run (a source's modules loaded by ``build_source``)
shrinks the part outside the run without saving anything: compare the wall and CPU seconds too.

    python -m bench.cli_start [--repeat 9] [--sync-repeat 3] [--compare /path/to/main-checkout] [--no-add] \\
        [--out bench/results/cli_start.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench._ceilings import account
from bench._common import ROOT, emit, machine, sandbox_process

PII_KEY = "bench-pii-key"
CLI = [sys.executable, "-m", "pos_sync.cli"]
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "pos-sync --help": [*CLI, "--help"],
    "pos-sync accounts --help": [*CLI, "accounts", "--help"],
}
ADD = "pos-sync accounts add square"
BASELINE = "python -c pass"


def _env(code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POS_", "DAGSTER_"))}
    return env | {"PYTHONPATH": str(code), "RUNTIME__DLTHUB_TELEMETRY": "false"}


def _timed(argv: list[str], code: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command's process."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=code, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])} … in {code}: exit {done.returncode}: {done.stderr[-500:]}")
    return seconds, cpu


def _children_cpu() -> float:
    """User + system CPU seconds of the waited-for child processes so far (load-proof, unlike wall time)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sync_once(code: Path, add_argv: list[str], env: dict[str, str], home: Path) -> dict[str, float]:
    """An account added to a new ``POS_HOME``, then its first sync: the process's wall seconds and
    the part outside its Dagster run (wall − the summary's ``duration_seconds``)."""
    env = env | {"POS_HOME": str(home)}
    done = subprocess.run(add_argv, cwd=code, env=env, capture_output=True, text=True, timeout=300, check=True)
    account_id = json.loads(done.stdout)["id"]
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([*CLI, "sync", "--account", account_id, "--json"], cwd=code, env=env, capture_output=True,
                          text=True, timeout=900)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"sync in {code}: exit {done.returncode}: {done.stderr[-500:]}")
    [summary] = json.loads(done.stdout)
    return {"wall_s": round(wall, 3), "run_s": summary["duration_seconds"],
            "outside_run_s": round(wall - summary["duration_seconds"], 3), "cpu_s": round(cpu, 3)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    codes = {"this": ROOT}
    if args.compare:
        codes["compared"] = Path(args.compare).resolve()
    commands = dict(COMMANDS)
    work = Path(tempfile.mkdtemp(prefix="pos-bench-cli-start-"))
    seconds: dict[str, dict[str, list[float]]] = {c: {name: [] for name in commands} for c in codes}
    cpu_seconds: dict[str, dict[str, list[float]]] = {c: {name: [] for name in commands} for c in codes}
    loads: list[float] = []
    syncs: dict[str, list[dict[str, float]]] = {c: [] for c in codes}
    try:
        with sandbox_process(seed=42, start=date(2026, 1, 5), days=14, scale="small", providers="square") as sandbox:
            add_env: dict[str, str] = {}
            if not args.no_add:
                acct = account(sandbox, "square")
                commands[ADD] = [*CLI, "accounts", "add", "square", "--access-token", acct["access_token"],
                                 "--base-url", acct["base_url"], "--tenant", sandbox.manifest["world"]["tenant_id"],
                                 "--historical-days", "16", "--json"]
                add_env = {"POS_NOW": sandbox.manifest["world"]["now"], "POS_PII_KEY": PII_KEY}
                for c in codes:
                    seconds[c][ADD] = []
                    cpu_seconds[c][ADD] = []
            pairs = [(c, name) for c in codes for name in commands]
            for c in codes:  # one unmeasured pass: bytecode caches and the page cache warm for both
                for argv in commands.values():
                    home = Path(tempfile.mkdtemp(dir=work))
                    _timed(argv, codes[c], _env(codes[c]) | add_env | {"POS_HOME": str(home)})
            for round_ in range(args.repeat):
                shift = round_ % len(pairs)
                for c, name in pairs[shift:] + pairs[:shift]:
                    home = Path(tempfile.mkdtemp(dir=work))
                    env = _env(codes[c]) | {"POS_HOME": str(home)} | (add_env if name == ADD else {})
                    wall, cpu = _timed(commands[name], codes[c], env)
                    seconds[c][name].append(round(wall, 3))
                    cpu_seconds[c][name].append(round(cpu, 3))
                    shutil.rmtree(home, ignore_errors=True)
                loads.append(round(os.getloadavg()[0], 2))
            if not args.no_add:
                for round_ in range(args.sync_repeat):
                    for c in (list(codes) if round_ % 2 == 0 else list(codes)[::-1]):
                        home = Path(tempfile.mkdtemp(dir=work))
                        syncs[c].append(_sync_once(codes[c], commands[ADD], _env(codes[c]) | add_env, home))
                        shutil.rmtree(home, ignore_errors=True)
                    loads.append(round(os.getloadavg()[0], 2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results: dict[str, Any] = {}
    for c, per in seconds.items():
        base = statistics.median(per[BASELINE])
        results[c] = {"code": str(codes[c]), "commands": {
            name: {"median_s": round(statistics.median(s), 3), "min_s": min(s), "max_s": max(s),
                   "ratio_to_python_start": round(statistics.median(s) / base, 1),
                   "median_cpu_s": round(statistics.median(cpu_seconds[c][name]), 3), "seconds": s,
                   "cpu_seconds": cpu_seconds[c][name]}
            for name, s in per.items()}}
        if syncs[c]:
            results[c]["first_sync"] = {
                **{f"median_{k}": round(statistics.median(x[k] for x in syncs[c]), 3)
                   for k in ("wall_s", "run_s", "outside_run_s", "cpu_s")},
                "syncs": syncs[c]}
    if "compared" in codes:
        results["this_over_compared"] = {
            name: round(results["this"]["commands"][name]["median_s"] / results["compared"]["commands"][name]["median_s"], 3)
            for name in commands}
        results["this_over_compared_cpu"] = {
            name: round(results["this"]["commands"][name]["median_cpu_s"]
                        / max(results["compared"]["commands"][name]["median_cpu_s"], 0.001), 3)
            for name in commands}
        results["seconds_saved_median"] = {
            name: round(results["compared"]["commands"][name]["median_s"] - results["this"]["commands"][name]["median_s"], 3)
            for name in commands}
        if syncs["this"]:
            results["first_sync_cpu_seconds_saved_median"] = round(
                results["compared"]["first_sync"]["median_cpu_s"] - results["this"]["first_sync"]["median_cpu_s"], 3)
            results["first_sync_outside_run_seconds_saved_median"] = round(
                results["compared"]["first_sync"]["median_outside_run_s"]
                - results["this"]["first_sync"]["median_outside_run_s"], 3)
    return {"benchmark": "cli_start", "repeat": args.repeat, "machine": machine(), "results": results,
            "load_average_1m_after_each_round": loads, "load_average_1m_at_end": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9, help="rounds (each runs every code × command once)")
    parser.add_argument("--compare", default=None, metavar="DIR",
                        help="another checkout of the repository, measured alternating with this one")
    parser.add_argument("--no-add", action="store_true", help="skip accounts add and the syncs")
    parser.add_argument("--sync-repeat", type=int, default=3,
                        help="first syncs per code (a new POS_HOME each, after an unmeasured accounts add); 0: none")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    emit(run(args), args.out)


if __name__ == "__main__":
    main()
