"""Forecasting downstream of a synced sandbox account, through Dagster.

A tiny Square world of 21 days from Friday 2 January 2026 (Madrid: closed on Epiphany; Las Palmas:
closed on Epiphany and the 1st and 3rd Sundays). Two syncs (the clock moved between them: new
days and late refunds) materialize ``demand/square/demand_history`` twice; then:

* the feed reconciles with the ledger per location-day (units, sale and refund counts, gross) and
  with ``daily_product_sales`` (net revenue, refunds) to the cent;
* the ledger's closed days are flagged closed (``is_open`` false, not zero-demand rows), and the
  holiday flag is on for Epiphany;
* the second build recomputed only the location-days that changed;
* ``demand_history_sensor`` turns both materializations into exactly one run request carrying
  the changed locations and date range, writes one ``pos.sales_updated`` event per tenant, and
  requests nothing on the next tick; the forecast job then writes 14 days per location × product.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_sync_support import QUIET
from support.worlds import sandbox_world

from pos_sync.warehouse.sql import Warehouse

START = date(2026, 1, 2)
DAYS = 21
SCHEMAS = Path(__file__).resolve().parents[2] / "pos_sync" / "events" / "schemas"


def wh_rows(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    wh = Warehouse()
    try:
        return wh.query(sql, params)
    finally:
        wh.close()


def demand_mats(outcome: Any) -> list[Any]:
    return [e.event_specific_data.materialization for e in outcome.result.get_asset_materialization_events()
            if e.event_specific_data.materialization.asset_key.path == ["demand", "square", "demand_history"]]


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_synced_account_to_demand_history_to_one_sensor_run_to_forecast(make_env: Any, warehouse: str) -> None:
    """One sandbox account synced twice (~25 s): the feed, then the sensor and the forecast."""
    env = sync_twice(make_env, warehouse)
    check_demand_history(env)
    check_sensor_and_forecast(env)


def sync_twice(make_env: Any, warehouse: str) -> Any:
    world = sandbox_world(10, "square", days=DAYS, start=START)
    end = world.window_end_utc
    env = make_env(warehouse, world=world, now=end - timedelta(days=3))
    first = env.sync()
    assert first.success and "demand/square/demand_history" in first.materialized
    env.set_now(end + timedelta(days=4))  # the last days, and late refunds of earlier days
    second = env.sync()
    assert second.success
    env.outcomes = [first, second]
    return env


def check_demand_history(env: Any) -> None:
    truth = env.truth()
    ledger = {(r["location_id"], r["business_date"]): r for r in truth["daily"]}
    feed = {(r["location_id"], str(r["business_date"])): r for r in wh_rows(
        "select location_id, business_date, sum(units_sold) as units, sum(gross_sales_cents) as gross, "
        "sum(net_revenue_cents) as net, sum(refund_cents) as refunds, count(*) as products "
        "from pos.demand_history group by 1, 2")}
    calendar = {(r["location_id"], str(r["business_date"])): r for r in wh_rows("select * from pos.demand_calendar")}
    daily = {(r["location_id"], str(r["business_date"])): r for r in wh_rows(
        "select location_id, business_date, sum(net_revenue) as net, sum(refund_amount) as refunds "
        "from pos.daily_product_sales group by 1, 2")}
    assert set(feed) == set(daily) and set(ledger) <= set(calendar)
    for key, row in ledger.items():
        cal = calendar[key]
        assert (cal["sales"], cal["refunds"], cal["voids"]) == (row["sales_count"], row["refund_count"],
                                                                row["void_count"]), key
        got = feed.get(key, {"units": Decimal(0), "gross": 0})
        assert Decimal(got["units"]) == Decimal(row["items_quantity"]), key
        assert int(got["gross"]) == int(Decimal(row["gross_sales"]) * 100), key
    for key, row in daily.items():  # money: exact integer cents of the canonical feed
        assert int(feed[key]["net"]) == int(row["net"] * 100) and int(feed[key]["refunds"]) == int(row["refunds"] * 100)

    closed = {(c["location_id"], c["business_date"]) for c in truth["closures"]}
    assert len(closed) == 4  # Madrid 6 Jan; Las Palmas 4, 6 and 18 Jan
    last = (START + timedelta(days=DAYS - 1)).isoformat()
    assert {k for k, c in calendar.items() if not c["is_open"] and k[1] <= last} == closed
    after = [c for k, c in calendar.items() if k[1] > last]  # the world has ended: only late refunds
    assert after and all(c["closure_reason"] == "no_sales" and c["refunds"] > 0 for c in after)
    for key in closed:
        assert calendar[key]["sales"] == 0 and key not in feed  # closed: no zero-demand rows
        assert calendar[key]["closure_reason"] == ("holiday" if key[1] == "2026-01-06" else "no_trading")
    assert all(c["is_holiday"] and c["holiday_scope"] == "national" for k, c in calendar.items()
               if k[1] == "2026-01-06")
    assert {c["region"] for c in calendar.values()} == {"MD", "CN"}  # from the postal codes

    first, second = (demand_mats(o) for o in env.outcomes)
    assert len(first) == 1 and len(second) == 1
    days_first = first[0].metadata["days_recomputed"].value
    changes = second[0].metadata["changes"].value
    days_second = second[0].metadata["days_recomputed"].value
    assert days_first > 0 and 0 < days_second < len(calendar)  # only what changed
    assert sum(c["days"] for c in changes) == days_second
    cutoff = (env.world.window_end_utc - timedelta(days=3)).date().isoformat()
    assert all(c["date_to"] >= cutoff for c in changes)
    third = env.sync()  # nothing new: no demand materialization
    assert third.success and "demand/square/demand_history" not in third.materialized
    check_remapping_restates_only_its_days(env)


def check_remapping_restates_only_its_days(env: Any) -> None:
    """The product mapping writes mapped_product_id (no canonical build): the next demand build
    rebuilds exactly the days of the remapped POS product, now under the bakery product."""
    from pos_sync.demand.build import build_demand

    item = wh_rows("select pos_item_id, count(*) as n from pos.daily_product_sales where quantity_sold > 0 "
                   "group by 1 order by 2 desc, 1 limit 1")[0]["pos_item_id"]
    days = wh_rows("select count(*) as n from pos.daily_product_sales where pos_item_id = %s", (item,))[0]["n"]
    before = wh_rows("select sum(units_sold) as u from pos.demand_history where product_key = %s", (item,))[0]["u"]
    wh = Warehouse()
    try:
        with wh.transaction():
            wh.execute("update pos.daily_product_sales set mapped_product_id = 'bakery-barra' "
                       "where pos_item_id = %s", (item,))
            wh.execute("update pos.pos_transaction_items set mapped_product_id = 'bakery-barra', is_mapped = true "
                       "where pos_item_id = %s", (item,))
    finally:
        wh.close()
    result = build_demand(env.account_id, "square")
    assert result.days_recomputed == days
    rows = wh_rows("select product_key, is_mapped, sum(units_sold) as u from pos.demand_history "
                   "where product_key in (%s, 'bakery-barra') group by 1, 2", (item,))
    assert rows == [{"product_key": "bakery-barra", "is_mapped": True, "u": before}]
    assert build_demand(env.account_id, "square").days_recomputed == 0  # idempotent


def check_sensor_and_forecast(env: Any) -> None:
    import jsonschema

    from pos_dagster.definitions import defs
    from pos_dagster.defs.forecasting.sensors import BATCH, CHANGED_FROM, CHANGED_TO, monitored_keys
    from pos_dagster.lib.resources import pos_resources
    from pos_sync.appstore.db import session_scope
    from pos_sync.appstore.models import PosEventOutbox

    sensor = defs.resolve_sensor_def("demand_history_sensor")
    resources = {"appstore": pos_resources()["appstore"]}
    assert sensor.job_name == "demand_forecast_job"
    job = defs.resolve_job_def("demand_forecast_job")
    queued = env.instance.create_run_for_job(job_def=job)  # NOT_STARTED: a run about to start
    with dg.build_multi_asset_sensor_context(monitored_assets=monitored_keys(), instance=env.instance,
                                             definitions=defs, resources=resources) as ctx:
        waiting = sensor.evaluate_tick(ctx)
    assert not waiting.run_requests and "queued or running" in (waiting.skip_message or "")
    env.instance.report_run_canceled(queued)  # the run in flight is gone: the changes are still there
    with dg.build_multi_asset_sensor_context(monitored_assets=monitored_keys(), instance=env.instance,
                                             definitions=defs, resources=resources) as ctx:
        result = sensor.evaluate_tick(ctx)
    assert len(result.run_requests) == 1  # two materializations, one run
    request = result.run_requests[0]
    changes = request.run_config["ops"]["forecast__demand_forecast"]["config"]["changes"]
    assert {c["location_id"] for c in changes} == {loc.location_id for loc in env.world.locations}
    assert request.tags[CHANGED_FROM] == START.isoformat()
    last_refund_day = wh_rows("select max(business_date) as d from pos.demand_calendar")[0]["d"]
    assert last_refund_day > START + timedelta(days=DAYS - 1)  # late refunds after the world's last day
    assert request.tags[CHANGED_TO] == last_refund_day.isoformat()
    assert request.run_key == request.tags[BATCH]
    assert request.tags["dagster/priority"] == "1"  # with webhook syncs, before monitoring runs

    with session_scope() as session:
        events = [e for e in session.query(PosEventOutbox).all() if e.routing_key == "pos.sales_updated"]
    assert len(events) == 1
    body = json.loads(events[0].payload)
    schema = json.loads((SCHEMAS / "pos.sales_updated.json").read_text())
    jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())
    assert body["tenant_id"] == env.world.tenant_id and body["batch"] == request.run_key
    assert body["changes"] == [{k: c[k] for k in ("pos_provider", "location_id", "date_from", "date_to", "days")}
                               for c in changes]

    with dg.build_multi_asset_sensor_context(monitored_assets=monitored_keys(), instance=env.instance,
                                             definitions=defs, cursor=result.cursor, resources=resources) as again:
        assert not sensor.evaluate_tick(again).run_requests  # consumed: no second run

    run = job.execute_in_process(run_config={**request.run_config, **QUIET}, instance=env.instance,
                                 tags=request.tags)
    assert run.success
    mat = run.get_asset_materialization_events()[0].event_specific_data.materialization
    assert mat.asset_key.path == ["forecast", "demand_forecast"]
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    assert meta["locations"] == 2 and meta["backtest_origins"] >= 1
    assert meta["backtest_reference_points"] == meta["backtest_naive_points"] > 0
    rows = wh_rows("select location_id, product_key, forecast_date, horizon_days, units, open_probability "
                   "from pos.demand_forecast")
    last = START + timedelta(days=DAYS - 1)
    assert {r["forecast_date"] for r in rows} == {last + timedelta(days=i) for i in range(1, 15)}
    per_loc_products: dict[str, set[str]] = {}
    for r in rows:
        per_loc_products.setdefault(r["location_id"], set()).add(r["product_key"])
        assert r["units"] >= 0
    assert len(rows) == 14 * sum(len(p) for p in per_loc_products.values())
    by_name = {loc.name: loc.location_id for loc in env.world.locations}
    las_palmas = by_name["Horno San Bartolo - Las Palmas"]
    sunday = {r["open_probability"] for r in rows if r["location_id"] == las_palmas
              and r["forecast_date"] == date(2026, 2, 1)}  # 1st Sunday: closed on 2 of the 3 seen
    assert sunday and max(sunday) < 1.0
    assert datetime.now(UTC) > env.world.window_end_utc  # the forecast is stored after the history ends
