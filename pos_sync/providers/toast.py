"""Toast: a machine client (login, no refresh grant) and its restaurants; backfills by business day.

The machine-client token lives in the app store, encrypted, as the account's access token with
its expiry: the run starts from the stored one and every new login is stored at once, so it is
reused across runs, restaurants and processes — Toast asks for at most a couple of logins per hour.
"""

from __future__ import annotations

from typing import Any

from dlt_sources.common.auth import TokenSet
from dlt_sources.toast import destination_known_versions, toast_source
from dlt_sources.toast.settings import DEFAULT_BASE_URL
from pos_sync.providers.spec import ProviderSpec, SourceRequest
from transforms import toast as toast_transform

RESOURCES = ("restaurants", "orders", "menus")


class _StoredToken:
    """The source's token cache over the account's stored token and the app store's saver."""

    def __init__(self, req: SourceRequest) -> None:
        creds = req.creds
        self._tokens = (TokenSet(access_token=creds.access_token, expires_at=creds.token_expires_at)
                        if creds.access_token else None)
        self._save = req.save_tokens

    def get(self) -> TokenSet | None:
        return self._tokens

    def put(self, tokens: TokenSet) -> None:
        self._save(tokens)
        self._tokens = tokens


def build_source(req: SourceRequest) -> Any:
    """Incremental (no window) or a stateless [start, end) window of business days; restaurants =
    the account's enabled locations (restaurant GUIDs)."""
    creds = req.creds
    return toast_source(
        creds.client_id or creds.merchant_id,  # `accounts add toast`: merchant id = client id
        creds.client_secret or "",
        list(creds.location_ids),
        base_url=(creds.base_url or DEFAULT_BASE_URL).rstrip("/"),
        account_id=creds.account_id,
        start=req.start,
        end=req.end,
        initial_start=req.initial_start,
        now=req.now,
        token_cache=_StoredToken(req),
        known_versions=destination_known_versions(req.pipeline, account_id=creds.account_id),
    )


SPEC = ProviderSpec(
    name="toast",
    label="Toast",
    resources=RESOURCES,
    transaction_tables=("orders",),
    build_source=build_source,
    credential_kind="machine_client",
    # the machine client's login is refused: enter the client's current credentials
    reauth_status="reauth_required",
    default_base_url=DEFAULT_BASE_URL,
    canonical=toast_transform.build,
    canonical_inputs={
        "pos_transactions": ("orders", "restaurants"),
        "pos_transaction_items": ("orders", "menus"),
        "pos_tenders": ("orders",),
        "pos_products": ("menus", "restaurants"),
        "pos_locations": ("restaurants",),
    },
    local_business_day=False,  # Toast's businessDate follows the restaurant's closeout hour
    windows="business_day",
    descriptions={
        "raw": "Incremental Toast sync of one account (machine client): restaurants, orders (checks,\n"
               "selections, payments as child tables) by modification windows, menus when they changed.\n"
               "The first run imports HISTORICAL_IMPORT_DAYS; the login token is reused from the app store.",
        "window_op": "Load one business day of one account's Toast orders without touching its cursor.",
        "backfill_job": "Historical import of chosen Toast accounts over a date range: launch a backfill over "
                        "account × day partitions in the UI; each day is a stateless load of that business date.",
    },
)
