"""Constants of the Toast source: hosts, endpoints, page and window sizes, guard columns."""

from __future__ import annotations

from datetime import timedelta

from dlt_sources.common.guard import GuardColumns
from dlt_sources.common.pacing import Pacing, RateLimit
from dlt_sources.common.rows import ACCOUNT_COLUMN as ACCOUNT_COLUMN  # re-exported
from dlt_sources.common.rows import CONTENT_HASH_COLUMN as CONTENT_HASH_COLUMN

DEFAULT_BASE_URL = "https://ws-api.toasttab.com"
SANDBOX_BASE_URL = "https://ws-sandbox-api.eng.toasttab.com"  # Toast's partner sandbox (not in the spec)

LOGIN_PATH = "/authentication/v1/authentication/login"
ORDERS_BULK_PATH = "/orders/v2/ordersBulk"
MENUS_PATH = "/menus/v2/menus"
MENUS_METADATA_PATH = "/menus/v2/metadata"
RESTAURANT_PATH = "/restaurants/v1/restaurants/{guid}"
EMPLOYEES_PATH = "/labor/v1/employees"  # labor API: the names behind Order.server (bare array, no paging)
DEVICES_PATH = "/device-details/v1/device-info"  # device details API: the names behind createdDevice.id
PARTNERS_RESTAURANTS_PATH = "/partners/v1/restaurants"  # partner clients only (discovery without GUIDs)
RESTAURANT_HEADER = "Toast-Restaurant-External-ID"
MACHINE_CLIENT = "TOAST_MACHINE_CLIENT"

ORDERS_PAGE_SIZE = 100  # Toast's maximum pageSize
MAX_ORDERS_WINDOW = timedelta(days=1)  # one ordersBulk query covers at most one day of modifiedDate
SETTLE_ROUNDS = 3  # rounds of reading again the windows orders left while paged (source._settle)
ORDERS_WINDOW_CONCURRENCY = 4  # a restaurant's ordersBulk windows paged at once (its rate limits still hold)
RESTAURANTS_AT_ONCE = 8  # restaurants whose orders are read side by side (Toast's limits count per restaurant)
DEFAULT_LOOKBACK = timedelta(minutes=15)
DEFAULT_INITIAL_DAYS = 90
TOKEN_REFRESH_MARGIN = timedelta(minutes=10)  # log in again this long before the token expires
KNOWN_VERSIONS_CHUNK = 500

# Toast's documented limits (doc.toasttab.com/doc/devguide/apiRateLimiting.html): 20 requests per
# second and 10 000 per 15 minutes, counted per restaurant when the request names one; endpoint
# limits per client per location: /menus once a second, /ordersBulk five times a second. Since the
# limits count per restaurant, a chain's restaurants are read side by side (RESTAURANTS_AT_ONCE).
# A 429 is waited out by its request until its Retry-After; every request of the client waits with
# it once GATE_AFTER_429S come in a row (no success between them). The X-Toast-RateLimit-Remaining/
# -Reset headers are not used: they describe whichever limit is the tightest for that request (a
# /menus answer says 0 left for /menus only), so acting on them would hold the whole client for a
# limit the client-side limiters already respect — and for the same reason a lone 429 (an
# endpoint's own limit, or a limit those limiters did not foresee) holds only its request.
# One version of that page also asks that historical startDate/endDate requests span at most a month
# and be spaced 5-10 s apart; the current page does not (README, "Pacing"): not followed.
GATE_AFTER_429S = 4
ORDERS_BULK_PER_SECOND = 5
TOAST_PACING = Pacing(
    limits=(RateLimit(20, 1.0), RateLimit(10_000, 900.0), RateLimit(1, 1.0, path_contains=MENUS_PATH),
            RateLimit(ORDERS_BULK_PER_SECOND, 1.0, path_contains=ORDERS_BULK_PATH)),
    key_header=RESTAURANT_HEADER,
    gate_after=GATE_AFTER_429S,
)

# scope each endpoint family needs (for MissingScopes messages)
SCOPES_BY_PATH = {
    "/orders/v2/": "orders:read",
    "/menus/v2/": "menus:read",
    "/restaurants/v1/": "restaurants:read",
    "/labor/v1/": "labor.employees:read",
    "/device-details/v1/": "device-details.info:read",
}

RESTAURANT_COLUMN = "_pos_restaurant_guid"

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

# version guard: table -> (row key field, row guard field, kind, db key column, db guard column): the
# row fields and the columns dlt names them in the destination (snake_case). "timestamp": drop the
# fetched row when the stored value is the same or newer; "hash": drop it when the stored content
# hash is equal.
GUARD_COLUMNS: dict[str, GuardColumns] = {
    "orders": GuardColumns("guid", "modifiedDate", "timestamp", "guid", "modified_date"),
    "restaurants": GuardColumns("guid", CONTENT_HASH_COLUMN, "hash", "guid", CONTENT_HASH_COLUMN),
    "menus": GuardColumns("restaurantGuid", "lastUpdated", "timestamp", "restaurant_guid", "last_updated"),
}

# Personal data, pseudonymised before it reaches dlt when the caller passes ``pseudonymize``
# (dlt_sources/common/pseudonymise.py): a check's guest (``guest.pi:read``), a tab named after a
# guest, delivery and curbside details; employees' contact details (their names stay readable: the
# canonical cashier name).
PII_FIELDS: dict[str, dict[str, str]] = {
    "employees": {"email": "email", "phoneNumber": "phone"},
    "orders": {"checks[].customer.guid": "id", "checks[].customer.email": "email",
               "checks[].customer.phone": "phone", "checks[].customer.firstName": "name",
               "checks[].customer.lastName": "name", "checks[].tabName": "name",
               "deliveryInfo": "text", "curbsidePickupInfo": "text"},
}
