"""Benchmark: a first sync's extract of the Lightspeed X-Series account, this tree against another
checkout (#18), with the emulator's serving ceiling of ``/sales`` measured in the same run.

One ``pos-sync sandbox serve`` process (``--scale`` × ``--days``, seed 42, Lightspeed only); its
feed indexes are warmed up by one paging of ``/sales`` first. Then ``--repeat`` rounds, each: the
**serving ceiling** (``bench._ceilings.lightspeed_sales``: a sequential httpx client paging the
``/sales`` version feed with the connector's page size, each page parsed by ``httpx``'s JSON), then
a first sync — **every resource** (sales with its child tables, products, customers, outlets,
registers, users, payment types, taxes, categories) into a fresh DuckDB file with the product's dlt
settings — once with the code of ``--compare-with`` (the baseline) and once with this tree, the
order alternating between rounds. Each import runs in a process of its own with its checkout first
on ``PYTHONPATH`` and runs dlt's steps one by one (``extract``, ``normalize``, ``load``), recording
each step's wall seconds and the CPU seconds of the import process (every thread). The 1-minute
load average is recorded at each import's and ceiling's start and end.

``--pseudonymise``: personal fields hashed in the source (``transforms.pii.Pseudonymizer``, a fixed
key), as the service's syncs do unless a tenant keeps clear storage. ``--dump DIR``: every raw table
of each import written as sorted text (``bench.square_orders_cpu.dump_raw``: dlt's column schema,
DuckDB's columns and types in their order, every row sorted, the random ``_dlt`` ids replaced by
stable keys) and the document says whether the two codes' dumps of every round are byte-identical.

    python -m bench.lightspeed_extract_cpu --compare-with /path/to/main [--scale chain --days 14 --repeat 3] \\
        [--pseudonymise] [--dump DIR] --out bench/results/lightspeed_extract_cpu.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child runs with the baseline's code on its path: imports in functions
    from bench._extract_ab import Rounds

SEED = 42
START = date(2026, 1, 5)
ROOT = Path(__file__).resolve().parent.parent
PII_KEY = b"bench-lightspeed-extract-cpu"  # --pseudonymise: a fixed key, so both codes' pseudonyms compare


# ---------------------------------------------------------------------- child: one first sync
def import_once(spec: dict[str, Any]) -> dict[str, Any]:
    import dlt

    from dlt_sources.common import TokenSet
    from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination
    from dlt_sources.lightspeed import destination_known_versions, lightspeed_source, lightspeed_tokens

    apply_performance_defaults()
    work = Path(spec["work"])
    os.environ["DLT_DATA_DIR"] = str(work / "dlt-data")
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    pipeline = dlt.pipeline(pipeline_name="bench_ls_extract", destination=duckdb_destination(str(work / "w.duckdb")),
                            dataset_name="raw_lightspeed", pipelines_dir=str(work / "pipelines"))
    acct = spec["account"]
    tokens = lightspeed_tokens(TokenSet(acct["access_token"]), base_url=acct["base_url"], client_id=None,
                               client_secret=None)
    pseudonymize = None
    if spec.get("pseudonymise"):
        from transforms.pii import Pseudonymizer

        pseudonymize = Pseudonymizer(PII_KEY)
    source = lightspeed_source(tokens, acct["account_id"], [], base_url=acct["base_url"], account_id=acct["account_id"],
                               known_versions=destination_known_versions(pipeline, account_id=acct["account_id"]),
                               pseudonymize=pseudonymize)
    steps: dict[str, dict[str, float]] = {}
    for step in ("extract", "normalize", "load"):
        t0, c0 = time.perf_counter(), time.process_time()
        if step == "extract":
            pipeline.extract(source, loader_file_format="parquet")
        elif step == "normalize":
            pipeline.normalize()
        else:
            pipeline.load().raise_on_failed_jobs()
        steps[step] = {"seconds": round(time.perf_counter() - t0, 3),
                       "cpu_seconds": round(time.process_time() - c0, 3)}
    with pipeline.sql_client() as client:
        sales = int(client.execute_sql("select count(*) from sales")[0][0])
    out: dict[str, Any] = {"sales": sales, "steps": steps}
    if spec.get("dump"):
        import importlib.util

        # this tree's dump (the baseline's checkout may have an older bench package first on the path)
        found = importlib.util.spec_from_file_location("_dump", ROOT / "bench" / "square_orders_cpu.py")
        assert found is not None and found.loader is not None
        module = importlib.util.module_from_spec(found)
        found.loader.exec_module(module)
        text = module.dump_raw(pipeline, ordered=("",))  # every table's columns in the warehouse's order
        Path(spec["dump"]).write_text(text)
        out["dump_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return out


# ---------------------------------------------------------------------- parent
def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench._ceilings import account, lightspeed_sales
    from bench._common import machine, sandbox_process
    from bench._extract_ab import ab_rounds

    host = machine()
    with sandbox_process(seed=SEED, start=START, days=args.days, scale=args.scale,
                         providers="lightspeed") as sandbox:
        t0 = time.perf_counter()
        lightspeed_sales(sandbox)  # builds the emulator's feed indexes
        warm = round(time.perf_counter() - t0, 2)
        base = {"account": account(sandbox, "lightspeed"), "pseudonymise": args.pseudonymise}
        rounds = ab_rounds(args, script=__file__, label="lightspeed_extract_cpu", base=base,
                           ceiling=lambda: lightspeed_sales(sandbox).summary())
    return _document(args, rounds, warm, host)


def _document(args: argparse.Namespace, rounds: Rounds, warm: float, host: dict[str, Any]) -> dict[str, Any]:
    from bench._extract_ab import dumps_identical, product_over_baseline, stage_medians

    ceilings = rounds.ceilings
    ceiling_seconds = statistics.median(c["seconds"] for c in ceilings)
    summary: dict[str, Any] = {}
    for name in rounds.codes:
        medians = stage_medians(rounds, name)
        summary[name] = medians | {
            "extract_over_serving_seconds": round(medians["extract_seconds_median"] / ceiling_seconds, 3),
            "extract_over_serving_per_round": [
                round(x["steps"]["extract"]["seconds"] / c["seconds"], 3)
                for x, c in zip(sorted(rounds.runs[name], key=lambda x: x["round"]), ceilings, strict=True)],
        }
    return {
        "benchmark": "lightspeed_extract_cpu",
        "machine": host,
        "world": {"seed": SEED, "scale": args.scale, "start": START.isoformat(), "days": args.days},
        "pseudonymised": args.pseudonymise,
        "baseline_code": str(rounds.codes["baseline"]),
        "index_warm_up_seconds": warm,
        "sales": rounds.runs["product"][0]["sales"],
        "serving_ceiling_per_round": ceilings,
        "serving_ceiling_seconds_median": ceiling_seconds,
        "runs": rounds.runs,
        "summary": summary,
        "product_over_baseline": product_over_baseline(summary),
        **dumps_identical(rounds),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:  # one first sync, with the baseline's or this code on the path
        print(json.dumps(import_once(json.loads(sys.argv[2]))))
        return
    from bench._extract_ab import ab_main, ab_parser

    ab_main(ab_parser(__doc__), run)


if __name__ == "__main__":
    main()
