"""``demand/<provider>/demand_history`` (per account, after its canonical build) and
``forecast/demand_forecast`` (one asset for all accounts, run only by ``demand_forecast_job``).

Lineage: ``raw/<provider>/*`` → ``pos/<provider>/daily_product_sales`` (+ transactions, items,
locations) → ``demand/<provider>/demand_history`` → ``forecast/demand_forecast``. The demand history
is in every ``<provider>_sync`` run (downstream of the canonical slice, partitioned alike) and is
skippable like it: it materializes only when location-days changed, and its materialization
carries those days (``changes``), which ``demand_history_sensor`` batches into one forecasting run.
The forecast is excluded from the sync jobs (``pos_dagster/defs/ingest/jobs.py``)."""


from datetime import UTC, datetime

import dagster as dg

from pos_dagster.defs.canonical.assets import canonical_key
from pos_dagster.defs.ingest.raw import OWNERS
from pos_dagster.lib.partitions import account_partitions
from pos_dagster.lib.pools import warehouse_step_pool
from pos_dagster.lib.resources import AppStoreResource, WarehouseResource
from pos_dagster.lib.tables import column_schema
from pos_dagster.lib.tags import PROVIDER, WAREHOUSE_WRITER
from pos_sync.demand.build import build_demand
from pos_sync.providers import ProviderSpec, registry
from transforms.demand import DEMAND_CALENDAR, DEMAND_FORECAST, DEMAND_HISTORY

DEMAND_GROUP = "demand"
FORECAST_GROUP = "forecasting"
FORECAST_KEY = dg.AssetKey(["forecast", "demand_forecast"])
FORECAST_JOB = "demand_forecast_job"
PER_LOCATION_SHOWN = 200  # locations whose backtest the metadata lists (the pooled scores cover all)
CHANGES = "changes"  # materialization metadata: the changed (tenant, provider, location, date range)s


def demand_key(provider: str) -> dg.AssetKey:
    return dg.AssetKey(["demand", provider, "demand_history"])


def demand_history(spec: ProviderSpec) -> dg.AssetsDefinition:
    deps = [canonical_key(spec.name, t) for t in ("daily_product_sales", "pos_transactions", "pos_transaction_items",
                                                  "pos_locations")]
    asset_spec = dg.AssetSpec(
        demand_key(spec.name), deps=deps, group_name=DEMAND_GROUP, skippable=True, owners=OWNERS,
        kinds={"python", "sql"}, tags={PROVIDER: spec.name},
        description=(f"Demand history of {spec.label} locations: per tenant × location × business date × product "
                     "(the bakery product when mapped, else the POS product with is_mapped=false) units sold and "
                     "refunded, gross/net revenue and refunds in integer cents, transactions (pos.demand_history), "
                     "and per location-day the calendar: weekday, national/regional holiday, open or closed "
                     "(pos.demand_calendar). Refunds stay on their own business date. Only location-days whose "
                     "sources changed are rebuilt."),
        metadata={"dagster/table_name": "pos.demand_history", "dagster/column_schema": column_schema(DEMAND_HISTORY),
                  "calendar_table": "pos.demand_calendar",
                  "calendar_column_schema": column_schema(DEMAND_CALENDAR)})

    @dg.multi_asset(name=f"{spec.name}_demand_history", specs=[asset_spec], partitions_def=account_partitions(spec.name),
                    pool=warehouse_step_pool(), op_tags={PROVIDER: spec.name, "pos/stage": "demand"})
    def _demand(context: dg.AssetExecutionContext, appstore: AppStoreResource):
        """Rebuild the account's changed location-days of the demand history and calendar."""
        store = appstore.store()
        result = build_demand(context.partition_key, spec.name, store.settings)
        context.log.info(f"demand history of {spec.name} account {context.partition_key}: "
                         f"{result.days_recomputed} location-day(s), {result.rows_written} row(s), "
                         f"{result.closed_days} closed, {result.seconds}s")
        if result.days_recomputed:  # nothing changed: no materialization, no forecasting run
            yield dg.MaterializeResult(asset_key=demand_key(spec.name), metadata={
                "days_recomputed": result.days_recomputed, "rows_written": result.rows_written,
                "rows_loaded": result.rows_written,
                "closed_days": result.closed_days, "seconds": result.seconds,
                CHANGES: dg.MetadataValue.json(result.ranges())})

    return _demand


class ChangedRange(dg.Config):
    tenant_id: str
    pos_provider: str
    location_id: str
    date_from: str
    date_to: str
    days: int = 1


class ForecastConfig(dg.Config):
    """The locations whose demand history changed (the sensor's batch); empty: every location."""

    changes: list[ChangedRange] = []


FORECAST_DESCRIPTION = (
    "Reference 14-day demand forecast per location × product (pos.demand_forecast): a weekday-seasonal moving "
    "average with holiday and closure adjustment (transforms/forecast.py), with its rolling-origin backtest (WAPE, "
    "MAPE, bias) against the naive 'same weekday last week' in the metadata. Materialized only by "
    "demand_forecast_job, which demand_history_sensor requests once per batch of demand changes.")


def _demand_forecast(context: dg.AssetExecutionContext, config: ForecastConfig,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Forecast the batch's locations (every location when the run has no batch) and backtest."""
    # imported here: pandas and the forecast model are this run's alone, not every sync run's (each
    # run process loads the definitions: their import time is its start-up time)
    from pos_sync.demand.forecast import Scope, run_forecast

    scopes = sorted({Scope(c.tenant_id, c.pos_provider, c.location_id) for c in config.changes})
    result = run_forecast(warehouse.settings.get(), scopes or None, datetime.now(UTC))
    context.log.info(f"demand forecast: {result.as_metadata()}")
    return dg.MaterializeResult(metadata={**result.as_metadata(),
                                          "per_location": dg.MetadataValue.json(result.per_location[:PER_LOCATION_SHOWN])})


def forecast_asset(providers: tuple[str, ...]) -> dg.AssetsDefinition:
    """The forecast, downstream of every provider's demand history (built when the definitions are)."""
    return dg.asset(
        key=FORECAST_KEY, deps=[demand_key(p) for p in providers], group_name=FORECAST_GROUP, owners=OWNERS,
        kinds={"python", "pandas", "sql"}, pool=warehouse_step_pool(), description=FORECAST_DESCRIPTION,
        metadata={"dagster/table_name": "pos.demand_forecast",
                  "dagster/column_schema": column_schema(DEMAND_FORECAST)})(_demand_forecast)


demand_forecast_job = dg.define_asset_job(
    FORECAST_JOB, selection=dg.AssetSelection.assets(FORECAST_KEY), tags=WAREHOUSE_WRITER,
    executor_def=dg.in_process_executor,  # one step: run in the run's process, no second Python booted
    description="The reference demand forecast of the locations whose demand history changed (run config: the "
                "sensor's batch of changes).")


@dg.definitions
def defs() -> dg.Definitions:
    specs = [spec for spec in registry if spec.canonical is not None]
    return dg.Definitions(assets=[*(demand_history(spec) for spec in specs),
                                  forecast_asset(tuple(spec.name for spec in specs))], jobs=[demand_forecast_job])
