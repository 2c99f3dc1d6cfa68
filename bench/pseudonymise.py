"""Benchmark: what pseudonymising personal data in the source costs on the Square payments import
(the Arrow path of ``bench/square_import.py``'s payments figure).

Against one ``pos-sync sandbox serve`` process (seed 42, the ``chain`` world, ``--days`` days):
the payments resource imported into DuckDB (parquet) with the product's dlt settings, without and
with ``pseudonymize`` (alternating, ``--rounds`` each, fresh pipeline each time); the time spent
inside the pseudonymisation step is measured apart (wall time of its calls). Then the step alone
on a synthetic worst case: ``--rows`` payments where every personal column is filled (customer id,
buyer e-mail, card holder name, a 4-field billing address) with ``--distinct`` customers.

    python -m bench.pseudonymise [--days 7] [--rounds 2] [--out bench/results/pseudonymise.json]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bench._common import emit, machine, sandbox_process, window_bounds

SEED = 42
START = date(2026, 1, 5)
KEY = b"bench-pii-key"


class _Timed:
    """Wraps the step's rules: counts the seconds spent in them."""

    seconds = 0.0

    def __init__(self, rules: Any) -> None:
        self.rules = rules

    def __call__(self, item: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.rules(item)
        finally:
            _Timed.seconds += time.perf_counter() - t0


def _import(base_url: str, access_token: str, location_ids: list[str], begin: datetime, now: datetime,
            pseudonymize: Any) -> dict[str, Any]:
    import dlt

    import dlt_sources.common.pseudonymise as step
    from dlt_sources.common import TokenSet
    from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination
    from dlt_sources.square import square_source, square_tokens

    apply_performance_defaults()
    work = Path(tempfile.mkdtemp(prefix="pos-bench-pii-"))
    pipeline = dlt.pipeline(pipeline_name="pii_bench", destination=duckdb_destination(str(work / "w.duckdb")),
                            dataset_name="raw_square", pipelines_dir=str(work / "pipelines"))
    original = step._Rules
    _Timed.seconds = 0.0
    step._Rules = lambda fields, fn: _Timed(original(fields, fn))  # type: ignore[assignment,misc]
    try:
        source = square_source(square_tokens(TokenSet(access_token), base_url=base_url), location_ids,
                               base_url=base_url, account_id="bench", initial_start=begin, now=now,
                               pseudonymize=pseudonymize)
        t0 = time.perf_counter()
        pipeline.run(source.with_resources("payments"), loader_file_format="parquet").raise_on_failed_jobs()
        seconds = time.perf_counter() - t0
    finally:
        step._Rules = original  # type: ignore[misc]
    with pipeline.sql_client() as client:
        objects = int(client.execute_sql("select count(*) from payments")[0][0])
        hashed = int(client.execute_sql("select count(*) from payments where customer_id like 'h:%'")[0][0])
    return {"seconds": round(seconds, 3), "objects": objects, "objects_per_s": round(objects / seconds),
            "step_seconds": round(_Timed.seconds, 4), "hashed_customer_ids": hashed}


def _synthetic(rows: int, distinct: int) -> dict[str, Any]:
    from dlt_sources.common.arrow import to_arrow
    from dlt_sources.common.pseudonymise import pseudonymise_table
    from dlt_sources.square.settings import PII_FIELDS
    from transforms.pii import Pseudonymizer

    payments = [{"id": f"P{i}", "customer_id": f"CUST{i % distinct:06d}",
                 "buyer_email_address": f"c{i % distinct}@mail.example",
                 "billing_address": {"address_line_1": f"Calle {i % distinct}", "locality": "Madrid",
                                     "postal_code": f"28{i % 100:03d}", "first_name": f"N{i % distinct}"},
                 "card_details": {"card": {"cardholder_name": f"HOLDER {i % distinct}", "last_4": "1111"}},
                 "amount_money": {"amount": 250, "currency": "EUR"}} for i in range(rows)]
    table = to_arrow(payments)
    timings = []
    for _ in range(5):
        p = Pseudonymizer(KEY)  # a cold memo each time: every distinct value hashed
        t0 = time.perf_counter()
        pseudonymise_table(table, PII_FIELDS["payments"], p)
        timings.append(time.perf_counter() - t0)
    best = min(timings)
    return {"rows": rows, "distinct_customers": distinct, "pii_columns": 8, "seconds_best_of_5": round(best, 4),
            "us_per_row": round(best / rows * 1e6, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--distinct", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from transforms.pii import Pseudonymizer

    result: dict[str, Any] = {"benchmark": "pseudonymise", "machine": machine(),
                              "world": {"seed": SEED, "start": START.isoformat(), "days": args.days, "scale": "chain"}}
    with sandbox_process(seed=SEED, start=START, days=args.days, scale="chain") as sandbox:
        acct = sandbox.square
        begin, now = window_bounds(START, args.days, sandbox)
        runs: dict[str, list[dict[str, Any]]] = {"clear": [], "pseudonymised": []}
        _import(sandbox.base_url, acct["access_token"], sandbox.location_ids, begin, now, None)  # warm-up
        for _ in range(args.rounds):
            runs["clear"].append(_import(sandbox.base_url, acct["access_token"], sandbox.location_ids, begin, now,
                                         None))
            runs["pseudonymised"].append(_import(sandbox.base_url, acct["access_token"], sandbox.location_ids, begin,
                                                 now, Pseudonymizer(KEY)))
    summary = {}
    for name, items in runs.items():
        summary[name] = {"objects": items[0]["objects"],
                         "median_seconds": statistics.median(r["seconds"] for r in items),
                         "median_objects_per_s": statistics.median(r["objects_per_s"] for r in items),
                         "median_step_seconds": statistics.median(r["step_seconds"] for r in items),
                         "hashed_customer_ids": items[0]["hashed_customer_ids"]}
    p = summary["pseudonymised"]
    p["step_us_per_payment"] = round(p["median_step_seconds"] / p["objects"] * 1e6, 2)
    p["step_share_of_import"] = round(p["median_step_seconds"] / p["median_seconds"], 4)
    result["payments_import"] = {"runs": runs, "summary": summary}
    result["synthetic_worst_case"] = _synthetic(args.rows, args.distinct)
    emit(result, str(args.out) if args.out else None)


if __name__ == "__main__":
    main()
