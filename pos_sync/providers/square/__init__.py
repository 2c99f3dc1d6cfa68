"""Square: an OAuth merchant (refresh-token grant), its locations; day-window backfills by UTC day."""

from dlt_sources.square.settings import DEFAULT_BASE_URL
from pos_sync.providers.spec import ProviderSpec
from pos_sync.providers.square.link import COMMAND
from pos_sync.providers.square.oauth import FLOW
from pos_sync.providers.square.source import RESOURCES, build_source, tokens
from pos_sync.providers.square.webhooks import FLOW as WEBHOOKS
from transforms import square as square_transform

SPEC = ProviderSpec(
    name="square",
    label="Square",
    resources=RESOURCES,
    transaction_tables=("payments", "refunds"),  # an order is the same sale as its payment
    build_source=build_source,
    tokens=tokens,
    cli_link=COMMAND,
    oauth=FLOW,
    webhooks=WEBHOOKS,
    credential_kind="oauth",
    # the grant was revoked or the refresh token is dead: re-link through OAuth
    reauth_status="disconnected",
    default_base_url=DEFAULT_BASE_URL,
    canonical=square_transform.build,
    canonical_inputs={
        "pos_transactions": ("orders", "payments", "refunds", "locations", "team_members", "customers"),
        "pos_transaction_items": ("orders", "refunds", "catalog"),
        "pos_tenders": ("orders", "payments"),
        "pos_products": ("catalog",),
        "pos_locations": ("locations", "catalog"),
    },
    windows="utc_day",
    app_env=("SQUARE_APP_ID", "SQUARE_APP_SECRET"),
    descriptions={
        "raw": "Incremental Square sync of one account: payments, refunds, orders (with line items),\n"
               "catalog, locations, team members and customers. The first run imports HISTORICAL_IMPORT_DAYS.",
        "window_op": "Load one day (UTC) of one account's Square history without touching its cursor.",
        "backfill_job": "Historical import of chosen Square accounts over a date range: launch a backfill "
                        "over account × day partitions in the UI; each day is a stateless window load.",
    },
)
