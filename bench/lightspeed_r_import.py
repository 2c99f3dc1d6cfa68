"""Benchmark: 90 days of one shop of the ``chain`` world's Lightspeed R-Series account imported
through the real dlt source, under the leaky bucket.

One run, against one sandbox process (the R-Series emulator only, its own bucket settings):

1. **index warm-up** of the emulator (the account's first request builds its sale index), apart;
2. **import** with ``dlt_sources.lightspeed_r.lightspeed_r_source`` into DuckDB (parquet): every
   stream of shop 1, one ``pipeline.run``; records/s (sales + items + the small lists), the
   requests sent, the 429s the emulator answered (goal: **0**) and the highest bucket level the
   emulator saw (must stay at or under the bucket's size);
3. **bucket ceiling** of the same run: the bucket drains ``drip`` units per second and a page
   holds 100 sales, so no client can read sales faster than ``drip × 100`` per second once the
   initial bucket is spent; the import's sales/s is given as a ratio of it;
4. **naive baseline** in the same run: the same sales pages read as fast as possible by a client
   that does not look at the bucket headers and only waits out ``Retry-After`` after each 429
   (what a connector without pacing does), over the first ``--baseline-days`` of the window; its
   429 count is what the pacing avoids;
5. a **no-change sync** right after the import: requests (one per stream) and rows loaded (0).

    python -m bench.lightspeed_r_import [--days 90] [--bucket 60 --drip 1] \\
        [--out bench/results/lightspeed_r_import.json]

The bucket is R-Series' documented one by default (60 units draining 1 per second; later sizes
are larger and grow with registers, UNCONFIRMED): the import is then bound by the drip (about
twelve minutes for 90 days of a chain shop), which is what the pacing has to get right — as close
to the ceiling as possible without a single 429. With a fast drip (``--drip 10``) the client is
slower than the bucket and the pacing never engages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench._common import ROOT, emit, machine, peak_rss_mib

SEED = 42
START = date(2026, 1, 5)
SHOP = "1"


def _serve(args: argparse.Namespace) -> int:
    """Child mode: the sandbox with the R-Series emulator and the given bucket, manifest on stdout."""
    from pos_sandbox.server import SandboxServer
    from pos_sandbox.world import World

    world = World(SEED, START, days=args.days, scale="chain", providers=["lightspeed_r"])
    server = SandboxServer(world, bucket=(args.bucket, args.drip), access_token_ttl_seconds=24 * 3600).start()
    print(json.dumps(server.manifest()), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()
    return 0


def _stats(base: str) -> dict[str, Any]:
    return dict(httpx.get(base + "/_sandbox/lightspeed_r/stats", timeout=60).json())


def _naive(base: str, token: str, account: str, until: str) -> dict[str, Any]:
    """Sales pages as fast as possible; after a 429 only its Retry-After is waited out."""
    url: str | None = base + f"/API/V3/Account/{account}/Sale.json"
    params: dict[str, str] | None = {
        "shopID": SHOP, "sort": "timeStamp", "limit": "100", "timeStamp": f"<,{until}",
        "load_relations": json.dumps(["SaleLines", "SalePayments", "SalePayments.PaymentType", "Customer"])}
    records = requests = rejected = 0
    started = time.monotonic()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        while url:
            response = client.get(url, params=params)
            requests += 1
            if response.status_code == 429:
                rejected += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            body = response.json()
            page = body.get("Sale", [])
            records += 1 if isinstance(page, dict) else len(page)
            url, params = body["@attributes"]["next"] or None, None
    seconds = time.monotonic() - started
    return {"sales": records, "requests": requests, "responses_429": rejected, "seconds": round(seconds, 2),
            "sales_per_second": round(records / seconds, 1) if seconds else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--bucket", type=int, default=60, help="bucket size in units (default 60)")
    parser.add_argument("--drip", type=float, default=1.0, help="units drained per second (default 1)")
    parser.add_argument("--baseline-days", type=int, default=20)
    parser.add_argument("--out")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return _serve(args)

    import dlt

    from dlt_sources.common import TokenSet
    from dlt_sources.lightspeed_r import lightspeed_r_source, lightspeed_r_tokens

    load_at_start = os.getloadavg()[0]
    proc = subprocess.Popen([sys.executable, "-m", "bench.lightspeed_r_import", "--serve", "--days", str(args.days),
                             "--bucket", str(args.bucket), "--drip", str(args.drip)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    workdir = Path(tempfile.mkdtemp(prefix="pos-bench-lsr-"))
    try:
        assert proc.stdout is not None
        manifest = json.loads(proc.stdout.readline())
        cred = next(a for a in manifest["accounts"] if a["provider"] == "lightspeed_r")
        base, account = cred["base_url"], cred["account_id"]

        started = time.monotonic()  # 1. the emulator builds the account's sale index on first use
        warm = httpx.get(base + f"/API/V3/Account/{account}/Sale.json", params={"limit": "1", "shopID": SHOP},
                         headers={"Authorization": f"Bearer {cred['access_token']}"}, timeout=600)
        warm.raise_for_status()
        warm_seconds = time.monotonic() - started
        time.sleep(args.bucket / args.drip + 1)  # an empty bucket for the import

        # 2. the import
        tokens = lightspeed_r_tokens(TokenSet(cred["access_token"], cred["refresh_token"]), base_url=base,
                                     client_id=cred["client_id"], client_secret=cred["client_secret"])
        pipeline = dlt.pipeline(pipeline_name="lsr_bench", destination=dlt.destinations.duckdb(str(workdir / "w.duckdb")),
                                dataset_name="raw_lightspeed_r", pipelines_dir=str(workdir / "pipelines"))
        before = _stats(base)
        started = time.monotonic()
        source = lightspeed_r_source(tokens, account, [SHOP], base_url=base)
        info = pipeline.run(source, loader_file_format="parquet")
        info.raise_on_failed_jobs()
        seconds = time.monotonic() - started
        after = _stats(base)
        counts = {t: n for t, n in pipeline.last_trace.last_normalize_info.row_counts.items()
                  if not t.startswith("_dlt")}
        top_level = sum(n for t, n in counts.items() if "__" not in t)
        sales = counts.get("sales", 0)
        steps = {s.step: round((s.finished_at - s.started_at).total_seconds(), 2)
                 for s in pipeline.last_trace.steps if s.finished_at and s.started_at}
        ceiling = args.drip * 100
        import_doc = {
            "seconds": round(seconds, 2), "steps": steps, "rows": counts, "records": top_level,
            "records_per_second": round(top_level / seconds, 1), "sales_per_second": round(sales / seconds, 1),
            "requests": after["requests"] - before["requests"],
            "responses_429": after["rate_limited"] - before["rate_limited"],
            "max_bucket_level": after["max_bucket_level"], "bucket_size": after["bucket_size"],
            "bucket_never_overrun": after["max_bucket_level"] <= after["bucket_size"],
        }

        # 5. a sync without changes
        started = time.monotonic()
        quiet_before = _stats(base)
        info = pipeline.run(lightspeed_r_source(tokens, account, [SHOP], base_url=base), loader_file_format="parquet")
        quiet = {"seconds": round(time.monotonic() - started, 2),
                 "requests": _stats(base)["requests"] - quiet_before["requests"],
                 "rows_loaded": sum(n for t, n in pipeline.last_trace.last_normalize_info.row_counts.items()
                                    if not t.startswith("_dlt"))}

        # 4. the naive baseline (its own first days), from an empty bucket
        time.sleep(args.bucket / args.drip + 1)
        until = (START + timedelta(days=args.baseline_days)).isoformat() + "T00:00:00+00:00"
        naive = _naive(base, tokens.get(), account, until)
        document = {
            "benchmark": "lightspeed_r_import",
            "world": {"seed": SEED, "start": START.isoformat(), "days": args.days, "scale": "chain",
                      "provider": "lightspeed_r", "shop": SHOP},
            "machine": machine() | {"load_average_1m_at_start": round(load_at_start, 2)},
            "bucket": {"size": args.bucket, "drip_units_per_second": args.drip, "get_cost": 1},
            "index_warm_up_seconds": round(warm_seconds, 2),
            "import": import_doc,
            "bucket_ceiling_sales_per_second": ceiling,
            "import_vs_ceiling": round(import_doc["sales_per_second"] / ceiling, 3),
            "no_change_sync": quiet,
            "naive_baseline": naive | {"days": args.baseline_days,
                                       "vs_ceiling": round(naive["sales_per_second"] / ceiling, 3)},
            "peak_rss_mib_import": round(peak_rss_mib(), 1),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        }
        emit(document, args.out)
        return 0 if import_doc["responses_429"] == 0 and import_doc["bucket_never_overrun"] else 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
