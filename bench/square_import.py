"""Benchmark: historical import of the ``chain`` world's Square merchant through the real dlt source.

One run, against one ``pos-sync sandbox serve`` process (5 Square locations):

1. **index warm-up** of the emulator (first request per location), reported apart;
2. **serving ceiling**, measured in the same run by the simple client of ``bench._common`` with
   the connector's own queries and page sizes (see ``bench/emulator_serving.py``), before the
   imports and again after them (the machine is shared: each import is compared with the mean of
   the two, both reported);
3. **import** with ``dlt_sources.square.square_source`` into DuckDB (parquet, the product's load
   path), in a subprocess of its own (so its peak RSS is the import's): ``payments`` alone, then
   ``orders`` alone (with their line items and other child tables), then the remaining resources
   (locations, refunds, catalog, team members, customers: the no-change sync then has nothing new
   to load) — each ``pipeline.run`` timed (extract + normalize + load) and divided into the
   objects it loaded; ratios against the ceiling (goals of #18: payments ≥ 75 %, orders ≥ 60 % —
   orders reach dlt as nested Arrow tables since then);
4. **no-change incremental sync** of the account with everything loaded: a fresh source, every
   resource, one ``pipeline.run`` (the source's own run, not a process start) — goal < 2 s;
5. **naive baseline** in the same run: the same payments and orders imports with dlt's default
   ``insert_values`` loader format into another DuckDB file (the format the product moved away
   from), over the first ``--baseline-days`` of the window (same world, same emulator; its memory
   grows with the load, so the whole window does not fit);
6. optionally (``--postgres URL``) the same import into PostgreSQL with ``csv`` (COPY), over
   ``--postgres-days``.

    python -m bench.square_import [--days 90] [--scale chain] [--postgres postgresql://…] \\
        [--out bench/results/square_import.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import (
    ROOT,
    Sandbox,
    SimpleClient,
    emit,
    machine,
    peak_rss_mib,
    sandbox_process,
    window_bounds,
)

SEED = 42
START = date(2026, 1, 5)
RESOURCE_GROUPS = (("payments",), ("orders",), ("locations", "refunds", "catalog", "team_members", "customers"))


# ---------------------------------------------------------------------- child: one import
def _with_password(url: str) -> str:
    """dlt's PostgresCredentials require a password; trust-auth servers ignore it."""
    scheme, rest = url.split("://", 1)
    userinfo, _, host = rest.rpartition("@")
    if not userinfo or ":" in userinfo:
        return url
    return f"{scheme}://{userinfo}:unused@{host}"


def _count(pipeline: Any, table: str) -> int:
    with pipeline.sql_client() as client:
        return int(client.execute_sql(f"select count(*) from {table}")[0][0])


def _steps(pipeline: Any) -> dict[str, float]:
    trace = pipeline.last_trace
    return {s.step: round((s.finished_at - s.started_at).total_seconds(), 2) for s in trace.steps
            if s.step in ("extract", "normalize", "load") and s.finished_at and s.started_at}


def _drop_dataset(pipeline: Any) -> None:
    """The dataset and dlt's ``<dataset>_staging`` (merge) dataset."""
    with pipeline.sql_client() as client:
        if client.has_dataset():
            client.drop_dataset()
        with client.with_staging_dataset():
            if client.has_dataset():
                client.drop_dataset()


