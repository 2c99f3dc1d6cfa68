"""Lightspeed Retail R-Series (API V3): an OAuth account (numeric accountID, rotating refresh
tokens, one-hour access tokens) and its shops.

Every stream is incremental on ``timeStamp`` (per shop for sales) with a look-back margin; no
day-window backfills: an account's first regular sync reads its whole history.
"""

from dlt_sources.lightspeed_r.settings import DEFAULT_BASE_URL
from pos_sync.providers.lightspeed_r.link import COMMAND
from pos_sync.providers.lightspeed_r.oauth import FLOW
from pos_sync.providers.lightspeed_r.source import NO_WINDOW, RESOURCES, build_source, tokens
from pos_sync.providers.spec import ProviderSpec
from transforms import lightspeed_r as lightspeed_r_transform

SPEC = ProviderSpec(
    name="lightspeed_r",
    label="Lightspeed R-Series",
    resources=RESOURCES,
    transaction_tables=("sales",),
    build_source=build_source,
    tokens=tokens,
    cli_link=COMMAND,
    oauth=FLOW,
    credential_kind="oauth",
    # a rotated refresh token was lost (or access revoked): approve access again
    reauth_status="reauth_required",
    default_base_url=DEFAULT_BASE_URL,
    canonical=lightspeed_r_transform.build,
    canonical_inputs={
        "pos_transactions": ("sales", "shops", "employees", "registers", "payment_types"),
        "pos_transaction_items": ("sales", "items", "categories"),
        "pos_tenders": ("sales", "payment_types"),
        "pos_products": ("items", "categories", "shops"),
        "pos_locations": ("shops",),
    },
    windows=None,
    no_window_reason=NO_WINDOW,
    app_env=("LIGHTSPEED_R_CLIENT_ID", "LIGHTSPEED_R_CLIENT_SECRET"),
    descriptions={
        "raw": "Incremental Lightspeed R-Series sync of one account: sales per shop (sale lines and payments\n"
               "loaded with them as child tables), items, categories, shops, registers, employees, payment types\n"
               "and tax categories, on timeStamp with a look-back. Rotated refresh tokens are saved at once.",
    },
)
