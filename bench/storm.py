"""Benchmark: a sync under a rate-limit storm vs the same sync without faults, per provider.

For Square, Toast and Lightspeed, the real dlt source syncs the same world (``--scale`` small,
``--days`` 3, 7 and 14 by default — each a world of its own, seed 42: one account per provider) into a fresh DuckDB warehouse twice
in the same run: from an emulator **without faults** and from an emulator serving the ``storm``
fault plan (35 % 429 with ``Retry-After: 1``, 15 % 429 without, 2 % 503; Lightspeed's
``Retry-After`` is an HTTP date rounded up to the second). Each emulator is a ``pos-sync sandbox
serve`` process of its own (``bench/_common.sandbox_process``), never sharing a GIL with the sync.
The source runs with the product's defaults: ``SYNC_RETRY_POLICY`` (15 minutes per request),
each provider's pacing, a fresh source and ``SyncPace`` per run.

Reported per provider and run: seconds (``pipeline.run`` whole), the run's ``SyncPace``
(requests, retries, 429s, seconds waited, of which the provider asked for with Retry-After), the
storm / no-fault **ratio** (goal: ≤ 5×) and a **reconciliation verdict**: the raw rows' counts per
location equal the ledger (``pos_sandbox.ledger.compute_truth`` of the same world at the sandbox
clock), no duplicate key, and the storm warehouse holds the same rows per table as the calm one.

Each round (``--repeat``) starts a fresh storm emulator, so every round meets the same seeded
sequence of faults and the rounds differ only by the machine's noise; medians are reported.

    python -m bench.storm [--scale small] [--days 3,7,14] [--repeat 3] [--out bench/results/storm.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from bench._common import Sandbox, emit, machine, sandbox_process

SEED = 42
START = date(2026, 1, 5)
PROVIDERS = ("square", "toast", "lightspeed")
GOAL_RATIO = 5.0

# reconciliation: per provider, (SQL giving (location, count), ledger key) and the tables whose key
# must be unique
COUNTS: dict[str, list[tuple[str, str]]] = {
    "square": [
        ("select location_id, count(*) from payments group by 1", "payments"),
        ("select location_id, count(*) from refunds group by 1", "refunds"),
        ("select location_id, count(*) from orders group by 1", "orders"),
        ("select o.location_id, count(*) from orders__line_items li join orders o on li._dlt_parent_id = o._dlt_id "
         "group by 1", "line_items"),
    ],
    "toast": [
        ("select _pos_restaurant_guid, count(*) from orders group by 1", "orders"),
        ("select o._pos_restaurant_guid, count(*) from orders o join orders__checks c on c._dlt_parent_id = o._dlt_id "
         "group by 1", "checks"),
        ("select o._pos_restaurant_guid, count(*) from orders o join orders__checks c on c._dlt_parent_id = o._dlt_id "
         "join orders__checks__payments p on p._dlt_parent_id = c._dlt_id group by 1", "payments"),
    ],
    "lightspeed": [
        ("select outlet_id, count(*) from sales group by 1", "sales"),
        ("select outlet_id, count(*) from sales where return_for is not null group by 1", "return_sales"),
        ("select s.outlet_id, count(*) from sales__payments p join sales s on p._dlt_parent_id = s._dlt_id "
         "group by 1", "payments"),
    ],
}
UNIQUE: dict[str, list[tuple[str, str]]] = {
    "square": [("payments", "id"), ("refunds", "id"), ("orders", "id"), ("catalog", "id")],
    "toast": [("orders", "guid"), ("menus", "restaurant_guid")],
    "lightspeed": [("sales", "id"), ("products", "id"), ("users", "id")],
}


# ---------------------------------------------------------------------- one sync
def _account(sandbox: Sandbox, provider: str) -> dict[str, Any]:
    return next(a for a in sandbox.manifest["accounts"] if a["provider"] == provider)


def _source(provider: str, acct: dict[str, Any], now: datetime, initial_start: datetime, pipeline: Any) -> Any:
    """The product's source of the account: default retry policy and pacing, a fresh SyncPace."""
    from dlt_sources.common import TokenSet

    common = {"base_url": acct["base_url"], "account_id": acct["account_id"]}
    if provider == "square":
        from dlt_sources import square

        tokens = square.square_tokens(TokenSet(acct["access_token"]), base_url=acct["base_url"])
        return square.square_source(tokens, acct["location_ids"], now=now, initial_start=initial_start,
                                    known_versions=square.destination_known_versions(pipeline), **common)
    if provider == "toast":
        from dlt_sources import toast

        tokens = toast.toast_tokens(acct["client_id"], acct["client_secret"], acct["base_url"])
        return toast.toast_source(tokens, acct["location_ids"], now=now, initial_start=initial_start,
                                  known_versions=toast.destination_known_versions(pipeline), **common)
    from dlt_sources import lightspeed

    tokens = lightspeed.lightspeed_tokens(TokenSet(acct["access_token"], refresh_token=acct["refresh_token"]),
                                          base_url=acct["base_url"], client_id=acct["client_id"],
                                          client_secret=acct["client_secret"])
    return lightspeed.lightspeed_source(tokens, acct["account_id"], acct["location_ids"],
                                        known_versions=lightspeed.destination_known_versions(pipeline), **common)


