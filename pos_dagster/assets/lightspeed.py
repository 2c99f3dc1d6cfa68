"""Lightspeed Retail (X-Series) ingestion: one multi-asset per account partition (dagster-dlt).

No historical window job: X-Series' change feeds (``after=<version>``) have no date window, so
an account's first regular sync reads its whole history and later syncs read what changed."""


from dlt_sources.lightspeed import lightspeed_source
from pos_dagster.assets.factories import raw_assets, sync_job
from pos_sync.ingest.lightspeed import build_lightspeed_source

PROVIDER = "lightspeed"
POOL = "lightspeed_api"  # X-Series rate limits (per store) hold when many accounts sync at once

_definition_source = lightspeed_source("definition-time-placeholder", [], access_token="definition-time-placeholder",
                                       refresh_token=None, client_id=None, client_secret=None)
LIGHTSPEED_RESOURCES = sorted(_definition_source.resources.keys())

lightspeed_raw = raw_assets(
    PROVIDER, _definition_source, POOL, build_lightspeed_source,
    "Incremental Lightspeed sync of one store: the version change feeds of sales (line items,\n"
    "payments as child tables), products, outlets, registers, users, payment types and taxes, plus\n"
    "product categories. Rotated refresh tokens are saved the moment they arrive.",
)

lightspeed_sync_job = sync_job(PROVIDER, lightspeed_raw, "Lightspeed")
