"""Toast ingestion: one multi-asset per account partition (dagster-dlt), plus the historical
window job (account × day: Toast's business dates) used for backfills."""


from dlt_sources.toast import toast_source
from pos_dagster.assets.factories import raw_assets, sync_job, window_backfill
from pos_sync.ingest.toast import build_toast_source

PROVIDER = "toast"
POOL = "toast_api"  # Toast's rate limits (20 req/s, 10 000 / 15 min, logins) hold when many accounts sync

_definition_source = toast_source("definition-time-placeholder", "definition-time-placeholder",
                                  ["definition-time-placeholder"])
TOAST_RESOURCES = sorted(_definition_source.resources.keys())

toast_raw = raw_assets(
    PROVIDER, _definition_source, POOL, build_toast_source,
    "Incremental Toast sync of one account (machine client): restaurants, orders (checks,\n"
    "selections, payments as child tables) by modification windows, menus when they changed.\n"
    "The first run imports HISTORICAL_IMPORT_DAYS; the login token is reused from the app store.",
)

toast_window, toast_historical_backfill = window_backfill(
    PROVIDER, POOL, build_toast_source, TOAST_RESOURCES,
    op_description="Load one business day of one account's Toast orders without touching its cursor.",
    job_description="Historical import of chosen Toast accounts over a date range: launch a backfill over "
                    "account × day partitions in the UI; each day is a stateless load of that business date.",
)

toast_sync_job = sync_job(PROVIDER, toast_raw, "Toast")
