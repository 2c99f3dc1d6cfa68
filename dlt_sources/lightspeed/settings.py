"""Constants of the Lightspeed Retail (X-Series) source: hosts, paths, page sizes, decimal fields."""

from __future__ import annotations

from dlt_sources.common.guard import GuardColumns
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.rows import ACCOUNT_COLUMN as ACCOUNT_COLUMN  # re-exported

DEFAULT_BASE_URL = "https://{domain_prefix}.retail.lightspeed.app"  # the store's own host
API_PREFIX = "/api/2.0"
TOKEN_PATH = "/api/1.0/token"  # form-encoded; refresh tokens rotate on every use

USER_AGENT = "pos-sync (dlt source lightspeed)"

# X-Series allows 300 × registers + 50 requests per 5 minutes per store and app, and says how many
# are left on every answer: at X-RateLimit-Remaining 0 (a 429 over the quota says so too) every
# request of the client waits until X-RateLimit-Reset. A 429 is waited out by its request until
# its Retry-After (an RFC 1123 date); every request of the client waits with it only when the
# quota headers say the quota is spent or GATE_AFTER_429S come in a row (no success between
# them): a lone 429 while the quota has room is not the store's limit. No client-side limiter
# by default (the register count is the store's); pass
# Pacing(limits=(RateLimit(300 * registers + 50, 300.0),), ...) to add one.
GATE_AFTER_429S = 4
LIGHTSPEED_PACING = Pacing(remaining_header="X-RateLimit-Remaining", reset_header="X-RateLimit-Reset",
                           gate_after=GATE_AFTER_429S)

# resource / table -> (path under /api/2.0, extra query parameters, page size)
# `deleted=true`: without it a change feed never shows a soft delete (deleted_at).
VERSION_STREAMS: dict[str, tuple[str, dict[str, str], int]] = {
    "sales": ("/sales", {}, 1000),
    "products": ("/products", {"deleted": "true"}, 1000),
    "outlets": ("/outlets", {"deleted": "true"}, 1000),
    "registers": ("/registers", {"deleted": "true"}, 1000),
    "users": ("/users", {}, 1000),
    "payment_types": ("/payment_types", {}, 1000),
    "taxes": ("/taxes", {}, 1000),
    "customers": ("/customers", {"deleted": "true"}, 1000),  # the person behind a sale's customer_id
}
# the optional version guard of every feed: drop a row whose stored ``version`` is the same or newer
VERSION_GUARD = GuardColumns("id", "version", "int")
CATEGORIES_PATH = "/product_categories"

# the X-Series OAuth scope each endpoint needs (x-series-api.lightspeedhq.com/docs/scopes), for the
# one-line MissingScopes message of a 403; the longest matching path prefix under /api/2.0 wins
SCOPES_BY_PATH: dict[str, str] = {
    "/sales": "sales:read",
    "/products": "products:read",
    "/product_categories": "products:read",
    "/outlets": "outlets:read",
    "/registers": "registers:read",
    "/users": "users:read",
    "/payment_types": "payment_types:read",
    "/taxes": "taxes:read",
    "/customers": "customers:read",
    "/retailer": "retailer:read",
}
OUTLETS_PAGE_SIZE = 1000  # outlet discovery (a store has a handful)
CATEGORIES_PAGE_SIZE = 1000

# numbers kept as exact decimals (money in major units with up to 5 decimals, quantities, rates):
# parsed from the JSON text as Decimal, integers included, so every row gives the column the same
# decimal type (an integral `200` must not make a BIGINT column that a later `4.30435` splits).
DECIMAL_FIELDS = frozenset({
    "quantity", "price", "unit_price", "price_total", "total_price", "discount", "unit_discount",
    "discount_total", "total_discount", "cost", "unit_cost", "cost_total", "total_cost", "tax", "unit_tax",
    "tax_total", "total_tax", "loyalty_value", "unit_loyalty_value", "total_loyalty_value", "total_loyalty",
    "amount", "value", "rate", "supply_price", "price_including_tax", "price_excluding_tax", "loyalty_amount",
    "target_daily", "target_weekly", "target_monthly",
})

RECONNECT_HINT = (
    "Mark the Lightspeed account reauth_required and reconnect it: run `pos-sync accounts add lightspeed "
    "--domain-prefix <prefix> …` and approve access again (Lightspeed rotates refresh tokens on every use, so a "
    "refresh token that was already used — e.g. by a refresh whose response was lost — can no longer be "
    "exchanged). Nothing synced so far is lost: the next sync resumes from the last version that was loaded."
)
SCOPES_HINT = (
    "Reconnect the Lightspeed account (`pos-sync accounts add lightspeed --domain-prefix <prefix> …`) and let the "
    "store's admin approve every scope pos-sync asks for; a token keeps the scopes it was granted."
)

# Personal data, pseudonymised before it reaches dlt when the caller passes ``pseudonymize``
# (dlt_sources/common/pseudonymise.py): a sale's customer, and users' contact details (the login
# name is an e-mail's local part). Users' display names stay readable (the canonical cashier name).
PII_FIELDS: dict[str, dict[str, str]] = {
    "sales": {"customer_id": "id", "customer": "text"},
    "users": {"email": "email", "username": "id", "phone": "phone", "mobile": "phone"},
    "customers": {  # the id too: sales name their customer by it (hashed alike, so they still join)
        "id": "id", "first_name": "name", "last_name": "name", "name": "name", "email": "email", "phone": "phone",
        "mobile": "phone", "fax": "phone", "date_of_birth": "text", "note": "text", "twitter": "text",
        "website": "text", "customer_code": "id", "custom_field_1": "text", "custom_field_2": "text",
        "custom_field_3": "text", "custom_field_4": "text",
        **{f"{kind}_{part}": "text" for kind in ("physical", "postal")
           for part in ("address_1", "address_2", "suburb", "city", "postcode", "state")},
    },
}
