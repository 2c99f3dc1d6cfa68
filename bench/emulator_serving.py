"""Benchmark: what the Square emulator serves — the ceiling every connector benchmark is compared with.

The sandbox runs as ``pos-sync sandbox serve`` in its own process (the ``chain`` world's Square
merchant: 5 locations); a simple client in this process (httpx, keep-alive, JSON parsed only to
follow the cursor) measures:

1. **index warm-up**: the first request per location builds that location's indexes (reported
   apart: a connector pays it once per emulator process, never per page);
2. **latency of a 100-payment page**: every page of (3), plus the first page of the default
   ListPayments query (``location_id`` + ``limit=100``) repeated ``--repeat`` times;
3. **records/s served** when the client pages through *everything* with the connector's own
   queries and page sizes (ListPayments per location, ``updated_at`` range, ``UPDATED_AT ASC``,
   100 per page; SearchOrders over all locations, ``updated_at`` filter, 500 per page);
4. peak RSS of the emulator process and of the client.

    python -m bench.emulator_serving [--scale chain] [--days 90] [--out bench/results/emulator_serving.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from typing import Any

from bench._common import (
    Sandbox,
    SimpleClient,
    emit,
    machine,
    peak_rss_mib,
    percentile,
    sandbox_process,
    window_bounds,
)

SEED = 42
START = date(2026, 1, 5)


def default_page_latency(client: SimpleClient, sandbox: Sandbox, repeat: int) -> dict[str, Any]:
    lat: list[float] = []
    for i in range(repeat):
        loc = sandbox.location_ids[i % len(sandbox.location_ids)]
        t0 = time.perf_counter()
        r = client.http.get("/v2/payments", params={"location_id": loc, "limit": 100})
        lat.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        assert len(r.json()["payments"]) == 100
    return {"requests": repeat, "median_ms": round(statistics.median(lat), 2), "p90_ms": round(percentile(lat, 0.9), 2)}


def measure(sandbox: Sandbox, start: date, days: int, repeat: int) -> dict[str, Any]:
    client = SimpleClient(sandbox)
    try:
        t0 = time.perf_counter()
        warm = client.warm_up()
        warm_total = time.perf_counter() - t0
        begin, end = window_bounds(start, days, sandbox)
        payments = client.payments(begin, end)
        orders = client.orders(begin, end)
        default_page = default_page_latency(client, sandbox, repeat)
    finally:
        client.close()
    return {
        "index_warm_up": {"seconds_total": round(warm_total, 2), "seconds_per_location": warm},
        "payment_page_of_100": {
            "connector_query_pages": payments.summary()["page_latency_ms"],
            "default_query_first_page": default_page,
        },
        "payments": payments.summary(),
        "orders": orders.summary(),
        "emulator_peak_rss_mib": sandbox.peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="chain", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument("--repeat", type=int, default=200, help="repetitions of the default first page")
    parser.add_argument("--out", default=None, help="also write the JSON document to this file")
    args = parser.parse_args()
    env = machine()
    started = time.perf_counter()
    with sandbox_process(seed=args.seed, start=args.start, days=args.days, scale=args.scale) as sandbox:
        result = measure(sandbox, args.start, args.days, args.repeat)
    document = {
        "benchmark": "emulator_serving",
        "world": {"seed": args.seed, "start": args.start.isoformat(), "days": args.days, "scale": args.scale,
                  "provider": "square", "locations": len(sandbox.location_ids)},
        "machine": env,
        **result,
        "client_peak_rss_mib": peak_rss_mib(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average_1m_at_end": round(__import__("os").getloadavg()[0], 2),
    }
    emit(document, args.out)


if __name__ == "__main__":
    main()
