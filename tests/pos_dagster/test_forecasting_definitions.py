"""The forecasting part of the asset graph: lineage raw → canonical → demand history → forecast,
the forecast outside the sync jobs, the sensor watching every provider's demand history."""

from __future__ import annotations

import dagster as dg
import pytest


def test_lineage_raw_canonical_demand_forecast_is_in_the_asset_graph() -> None:
    from pos_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    forecast = dg.AssetKey(["forecast", "demand_forecast"])
    for provider, raw in (("square", "orders"), ("toast", "orders"), ("lightspeed", "sales")):
        demand = dg.AssetKey(["demand", provider, "demand_history"])
        daily = dg.AssetKey(["pos", provider, "daily_product_sales"])
        assert {k.to_user_string() for k in graph.get(demand).parent_keys} == {
            f"pos/{provider}/{t}" for t in ("daily_product_sales", "pos_transactions", "pos_transaction_items",
                                            "pos_locations")}
        assert dg.AssetKey(["pos", provider, "pos_transaction_items"]) in graph.get(daily).parent_keys
        assert dg.AssetKey(["raw", provider, raw]) in graph.get(
            dg.AssetKey(["pos", provider, "pos_transaction_items"])).parent_keys
        assert demand in graph.get(forecast).parent_keys
        # raw → … → forecast: the whole chain upstream of the forecast
        assert dg.AssetKey(["raw", provider, raw]) in graph.get_ancestor_asset_keys(forecast)
        node = graph.get(demand)
        assert node.group_name == "demand" and node.owners and node.kinds and node.description
        assets = defs.get_assets_def(demand)
        assert assets.partitions_def == defs.get_assets_def(daily).partitions_def  # per account, like canonical
        sync = defs.resolve_job_def(f"{provider}_sync")
        executable = {k.to_user_string() for k in sync.asset_layer.executable_asset_keys}  # type: ignore[attr-defined]
        assert f"demand/{provider}/demand_history" in executable and "forecast/demand_forecast" not in executable

    node = graph.get(forecast)
    assert node.group_name == "forecasting" and node.owners and node.kinds and node.description
    assert defs.get_assets_def(forecast).partitions_def is None
    job = defs.resolve_job_def("demand_forecast_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {  # type: ignore[attr-defined]
        "forecast/demand_forecast"}
    assert job.tags.get("pos/warehouse-writer") == "1"
    sensor = defs.resolve_sensor_def("demand_history_sensor")
    assert sensor.job_name == "demand_forecast_job" and sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_demand_sensor_ticks_as_often_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_dagster.defs.forecasting.sensors import demand_history_sensor
    from pos_sync.settings import SettingsError

    assert demand_history_sensor().minimum_interval_seconds == 5
    monkeypatch.setenv("POS_DEMAND_SENSOR_INTERVAL_SECONDS", "3")
    assert demand_history_sensor().minimum_interval_seconds == 3
    monkeypatch.setenv("POS_DEMAND_SENSOR_INTERVAL_SECONDS", "0")
    with pytest.raises(SettingsError):
        demand_history_sensor()


def test_the_forecast_and_monitoring_jobs_run_in_their_run_process() -> None:
    from pos_dagster.definitions import defs

    for job in ("demand_forecast_job", "monitoring_job"):
        assert defs.resolve_job_def(job).executor_def is dg.in_process_executor, job
