"""``demand_history_sensor``: every provider's ``demand/<provider>/demand_history`` materializations,
across all account partitions, become **one** ``demand_forecast_job`` run per batch.

Each tick (every 5 s: ``POS_DEMAND_SENSOR_INTERVAL_SECONDS``, read when the definitions load) it reads the materializations it has not consumed yet (a multi-asset
sensor's cursor per asset key, at most :data:`MAX_RECORDS` per key and tick), merges the changed
(tenant, provider, location, date range)s their metadata carries, requests one run whose config
and tags say what changed, writes one ``pos.sales_updated`` event per tenant with the same facts
to the outbox (``pos_sync.events.emit.emit_sales_updated``), and only then advances its cursor.
Twenty accounts syncing within a minute give one forecasting run, not twenty: a storm of syncs is
a batch, never a storm of runs. While a forecasting run is queued or running it requests nothing
and consumes nothing, so what changes meanwhile is the next run's batch (at most one run waits). The run key is the batch's range of event storage ids, so a tick
evaluated twice requests one run and the outbox keeps one event per tenant (ids derived from it).
Why a sensor rather than declarative automation: see docs/dagster.md.
"""


from collections.abc import Iterable
from typing import Any

import dagster as dg

from pos_dagster.defs.forecasting.assets import CHANGES, FORECAST_JOB, demand_key
from pos_dagster.lib.resources import AppStoreResource
from pos_dagster.lib.tags import PRIORITY, TRIGGER
from pos_sync.providers import registry
from pos_sync.settings import load_settings

IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]
MAX_RECORDS = 1000  # per asset key and tick: the rest is the next tick's batch
BATCH = "pos/demand-batch"
CHANGED_LOCATIONS, CHANGED_FROM, CHANGED_TO, CHANGED_TENANTS = (
    "pos/changed-locations", "pos/changed-from", "pos/changed-to", "pos/changed-tenants")


def merge_changes(changes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One range per (tenant, provider, location): the union's first and last day, the most days."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for c in changes:
        key = (c["tenant_id"], c["pos_provider"], c["location_id"])
        cur = merged.get(key)
        if cur is None:
            merged[key] = dict(c)
        else:
            cur["date_from"] = min(cur["date_from"], c["date_from"])
            cur["date_to"] = max(cur["date_to"], c["date_to"])
            cur["days"] = max(int(cur["days"]), int(c["days"]))
    return [merged[k] for k in sorted(merged)]


def run_tags(batch: str, changes: list[dict[str, Any]]) -> dict[str, str]:
    # first in the run queue, as webhook syncs: the two ends of a sale's way to a forecast
    return {TRIGGER: "demand-changed", BATCH: batch, **PRIORITY, CHANGED_LOCATIONS: str(len(changes)),
            CHANGED_FROM: min(c["date_from"] for c in changes), CHANGED_TO: max(c["date_to"] for c in changes),
            CHANGED_TENANTS: ",".join(sorted({c["tenant_id"] for c in changes}))[:200]}


def monitored_keys() -> list[dg.AssetKey]:
    return [demand_key(spec.name) for spec in registry if spec.canonical is not None]


def demand_history_sensor(keys: list[dg.AssetKey] | None = None) -> dg.MultiAssetSensorDefinition:
    @dg.multi_asset_sensor(
        name="demand_history_sensor", monitored_assets=keys or monitored_keys(), job_name=FORECAST_JOB,
        minimum_interval_seconds=load_settings().demand_sensor_interval_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
        description="Batches the demand history's materializations (every provider, every account) into one "
                    "demand_forecast_job run with the changed tenants, locations and date ranges in its config and "
                    "tags, and writes a pos.sales_updated event per tenant to the outbox.")
    def _sensor(context: dg.MultiAssetSensorEvaluationContext, appstore: AppStoreResource):
        in_flight = context.instance.get_runs_count(dg.RunsFilter(job_name=FORECAST_JOB, statuses=IN_FLIGHT))
        if in_flight:  # the changes wait, unconsumed, and join the next batch
            return dg.SkipReason(f"{in_flight} {FORECAST_JOB} run(s) queued or running: the next batch waits")
        consumed: list[tuple[dg.AssetKey, dg.EventLogRecord]] = []
        changes: list[dict[str, Any]] = []
        for key in context.asset_keys:
            for record in context.materialization_records_for_key(key, limit=MAX_RECORDS):
                consumed.append((key, record))
                mat = record.asset_materialization
                value = mat.metadata.get(CHANGES) if mat is not None else None
                changes += list(getattr(value, "value", value) or [])
        if not consumed:
            return dg.SkipReason("no new demand history")
        ids = [record.storage_id for _, record in consumed]
        batch = f"demand:{min(ids)}-{max(ids)}"
        merged = merge_changes(changes)
        request = None
        if merged:
            request = dg.RunRequest(run_key=batch, tags=run_tags(batch, merged),
                                    run_config={"ops": {"forecast__demand_forecast": {"config": {"changes": merged}}}})
            # the app store and the outbox: the tick's, not imported with the definitions
            from pos_sync.appstore.db import session_scope
            from pos_sync.events.emit import emit_sales_updated

            with session_scope(appstore.store().settings) as session:  # one commit for the batch's events
                for tenant in sorted({c["tenant_id"] for c in merged}):
                    emit_sales_updated(session, tenant_id=tenant, batch=batch,
                                       changes=[c for c in merged if c["tenant_id"] == tenant])
        for key, record in consumed:
            context.advance_cursor({key: record})
        if request is None:
            return dg.SkipReason(f"{len(consumed)} materialization(s) without changed days")
        context.log.info(f"{batch}: {len(consumed)} materialization(s), {len(merged)} location(s) changed")
        return request

    return _sensor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[demand_history_sensor()])
