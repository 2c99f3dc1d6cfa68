"""Benchmark: from ``pos-sync accounts add`` to reconciled canonical tables, one account of each
provider, timed whole and by stage, against the emulators' serving ceiling measured in the same run.

One ``pos-sync sandbox serve`` process with the Square, Toast and Lightspeed emulators. First the
**ceiling** of each provider: the simple clients (``bench._common.SimpleClient``,
``bench._ceilings``) page its transactional streams with the connectors' own queries (Square
payments + orders, Toast ordersBulk, Lightspeed sales) — the seconds the emulator needs to serve
what the import must read; measured again once every import is done, the two averaged
(:func:`ceiling_of`: the emulator's time moves with the machine's load). Then, per provider, in a
fresh ``POS_HOME`` (DuckDB warehouse, SQLite app store, the sandbox clock as ``POS_NOW``), the
commands a user runs, each a process of its own:

1. ``pos-sync accounts add <provider> …`` (discovery of the locations, app store);
2. ``pos-sync sync --account ID --json``: the account's first sync = its historical import
   (raw) and the canonical build, through the Dagster definitions; its stages are Dagster's own
   step timings (``<provider>_raw``, ``<provider>_canonical`` and the assets after them), read
   back from the run's Dagster instance, plus the process's start and exit (imports, Dagster set-up, shutdown);
   ``dagster_run_breakdown`` splits the run further (:func:`run_breakdown`: its set-up, dlt's
   extract / normalize / load, the canonical build, the events stored);
3. reconciliation: the canonical daily figures (``pos_sync.canonical.reconcile``) against the
   sandbox ledger (``pos_sandbox.ledger.compute_truth``), to the cent.

``fraction_of_ceiling`` = ceiling seconds / (add + sync seconds) (goal ≥ 0.5);
``fraction_of_ceiling_run_only`` = ceiling seconds / the sync's Dagster run alone (no process
starts: the service path, where the daemon's warm run worker runs the first sync of an account
added through the API); peak RSS of the sync process (goal < 1 GiB). The machine's load average is recorded: compare ratios.

``cpu_seconds`` (:func:`cpu_budget`): the CPU the two commands used and the emulator's over the same
span. Their sum over the machine's cores is a floor no overlap of stages can beat on this machine:
``best_fraction_on_these_cores`` = ceiling / that floor (1.0 when the floor is below the ceiling). Below
0.5, the goal needs less CPU (in the import, the build or the emulator), not more concurrency.

    python -m bench.end_to_end_import [--days 30] [--scale small] [--out bench/results/end_to_end_import.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bench._ceilings import account, lightspeed_sales, toast_orders
from bench._common import ROOT, Sandbox, SimpleClient, emit, machine, sandbox_process, window_bounds

SEED = 42
START = date(2026, 1, 5)
PROVIDERS = ("square", "toast", "lightspeed")
PII_KEY = "bench-pii-key"


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, every thread) a running process has used so far (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@dataclass
class Command:
    seconds: float
    peak_rss_mib: float
    cpu_seconds: float  # the process's own user + system time (``wait4``)
    stdout: str


def _timed(argv: list[str], env: dict[str, str]) -> Command:
    """Seconds, peak RSS MiB and CPU seconds of the process itself (``wait4``: its children
    excluded) and the stdout of one command in its own process."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise RuntimeError(f"{' '.join(argv[2:5])} failed ({code}):\n{err.read()[-3000:]}")
        return Command(seconds, round(usage.ru_maxrss / 1024, 1), usage.ru_utime + usage.ru_stime, out.read())


def _add_argv(provider: str, acct: dict[str, Any], tenant: str, days: int) -> list[str]:
    common = ["--base-url", acct["base_url"], "--tenant", tenant, "--historical-days", str(days), "--json"]
    if provider == "square":
        return ["accounts", "add", "square", "--access-token", acct["access_token"], *common]
    if provider == "toast":
        return ["accounts", "add", "toast", "--client-id", acct["client_id"], "--client-secret", acct["client_secret"],
                *[a for guid in acct["location_ids"] for a in ("--location", guid)], *common]
    return ["accounts", "add", "lightspeed", "--domain-prefix", acct["account_id"], "--access-token",
            acct["access_token"], "--refresh-token", acct["refresh_token"], "--client-id", acct["client_id"],
            "--client-secret", acct["client_secret"], *common]


