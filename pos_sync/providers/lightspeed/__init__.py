"""Lightspeed Retail (X-Series): an OAuth store (rotating refresh tokens) and its outlets.

Refresh tokens rotate on every use: each new token set is persisted (encrypted, committed) inside
the refresh, before the new access token is used, so a crash can never lose the only valid
refresh token. No day-window backfills: X-Series' change feeds (``after=<version>``) have no
date window, so an account's first regular sync reads the store's whole history.
"""

from dlt_sources.lightspeed.settings import DEFAULT_BASE_URL
from pos_sync.providers.lightspeed.link import COMMAND
from pos_sync.providers.lightspeed.oauth import FLOW
from pos_sync.providers.lightspeed.source import NO_WINDOW, RESOURCES, build_source, tokens
from pos_sync.providers.lightspeed.webhooks import FLOW as WEBHOOKS
from pos_sync.providers.spec import ProviderSpec
from transforms import lightspeed as lightspeed_transform

SPEC = ProviderSpec(
    name="lightspeed",
    label="Lightspeed",
    resources=RESOURCES,
    transaction_tables=("sales",),
    build_source=build_source,
    tokens=tokens,
    cli_link=COMMAND,
    oauth=FLOW,
    webhooks=WEBHOOKS,
    credential_kind="oauth",
    # a rotated refresh token was lost (or access revoked): approve access again
    reauth_status="reauth_required",
    default_base_url=DEFAULT_BASE_URL,
    canonical=lightspeed_transform.build,
    canonical_inputs={
        "pos_transactions": ("sales", "outlets", "users", "registers", "payment_types", "customers"),
        "pos_transaction_items": ("sales", "products", "taxes"),
        "pos_tenders": ("sales", "payment_types"),
        "pos_products": ("products", "outlets"),
        "pos_locations": ("outlets",),
    },
    windows=None,
    no_window_reason=NO_WINDOW,
    app_env=("LIGHTSPEED_CLIENT_ID", "LIGHTSPEED_CLIENT_SECRET"),
    descriptions={
        "raw": "Incremental Lightspeed sync of one store: the version change feeds of sales (line items,\n"
               "payments as child tables), products, outlets, registers, users, payment types, taxes and\n"
               "customers, plus "
               "product categories. Rotated refresh tokens are saved the moment they arrive.",
    },
)
