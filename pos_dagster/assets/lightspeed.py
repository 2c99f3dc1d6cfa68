"""Lightspeed Retail (X-Series) ingestion: one multi-asset per account partition (dagster-dlt).

No historical window job: X-Series' change feeds (``after=<version>``) have no date window, so
an account's first regular sync reads its whole history and later syncs read what changed."""


import dagster as dg
from dagster_dlt import DagsterDltResource, dlt_assets

from dlt_sources.lightspeed import lightspeed_source
from pos_dagster.assets.ingest_common import run_account_sync
from pos_dagster.ingest.lightspeed import build_lightspeed_source
from pos_dagster.lib.translator import PosDltTranslator
from pos_dagster.lib.warehouse import template_pipeline
from pos_dagster.partitions import account_partitions

PROVIDER = "lightspeed"
POOL = "lightspeed_api"  # X-Series rate limits (per store) hold when many accounts sync at once

_definition_source = lightspeed_source("definition-time-placeholder", [], access_token="definition-time-placeholder",
                                       refresh_token=None, client_id=None, client_secret=None)
LIGHTSPEED_RESOURCES = sorted(_definition_source.resources.keys())


@dlt_assets(
    dlt_source=_definition_source,
    dlt_pipeline=template_pipeline(PROVIDER),
    name="lightspeed_raw",
    partitions_def=account_partitions,
    dagster_dlt_translator=PosDltTranslator(PROVIDER),
    pool=POOL,
    op_tags={"pos/provider": PROVIDER},
)
def lightspeed_raw(context: dg.AssetExecutionContext, dlt_runner: DagsterDltResource):
    """Incremental Lightspeed sync of one store: the version change feeds of sales (line items,
    payments as child tables), products, outlets, registers, users, payment types and taxes, plus
    product categories. Rotated refresh tokens are saved the moment they arrive."""
    yield from run_account_sync(context, dlt_runner, PROVIDER, build_lightspeed_source)


lightspeed_sync_job = dg.define_asset_job(
    "lightspeed_sync",
    selection=dg.AssetSelection.assets(lightspeed_raw).downstream(),
    tags={"pos/warehouse-writer": "1"},
    description="Incremental sync of one Lightspeed account partition and its canonical tables.",
)
