"""Toast: a machine client (login, no refresh grant) and its restaurants; backfills by business day.

The machine-client token lives in the app store, encrypted, as the account's access token with
its expiry: the run starts from the stored one and every new login is stored at once, so it is
reused across runs, restaurants and processes — Toast asks for at most a couple of logins per hour.
"""

from dlt_sources.toast.settings import DEFAULT_BASE_URL
from pos_sync.providers.spec import ProviderSpec
from pos_sync.providers.toast.link import COMMAND
from pos_sync.providers.toast.oauth import FLOW
from pos_sync.providers.toast.source import RESOURCES, build_source, tokens
from pos_sync.providers.toast.webhooks import FLOW as WEBHOOKS
from transforms import toast as toast_transform

SPEC = ProviderSpec(
    name="toast",
    label="Toast",
    resources=RESOURCES,
    transaction_tables=("orders",),
    build_source=build_source,
    tokens=tokens,
    cli_link=COMMAND,
    oauth=FLOW,
    webhooks=WEBHOOKS,
    credential_kind="machine_client",
    # the machine client's login is refused: enter the client's current credentials
    reauth_status="reauth_required",
    default_base_url=DEFAULT_BASE_URL,
    canonical=toast_transform.build,
    canonical_inputs={
        "pos_transactions": ("orders", "restaurants", "employees", "devices"),
        "pos_transaction_items": ("orders", "menus"),
        "pos_tenders": ("orders",),
        "pos_products": ("menus", "restaurants"),
        "pos_locations": ("restaurants",),
    },
    local_business_day=False,  # Toast's businessDate follows the restaurant's closeout hour
    windows="business_day",
    descriptions={
        "raw": "Incremental Toast sync of one account (machine client): restaurants, orders (checks,\n"
               "selections, payments as child tables) by modification windows, menus when they changed,\n"
               "employees and devices (the names behind an order's server and device).\n"
               "The first run imports HISTORICAL_IMPORT_DAYS; the login token is reused from the app store.",
        "window_op": "Load one business day of one account's Toast orders without touching its cursor.",
        "backfill_job": "Historical import of chosen Toast accounts over a date range: launch a backfill over "
                        "account × day partitions in the UI; each day is a stateless load of that business date.",
    },
)