def sync(provider: str, sandbox: Sandbox, now: datetime, initial_start: datetime, work: Path) -> dict[str, Any]:
    """One sync from scratch into its own DuckDB file; seconds, pace, rows per table, the pipeline."""
    import dlt

    from dlt_sources.common import sync_pace
    from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination

    apply_performance_defaults()  # the product's dlt settings
    work.mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(pipeline_name=f"storm_{provider}", destination=duckdb_destination(str(work / "w.duckdb")),
                            dataset_name=f"raw_{provider}", pipelines_dir=str(work / "pipelines"))
    source = _source(provider, _account(sandbox, provider), now, initial_start, pipeline)
    started = time.perf_counter()
    pipeline.run(source, loader_file_format="parquet").raise_on_failed_jobs()
    seconds = time.perf_counter() - started
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {"seconds": round(seconds, 2), "pace": sync_pace(source).as_dict(),
            "rows": {t: int(n) for t, n in sorted(counts.items()) if not t.startswith("_dlt") and n},
            "pipeline": pipeline}


# ---------------------------------------------------------------------- reconciliation
def _query(pipeline: Any, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql) or []]


def reconcile(provider: str, pipeline: Any, truth: dict[str, Any], locations: list[str]) -> dict[str, Any]:
    """The raw rows against the ledger: counts per location, unique keys. ``verdict``: exact | mismatch."""
    expected = {row["location_id"]: row for row in truth["objects"]
                if row["location_id"] in locations and row["provider"] == provider}
    differences: list[str] = []
    for sql, key in COUNTS[provider]:
        got = {loc: int(n) for loc, n in _query(pipeline, sql)}
        for loc, row in expected.items():
            if got.get(loc, 0) != int(row.get(key) or 0):
                differences.append(f"{key} at {loc}: loaded {got.get(loc, 0)}, ledger {row.get(key)}")
    for table, key in UNIQUE[provider]:
        n, distinct = _query(pipeline, f"select count(*), count(distinct {key}) from {table}")[0]
        if n != distinct:
            differences.append(f"{table}: {n - distinct} duplicate {key}")
    checked = sum(int(row.get(key) or 0) for row in expected.values() for _, key in COUNTS[provider])
    return {"verdict": "exact" if not differences else "mismatch", "objects_checked": checked,
            "differences": differences[:10]}


# ---------------------------------------------------------------------- the run
def _truth(scale: str, days: int, now: datetime) -> dict[str, Any]:
    from pos_sandbox.ledger import compute_truth
    from pos_sandbox.world import World

    return compute_truth(World(SEED, START, days=days, scale=scale, providers=list(PROVIDERS)), now)