def _ceiling(provider: str, sandbox: Sandbox, args: argparse.Namespace) -> dict[str, Any]:
    begin, now = window_bounds(args.start, args.days, sandbox)
    cpu = process_cpu_seconds(sandbox.proc.pid)
    if provider == "square":
        client = SimpleClient(sandbox)
        try:
            client.warm_up()
            streams = {"payments": client.payments(begin, now).summary(), "orders": client.orders(begin, now).summary()}
        finally:
            client.close()
    elif provider == "toast":
        streams = {"orders": toast_orders(sandbox, begin, now).summary()}
    else:
        streams = {"sales": lightspeed_sales(sandbox).summary()}
    return {"streams": streams, "seconds": round(sum(s["seconds"] for s in streams.values()), 2),
            "emulator_cpu_seconds": round(process_cpu_seconds(sandbox.proc.pid) - cpu, 2)}


def ceiling_of(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The ceiling of one provider from its two measurements, before the imports and after them: the
    emulator's serving time moves with the machine's load (13.4-19.7 s for the same Square world in
    three runs of one day), so one measurement made the fraction move with it. ``seconds`` is their
    mean, the fractions are against it; ``spread`` is the larger over the smaller."""
    runs = [before["seconds"], after["seconds"]]
    return {"seconds": round(sum(runs) / len(runs), 2), "measured_seconds": {"before": runs[0], "after": runs[1]},
            "emulator_cpu_seconds": {"before": before.get("emulator_cpu_seconds"),
                                     "after": after.get("emulator_cpu_seconds")},
            "spread": round(max(runs) / min(runs), 3) if min(runs) else None,
            "streams": {"before": before["streams"], "after": after["streams"]}}


# ---------------------------------------------------------------------- child: stages and reconciliation
def inspect(spec: dict[str, Any]) -> dict[str, Any]:
    """In the account's POS_HOME: Dagster's step timings of the sync run, where the run's time went
    (:func:`run_breakdown`), and the reconciliation."""
    from dagster import DagsterInstance

    from pos_sandbox.ledger import compute_truth
    from pos_sandbox.world import World
    from pos_sync.canonical.reconcile import canonical_daily, compare_daily
    from pos_sync.settings import load_settings
    from pos_sync.warehouse.sql import Warehouse

    instance = DagsterInstance.get()
    steps = {s.step_key: round((s.end_time or 0) - (s.start_time or 0), 2)
             for s in instance.get_run_step_stats(spec["run_id"])}
    breakdown = run_breakdown(instance, spec["run_id"], load_settings().pos_home / "dlt" / "pipelines")
    # the sandbox's world: its providers set its clock (the latest local midnight of their locations)
    world = World(seed=spec["seed"], start=date.fromisoformat(spec["start"]), days=spec["days"],
                  scale=spec["scale"], providers=spec["providers"])
    truth = [r for r in compute_truth(world)["daily"] if r["provider"] == spec["provider"]]
    wh = Warehouse()
    try:
        actual = [r for r in canonical_daily(wh, world.tenant_id) if r["provider"] == spec["provider"]]
    finally:
        wh.close()
    problems = compare_daily(truth, actual)
    return {"steps": steps, "breakdown": breakdown, "reconciled": bool(actual) and not problems,
            "days_compared": len(truth), "problems": problems[:5], "sales": sum(r["sales_count"] for r in actual)}


def run_breakdown(instance: Any, run_id: str, pipelines_dir: Path) -> dict[str, Any]:
    """Where the Dagster run's time went, from its own event log and dlt's trace of the account's
    pipeline: the run's set-up before its first step (the run and its planned-materialization
    events stored), the gaps between steps, the raw step's dlt stages (extract / normalize / load)
    and the rest of that step, the canonical step's build (its materializations' ``seconds``) and
    the rest of it (checks, row counts, events), and how many events the run stored."""
    from dlt.pipeline.trace import load_trace

    events = instance.all_logs(run_id)
    stamps = [e.timestamp for e in events]
    starts = [e.timestamp for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"]
    ends = [e.timestamp for e in events if e.dagster_event and e.dagster_event.event_type_value in
            ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")]
    steps = {s.step_key: (s.start_time or 0, s.end_time or 0) for s in instance.get_run_step_stats(run_id)}
    out: dict[str, Any] = {"events_stored": len(events)}
    if starts and ends:
        out["run_set_up_seconds"] = round(min(starts) - min(stamps), 2)
        out["run_tear_down_seconds"] = round(max(stamps) - max(ends), 2)
        ordered = sorted(steps.values())
        out["between_steps_seconds"] = round(sum(max(0.0, b[0] - a[1]) for a, b in itertools.pairwise(ordered)), 2)
    build = [e.asset_materialization.metadata["seconds"].value for e in events  # type: ignore[union-attr]
             if e.asset_materialization is not None and e.asset_materialization.asset_key.path[0] == "pos"
             and "seconds" in e.asset_materialization.metadata]
    canonical = next((v for k, v in steps.items() if k.endswith("_canonical")), None)
    if build and canonical:
        out["canonical_build_seconds"] = round(float(build[0]), 2)
        out["canonical_step_rest_seconds"] = round(canonical[1] - canonical[0] - float(build[0]), 2)
    raw = next((v for k, v in steps.items() if k.endswith("_raw")), None)
    traces = [t for t in (load_trace(str(d)) for d in pipelines_dir.iterdir() if d.is_dir()) if t is not None]
    if traces and raw:
        trace = max(traces, key=lambda t: t.started_at)
        stages = {s.step: round((s.finished_at - s.started_at).total_seconds(), 2) for s in trace.steps}
        out["dlt_seconds"] = stages
        if "run" in stages:
            out["raw_step_rest_seconds"] = round(raw[1] - raw[0] - stages["run"], 2)
    return out


# ---------------------------------------------------------------------- parent
def account_env(home: Path, sandbox: Sandbox) -> dict[str, str]:
    """The environment of a user's commands on a fresh ``POS_HOME`` against ``sandbox``: this
    process's, without its ``POS_``/``DAGSTER_`` settings, the sandbox's clock as ``POS_NOW``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POS_", "DAGSTER_"))}
    return env | {"POS_HOME": str(home), "POS_NOW": sandbox.manifest["world"]["now"], "POS_PII_KEY": PII_KEY,
                  "RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONPATH": str(ROOT)}


