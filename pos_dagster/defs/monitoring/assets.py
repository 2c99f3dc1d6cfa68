"""``sync_health`` (with its ``sync_freshness`` check) and ``transaction_volume``: computed from
the app store's accounts and sync logs and from ``pos.pos_transactions``, published into the app
store's ``pos_sync_health`` and ``pos_transaction_volume`` tables, which the analytics API reads
(the API never opens a warehouse a run may be writing).

``monitoring_job`` materializes both and evaluates the check; ``sync_health_sensor``
(:mod:`.sensors`) requests it after every closed sync log — success, partial or failure — and at
least every few minutes, so freshness turns ``warn``/``error`` when syncs stop coming. Why a sensor
rather than an eager automation condition or a step of the sync job: see ``docs/dagster.md``.

Both read the warehouse, so their steps take the DuckDB writer pool and the job carries the
warehouse-writer tag (one DuckDB process at a time), like the syncs."""


import dagster as dg

from pos_dagster.defs.canonical.assets import canonical_key
from pos_dagster.defs.ingest.raw import OWNERS
from pos_dagster.lib.pools import warehouse_step_pool
from pos_dagster.lib.resources import AppStoreResource, ClockResource, WarehouseResource
from pos_dagster.lib.tags import WAREHOUSE_WRITER
from pos_sync.monitoring.health import (
    ERROR,
    ERROR_FACTOR,
    WARN,
    WARN_FACTOR,
    health_rows,
    newest_source_times,
)
from pos_sync.monitoring.volume import DAILY_DAYS, HOURLY_HOURS, volume_rows
from pos_sync.providers import registry

GROUP = "monitoring"
SYNC_HEALTH = dg.AssetKey("sync_health")
TRANSACTION_VOLUME = dg.AssetKey("transaction_volume")
FRESHNESS_CHECK = "sync_freshness"
MONITORING_JOB = "monitoring_job"
MAX_LISTED = 50  # accounts listed in the check's metadata


def _transactions_deps() -> list[dg.AssetKey]:
    return [canonical_key(spec.name, "pos_transactions") for spec in registry if spec.canonical is not None]


def _stale_table(rows: list[dict]) -> str:
    lines = ["| account | tenant | provider | freshness | since last success | frequency |", "|---|---|---|---|---|---|"]
    for r in rows[:MAX_LISTED]:
        lines.append(f"| {r['pos_account_id']} | {r['tenant_id']} | {r['pos_provider']} | {r['freshness']} | "
                     f"{round(r['freshness_age_seconds'] / 60)} min | {r['sync_frequency_minutes']} min |")
    if len(rows) > MAX_LISTED:
        lines.append(f"| … {len(rows) - MAX_LISTED} more | | | | | |")
    return "\n".join(lines)


def freshness_result(rows: list[dict]) -> dg.AssetCheckResult:
    """Passed when every enabled account synced successfully within WARN_FACTOR × its frequency;
    WARN beyond that, ERROR when one is beyond ERROR_FACTOR ×. The metadata lists the accounts."""
    errors = [r for r in rows if r["freshness"] == ERROR]
    warns = [r for r in rows if r["freshness"] == WARN]
    stale = sorted(errors + warns, key=lambda r: -r["freshness_age_seconds"])
    meta: dict[str, object] = {"accounts": len(rows), "ok": sum(r["freshness"] == "ok" for r in rows),
                               "warn": len(warns), "error": len(errors),
                               "disabled": sum(r["freshness"] == "disabled" for r in rows)}
    if stale:
        meta["stale_accounts"] = dg.MetadataValue.md(_stale_table(stale))
    return dg.AssetCheckResult(check_name=FRESHNESS_CHECK, asset_key=SYNC_HEALTH, passed=not stale,
                               severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
                               metadata=meta)


@dg.asset(key=SYNC_HEALTH, group_name=GROUP, deps=_transactions_deps(), owners=OWNERS, kinds={"python", "sql"},
          pool=warehouse_step_pool(),
          description="Per account: last success, lag behind the provider (newest source timestamp vs the "
                      "connector's clock), error streak, rows per sync and the provider API's pace (requests, "
                      "retries, 429s, 5xx, waits, response time) over its latest syncs, and freshness against "
                      "its own sync frequency — published to the app store's pos_sync_health.",
          metadata={"dagster/table_name": "pos_sync_health (app store)"},
          check_specs=[dg.AssetCheckSpec(
              FRESHNESS_CHECK, asset=SYNC_HEALTH,
              description=f"Every enabled account had a successful sync within {WARN_FACTOR}× its sync "
                          f"frequency (WARN beyond, ERROR beyond {ERROR_FACTOR}×); the accounts are listed.")])
def sync_health(context: dg.AssetExecutionContext, appstore: AppStoreResource, warehouse: WarehouseResource,
                clock: ClockResource) -> dg.MaterializeResult:
    from pos_sync.appstore.monitoring import account_sync_facts, publish_sync_health

    store = appstore.store()
    now = clock.now()
    facts = account_sync_facts(settings=store.settings)
    wh = warehouse.connect()
    try:
        newest = newest_source_times(wh)
    finally:
        wh.close()
    rows = health_rows(facts, newest, now)
    published = publish_sync_health(rows, settings=store.settings)
    context.log.info(f"sync health of {published} account(s) at {now.isoformat()}")
    return dg.MaterializeResult(
        metadata={"dagster/row_count": published, "evaluated_at": now.isoformat(),
                  "error_streaks": sum(1 for r in rows if r["error_streak"])},
        check_results=[freshness_result(rows)])


@dg.asset(key=TRANSACTION_VOLUME, group_name=GROUP, deps=_transactions_deps(), owners=OWNERS,
          kinds={"python", "sql"}, pool=warehouse_step_pool(),
          description=f"Completed sales, refunds and net revenue (integer cents, per currency) per account by "
                      f"business day (last {DAILY_DAYS} days) and by UTC hour (last {HOURLY_HOURS} hours), from "
                      "pos.pos_transactions — published to the app store's pos_transaction_volume, which the "
                      "dashboard reads.",
          metadata={"dagster/table_name": "pos_transaction_volume (app store)"})
def transaction_volume(context: dg.AssetExecutionContext, appstore: AppStoreResource, warehouse: WarehouseResource,
                       clock: ClockResource) -> dg.MaterializeResult:
    from pos_sync.appstore.monitoring import publish_transaction_volume

    store = appstore.store()
    now = clock.now()
    wh = warehouse.connect()
    try:
        rows = volume_rows(wh, now)
    finally:
        wh.close()
    published = publish_transaction_volume(rows, settings=store.settings)
    context.log.info(f"transaction volume: {published} row(s) at {now.isoformat()}")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": published, "evaluated_at": now.isoformat(),
        "transactions_daily": sum(r["transactions"] for r in rows if r["granularity"] == "day")})


monitoring_job = dg.define_asset_job(
    MONITORING_JOB, selection=dg.AssetSelection.groups(GROUP), tags=WAREHOUSE_WRITER,
    # its steps share the one warehouse writer anyway: no process booted per step (like the syncs)
    executor_def=dg.in_process_executor,
    description="Publishes sync health (and evaluates its freshness check) and transaction volume to the app store.")


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[sync_health, transaction_volume], jobs=[monitoring_job])
