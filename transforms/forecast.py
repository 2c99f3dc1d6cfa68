"""The reference demand forecast: a transparent weekday-seasonal baseline, and its backtest.

Per location, for every product it sold recently, the units of each of the next ``horizon`` days:

    units(t) = level × weekday_index[weekday(t)] × (holiday_factor if t is a holiday else 1)

* ``level``: the product's mean units over the location's last :data:`LEVEL_DAYS` open, non-holiday
  days, each divided by its weekday's index (a moving average with the weekly pattern taken out);
* ``weekday_index``: the location's total units per weekday over the last :data:`INDEX_DAYS` open,
  non-holiday days, relative to their mean (pooled over products: stable where one product's
  units are few) — 1 for a weekday never seen open;
* ``holiday_factor``: the mean ratio of the location's total on past open holidays to the mean of
  the :data:`INDEX_WEEKS` same weekdays before each (1 without any), clipped to [0.3, 3];
* **closures**: closed days (``is_open`` false) are missing, never zero demand — they are in no
  level, index or factor. ``units`` is the demand *if the shop opens*; ``open_probability`` is the
  share of comparable past days it opened (past holidays for a holiday, else the last
  :data:`INDEX_WEEKS` same weekdays), so a shop closed every first Sunday shows 0.5 there.

The naive benchmark is "same weekday last week": the units of ``t − 7`` (``t − 14`` for days 8–14
ahead, the last week known at the origin), 0 when that day was closed or the product not sold.

Backtest (rolling origin): origins every :data:`STEP` days from ``MIN_TRAIN`` days into the
history; at each, both forecasts for the next ``horizon`` days (as far as the history goes),
scored on the days the location actually opened: WAPE = Σ|F−A| / ΣA, MAPE = mean |F−A|/A over
A > 0, bias = Σ(F−A) / ΣA. Units are floats (demand estimates): money never goes through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

LEVEL_DAYS = 28
INDEX_DAYS = 56
INDEX_WEEKS = 8
HORIZON = 14
MIN_TRAIN = 14
STEP = 7
METHOD = "weekday_seasonal_ma_v1"


@dataclass
class LocationHistory:
    """One location's history: ``units`` (index: every day from its first to the origin; columns:
    products; NaN on closed days), ``is_open`` and ``is_holiday`` (the latter also over the horizon)."""

    units: pd.DataFrame
    is_open: pd.Series
    is_holiday: pd.Series


def history_frame(rows: Iterable[dict], days: Iterable[date], open_days: Iterable[date]) -> pd.DataFrame:
    """Dense day × product units from ``(business_date, product_key, units)`` rows: 0 where an open
    day did not sell the product, NaN on closed days."""
    days = sorted(days)
    index = pd.DatetimeIndex(pd.to_datetime(days))
    frame = pd.DataFrame(list(rows), columns=["business_date", "product_key", "units"])
    if frame.empty:
        return pd.DataFrame(index=index)
    frame["business_date"] = pd.to_datetime(frame["business_date"])
    frame["units"] = frame["units"].astype(float)
    wide = frame.pivot_table(index="business_date", columns="product_key", values="units", aggfunc="sum")
    wide = wide.reindex(index).fillna(0.0)
    opened = pd.Series(index.isin(pd.to_datetime(list(open_days))), index=index)
    wide.loc[~opened.to_numpy()] = np.nan
    return wide


def _weekday_index(totals: pd.Series, normal: pd.Index) -> np.ndarray:
    recent = normal[-INDEX_DAYS:]
    out = np.ones(7)
    if len(recent) == 0:
        return out
    tot = totals.loc[recent]
    mean = tot.mean()
    if not mean > 0:
        return out
    for w, value in tot.groupby(recent.weekday).mean().items():
        out[int(w)] = value / mean if value > 0 else 1.0
    return out


def _holiday_factor(totals: pd.Series, is_open: pd.Series, is_holiday: pd.Series, normal: pd.Index) -> float:
    ratios = []
    for day in totals.index[(is_open & is_holiday).reindex(totals.index, fill_value=False).to_numpy()]:
        before = normal[(normal < day) & (normal.weekday == day.weekday())][-INDEX_WEEKS:]
        if len(before) and totals.loc[before].mean() > 0:
            ratios.append(totals.loc[day] / totals.loc[before].mean())
    return float(np.clip(np.mean(ratios), 0.3, 3.0)) if ratios else 1.0


def reference_forecast(h: LocationHistory, origin: pd.Timestamp, horizon: int = HORIZON) -> pd.DataFrame:
    """Rows ``forecast_date, horizon_days, product_key, units, open_probability, is_holiday`` for the
    ``horizon`` days after ``origin``, from the history up to ``origin`` only."""
    units = h.units.loc[:origin]
    is_open = h.is_open.reindex(units.index, fill_value=False).astype(bool)
    is_holiday = h.is_holiday.astype(bool)
    hol_hist = is_holiday.reindex(units.index, fill_value=False)
    normal = units.index[(is_open & ~hol_hist).to_numpy()]
    if len(normal) == 0 or units.shape[1] == 0:
        return pd.DataFrame(columns=["forecast_date", "horizon_days", "product_key", "units", "open_probability",
                                     "is_holiday"])
    totals = units.fillna(0.0).sum(axis=1)
    index = _weekday_index(totals, normal)
    recent = normal[-LEVEL_DAYS:]
    level = units.loc[recent].div(index[recent.weekday], axis=0).mean()
    active = level[level > 0]
    factor = _holiday_factor(totals, is_open, hol_hist, normal)
    past_holidays = units.index[hol_hist.to_numpy()]
    out = []
    for step in range(1, horizon + 1):
        day = origin + pd.Timedelta(days=step)
        holiday = bool(is_holiday.get(day, False))
        if holiday:
            p_open = float(is_open.loc[past_holidays].mean()) if len(past_holidays) else 1.0
        else:
            same = units.index[(units.index.weekday == day.weekday()) & ~hol_hist.to_numpy()][-INDEX_WEEKS:]
            p_open = float(is_open.loc[same].mean()) if len(same) else 1.0
        values = active * index[day.weekday()] * (factor if holiday else 1.0)
        out.append(pd.DataFrame({"forecast_date": day.date(), "horizon_days": step, "product_key": values.index,
                                 "units": values.to_numpy(), "open_probability": p_open, "is_holiday": holiday}))
    return pd.concat(out, ignore_index=True)


def naive_forecast(h: LocationHistory, origin: pd.Timestamp, horizon: int = HORIZON) -> pd.DataFrame:
    """Same weekday of the last week known at ``origin`` (0 where it was closed or not sold)."""
    units = h.units.loc[:origin].fillna(0.0)
    out = []
    for step in range(1, horizon + 1):
        day = origin + pd.Timedelta(days=step)
        back = day - pd.Timedelta(days=7 * ((step - 1) // 7 + 1))
        values = units.loc[back] if back in units.index else pd.Series(0.0, index=units.columns)
        out.append(pd.DataFrame({"forecast_date": day.date(), "horizon_days": step, "product_key": values.index,
                                 "units": values.to_numpy()}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


@dataclass
class Scores:
    wape: float | None
    mape: float | None
    bias: float | None
    points: int
    actual_units: float

    def as_dict(self, prefix: str = "") -> dict[str, float | int | None]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {f"{prefix}wape": r(self.wape), f"{prefix}mape": r(self.mape), f"{prefix}bias": r(self.bias),
                f"{prefix}points": self.points}


def score(forecast: np.ndarray, actual: np.ndarray) -> Scores:
    if len(actual) == 0:
        return Scores(None, None, None, 0, 0.0)
    total = float(actual.sum())
    err = forecast - actual
    positive = actual > 0
    return Scores(wape=float(np.abs(err).sum() / total) if total > 0 else None,
                  mape=float((np.abs(err[positive]) / actual[positive]).mean()) if positive.any() else None,
                  bias=float(err.sum() / total) if total > 0 else None, points=len(actual), actual_units=total)


def backtest_pairs(h: LocationHistory, horizon: int = HORIZON) -> pd.DataFrame:
    """Rolling-origin forecasts vs actuals: ``origin, forecast_date, product_key, actual, reference,
    naive`` on the days the location opened."""
    units = h.units
    if units.shape[1] == 0 or len(units.index) <= MIN_TRAIN:
        return pd.DataFrame(columns=["origin", "forecast_date", "product_key", "actual", "reference", "naive"])
    last = units.index[-1]
    frames = []
    origin = units.index[0] + pd.Timedelta(days=MIN_TRAIN - 1)
    while origin < last:
        ref = reference_forecast(h, origin, horizon)
        nai = naive_forecast(h, origin, horizon)
        days = [d for d in units.index if origin < d <= origin + pd.Timedelta(days=horizon)
                and bool(h.is_open.get(d, False))]
        actual = units.loc[days].fillna(0.0).stack().rename("actual").reset_index()
        actual.columns = ["forecast_date", "product_key", "actual"]
        actual["forecast_date"] = actual["forecast_date"].dt.date
        merged = actual.merge(ref[["forecast_date", "product_key", "units"]].rename(columns={"units": "reference"}),
                              on=["forecast_date", "product_key"], how="left")
        merged = merged.merge(nai.rename(columns={"units": "naive"})[["forecast_date", "product_key", "naive"]],
                              on=["forecast_date", "product_key"], how="left")
        merged[["reference", "naive"]] = merged[["reference", "naive"]].fillna(0.0)
        merged.insert(0, "origin", origin.date())
        frames.append(merged)
        origin += pd.Timedelta(days=STEP)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def backtest_scores(pairs: pd.DataFrame) -> dict[str, float | int | None]:
    """Reference and naive WAPE, MAPE and bias over the pooled backtest pairs."""
    if pairs.empty:
        return {**score(np.array([]), np.array([])).as_dict("reference_"),
                **score(np.array([]), np.array([])).as_dict("naive_"), "origins": 0}
    actual = pairs["actual"].to_numpy(float)
    return {**score(pairs["reference"].to_numpy(float), actual).as_dict("reference_"),
            **score(pairs["naive"].to_numpy(float), actual).as_dict("naive_"),
            "origins": int(pairs["origin"].nunique()), "actual_units": round(float(actual.sum()), 3)}


def horizon_days(origin: date, horizon: int = HORIZON) -> list[date]:
    return [origin + timedelta(days=i) for i in range(1, horizon + 1)]
