"""Benchmark: a first sync's extract of the Toast account, this tree against another checkout
(#18), with the emulator's serving ceiling of ``ordersBulk`` measured in the same run.

One ``pos-sync sandbox serve`` process (``--scale`` × ``--days``, seed 42, start 2026-01-05, Toast
only); its indexes are warmed up by one paging of ``ordersBulk`` first. Then ``--repeat`` rounds,
each: the **serving ceiling** (``bench._ceilings.toast_orders``: a sequential httpx client paging
``ordersBulk`` by day windows with the connector's page size), then a first sync — **every
resource** (orders with their child tables, restaurants, menus, employees, devices; from the start
of the world, as ``bench.toast_import`` does) into a fresh DuckDB file with the product's dlt
settings — once with the code of ``--compare-with`` (the baseline) and once with this tree, the
order alternating between rounds. Each import runs in a process of its own with its checkout first
on ``PYTHONPATH`` and runs dlt's steps one by one (``extract``, ``normalize``, ``load``), recording
each step's wall seconds and the CPU seconds of the import process (every thread). The 1-minute
load average is recorded at each import's and ceiling's start and end.

``--pseudonymise``: personal fields hashed in the source (``transforms.pii.Pseudonymizer``, a fixed
key), as the service's syncs do unless a tenant keeps clear storage. ``--dump DIR``: every raw table
of each import written as sorted text (``bench.square_orders_cpu.dump_raw``: dlt's column schema,
DuckDB's columns and types in their order, every row sorted, the random ``_dlt`` ids replaced by
stable keys from each root's ``guid``) and the document says whether the two codes' dumps of every
round are byte-identical — and whether they are once each table's columns are sorted by name
(:func:`columns_sorted_digest`): the order of a table's columns is the order in which dlt first saw
them, which follows the order the parallel ``ordersBulk`` windows' pages arrive in, so two imports
of the same code may differ there (``baseline_dumps_byte_identical_across_rounds`` tells).
``--sequential-windows`` pages one window at a time (both codes): that order is then fixed, and the
two codes' dumps compare byte for byte as they are.

    python -m bench.toast_extract_cpu --compare-with /path/to/main [--scale chain --days 14 --repeat 3] \\
        [--pseudonymise] [--sequential-windows] [--dump DIR] --out bench/results/toast_extract_cpu.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child runs with the baseline's code on its path: imports in functions
    from bench._extract_ab import Rounds

SEED = 42
START = date(2026, 1, 5)
ROOT = Path(__file__).resolve().parent.parent
PII_KEY = b"bench-toast-extract-cpu"  # --pseudonymise: a fixed key, so both codes' pseudonyms compare


# ---------------------------------------------------------------------- child: one first sync
def import_once(spec: dict[str, Any]) -> dict[str, Any]:
    import dlt

    from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination
    from dlt_sources.toast import destination_known_versions, toast_source, toast_tokens

    apply_performance_defaults()
    if spec.get("sequential_windows"):  # both codes' source modules read the constant at call time
        import dlt_sources.toast.source as toast_module

        toast_module.ORDERS_WINDOW_CONCURRENCY = 1  # type: ignore[misc]
    work = Path(spec["work"])
    os.environ["DLT_DATA_DIR"] = str(work / "dlt-data")
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    pipeline = dlt.pipeline(pipeline_name="bench_toast_extract", destination=duckdb_destination(str(work / "w.duckdb")),
                            dataset_name="raw_toast", pipelines_dir=str(work / "pipelines"))
    acct = spec["account"]
    tokens = toast_tokens(acct["client_id"], acct["client_secret"], base_url=acct["base_url"])
    pseudonymize = None
    if spec.get("pseudonymise"):
        from transforms.pii import Pseudonymizer

        pseudonymize = Pseudonymizer(PII_KEY)
    source = toast_source(tokens, acct["location_ids"], base_url=acct["base_url"], account_id=acct["account_id"],
                          initial_start=datetime.fromisoformat(spec["begin"]), now=datetime.fromisoformat(spec["now"]),
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
        orders = int(client.execute_sql("select count(*) from orders")[0][0])
    out: dict[str, Any] = {"orders": orders, "steps": steps}
    if spec.get("dump"):
        import importlib.util

        # this tree's dump (the baseline's checkout may have an older bench package first on the path)
        found = importlib.util.spec_from_file_location("_dump", ROOT / "bench" / "square_orders_cpu.py")
        assert found is not None and found.loader is not None
        module = importlib.util.module_from_spec(found)
        found.loader.exec_module(module)
        # every table's columns in the warehouse's order, the rows keyed by their guid
        text = module.dump_raw(pipeline, ordered=("",), root_key="guid")
        Path(spec["dump"]).write_text(text)
        out["dump_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return out


# ---------------------------------------------------------------------- parent
def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench._ceilings import account, toast_orders
    from bench._common import machine, sandbox_process, window_bounds
    from bench._extract_ab import ab_rounds

    sorted_identical: list[bool] = []
    baseline_digests: list[str] = []

    def compare_sorted(dumps: dict[str, str]) -> None:
        digests = {name: columns_sorted_digest(Path(path)) for name, path in dumps.items()}
        sorted_identical.append(digests["baseline"] == digests["product"])
        baseline_digests.append(hashlib.sha256(Path(dumps["baseline"]).read_bytes()).hexdigest())

    host = machine()
    with sandbox_process(seed=SEED, start=START, days=args.days, scale=args.scale,
                         providers="toast") as sandbox:
        begin, now = window_bounds(START, args.days, sandbox)
        t0 = time.perf_counter()
        toast_orders(sandbox, begin, now)  # builds the emulator's indexes
        warm = round(time.perf_counter() - t0, 2)
        base = {"account": account(sandbox, "toast"), "pseudonymise": args.pseudonymise,
                "sequential_windows": args.sequential_windows,
                "begin": begin.isoformat(), "now": now.isoformat()}
        rounds = ab_rounds(args, script=__file__, label="toast_extract_cpu", base=base,
                           ceiling=lambda: toast_orders(sandbox, begin, now).summary(), on_dumps=compare_sorted)
    document = _document(args, rounds, warm, host)
    if args.dump:
        document["raw_dumps_identical_with_columns_sorted_per_round"] = sorted_identical
        document["baseline_dumps_byte_identical_across_rounds"] = len(set(baseline_digests)) == 1
    return document


def columns_sorted_digest(dump: Path) -> str:
    """SHA-256 of a ``dump_raw`` text with each table's schema and column lines and each row's
    fields sorted (the rows sorted again): the dump without the order of the columns."""
    out: list[str] = []
    block: list[str] = []
    with dump.open() as lines:
        for line in lines:
            line = line.rstrip("\n")
            if line.startswith("## "):
                out.extend(sorted(block))
                block = []
                out.append(line)
            elif line.startswith("   columns "):
                block.append("   columns " + json.dumps(sorted(json.loads(line[len("   columns "):]))))
            elif line.startswith(("   schema ", "   rows ")):
                block.append(line)
            else:
                key, *fields = line.split("\t")
                block.append(key + "\t" + "\t".join(sorted(fields)))
    out.extend(sorted(block))
    return hashlib.sha256("\n".join(out).encode()).hexdigest()


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
        "benchmark": "toast_extract_cpu",
        "machine": host,
        "world": {"seed": SEED, "scale": args.scale, "start": START.isoformat(), "days": args.days},
        "pseudonymised": args.pseudonymise,
        "sequential_windows": args.sequential_windows,
        "baseline_code": str(rounds.codes["baseline"]),
        "index_warm_up_seconds": warm,
        "orders": rounds.runs["product"][0]["orders"],
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

    parser = ab_parser(__doc__)
    parser.add_argument("--sequential-windows", action="store_true",
                        help="page one ordersBulk window at a time (ORDERS_WINDOW_CONCURRENCY 1): the pages' "
                             "order, hence dlt's column order, is then the same in every import")
    ab_main(parser, run)


if __name__ == "__main__":
    main()
