"""Benchmark: bakery world generation and the ledger at a given scale.

Measures generating every sale of the window (all locations, all days) and computing the
ground-truth ledger, with peak RSS, against a naive baseline measured in the same run: the
same generation with no LRU bound (every location-day kept in memory), which is what
"build the world up front" costs.

    python -m bench.world_generation --scale chain --days 90 [--json] [--out bench/results/world_generation.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date

from bench._common import emit, machine


def _run(scale: str, days: int, unbounded: bool) -> dict[str, float]:
    from pos_sandbox import world as world_module
    from pos_sandbox.ledger import compute_truth

    if unbounded:
        world_module.DAY_CACHE_SIZE = 10**9
    t0 = time.perf_counter()
    world = world_module.World(seed=42, start=date(2026, 1, 1), days=days, scale=scale)
    sales = 0
    lines = 0
    for loc in world.locations:
        for day in world.local_day_range():
            day_sales = world.sales_for_day(loc.location_id, day)
            sales += len(day_sales)
            lines += sum(len(s.lines) for s in day_sales)
    t_gen = time.perf_counter() - t0
    t1 = time.perf_counter()
    truth = compute_truth(world)
    t_truth = time.perf_counter() - t1
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "sales": sales,
        "lines": lines,
        "generate_s": round(t_gen, 2),
        "sales_per_s": round(sales / t_gen),
        "truth_s": round(t_truth, 2),
        "daily_rows": len(truth["daily"]),
        "peak_rss_mib": round(peak_mib),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="chain")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--mode", choices=("lazy", "unbounded", "both"), default="both")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", default=None, help="also write the JSON document to this file")
    args = parser.parse_args()
    if args.mode != "both":
        print(json.dumps(_run(args.scale, args.days, args.mode == "unbounded")))
        return
    results = {}
    for mode in ("lazy", "unbounded"):  # separate processes so peak RSS is per mode
        out = subprocess.run([sys.executable, "-m", "bench.world_generation", "--scale", args.scale,
                              "--days", str(args.days), "--mode", mode], capture_output=True, text=True, check=True)
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    doc = {"benchmark": "world_generation", "scale": args.scale, "days": args.days, "machine": machine(),
           "results": results}
    emit(doc, args.out)


if __name__ == "__main__":
    main()
