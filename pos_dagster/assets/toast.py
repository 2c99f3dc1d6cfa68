"""Toast ingestion: one multi-asset per account partition (dagster-dlt), plus the historical
window job (account × day: Toast's business dates) used for backfills."""


from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster_dlt import DagsterDltResource, dlt_assets

from dlt_sources.toast import toast_source
from pos_dagster.assets.ingest_common import run_account_sync, run_window_sync
from pos_dagster.ingest.toast import build_toast_source
from pos_dagster.lib.translator import PosDltTranslator
from pos_dagster.lib.warehouse import template_pipeline
from pos_dagster.partitions import account_partitions, historical_windows

PROVIDER = "toast"
POOL = "toast_api"  # Toast's rate limits (20 req/s, 10 000 / 15 min, logins) hold when many accounts sync

_definition_source = toast_source("definition-time-placeholder", "definition-time-placeholder",
                                  ["definition-time-placeholder"])
TOAST_RESOURCES = sorted(_definition_source.resources.keys())


@dlt_assets(
    dlt_source=_definition_source,
    dlt_pipeline=template_pipeline(PROVIDER),
    name="toast_raw",
    partitions_def=account_partitions,
    dagster_dlt_translator=PosDltTranslator(PROVIDER),
    pool=POOL,
    op_tags={"pos/provider": PROVIDER},
)
def toast_raw(context: dg.AssetExecutionContext, dlt_runner: DagsterDltResource):
    """Incremental Toast sync of one account (machine client): restaurants, orders (checks,
    selections, payments as child tables) by modification windows, menus when they changed.
    The first run imports HISTORICAL_IMPORT_DAYS; the login token is reused from the app store."""
    yield from run_account_sync(context, dlt_runner, PROVIDER, build_toast_source)


@dg.op(pool=POOL, tags={"pos/provider": PROVIDER}, out={})  # yields materializations only
def toast_window(context: dg.OpExecutionContext):
    """Load one business day of one account's Toast orders without touching its cursor."""
    keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
    start = datetime.fromisoformat(keys["date"]).replace(tzinfo=UTC)
    yield from run_window_sync(context, PROVIDER, keys["account"], start, start + timedelta(days=1),
                               build_toast_source, TOAST_RESOURCES)


@dg.job(
    partitions_def=historical_windows,
    tags={"pos/warehouse-writer": "1"},
    description="Historical import of chosen Toast accounts over a date range: launch a backfill over "
                "account × day partitions in the UI; each day is a stateless load of that business date.",
)
def toast_historical_backfill():
    toast_window()


toast_sync_job = dg.define_asset_job(
    "toast_sync",
    selection=dg.AssetSelection.assets(toast_raw).downstream(),
    tags={"pos/warehouse-writer": "1"},
    description="Incremental sync of one Toast account partition and its canonical tables.",
)
