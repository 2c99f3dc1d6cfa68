"""The reference forecast over the warehouse: read the demand history and calendar of some
locations, forecast the next 14 days (``transforms.forecast``), backtest, and replace their rows
of ``pos.demand_forecast`` — one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

import pandas as pd

from pos_sync.settings import Settings, load_settings
from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA
from transforms.demand import DEMAND_FORECAST, holiday
from transforms.forecast import (
    HORIZON,
    METHOD,
    LocationHistory,
    backtest_pairs,
    backtest_scores,
    history_frame,
    horizon_days,
    reference_forecast,
)


class Scope(NamedTuple):
    tenant_id: str
    pos_provider: str
    location_id: str


@dataclass
class ForecastResult:
    locations: int = 0
    rows_written: int = 0
    scores: dict[str, Any] = field(default_factory=dict)
    per_location: list[dict[str, Any]] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        return {"method": METHOD, "horizon_days": HORIZON, "locations": self.locations,
                "rows_written": self.rows_written,
                **{f"backtest_{k}": v for k, v in self.scores.items() if v is not None}}


def load_history(wh: Warehouse, scope: Scope) -> tuple[LocationHistory, date, dict[str, Any]] | None:
    """The location's history (units of sale day, NaN on closed days) and its last calendar day."""
    args = tuple(scope)
    cal = wh.query(f"select business_date, is_open, is_holiday, region, pos_account_id from {SCHEMA}.demand_calendar "
                   "where tenant_id = %s and pos_provider = %s and location_id = %s order by business_date", args)
    while cal and not cal[-1]["is_open"]:  # after the last trading day: no origin there
        cal.pop()
    if not cal:
        return None
    rows = wh.query(f"select business_date, product_key, is_mapped, units_sold as units from {SCHEMA}.demand_history "
                    "where tenant_id = %s and pos_provider = %s and location_id = %s", args)
    loc = wh.query(f"select country from {SCHEMA}.pos_locations where tenant_id = %s and pos_provider = %s "
                   "and location_id = %s", args)
    country = loc[0]["country"] if loc else None
    region = cal[-1]["region"]
    days = [r["business_date"] for r in cal]
    origin = days[-1]
    mapped = {r["product_key"]: bool(r["is_mapped"]) for r in rows}
    units = history_frame(rows, days, [r["business_date"] for r in cal if r["is_open"]])
    future = horizon_days(origin)
    is_holiday = pd.Series([bool(r["is_holiday"]) for r in cal] + [holiday(country, region, d) is not None
                                                                     for d in future],
                           index=pd.to_datetime(days + future))
    is_open = pd.Series([bool(r["is_open"]) for r in cal], index=pd.to_datetime(days))
    return LocationHistory(units, is_open, is_holiday), origin, {"mapped": mapped,
                                                                  "account": cal[-1]["pos_account_id"]}


def run_forecast(settings: Settings | None, scopes: list[Scope] | None, now: datetime) -> ForecastResult:
    """Forecast ``scopes`` (every location with a demand calendar when None) and store it."""
    wh = Warehouse(settings or load_settings())
    result = ForecastResult()
    pairs = []
    try:
        wh.ensure_schema()
        if scopes is None:
            scopes = [Scope(r["tenant_id"], r["pos_provider"], r["location_id"]) for r in wh.query(
                f"select distinct tenant_id, pos_provider, location_id from {SCHEMA}.demand_calendar "
                "order by 1, 2, 3")]
        out: list[dict[str, Any]] = []
        for scope in scopes:
            loaded = load_history(wh, scope)
            if loaded is None:
                continue
            h, origin, info = loaded
            fc = reference_forecast(h, pd.Timestamp(origin))
            p = backtest_pairs(h)
            pairs.append(p)
            result.per_location.append({**scope._asdict(), "origin": origin.isoformat(),
                                        "closed_days": int((~h.is_open).sum()), **backtest_scores(p)})
            out += [{**scope._asdict(), "pos_account_id": info["account"], "product_key": r.product_key,
                     "is_mapped": info["mapped"].get(r.product_key, False), "forecast_date": r.forecast_date,
                     "horizon_days": int(r.horizon_days), "origin_date": origin, "units": round(float(r.units), 4),
                     "open_probability": round(float(r.open_probability), 4), "is_holiday": bool(r.is_holiday),
                     "method": METHOD, "generated_at": now} for r in fc.itertuples()]
            result.locations += 1
        with wh.transaction():
            wh.delete_by_keys(DEMAND_FORECAST, ["tenant_id", "pos_provider", "location_id"], [tuple(s) for s in scopes])
            result.rows_written = wh.insert_rows(DEMAND_FORECAST, out)
    finally:
        wh.close()
    result.scores = backtest_scores(pd.concat(pairs, ignore_index=True)) if pairs else {}
    return result
