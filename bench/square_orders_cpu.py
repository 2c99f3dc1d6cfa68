"""Benchmark: the client's CPU of the Square orders import, this tree against another checkout.

One ``pos-sync sandbox serve`` process (``--scale`` × ``--days``, seed 42); its indexes are warmed
up first. Then ``--repeat`` rounds, each: the **serving ceiling** of orders (the simple client of
``bench._common`` with the connector's page size), then the orders import (``orders`` alone, with
every child table, into a fresh DuckDB file with the product's dlt settings) once with the code of
``--compare-with`` (the baseline) and once with this tree, the order alternating between rounds.
Each import runs in a process of its own, by path, with its checkout first on ``PYTHONPATH``; it
runs dlt's steps one by one (``extract``, ``normalize``, ``load``) and records each step's wall
seconds and the **CPU seconds of the import process** (every thread) spent in it: the extract's
CPU is the client's own work on the pages (HTTP, JSON, Arrow, parquet), which the emulator's
process competes with on 2 cores. The 1-minute load average is recorded at each import's start
and end.

``--pseudonymise``: the source hashes the personal fields (``transforms.pii.Pseudonymizer`` with a
fixed key), as the service's syncs do unless a tenant keeps clear storage.

``--dump DIR``: each import also writes every raw table of its warehouse as sorted text into DIR
(see :func:`dump_raw`), and the document says whether the baseline's and this tree's dumps of every
round are byte-identical.

    python -m bench.square_orders_cpu --compare-with /path/to/main [--scale chain --days 14 --repeat 3] \\
        [--resources orders] [--pseudonymise] [--dump DIR] --out bench/results/square_import_json_arrow.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child runs with the baseline's code on its path: imports in functions
    from bench._extract_ab import Rounds

SEED = 42
START = date(2026, 1, 5)
ROOT = Path(__file__).resolve().parent.parent
KEY_COLUMNS = ("_dlt_id", "_dlt_parent_id", "_dlt_root_id")
PII_KEY = b"bench-square-orders-cpu"  # --pseudonymise: a fixed key, so both codes' pseudonyms compare
# tables whose column order is deterministic: orders come from one cursor chain, in order; the
# other streams' pages arrive in an order of their own (locations paged at once), and so do the
# columns a page brings first
ORDERED = "orders"


# ---------------------------------------------------------------------- child: one import
def _cpu() -> float:
    return time.process_time()  # every thread of this process


def import_once(spec: dict[str, Any]) -> dict[str, Any]:
    import dlt

    from dlt_sources.common import TokenSet, tuning
    from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination
    from dlt_sources.square import destination_known_versions, square_source, square_tokens

    apply_performance_defaults()
    work = Path(spec["work"])
    os.environ["DLT_DATA_DIR"] = str(work / "dlt-data")
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    pipeline = dlt.pipeline(pipeline_name="bench_orders_cpu", destination=duckdb_destination(str(work / "w.duckdb")),
                            dataset_name="raw_square", pipelines_dir=str(work / "pipelines"))
    tokens = square_tokens(TokenSet(spec["access_token"]), base_url=spec["base_url"])
    pseudonymize = None
    if spec.get("pseudonymise"):  # the service's default: personal fields hashed in the source
        from transforms.pii import Pseudonymizer

        pseudonymize = Pseudonymizer(PII_KEY)
    source = square_source(tokens, spec["location_ids"], base_url=spec["base_url"], account_id=spec["account_id"],
                           initial_start=datetime.fromisoformat(spec["begin"]),
                           now=datetime.fromisoformat(spec["now"]),
                           known_versions=destination_known_versions(pipeline, account_id=spec["account_id"]),
                           pseudonymize=pseudonymize)
    steps: dict[str, dict[str, float]] = {}
    # the product's run_pipeline holds the DuckDB file open for the run (dlt_sources.common.tuning.
    # duckdb_kept_open, since branch squarefast; a checkout without it loads as dlt does): its close,
    # the last checkpoint, is timed with the load
    kept = getattr(tuning, "duckdb_kept_open", None)
    with ExitStack() as held:
        if kept is not None:
            held.enter_context(kept(pipeline))
        for step in ("extract", "normalize", "load"):
            t0, c0 = time.perf_counter(), _cpu()
            if step == "extract":
                pipeline.extract(source.with_resources(*spec["resources"]), loader_file_format="parquet")
            elif step == "normalize":
                pipeline.normalize()
            else:
                pipeline.load().raise_on_failed_jobs()
                held.close()
            steps[step] = {"seconds": round(time.perf_counter() - t0, 3), "cpu_seconds": round(_cpu() - c0, 3)}
    with pipeline.sql_client() as client:
        orders = int(client.execute_sql("select count(*) from orders")[0][0])
    out: dict[str, Any] = {"orders": orders, "steps": steps}
    if spec.get("dump"):
        text = dump_raw(pipeline)
        Path(spec["dump"]).write_text(text)
        out["dump_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return out


def _value(v: Any) -> str:
    if isinstance(v, Decimal):
        return f"D{v}"  # with its scale
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return json.dumps(v, default=str, ensure_ascii=False)


def dump_raw(pipeline: Any, ordered: tuple[str, ...] = (ORDERED,), root_key: str = "id") -> str:
    """Every table of the dataset as text: per table, dlt's column schema (name, data type,
    nullable, precision, scale, timezone, key hints) and the warehouse's columns with DuckDB's
    types — in their order for the tables starting with ``ordered`` (the orders tables), by name for
    the others (see :data:`ORDERED`) —
    then every row sorted. The random ``_dlt_id`` /
    ``_dlt_parent_id`` / ``_dlt_root_id`` become a stable key (the root's ``id``, then each
    level's table and ``_dlt_list_idx``; ``root_key``: the root's column, e.g. Toast's ``guid``),
    ``_dlt_load_id`` is left out (the load's time)."""
    schema = pipeline.default_schema
    lines: list[str] = []
    keys: dict[str, str] = {}  # _dlt_id -> stable key
    names = sorted((t for t in schema.data_table_names() if not t.startswith("_dlt")),
                   key=lambda t: (t.count("__"), t))
    with pipeline.sql_client() as client:
        present = {r[0] for r in client.execute_sql(
            "select table_name from information_schema.tables where table_schema = %s", client.dataset_name)}
        for table in names:
            if table not in present:
                lines.append(f"## {table}: not in the warehouse")
                continue
            hints = schema.tables[table]
            lines.append(f"## {table} parent={hints.get('parent')} write={hints.get('write_disposition')}")
            columns = hints["columns"]
            for name in (columns if table.startswith(ordered) else sorted(columns)):
                col = columns[name]
                lines.append("   schema " + json.dumps({k: col.get(k) for k in (
                    "name", "data_type", "nullable", "precision", "scale", "timezone", "primary_key", "row_key",
                    "parent_key", "root_key", "unique", "dedup_sort")}, default=str))
            cols = client.execute_sql(
                "select column_name, data_type from information_schema.columns where table_schema = %s "
                "and table_name = %s order by ordinal_position", client.dataset_name, table)
            lines.append("   columns " + json.dumps(cols if table.startswith(ordered) else sorted(cols)))
            names_ = [c[0] for c in cols]
            rows = client.execute_sql(f"select * from {client.make_qualified_table_name(table)}")
            out_rows = []
            for row in rows:
                record = dict(zip(names_, row, strict=True))
                if "_dlt_parent_id" in record:
                    key = f"{keys[record['_dlt_parent_id']]}/{table}[{record['_dlt_list_idx']}]"
                else:
                    key = f"{table}:{record.get(root_key)}"
                keys[record["_dlt_id"]] = key
                record.pop("_dlt_load_id", None)
                for k in KEY_COLUMNS:
                    if k in record:
                        record[k] = keys.get(record[k], "?") if k != "_dlt_id" else key
                items = record.items() if table.startswith(ordered) else sorted(record.items())
                out_rows.append(key + "\t" + "\t".join(f"{k}={_value(v)}" for k, v in items))
            lines.append(f"   rows {len(out_rows)}")
            lines.extend(sorted(out_rows))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- parent
def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench._common import SimpleClient, machine, sandbox_process, window_bounds
    from bench._extract_ab import ab_rounds
    from dlt_sources.square.settings import ORDERS_PAGE_SIZE

    with sandbox_process(seed=SEED, start=START, days=args.days, scale=args.scale) as sandbox:
        client = SimpleClient(sandbox)
        try:
            t0 = time.perf_counter()
            client.warm_up()
            warm = round(time.perf_counter() - t0, 2)
            begin, now = window_bounds(START, args.days, sandbox)
            base = {"base_url": sandbox.base_url, "access_token": sandbox.square["access_token"],
                    "location_ids": sandbox.location_ids, "account_id": sandbox.square["account_id"],
                    "begin": begin.isoformat(), "now": now.isoformat(), "resources": args.resources.split(","),
                    "pseudonymise": args.pseudonymise}
            rounds = ab_rounds(args, script=__file__, label="square_orders_cpu", base=base,
                               ceiling=lambda: client.orders(begin, now, page_size=ORDERS_PAGE_SIZE).summary())
        finally:
            client.close()
    return _document(args, rounds, warm, machine())


def _document(args: argparse.Namespace, rounds: Rounds, warm: float, host: dict[str, Any]) -> dict[str, Any]:
    from bench._extract_ab import dumps_identical, product_over_baseline, stage_medians

    orders = rounds.runs["product"][0]["orders"]
    ceiling = statistics.median(c["records_per_s"] for c in rounds.ceilings)
    summary: dict[str, Any] = {}
    for name in rounds.codes:
        medians = stage_medians(rounds, name)
        extract = medians["extract_seconds_median"]
        summary[name] = medians | {
            "extract_cpu_ms_per_1000_orders": round(1000 * medians["extract_cpu_seconds_median"] / orders * 1000, 1),
            "extract_orders_per_s": round(orders / extract),
            "extract_fraction_of_ceiling": round(orders / extract / ceiling, 3),
            "extract_seconds_over_serving_seconds": round(extract / (orders / ceiling), 3),
        }
    return {
        "benchmark": "square_orders_cpu",
        "machine": host,
        "world": {"seed": SEED, "scale": args.scale, "start": START.isoformat(), "days": args.days},
        "resources": args.resources.split(","),
        "pseudonymised": args.pseudonymise,
        "baseline_code": str(rounds.codes["baseline"]),
        "index_warm_up_seconds": warm,
        "orders": orders,
        "serving_ceiling_per_round": rounds.ceilings,
        "serving_ceiling_orders_per_s_median": ceiling,
        "runs": rounds.runs,
        "summary": summary,
        "product_over_baseline": product_over_baseline(summary),
        **dumps_identical(rounds),
    }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:  # one first sync, with the baseline's or this code on the path
        print(json.dumps(import_once(json.loads(sys.argv[2]))))
        return
    from bench._extract_ab import ab_main, ab_parser

    parser = ab_parser(__doc__)
    parser.add_argument("--resources", default="orders", help="comma-separated resources to import (default orders)")
    ab_main(parser, run)


if __name__ == "__main__":
    main()
