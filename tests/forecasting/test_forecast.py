"""``transforms.forecast``: closed days are missing (not zero demand), the weekday pattern and
holidays are used, the open probability follows past closures, and the backtest scores it."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pandas as pd

from transforms.forecast import (
    LocationHistory,
    backtest_pairs,
    backtest_scores,
    history_frame,
    naive_forecast,
    reference_forecast,
    score,
)

START = date(2026, 1, 5)  # a Monday
WEEKLY = (10, 9, 9, 10, 12, 16, 14)


def history(days: int = 70, closed_first_sundays: bool = True, seed: int = 3,
            holidays: tuple[date, ...] = ()) -> LocationHistory:
    rng = random.Random(seed)
    all_days = [START + timedelta(days=i) for i in range(days)]
    closed = {d for d in all_days if closed_first_sundays and d.weekday() == 6 and d.day <= 7} | set(holidays)
    rows = [{"business_date": d, "product_key": p, "units": round(WEEKLY[d.weekday()] * share * rng.uniform(0.7, 1.3))}
            for d in all_days if d not in closed for p, share in (("barra", 1.0), ("croissant", 0.5))]
    horizon = all_days + [all_days[-1] + timedelta(days=i) for i in range(1, 15)]
    return LocationHistory(history_frame(rows, all_days, [d for d in all_days if d not in closed]),
                           pd.Series([d not in closed for d in all_days], index=pd.to_datetime(all_days)),
                           pd.Series([d in holidays for d in horizon], index=pd.to_datetime(horizon)))


def test_closed_days_are_missing_not_zero() -> None:
    h = history()
    first_sunday = pd.Timestamp(date(2026, 2, 1))
    assert h.units.loc[first_sunday].isna().all()  # closed: NaN
    assert (h.units.loc[pd.Timestamp(date(2026, 2, 8))] > 0).all()  # an open Sunday
    fc = reference_forecast(h, h.units.index[-1])
    sundays = fc[pd.to_datetime(fc["forecast_date"]).dt.weekday == 6]
    saturdays = fc[pd.to_datetime(fc["forecast_date"]).dt.weekday == 5]
    # the Sunday level is that of the open Sundays (~14 barras), not dragged down by closed ones
    assert sundays[sundays["product_key"] == "barra"]["units"].min() > 11
    assert saturdays[saturdays["product_key"] == "barra"]["units"].min() > 13  # the busiest day
    assert set(fc["horizon_days"]) == set(range(1, 15)) and len(fc) == 28
    # 2 of the last 8 Sundays were closed (first Sundays): the shop opens there 3 times in 4
    assert set(sundays["open_probability"]) == {0.75} and set(saturdays["open_probability"]) == {1.0}


def test_holiday_factor_and_holiday_closures() -> None:
    rng = random.Random(1)
    h = history(days=63, closed_first_sundays=False)
    busy = [pd.Timestamp(date(2026, 1, 14)), pd.Timestamp(date(2026, 2, 11))]  # two busy open holidays
    for day in busy:
        h.units.loc[day] = h.units.loc[day] * 2 + rng.random()
    horizon_day = pd.Timestamp(h.units.index[-1] + pd.Timedelta(days=2))
    h.is_holiday.loc[busy + [horizon_day]] = True
    fc = reference_forecast(h, h.units.index[-1])
    on_holiday = fc[pd.to_datetime(fc["forecast_date"]) == horizon_day]
    same_weekday = fc[pd.to_datetime(fc["forecast_date"]) == horizon_day + pd.Timedelta(days=7)]
    ratio = on_holiday["units"].sum() / same_weekday["units"].sum()
    assert 1.6 < ratio < 2.4 and set(on_holiday["is_holiday"]) == {True}
    assert set(on_holiday["open_probability"]) == {1.0}  # it opened on the past holidays

    closes = history(days=63, closed_first_sundays=False, holidays=(date(2026, 1, 14), date(2026, 2, 11)))
    closes.is_holiday.loc[horizon_day] = True
    fc = reference_forecast(closes, closes.units.index[-1])
    assert set(fc[pd.to_datetime(fc["forecast_date"]) == horizon_day]["open_probability"]) == {0.0}


def test_naive_is_same_weekday_last_week_and_zero_after_a_closed_day() -> None:
    h = history()
    origin = pd.Timestamp(date(2026, 2, 7))  # a Saturday: the next day is the 2nd Sunday, last week's was closed
    naive = naive_forecast(h, origin)
    day1 = naive[naive["horizon_days"] == 1].set_index("product_key")["units"]
    assert (day1 == 0).all()
    day2 = naive[naive["horizon_days"] == 2].set_index("product_key")["units"]
    assert (day2 == h.units.loc[pd.Timestamp(date(2026, 2, 2))]).all()  # Monday 9 ← Monday 2
    day9 = naive[naive["horizon_days"] == 9].set_index("product_key")["units"]
    assert (day9 == h.units.loc[pd.Timestamp(date(2026, 2, 2))]).all()  # two weeks back for days 8–14


def test_backtest_scores_on_open_days_and_reference_beats_naive() -> None:
    h = history(days=84)
    pairs = backtest_pairs(h)
    assert not pairs.empty and pairs["origin"].nunique() >= 9
    closed = {d.date() for d in h.units.index[h.units.isna().all(axis=1)]}
    assert not set(pairs["forecast_date"]) & closed  # closed days are not scored as zero demand
    scores = backtest_scores(pairs)
    assert scores["reference_points"] == scores["naive_points"] == len(pairs)
    assert scores["reference_wape"] < scores["naive_wape"]
    assert abs(scores["reference_bias"]) < 0.1
    s = score(np.array([2.0, 0.0, 5.0]), np.array([1.0, 1.0, 4.0]))
    assert (s.wape, s.bias, s.points) == (0.5, 1 / 6, 3) and abs(s.mape - (1 + 1 + 0.25) / 3) < 1e-12
