"""Square ingestion: one multi-asset per account partition (dagster-dlt), plus the historical
window job (account × day) used for backfills."""


from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster_dlt import DagsterDltResource, dlt_assets

from dlt_sources.square import square_source
from pos_dagster.assets.ingest_common import run_account_sync, run_window_sync
from pos_dagster.ingest.square import build_square_source
from pos_dagster.lib.translator import PosDltTranslator
from pos_dagster.lib.warehouse import template_pipeline
from pos_dagster.partitions import account_partitions, historical_windows

PROVIDER = "square"
POOL = "square_api"  # provider API rate limits hold when many accounts sync at once

_definition_source = square_source(access_token="definition-time-placeholder", location_ids=[])
SQUARE_RESOURCES = sorted(_definition_source.resources.keys())


@dlt_assets(
    dlt_source=_definition_source,
    dlt_pipeline=template_pipeline(PROVIDER),
    name="square_raw",
    partitions_def=account_partitions,
    dagster_dlt_translator=PosDltTranslator(PROVIDER),
    pool=POOL,
    op_tags={"pos/provider": PROVIDER},
)
def square_raw(context: dg.AssetExecutionContext, dlt_runner: DagsterDltResource):
    """Incremental Square sync of one account: payments, refunds, orders (with line items),
    catalog, locations and team members. The first run imports HISTORICAL_IMPORT_DAYS."""
    yield from run_account_sync(context, dlt_runner, PROVIDER, build_square_source)


@dg.op(pool=POOL, tags={"pos/provider": PROVIDER}, out={})  # yields materializations only
def square_window(context: dg.OpExecutionContext):
    """Load one day (UTC) of one account's Square history without touching its cursor."""
    keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
    start = datetime.fromisoformat(keys["date"]).replace(tzinfo=UTC)
    yield from run_window_sync(context, PROVIDER, keys["account"], start, start + timedelta(days=1),
                               build_square_source, SQUARE_RESOURCES)


@dg.job(
    partitions_def=historical_windows,
    tags={"pos/warehouse-writer": "1"},
    description="Historical import of chosen Square accounts over a date range: launch a backfill "
                "over account × day partitions in the UI; each day is a stateless window load.",
)
def square_historical_backfill():
    square_window()


square_sync_job = dg.define_asset_job(
    "square_sync",
    selection=dg.AssetSelection.assets(square_raw).downstream(),
    tags={"pos/warehouse-writer": "1"},
    description="Incremental sync of one Square account partition and its canonical tables.",
)