def run_import(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in its own process: the historical import, then (optionally) a no-change sync."""
    import dlt

    from dlt_sources.common import TokenSet
    from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination
    from dlt_sources.square import destination_known_versions, square_source, square_tokens

    if spec.get("tuned", True):
        apply_performance_defaults()  # the product's dlt settings (pos_sync.warehouse.pipelines)

    work = Path(spec["work"])
    os.environ["DLT_DATA_DIR"] = str(work / "dlt-data")
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    if spec["destination"] == "duckdb":
        # the product's destination (DuckDB memory_limit); the naive baseline keeps DuckDB's default
        destination: Any = (duckdb_destination(str(work / "warehouse.duckdb")) if spec.get("tuned", True)
                             else dlt.destinations.duckdb(str(work / "warehouse.duckdb")))
    else:
        destination = dlt.destinations.postgres(_with_password(spec["destination"]))
    pipeline = dlt.pipeline(pipeline_name=spec["name"], destination=destination, dataset_name=spec["dataset"],
                            pipelines_dir=str(work / "pipelines"))
    if spec["destination"] != "duckdb":
        # a server outlives the run: start from an empty dataset, or dlt restores the last run's state
        # from the destination and the "import" loads nothing
        _drop_dataset(pipeline)
    begin = datetime.fromisoformat(spec["begin"])
    now = datetime.fromisoformat(spec["now"])

    def source() -> Any:
        tokens = square_tokens(TokenSet(spec["access_token"]), base_url=spec["base_url"])
        return square_source(tokens, spec["location_ids"], base_url=spec["base_url"],
                             account_id=spec["account_id"], initial_start=begin, now=now,
                             known_versions=destination_known_versions(pipeline, account_id=spec["account_id"]))

    out: dict[str, Any] = {"loader_file_format": spec["format"], "window_days": spec["window_days"], "runs": {}}
    for group in spec["groups"]:
        t0 = time.perf_counter()
        info = pipeline.run(source().with_resources(*group), loader_file_format=spec["format"])
        seconds = time.perf_counter() - t0
        info.raise_on_failed_jobs()
        name = "+".join(group)
        rows = {t: n for t, n in pipeline.last_trace.last_normalize_info.row_counts.items() if not t.startswith("_dlt")}
        record: dict[str, Any] = {"seconds": round(seconds, 2), "steps": _steps(pipeline)}
        if spec["format"] != "csv":  # dlt 1.31 reports cells, not rows, for csv (dlt#4461)
            record["rows_all_tables"] = sum(rows.values())
        if len(group) == 1:
            objects = _count(pipeline, group[0])
            record |= {"objects": objects, "objects_per_s": round(objects / seconds)}
        record["process_peak_rss_mib_so_far"] = peak_rss_mib()  # monotonic: growth = this run's
        record["normalize_workers_peak_rss_mib_so_far"] = peak_rss_mib(resource.RUSAGE_CHILDREN)  # largest one
        out["runs"][name] = record
    if spec.get("no_change"):
        t0 = time.perf_counter()
        info = pipeline.run(source(), loader_file_format=spec["format"])
        seconds = time.perf_counter() - t0
        info.raise_on_failed_jobs()
        written = {t: n for t, n in pipeline.last_trace.last_normalize_info.row_counts.items()
                   if not t.startswith("_dlt") and n}
        out["no_change_sync"] = {"seconds": round(seconds, 2), "steps": _steps(pipeline), "rows_written": written}
    if spec["destination"] != "duckdb":
        _drop_dataset(pipeline)
    out["peak_rss_mib"] = peak_rss_mib()
    out["normalize_workers_peak_rss_mib"] = peak_rss_mib(resource.RUSAGE_CHILDREN)
    out["dlt_settings"] = {k: os.environ.get(k) for k in ("SOURCES__DATA_WRITER__DISABLE_COMPRESSION",
                                                          "SOURCES__DATA_WRITER__FILE_MAX_ITEMS", "NORMALIZE__WORKERS")}
    return out


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.square_import", "--child", json.dumps(spec)],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"import child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- parent
def _ratio(rate: float | None, ceiling: float | None) -> float | None:
    return round(rate / ceiling, 3) if rate and ceiling else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    work_root = Path(tempfile.mkdtemp(prefix="pos-bench-import-"))
    try:
        with sandbox_process(seed=args.seed, start=args.start, days=args.days, scale=args.scale) as sandbox:
            return _measure(args, sandbox, work_root)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)


def _serving(sandbox: Sandbox, begin: datetime, now: datetime) -> dict[str, Any]:
    """The simple client over both streams, with the connector's own page sizes (orders: 1000 since
    #18; ``SimpleClient``'s default is the 500 of the earlier runs)."""
    from dlt_sources.square.settings import ORDERS_PAGE_SIZE, PAYMENTS_PAGE_SIZE

    client = SimpleClient(sandbox)
    try:
        return {"payments": client.payments(begin, now, page_size=PAYMENTS_PAGE_SIZE).summary(),
                "orders": client.orders(begin, now, page_size=ORDERS_PAGE_SIZE).summary()}
    finally:
        client.close()


def _mean_ceiling(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per stream: the records/s of the two measurements and their mean (the yardstick)."""
    return {stream: {"records_per_s_before": before[stream]["records_per_s"],
                     "records_per_s_after": after[stream]["records_per_s"],
                     "records_per_s": round((before[stream]["records_per_s"] + after[stream]["records_per_s"]) / 2)}
            for stream in before}


def _measure(args: argparse.Namespace, sandbox: Sandbox, work_root: Path) -> dict[str, Any]:
    client = SimpleClient(sandbox)
    try:
        t0 = time.perf_counter()
        warm = client.warm_up()
        warm_s = time.perf_counter() - t0
    finally:
        client.close()
    begin, now = window_bounds(args.start, args.days, sandbox)
    ceiling_before = _serving(sandbox, begin, now)
    load_before = round(os.getloadavg()[0], 2)
    base = {"base_url": sandbox.base_url, "access_token": sandbox.square["access_token"],
            "location_ids": sandbox.location_ids, "account_id": sandbox.square["account_id"],
            "begin": begin.isoformat(), "now": now.isoformat(), "dataset": "raw_square"}

    def spec(name: str, destination: str, fmt: str, groups: Any, no_change: bool, days: int | None) -> dict[str, Any]:
        """``days``: import only what was updated in the first ``days`` days (a shorter window, same world)."""
        work = work_root / name
        work.mkdir()
        until = now if days is None or days >= args.days else begin + timedelta(days=days + 1)
        # a server's dataset is the benchmark's own (dropped before and after); DuckDB files are in `work`
        dataset = "raw_square" if destination == "duckdb" else "bench_square_import"
        return {**base, "dataset": dataset, "name": f"bench_{name}", "work": str(work), "destination": destination,
                "format": fmt,
                "groups": [list(g) for g in groups], "no_change": no_change, "now": until.isoformat(),
                "window_days": days if days is not None and days < args.days else args.days,
                "tuned": name != "baseline"}  # the naive baseline keeps dlt's defaults

    imports: dict[str, Any] = {}
    imports["duckdb_parquet"] = _child(spec("duckdb_parquet", "duckdb", "parquet", RESOURCE_GROUPS, True, None))
    if args.baseline_days > 0:
        imports["baseline_duckdb_insert_values"] = _child(
            spec("baseline", "duckdb", "insert_values", RESOURCE_GROUPS[:2], False, args.baseline_days))
    if args.postgres:
        imports["postgres_csv"] = _child(
            spec("postgres_csv", args.postgres, "csv", RESOURCE_GROUPS, True, args.postgres_days))

    # the machine is shared: the ceiling is measured again after the imports, and each import is
    # compared with the mean of the two (both reported)
    ceiling_after = _serving(sandbox, begin, now)
    ceiling = _mean_ceiling(ceiling_before, ceiling_after)

    def rate(name: str, stream: str) -> float | None:
        return imports.get(name, {}).get("runs", {}).get(stream, {}).get("objects_per_s")

    comparison: dict[str, Any] = {}
    for stream, goal in (("payments", 0.75), ("orders", 0.6)):
        ceil = ceiling[stream]["records_per_s"]
        comparison[stream] = {
            "ceiling_records_per_s": ceil,
            "goal_fraction_of_ceiling": goal,
            **{f"{name}_objects_per_s": rate(name, stream) for name in imports},
            **{f"{name}_fraction_of_ceiling": _ratio(rate(name, stream), ceil) for name in imports},
        }
        for when in ("before", "after"):
            comparison[stream][f"duckdb_parquet_fraction_of_ceiling_{when}"] = _ratio(
                rate("duckdb_parquet", stream), ceiling[stream][f"records_per_s_{when}"])
        product = _ratio(rate("duckdb_parquet", stream), ceil)
        comparison[stream]["goal_met"] = product is not None and product >= goal
        if "baseline_duckdb_insert_values" in imports:
            comparison[stream]["speedup_vs_baseline"] = _ratio(rate("duckdb_parquet", stream),
                                                               rate("baseline_duckdb_insert_values", stream))
    no_change = imports["duckdb_parquet"].get("no_change_sync", {})
    return {
        "index_warm_up": {"seconds_total": round(warm_s, 2), "seconds_per_location": warm},
        "serving_ceiling": ceiling_before,
        "serving_ceiling_after_imports": ceiling_after,
        "serving_ceiling_mean": ceiling,
        "load_average_1m": {"after_ceiling": load_before, "after_imports": round(os.getloadavg()[0], 2)},
        "imports": imports,
        "comparison": comparison,
        "goals": {
            "payments_ge_75pct_of_ceiling": comparison["payments"]["goal_met"],
            "orders_ge_60pct_of_ceiling": comparison["orders"]["goal_met"],
            "import_peak_rss_lt_1gib": imports["duckdb_parquet"]["peak_rss_mib"] < 1024,
            # the normalize workers are processes of their own; at most 2 run beside the import process
            "import_peak_rss_incl_workers_upper_bound_mib": round(
                imports["duckdb_parquet"]["peak_rss_mib"]
                + 2 * imports["duckdb_parquet"].get("normalize_workers_peak_rss_mib", 0), 1),
            "no_change_sync_lt_2s": bool(no_change) and no_change["seconds"] < 2.0,
        },
        "emulator_peak_rss_mib": sandbox.peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="chain", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument("--postgres", default=None, help="also import into this PostgreSQL database (csv/COPY)")
    parser.add_argument("--baseline-days", type=int, default=3,
                        help="window of the insert_values baseline (0 = none; default 3: the baseline needed "
                             "~9 GiB of RAM for 7 days of the chain world's orders)")
    parser.add_argument("--postgres-days", type=int, default=None,
                        help="window of the PostgreSQL import (default: the whole window)")
    parser.add_argument("--out", default=None, help="also write the JSON document to this file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_import(json.loads(args.child))))
        return
    env = machine()
    started = time.perf_counter()
    result = run(args)
    document = {
        "benchmark": "square_import",
        "world": {"seed": args.seed, "start": args.start.isoformat(), "days": args.days, "scale": args.scale,
                  "provider": "square", "locations": 5 if args.scale == "chain" else 2},
        "machine": env,
        **result,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }
    emit(document, args.out)


if __name__ == "__main__":
    main()