def run_provider(provider: str, sandbox: Sandbox, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    home = work / provider
    home.mkdir()
    env = account_env(home, sandbox)
    if args.duckdb_memory_limit:
        env["POS_DUCKDB_MEMORY_LIMIT"] = args.duckdb_memory_limit
    cli = [sys.executable, "-m", "pos_sync.cli"]
    acct = account(sandbox, provider)
    tenant = sandbox.manifest["world"]["tenant_id"]
    emulator_cpu = process_cpu_seconds(sandbox.proc.pid)
    add = _timed([*cli, *_add_argv(provider, acct, tenant, args.days + 2)], env)
    account_id = json.loads(add.stdout)["id"]
    sync = _timed([*cli, "sync", "--account", account_id, "--json"], env)
    emulator_cpu = process_cpu_seconds(sandbox.proc.pid) - emulator_cpu
    summary = json.loads(sync.stdout)[0]
    if summary["status"] != "success":
        raise RuntimeError(f"{provider} sync: {summary['error']}")
    spec = {"run_id": summary["run_id"], "provider": provider, "seed": args.seed, "start": args.start.isoformat(),
            "days": args.days, "scale": args.scale, "providers": list(args.providers)}
    inspect_out = _timed([sys.executable, "-m", "bench.end_to_end_import", "--inspect", json.dumps(spec)],
                         env | {"DAGSTER_HOME": str(home / "dagster")}).stdout
    inspected = json.loads(inspect_out.strip().splitlines()[-1])
    nochange = _timed([*cli, "sync", "--account", account_id, "--json"], env)
    return {"accounts_add_seconds": round(add.seconds, 2), "sync_seconds": round(sync.seconds, 2),
            "sync_peak_rss_mib": sync.peak_rss_mib, "dagster_run_seconds": summary["duration_seconds"],
            "sync_process_overhead_seconds": round(sync.seconds - summary["duration_seconds"], 2),
            "cpu_seconds": cpu_budget(add.cpu_seconds, sync.cpu_seconds, emulator_cpu, add.seconds + sync.seconds),
            "dagster_steps_seconds": inspected["steps"], "dagster_run_breakdown": inspected["breakdown"],
            "rows_loaded": summary["rows_loaded"],
            "reconciled_to_the_cent": inspected["reconciled"], "days_compared": inspected["days_compared"],
            "problems": inspected["problems"], "second_sync_seconds_incl_process_start": round(nochange.seconds, 2),
            "second_sync_dagster_run_seconds": json.loads(nochange.stdout)[0]["duration_seconds"]}


def cpu_budget(add_cpu: float, sync_cpu: float, emulator_cpu: float, whole: float,
               cores: int | None = None) -> dict[str, Any]:
    """Where the machine's cores went while the account was added and synced: the two commands'
    own CPU and the emulator's (the sandbox process, every thread) over the same span.
    ``floor_seconds`` = all of it over the machine's cores: no schedule of the same work — every
    stage overlapped with every other — finishes sooner here, so ``ceiling / floor`` bounds the
    fraction this code can reach on this machine (``best_fraction_on_these_cores`` in :func:`run`);
    ``cores_busy`` = the CPU seconds over the whole's wall seconds."""
    cores = cores or len(os.sched_getaffinity(0)) or 1  # the cores this process may use (affinity, cpusets)
    total = add_cpu + sync_cpu + emulator_cpu
    return {"accounts_add": round(add_cpu, 2), "sync": round(sync_cpu, 2), "emulator": round(emulator_cpu, 2),
            "cores": cores, "floor_seconds": round(total / cores, 2),
            "cores_busy": round(total / whole, 2) if whole else None}


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="pos-bench-e2e-"))
    try:
        with sandbox_process(seed=args.seed, start=args.start, days=args.days, scale=args.scale,
                             providers=",".join(args.providers)) as sandbox:
            before = {p: _ceiling(p, sandbox, args) for p in args.providers}
            results = {p: run_provider(p, sandbox, args, work) for p in args.providers}
            after = {p: _ceiling(p, sandbox, args) for p in args.providers}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ceilings = {p: ceiling_of(before[p], after[p]) for p in args.providers}
    out: dict[str, Any] = {}
    for p in args.providers:
        r = results[p]
        whole = r["accounts_add_seconds"] + r["sync_seconds"]
        fraction = round(ceilings[p]["seconds"] / whole, 3) if whole else None
        # the same sync without the two process starts: what the service path waits (an account added
        # through the API, its first sync run by the daemon's warm run worker)
        run_s = r["dagster_run_seconds"]
        run_fraction = round(ceilings[p]["seconds"] / run_s, 3) if run_s else None
        floor = r["cpu_seconds"]["floor_seconds"]
        best = round(ceilings[p]["seconds"] / max(floor, ceilings[p]["seconds"]), 3) if floor else None
        out[p] = {"ceiling": ceilings[p], **r, "whole_seconds": round(whole, 2), "fraction_of_ceiling": fraction,
                  "fraction_of_ceiling_run_only": run_fraction, "best_fraction_on_these_cores": best,
                  "goals": {"ge_50pct_of_ceiling": fraction is not None and fraction >= 0.5,
                            "sync_peak_rss_lt_1gib": r["sync_peak_rss_mib"] < 1024,
                            "reconciled": r["reconciled_to_the_cent"]}}
    return {"providers": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument("--providers", type=lambda s: s.split(","), default=list(PROVIDERS))
    parser.add_argument("--duckdb-memory-limit", default=None,
                        help="POS_DUCKDB_MEMORY_LIMIT of the syncs (default: the product's)")
    parser.add_argument("--out", default=None, help="also write the JSON document to this file")
    parser.add_argument("--inspect", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inspect:
        print(json.dumps(inspect(json.loads(args.inspect)), default=str))
        return
    env = machine()
    started = time.perf_counter()
    result = run(args)
    emit({"benchmark": "end_to_end_import",
          "world": {"seed": args.seed, "start": args.start.isoformat(), "days": args.days, "scale": args.scale,
                    "providers": args.providers},
          "duckdb_memory_limit": args.duckdb_memory_limit or "the product's default",
          "machine": env, **result, "wall_seconds": round(time.perf_counter() - started, 1),
          "load_average_1m_at_end": round(os.getloadavg()[0], 2)}, args.out)


if __name__ == "__main__":
    main()
