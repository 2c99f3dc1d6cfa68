"""Benchmark: the reference demand forecast (``transforms.forecast``) against the naive "same
weekday last week", rolling-origin backtest over a 90-day sandbox world.

The demand history is taken from the world's own sales with the feed's definition (units of
completed sales per location × business date × bakery product — the world's true mapping —,
voided lines left out, refunds not netted: ``transforms/demand.py``), the calendar from the
product's code (``transforms.demand``: holidays of the location's community from its postal code,
closed = no sale on a trading day), so this measures the forecast, not a sync: that the synced
feed equals this definition is what ``tests/pos_dagster/test_forecasting_dagster.py`` checks.

    python -m bench.forecast [--seed 42] [--days 90] [--start 2026-01-05] [--scale chain] [--out bench/results/forecast.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from bench._common import RESULTS, machine
from pos_sandbox.world import World
from transforms.demand import holiday, region_of
from transforms.forecast import (
    HORIZON,
    METHOD,
    LocationHistory,
    backtest_pairs,
    backtest_scores,
    history_frame,
)


def location_histories(world: World) -> dict[str, tuple[Any, LocationHistory]]:
    out = {}
    for loc in world.locations:
        units: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
        sold_days: set[date] = set()
        for sale in world.iter_sales(loc.location_id):
            if sale.state != "completed":
                continue
            sold_days.add(sale.local_date)
            for line in sale.lines:
                if not line.voided:
                    units[(sale.local_date, line.product_id)] += line.quantity
        if not sold_days:
            continue
        days = [min(sold_days) + timedelta(days=i) for i in range((max(sold_days) - min(sold_days)).days + 1)]
        rows = [{"business_date": d, "product_key": p, "units": float(q)} for (d, p), q in units.items()]
        frame = history_frame(rows, days, sold_days)
        region = region_of(loc.country, loc.timezone, loc.postal_code)
        horizon = days + [days[-1] + timedelta(days=i) for i in range(1, HORIZON + 1)]
        is_holiday = pd.Series([holiday(loc.country, region, d) is not None for d in horizon],
                               index=pd.to_datetime(horizon))
        is_open = pd.Series([d in sold_days for d in days], index=pd.to_datetime(days))
        out[loc.location_id] = (loc, LocationHistory(frame, is_open, is_holiday))
    return out


def run(seed: int, days: int, start: date, scale: str) -> dict[str, Any]:
    started = time.monotonic()
    world = World(seed, start, days=days, scale=scale)
    histories = location_histories(world)
    built = time.monotonic() - started
    per_location, pairs = [], []
    for loc, h in histories.values():
        p = backtest_pairs(h)
        pairs.append(p)
        closed = int((~h.is_open).sum())
        per_location.append({"location": loc.name, "provider": loc.provider, "timezone": loc.timezone,
                             "region": region_of(loc.country, loc.timezone, loc.postal_code),
                             "closed_days": closed, "products": int(h.units.shape[1]), **backtest_scores(p)})
    pooled = backtest_scores(pd.concat(pairs, ignore_index=True))
    return {
        "benchmark": "forecast", "method": METHOD, "horizon_days": HORIZON,
        "world": {"seed": seed, "start": start.isoformat(), "days": days, "scale": scale,
                  "locations": len(world.locations)},
        "pooled": pooled, "per_location": per_location,
        "reference_beats_naive": pooled["reference_wape"] is not None and pooled["naive_wape"] is not None
        and pooled["reference_wape"] < pooled["naive_wape"],
        "seconds": {"history": round(built, 2), "backtest": round(time.monotonic() - started - built, 2)},
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 5))
    parser.add_argument("--scale", default="chain")
    parser.add_argument("--out", type=Path, default=RESULTS / "forecast.json")
    args = parser.parse_args()
    result = run(args.seed, args.days, args.start, args.scale)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["pooled"]))


if __name__ == "__main__":
    main()
