"""Historical import of one Toast or Lightspeed account through its real dlt source, against its
emulator's serving ceiling measured in the same run (``bench.toast_import``,
``bench.lightspeed_import``; Square's is ``bench.square_import``).

One ``pos-sync sandbox serve`` process with the provider's emulator; then, in this order:

1. **serving ceiling**: the simple client of ``bench._ceilings`` pages the transactional stream
   (Toast ``ordersBulk``, Lightspeed ``/sales``) with the connector's queries and page sizes;
2. **import** in a subprocess of its own (its peak RSS is the import's): the transactional
   resource alone (``orders`` / ``sales``, with their child tables), then the other resources,
   each ``pipeline.run`` timed (extract + normalize + load) into DuckDB with parquet (the
   product's load path and dlt settings); objects/s against the ceiling (goal ≥ 0.5);
3. **no-change sync**: every resource once more on the loaded account (goal < 2 s).

The machine's load average is recorded at the start and the end: on a shared machine compare
the ratio, not the absolute rates.
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
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bench._ceilings import account, lightspeed_sales, toast_orders
from bench._common import ROOT, emit, machine, peak_rss_mib, sandbox_process, window_bounds

SEED = 42
START = date(2026, 1, 5)
STREAM = {"toast": "orders", "lightspeed": "sales"}
REST = {"toast": ("restaurants", "menus"), "lightspeed": ("products", "outlets", "registers", "users",
                                                          "payment_types", "taxes", "product_categories")}


# ---------------------------------------------------------------------- child: the import
def _source(spec: dict[str, Any], pipeline: Any) -> Any:
    from dlt_sources.common import TokenSet

    acct, begin, now = spec["account"], datetime.fromisoformat(spec["begin"]), datetime.fromisoformat(spec["now"])
    if spec["provider"] == "toast":
        from dlt_sources.toast import destination_known_versions, toast_source, toast_tokens
        tokens = toast_tokens(acct["client_id"], acct["client_secret"], base_url=acct["base_url"])
        return toast_source(tokens, acct["location_ids"], base_url=acct["base_url"], account_id=acct["account_id"],
                            initial_start=begin, now=now,
                            known_versions=destination_known_versions(pipeline, account_id=acct["account_id"]))
    from dlt_sources.lightspeed import destination_known_versions as ls_known
    from dlt_sources.lightspeed import lightspeed_source, lightspeed_tokens
    tokens = lightspeed_tokens(TokenSet(acct["access_token"]), base_url=acct["base_url"], client_id=None,
                               client_secret=None)
    return lightspeed_source(tokens, acct["account_id"], [], base_url=acct["base_url"], account_id=acct["account_id"],
                             now=now, known_versions=ls_known(pipeline, account_id=acct["account_id"]))


def run_import(spec: dict[str, Any]) -> dict[str, Any]:
    import dlt

    from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination

    apply_performance_defaults()
    work = Path(spec["work"])
    os.environ["DLT_DATA_DIR"] = str(work / "dlt-data")
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    pipeline = dlt.pipeline(pipeline_name=f"bench_{spec['provider']}", pipelines_dir=str(work / "pipelines"),
                            destination=duckdb_destination(str(work / "warehouse.duckdb")),
                            dataset_name=f"raw_{spec['provider']}")
    stream = STREAM[spec["provider"]]
    out: dict[str, Any] = {"runs": {}}
    source = _source(spec, pipeline)
    for group in ((stream,), tuple(r for r in source.resources if r != stream)):
        t0 = time.perf_counter()
        info = pipeline.run(_source(spec, pipeline).with_resources(*group), loader_file_format="parquet")
        seconds = time.perf_counter() - t0
        info.raise_on_failed_jobs()
        trace = pipeline.last_trace
        rows = {t: n for t, n in trace.last_normalize_info.row_counts.items() if not t.startswith("_dlt")}
        record: dict[str, Any] = {
            "seconds": round(seconds, 2),
            "steps": {s.step: round((s.finished_at - s.started_at).total_seconds(), 2) for s in trace.steps
                      if s.step in ("extract", "normalize", "load") and s.finished_at and s.started_at},
            "rows_all_tables": sum(rows.values())}
        if group == (stream,):
            with pipeline.sql_client() as client:
                objects = int(client.execute_sql(f"select count(*) from {stream}")[0][0])
            record |= {"objects": objects, "objects_per_s": round(objects / seconds), "tables": rows}
        record["process_peak_rss_mib_so_far"] = peak_rss_mib()
        out["runs"]["+".join(group)] = record
    t0 = time.perf_counter()
    info = pipeline.run(_source(spec, pipeline), loader_file_format="parquet")
    info.raise_on_failed_jobs()
    written = {t: n for t, n in pipeline.last_trace.last_normalize_info.row_counts.items()
               if not t.startswith("_dlt") and n}
    out["no_change_sync"] = {"seconds": round(time.perf_counter() - t0, 2), "rows_written": written}
    out["peak_rss_mib"] = peak_rss_mib()
    out["normalize_workers_peak_rss_mib"] = peak_rss_mib(resource.RUSAGE_CHILDREN)
    return out


# ---------------------------------------------------------------------- parent
def measure(provider: str, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"pos-bench-{provider}-"))
    try:
        with sandbox_process(seed=args.seed, start=args.start, days=args.days, scale=args.scale,
                             providers=provider) as sandbox:
            begin, now = window_bounds(args.start, args.days, sandbox)
            served = toast_orders(sandbox, begin, now) if provider == "toast" else lightspeed_sales(sandbox)
            ceiling = served.summary()
            spec = {"provider": provider, "account": account(sandbox, provider), "work": str(work),
                    "begin": begin.isoformat(), "now": now.isoformat()}
            done = subprocess.run([sys.executable, "-m", "bench._provider_import", "--child", json.dumps(spec)],
                                  cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"import child failed:\n{done.stderr[-4000:]}")
            imported = json.loads(done.stdout.strip().splitlines()[-1])
            emulator_rss = sandbox.peak_rss_mib()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stream = STREAM[provider]
    rate = imported["runs"][stream]["objects_per_s"]
    fraction = round(rate / ceiling["records_per_s"], 3) if ceiling["records_per_s"] else None
    return {
        "serving_ceiling": {stream: ceiling},
        "import": imported,
        "comparison": {stream: {"ceiling_records_per_s": ceiling["records_per_s"], "import_objects_per_s": rate,
                                "fraction_of_ceiling": fraction, "goal_fraction_of_ceiling": 0.5}},
        "goals": {f"{stream}_ge_50pct_of_ceiling": fraction is not None and fraction >= 0.5,
                  "import_peak_rss_lt_1gib": imported["peak_rss_mib"] < 1024,
                  "no_change_sync_lt_2s": imported["no_change_sync"]["seconds"] < 2.0},
        "emulator_peak_rss_mib": emulator_rss,
    }


def main(provider: str | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="chain", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument("--out", default=None, help="also write the JSON document to this file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_import(json.loads(args.child))))
        return
    assert provider in STREAM
    env = machine()
    started = time.perf_counter()
    result = measure(provider, args)
    emit({"benchmark": f"{provider}_import",
          "world": {"seed": args.seed, "start": args.start.isoformat(), "days": args.days, "scale": args.scale,
                    "provider": provider},
          "machine": env, **result, "wall_seconds": round(time.perf_counter() - started, 1),
          "load_average_1m_at_end": round(os.getloadavg()[0], 2)}, args.out)


if __name__ == "__main__":
    main()
