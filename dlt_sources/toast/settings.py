"""Constants of the Toast source: hosts, endpoints, page and window sizes, guard columns."""

from __future__ import annotations

from datetime import timedelta

DEFAULT_BASE_URL = "https://ws-api.toasttab.com"
SANDBOX_BASE_URL = "https://ws-sandbox-api.eng.toasttab.com"  # Toast's partner sandbox (not in the spec)

LOGIN_PATH = "/authentication/v1/authentication/login"
ORDERS_BULK_PATH = "/orders/v2/ordersBulk"
MENUS_PATH = "/menus/v2/menus"
MENUS_METADATA_PATH = "/menus/v2/metadata"
RESTAURANT_PATH = "/restaurants/v1/restaurants/{guid}"
RESTAURANT_HEADER = "Toast-Restaurant-External-ID"
MACHINE_CLIENT = "TOAST_MACHINE_CLIENT"

ORDERS_PAGE_SIZE = 100  # Toast's maximum pageSize
MAX_ORDERS_WINDOW = timedelta(days=1)  # one ordersBulk query covers at most one day of modifiedDate
DEFAULT_LOOKBACK = timedelta(minutes=15)
DEFAULT_INITIAL_DAYS = 90
TOKEN_REFRESH_MARGIN = timedelta(minutes=10)  # log in again this long before the token expires
KNOWN_VERSIONS_CHUNK = 500

# scope each endpoint family needs (for MissingScopes messages)
SCOPES_BY_PATH = {
    "/orders/v2/": "orders:read",
    "/menus/v2/": "menus:read",
    "/restaurants/v1/": "restaurants:read",
}

ACCOUNT_COLUMN = "_pos_account_id"
RESTAURANT_COLUMN = "_pos_restaurant_guid"
CONTENT_HASH_COLUMN = "_pos_content_hash"

# JSON fields whose numbers are decimal amounts (money, quantities, rates): loaded as exact decimal
# text even when Toast sends an integer literal, so each column keeps one type. Every other
# non-integer number is loaded as exact decimal text too (see helpers.exact_numbers).
DECIMAL_FIELDS = frozenset({
    "amount", "taxAmount", "totalAmount", "tipAmount", "amountTendered", "originalProcessingFee",
    "mcaRepaymentAmount", "price", "preDiscountPrice", "tax", "receiptLinePrice", "openPriceAmount",
    "externalPriceAmount", "quantity", "refundAmount", "tipRefundAmount", "taxRefundAmount", "discountAmount",
    "nonTaxDiscountAmount", "discountPercent", "chargeAmount", "rate", "minimum", "latitude", "longitude",
    "priceScaleFactor", "fixedPrice", "multiplicationFactor", "guestCount", "length", "height", "width", "weight",
})

# version guard: table -> (key column, guard column, kind) as dlt names them in the destination
# (snake_case), and the row fields they come from. "timestamp": drop the fetched row when the stored
# value is the same or newer; "hash": drop it when the stored content hash is equal.
GUARD_COLUMNS: dict[str, tuple[str, str, str, str, str]] = {
    # table: (row key field, row guard field, db key column, db guard column, kind)
    "orders": ("guid", "modifiedDate", "guid", "modified_date", "timestamp"),
    "restaurants": ("guid", CONTENT_HASH_COLUMN, "guid", CONTENT_HASH_COLUMN, "hash"),
    "menus": ("restaurantGuid", "lastUpdated", "restaurant_guid", "last_updated", "timestamp"),
}
