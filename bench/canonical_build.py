"""Benchmark: the canonical build (raw_square → schema ``pos``) on the ``chain`` world.

What it measures, on one DuckDB warehouse (``$POS_HOME/warehouse.duckdb``):

1. **full build**: every raw load of ``--days`` days of the chain world's Square account (5
   locations) normalised from scratch by :func:`pos_sync.canonical.build.build_account`:
   seconds, canonical rows/s, peak RSS of the process;
2. **one new day, incremental**: the sandbox clock moves one day further (it stood at the end of
   day ``--days``, inside a window of ``--days + 1`` days, so a full day of sales plus the
   refunds and tip edits of earlier sales arrive), the real Square source syncs it (incremental,
   timed apart), and the build processes that one new raw load;
3. **naive baseline, same run**: the same new day handled by a full rebuild (drop schema ``pos``,
   build everything again) instead of the incremental build.

The raw load of the window (the real Square source against the in-process sandbox) is done once
and cached under ``bench/_work/`` (gitignored); every measured phase runs in its own subprocess,
on a fresh copy of the cache, so peak RSS (``resource.getrusage``) is that phase's own.

    python -m bench.canonical_build [--days 90] [--scale chain] [--out bench/results/canonical_build.json]

``--compare-with CHECKOUT [--repeat 5]``: only the full build, on the cached raw load, with the
code of another checkout (a baseline, e.g. main) and with this tree, alternated, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "_work"
SEED = 42
START = date(2026, 1, 5)
ACCOUNT_ID = "bench-chain-square"
PII_KEY = "bench-pii-key"


# ---------------------------------------------------------------------- helpers (child side)
def _env(home: Path) -> None:
    os.environ["POS_HOME"] = str(home)
    os.environ["DLT_DATA_DIR"] = str(home / "dlt-data")
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["POS_PII_KEY"] = PII_KEY
    for name in ("POS_WAREHOUSE_URL", "POS_DATABASE_URL", "POS_STORE_CUSTOMER_PII"):
        os.environ.pop(name, None)


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _world(scale: str, days: int) -> Any:
    from pos_sandbox.world import World

    # one day more than the measured window: the "new day" is the window's last day
    return World(seed=SEED, start=START, days=days + 1, scale=scale, providers=["square"])


def _clock(world: Any, days: int) -> datetime:
    """The end of local day ``days`` (every location has closed it): the mid-window clock."""
    day = world.start + timedelta(days=days)
    return max(world.local_midnight(loc, day) for loc in world.locations)


def _sync(home: Path, scale: str, days: int, now: datetime) -> dict[str, Any]:
    """One incremental run of the real Square source into the cached warehouse."""
    import dlt

    from dlt_sources.common import TokenSet
    from dlt_sources.square import destination_known_versions, square_source, square_tokens
    from pos_sandbox.server import SandboxServer
    from pos_sync.warehouse.pipelines import account_pipeline

    world = _world(scale, days)
    world.set_now(now)
    with SandboxServer(world) as server:
        acct = next(a for a in server.manifest()["accounts"] if a["provider"] == "square")
        mount = next(r for r in server.app.routes if getattr(r, "path", "") == "/square")
        mount.app.state.square.warm()  # build the emulator's indexes before timing
        pipeline: dlt.Pipeline = account_pipeline("square", ACCOUNT_ID)
        t0 = time.perf_counter()
        source = square_source(
            square_tokens(TokenSet(acct["access_token"]), base_url=acct["base_url"]), list(acct["location_ids"]),
            base_url=acct["base_url"], account_id=ACCOUNT_ID,
            initial_start=world.window_start_utc - timedelta(days=1), now=now,
            known_versions=destination_known_versions(pipeline, account_id=ACCOUNT_ID))
        info = pipeline.run(source, loader_file_format="parquet")
        info.raise_on_failed_jobs()
        seconds = time.perf_counter() - t0
        counts = pipeline.last_trace.last_normalize_info.row_counts
    return {
        "seconds": round(seconds, 2),
        "rows": {t: int(n) for t, n in sorted(counts.items()) if not t.startswith("_dlt") and n},
        "now": now.isoformat(),
        "peak_rss_mib": _peak_rss_mib(),
    }


def _build(home: Path, tenant_id: str, drop: bool) -> dict[str, Any]:
    from pos_sync.canonical.build import build_account
    from pos_sync.warehouse.sql import Warehouse

    if drop:
        wh = Warehouse()
        wh.execute("DROP SCHEMA IF EXISTS pos CASCADE")
        wh.commit()
        wh.close()
    # what a sync has loaded before its build — the provider registry (dlt and the sources), DuckDB,
    # pyarrow (which imports pandas at its first conversion) — timed apart, not as the build's: ≈ 1.3 s
    # of a small × 14 build were these imports
    t_import = time.perf_counter()
    import duckdb
    import pyarrow

    import pos_sync.providers  # noqa: F401
    pyarrow.array([""])
    duckdb.connect().close()
    import_seconds = time.perf_counter() - t_import
    rss_before = _peak_rss_mib()
    t0 = time.perf_counter()
    result = build_account(ACCOUNT_ID, "square", tenant_id)
    seconds = time.perf_counter() - t0
    rows = result.transactions + result.items + result.tenders + result.products
    wh = Warehouse()
    try:
        totals = {t: int(wh.scalar(f"select count(*) from pos.{t}")) for t in
                  ("pos_transactions", "pos_transaction_items", "pos_tenders", "pos_products", "daily_product_sales")}
    finally:
        wh.close()
    return {
        "seconds": round(seconds, 2),
        "imports_before_the_build_seconds": round(import_seconds, 2),
        "loads": result.loads,
        "transactions": result.transactions,
        "items": result.items,
        "tenders": result.tenders,
        "products": result.products,
        "days_recomputed": result.days_recomputed,
        # DuckDB's memory_limit the build needed when POS_WAREHOUSE_MEMORY_LIMIT was too small (it was
        # rolled back and run again with twice the limit: the seconds include the failed attempts)
        "memory_limit_raised_to_mib": (result.memory_limit_raised_to >> 20) if result.memory_limit_raised_to else None,
        "memory_limit_sized_to_mib": (result.memory_limit_sized_to >> 20) if result.memory_limit_sized_to else None,
        "rows_written": rows,
        "rows_per_s": round(rows / seconds) if seconds else None,
        "transactions_per_s": round(result.transactions / seconds) if seconds else None,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_before_build_mib": rss_before,
        "tables_after": totals,
    }


def child(args: argparse.Namespace) -> None:
    home = Path(args.home)
    _env(home)
    if args.phase == "prepare":
        world = _world(args.scale, args.days)
        out = _sync(home, args.scale, args.days, _clock(world, args.days))
        out["tenant_id"] = world.tenant_id
    elif args.phase == "sync_day":
        world = _world(args.scale, args.days)
        out = _sync(home, args.scale, args.days, _clock(world, args.days) + timedelta(days=1))
    else:
        out = _build(home, args.tenant, drop=args.phase == "rebuild")
    print(json.dumps(out))


# ---------------------------------------------------------------------- orchestration
def _run(phase: str, home: Path, args: argparse.Namespace, tenant: str = "") -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.canonical_build", "--phase", phase, "--home", str(home),
           "--scale", args.scale, "--days", str(args.days), "--tenant", tenant]
    print(f"[canonical_build] {phase} in {home} …", file=sys.stderr, flush=True)
    load = round(os.getloadavg()[0], 2)
    done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"load_average_1m_at_start": load,
                                                               "load_average_1m_at_end": round(os.getloadavg()[0], 2)}


def _copy(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return round(time.perf_counter() - t0, 2)


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    cache = WORK / f"raw_{args.scale}_{args.days}d_seed{SEED}"
    meta_file = cache / "bench_meta.json"
    if args.rebuild_cache and cache.exists():
        shutil.rmtree(cache)
    if not meta_file.exists():
        if cache.exists():
            shutil.rmtree(cache)
        cache.mkdir(parents=True)
        prepared = _run("prepare", cache, args)
        meta_file.write_text(json.dumps(prepared))
    raw = json.loads(meta_file.read_text())
    tenant = raw["tenant_id"]

    full_home, naive_home = WORK / "run_full", WORK / "run_naive"
    _copy(cache, full_home)
    full = _run("build", full_home, args, tenant)
    sync_day = _run("sync_day", full_home, args, tenant)
    _copy(full_home, naive_home)  # same state: 90 days built + the new day's raw load
    incremental = _run("build", full_home, args, tenant)
    naive = _run("rebuild", naive_home, args, tenant)
    again = _run("build", full_home, args, tenant)  # nothing new: a no-op
    if not args.keep:
        for home in (full_home, naive_home):
            shutil.rmtree(home, ignore_errors=True)

    def ratio(a: float, b: float) -> float:
        return round(a / b, 4) if b else float("nan")

    return {
        "benchmark": "canonical_build",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "note": "the machine may be shared: each phase records the 1-minute load average at its start"},
        "world": {"seed": SEED, "scale": args.scale, "start": START.isoformat(), "window_days": args.days + 1,
                  "providers": ["square"], "locations": 5 if args.scale == "chain" else 2,
                  "clock_full": raw["now"], "clock_new_day": sync_day["now"]},
        "warehouse": "duckdb",
        "raw_load_once": {k: raw[k] for k in ("seconds", "rows", "peak_rss_mib")} | {"cached_in": str(cache.relative_to(ROOT))},
        "full_build": full,
        "new_day_sync": sync_day,
        "new_day_incremental_build": incremental,
        "new_day_naive_full_rebuild": naive,
        "no_op_build": {k: again[k] for k in ("seconds", "loads", "transactions", "load_average_1m_at_start")},
        "ratios": {
            "incremental_build_over_full_build": ratio(incremental["seconds"], full["seconds"]),
            "incremental_sync_plus_build_over_full_build": ratio(incremental["seconds"] + sync_day["seconds"],
                                                                 full["seconds"]),
            "naive_rebuild_over_incremental_build": ratio(naive["seconds"], incremental["seconds"]),
        },
        "goal": "incremental one-day build < 10 % of the full build",
        "goal_met": incremental["seconds"] < 0.10 * full["seconds"],
        "memory_goal": "peak RSS of the full build < 1 GiB (issue 18: chain x 90 days)",
        "memory_goal_met": full["peak_rss_mib"] < 1024,
    }


def _run_code(code: Path, home: Path, args: argparse.Namespace, tenant: str) -> dict[str, Any]:
    """A full build in a subprocess with ``code`` (a checkout of the project) first on ``sys.path``:
    the script runs by path from ``home``, so neither the current directory nor this tree shadows it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", "build", "--home", str(home),
           "--scale", args.scale, "--days", str(args.days), "--tenant", tenant]
    env = os.environ | {"PYTHONPATH": str(code)}
    load = round(os.getloadavg()[0], 2)
    done = subprocess.run(cmd, cwd=home, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"load_average_1m_at_start": load,
                                                               "load_average_1m_at_end": round(os.getloadavg()[0], 2)}


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """The full build with the code of ``--compare-with`` (the baseline) and with this tree, alternated
    ``--repeat`` times on fresh copies of the same cached raw warehouse (same run, same load)."""
    import statistics

    cache = WORK / f"raw_{args.scale}_{args.days}d_seed{SEED}"
    meta_file = cache / "bench_meta.json"
    if not meta_file.exists():
        raise SystemExit(f"no cached raw load in {cache}: run the benchmark once without --compare-with")
    tenant = json.loads(meta_file.read_text())["tenant_id"]
    codes = {"baseline": Path(args.compare_with).resolve(), "product": ROOT}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
    home = WORK / "run_compare"
    for r in range(args.repeat):
        order = list(codes) if r % 2 == 0 else list(codes)[::-1]  # who goes first alternates
        for name in order:
            _copy(cache, home)
            print(f"[canonical_build] round {r + 1}: {name} ({codes[name]}) …", file=sys.stderr, flush=True)
            runs[name].append(_run_code(codes[name], home, args, tenant))
    shutil.rmtree(home, ignore_errors=True)
    for key in ("transactions", "items", "tenders", "tables_after"):
        assert runs["baseline"][0][key] == runs["product"][0][key], (key, runs["baseline"][0][key], runs["product"][0][key])
    median = {name: statistics.median(x["seconds"] for x in rs) for name, rs in runs.items()}
    return {
        "benchmark": "canonical_build --compare-with",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "note": "shared machine: every build records the 1-minute load average at its start and end"},
        "world": {"seed": SEED, "scale": args.scale, "start": START.isoformat(), "window_days": args.days + 1,
                  "built_days": args.days, "providers": ["square"]},
        "warehouse": "duckdb",
        "what": "full build (build_account, first build) of the cached raw load, baseline and product alternated",
        "baseline_code": str(codes["baseline"]),
        "rows": {k: runs["product"][0][k] for k in ("transactions", "items", "tenders", "products")},
        "runs": runs,
        "median_seconds": median,
        "median_peak_rss_mib": {name: statistics.median(x["peak_rss_mib"] for x in rs) for name, rs in runs.items()},
        "ratio_product_over_baseline": round(median["product"] / median["baseline"], 4),
        "speedup_baseline_over_product": round(median["baseline"] / median["product"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="chain", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", type=int, default=90, help="days built by the full build (default 90)")
    parser.add_argument("--out", help="also write the JSON document to this file")
    parser.add_argument("--rebuild-cache", action="store_true", help="reload the raw window from the sandbox")
    parser.add_argument("--keep", action="store_true", help="keep the work copies under bench/_work/run_*")
    parser.add_argument("--compare-with", metavar="CHECKOUT",
                        help="only the full build, alternated with the code of CHECKOUT (e.g. a worktree of main) "
                             "on the cached raw load (made by a run without this option)")
    parser.add_argument("--repeat", type=int, default=5, help="with --compare-with: builds of each code (default 5)")
    parser.add_argument("--phase", choices=("prepare", "build", "rebuild", "sync_day"), help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--tenant", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    document = compare(args) if args.compare_with else orchestrate(args)
    text = json.dumps(document, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
