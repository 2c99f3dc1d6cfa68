"""Square ingestion: one multi-asset per account partition (dagster-dlt), plus the historical
window job (account × day) used for backfills."""


from dlt_sources.square import square_source
from pos_dagster.assets.factories import raw_assets, sync_job, window_backfill
from pos_sync.ingest.square import build_square_source

PROVIDER = "square"
POOL = "square_api"  # provider API rate limits hold when many accounts sync at once

_definition_source = square_source(access_token="definition-time-placeholder", location_ids=[])
SQUARE_RESOURCES = sorted(_definition_source.resources.keys())

square_raw = raw_assets(
    PROVIDER, _definition_source, POOL, build_square_source,
    "Incremental Square sync of one account: payments, refunds, orders (with line items),\n"
    "catalog, locations and team members. The first run imports HISTORICAL_IMPORT_DAYS.",
)

square_window, square_historical_backfill = window_backfill(
    PROVIDER, POOL, build_square_source, SQUARE_RESOURCES,
    op_description="Load one day (UTC) of one account's Square history without touching its cursor.",
    job_description="Historical import of chosen Square accounts over a date range: launch a backfill "
                    "over account × day partitions in the UI; each day is a stateless window load.",
)

square_sync_job = sync_job(PROVIDER, square_raw, "Square")