def run_once(provider: str, sandbox: Sandbox, truth: dict[str, Any], now: datetime, work: Path) -> dict[str, Any]:
    """One sync from scratch and its reconciliation."""
    initial_start = datetime.combine(START, clock_time(), UTC) - timedelta(days=1)
    result = sync(provider, sandbox, now, initial_start, work)
    result["reconciliation"] = reconcile(provider, result.pop("pipeline"), truth,
                                         list(_account(sandbox, provider)["location_ids"]))
    return result


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians, the ratio and the verdict of one provider's runs."""
    calm_s = statistics.median(r["seconds"] for r in runs["no_fault"])
    storm_s = statistics.median(r["seconds"] for r in runs["storm"])
    best_calm = min(r["seconds"] for r in runs["no_fault"])
    best_storm = min(r["seconds"] for r in runs["storm"])
    asked = statistics.median(r["pace"]["retry_after_seconds"] for r in runs["storm"])
    ratio = storm_s / calm_s
    same_rows = all(r["rows"] == runs["no_fault"][0]["rows"] for r in runs["storm"] + runs["no_fault"])
    exact = all(r["reconciliation"]["verdict"] == "exact" for rs in runs.values() for r in rs)
    return {
        "no_fault_seconds": calm_s, "storm_seconds": storm_s, "ratio": round(ratio, 2),
        "goal_ratio": GOAL_RATIO, "goal_met": ratio <= GOAL_RATIO,
        # every round meets the same faults: the fastest of each is the least disturbed by other work
        "best_no_fault_seconds": best_calm, "best_storm_seconds": best_storm,
        "ratio_best_of_rounds": round(best_storm / best_calm, 2),
        "goal_met_best_of_rounds": best_storm / best_calm <= GOAL_RATIO,
        # the Retry-After waits of all requests added up (they overlap: streams run in parallel)
        "storm_seconds_asked_by_retry_after": asked,
        "verdict": "exact" if exact and same_rows else "mismatch", "storm_rows_equal_no_fault_rows": same_rows,
        "runs": runs,
    }


def measure_world(days: int, args: argparse.Namespace, providers: list[str], work: Path) -> dict[str, Any]:
    """Every provider's no-fault and storm syncs of one world (``days`` of history), ``--repeat`` rounds."""
    world: dict[str, Any] = {"seed": SEED, "start": START.isoformat(), "days": days, "scale": args.scale,
                             "load_average_1m_at_start": round(os.getloadavg()[0], 2)}
    options = {"seed": SEED, "start": START, "days": days, "scale": args.scale, "providers": ",".join(PROVIDERS)}
    runs = {p: {"no_fault": [], "storm": []} for p in providers}
    with sandbox_process(**options) as calm:
        now = calm.window_end
        truth = _truth(args.scale, days, now)
        world["now"] = now.isoformat()
        for i in range(args.repeat):
            # a fresh storm emulator per round: every round meets the same seeded sequence of faults
            with sandbox_process(**options, faults=args.faults) as storm:
                assert storm.window_end == now, "the two emulators must serve the same world at the same clock"
                for provider in providers:
                    for name, sandbox in (("no_fault", calm), ("storm", storm)):
                        runs[provider][name].append(run_once(provider, sandbox, truth, now,
                                                             work / f"{days}d-{provider}-{name}-{i}"))
    world["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    return {"world": world, "providers": {p: summarise(r) for p, r in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", default="3,7,14",
                        help="days of history of each world measured, comma-separated (default 3,7,14)")
    parser.add_argument("--faults", default="storm", help="fault plan of the storm emulator (default: storm)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds: syncs per provider and emulator, a fresh storm emulator each (medians)")
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    work = Path(tempfile.mkdtemp(prefix="pos-bench-storm-"))
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    worlds = [measure_world(int(d), args, providers, work) for d in args.days.split(",") if d.strip()]
    document: dict[str, Any] = {
        "benchmark": "storm", "machine": machine(), "faults": args.faults, "goal_ratio": GOAL_RATIO,
        "summary": {f"{w['world']['days']}d": {p: {"no_fault_s": v["no_fault_seconds"], "storm_s": v["storm_seconds"],
                                                 "ratio": v["ratio"], "goal_met": v["goal_met"],
                                                 "verdict": v["verdict"]}
                                             for p, v in w["providers"].items()} for w in worlds},
        "worlds": worlds,
    }
    document["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    emit(document, args.out)


if __name__ == "__main__":
    main()
