"""Constants of the Square source: API version pin, page sizes, endpoints, scopes, guard columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dlt_sources.common.guard import GuardColumns
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.rows import ACCOUNT_COLUMN as ACCOUNT_COLUMN  # re-exported
from dlt_sources.common.rows import CONTENT_HASH_COLUMN as CONTENT_HASH_COLUMN

SQUARE_VERSION = "2025-08-20"  # Square-Version header; updated_at filters need >= 2025-02-20 (refunds)
DEFAULT_BASE_URL = "https://connect.squareup.com"
SANDBOX_BASE_URL = "https://connect.squareupsandbox.com"  # "squareup", not "square" (airbyte typo)
TOKEN_PATH = "/oauth2/token"

# page sizes (Square maxima: payments/refunds 100, orders 1000, catalog 1000, team members 200, customers 100)
PAYMENTS_PAGE_SIZE = 100
REFUNDS_PAGE_SIZE = 100
ORDERS_PAGE_SIZE = 1000
CATALOG_PAGE_SIZE = 1000
TEAM_MEMBERS_PAGE_SIZE = 200
CUSTOMERS_PAGE_SIZE = 100  # ListCustomers answers 400 above 100
PREFETCH_PAGES = 1  # pages requested ahead while the current one is processed (cursor paging: 1 is the most)
LOCATION_CONCURRENCY = 2  # locations whose payments/refunds are paged at once (threads, connections)
# a long payments span (a first sync, a catch-up) is read as up to QUERY_SLICES updated_at slices
# per location, of at least MIN_SLICE each, paged at once (each slice costs one more, partial, page;
# an incremental sync's span is one slice): LOCATION_CONCURRENCY × QUERY_SLICES queries at most
SLICED_STREAMS = frozenset({"payments"})
QUERY_SLICES = 4
MIN_SLICE = timedelta(days=1)
ORDERS_LOCATION_BATCH = 10  # SearchOrders accepts at most 10 location ids

# Square publishes no rate limits ("we don't document the limits"; its advice: retry with an
# exponential backoff and some randomness): no client-side limiter. A 429 is backed off by its
# own request (its Retry-After when sent, else the jittered backoff); only GATE_AFTER_429S in a
# row (no success between them, any thread) hold every request of the client as well, the sign
# that the client as a whole is over the limit rather than one request unlucky.
GATE_AFTER_429S = 4
SQUARE_PACING = Pacing(gate_after=GATE_AFTER_429S)

DEFAULT_LOOKBACK = timedelta(minutes=15)  # re-read window (eventual consistency, late offline payments)
DEFAULT_INITIAL_DAYS = 90  # first incremental run starts at now - 90 days unless initial_start is given
MAX_CURSOR_RESTARTS = 3  # INVALID_CURSOR: restart a query from its high-water mark at most this often
KNOWN_VERSIONS_CHUNK = 500  # ids per destination look-up of the version guard

# ListPayments / ListPaymentRefunds also filter created_at, with begin_time defaulting to now - 1 year.
# Incremental queries send this floor so updates (refunds, tip edits) of older payments still arrive.
CREATED_AT_FLOOR = datetime(2009, 1, 1, tzinfo=UTC)

ORDER_STATES = ("OPEN", "COMPLETED", "CANCELED", "DRAFT")
CATALOG_OBJECT_TYPES = ("ITEM", "ITEM_VARIATION", "CATEGORY", "MODIFIER_LIST", "MODIFIER", "TAX", "DISCOUNT")

# Lists loaded as one JSON column of their table instead of a dlt child table: nothing downstream
# joins them, and as child tables they were 65 % of the rows a payments import normalised,
# loaded and merged (processing fees, the refund ids, the capabilities list).
JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "payments": ("processing_fee", "refund_ids", "capabilities"),
    "refunds": ("processing_fee",),
}

# Tables the source hands to dlt as flat Arrow tables (dlt's fast path: no per-row normalisation;
# see dlt_sources/common/arrow.py). Arrow items make no child tables: their lists are JSON_COLUMNS.
ARROW_TABLES = frozenset({"payments", "refunds", "orders"})
ARROW_BATCH_ROWS = 5000  # rows per Arrow table handed to dlt
# Orders come with their lists as nested Arrow tables (orders__line_items, …: dlt's child tables,
# built by dlt_sources/common/arrow_nested.py); this many orders per set of tables
ORDERS_ARROW_BATCH_ROWS = 2000
# their RFC 3339 timestamps, by flattened column name (the dict path's dlt normaliser finds them
# through the schema; an Arrow table must carry them typed)
TIMESTAMP_COLUMNS: dict[str, tuple[str, ...]] = {
    "payments": ("created_at", "updated_at", "delayed_until",
                 "card_details__card_payment_timeline__authorized_at",
                 "card_details__card_payment_timeline__captured_at",
                 "card_details__card_payment_timeline__voided_at"),
    "refunds": ("created_at", "updated_at"),
}

ENDPOINTS = {
    "locations": "/v2/locations",
    "payments": "/v2/payments",
    "refunds": "/v2/refunds",
    "orders": "/v2/orders/search",
    "catalog": "/v2/catalog/search",
    "team_members": "/v2/team-members/search",
    "customers": "/v2/customers",
}

# OAuth scope each endpoint family needs (for MissingScopes messages)
SCOPES_BY_PATH = {
    "/v2/locations": "MERCHANT_PROFILE_READ",
    "/v2/payments": "PAYMENTS_READ",
    "/v2/refunds": "PAYMENTS_READ",
    "/v2/orders": "ORDERS_READ",
    "/v2/catalog": "ITEMS_READ",
    "/v2/team-members": "EMPLOYEES_READ",
    "/v2/customers": "CUSTOMERS_READ",
}

# version guard: table -> (key, column compared, kind); rows and destination name them alike.
# "timestamp"/"int": drop the fetched row when the stored value is the same or newer; "hash": drop
# it when the stored content hash is equal.
GUARD_COLUMNS: dict[str, GuardColumns] = {
    "locations": GuardColumns("id", CONTENT_HASH_COLUMN, "hash"),
    "payments": GuardColumns("id", "updated_at", "timestamp"),
    "refunds": GuardColumns("id", "updated_at", "timestamp"),
    "orders": GuardColumns("id", "version", "int"),
    "catalog": GuardColumns("id", "version", "int"),
    "team_members": GuardColumns("id", "updated_at", "timestamp"),
    "customers": GuardColumns("id", "updated_at", "timestamp"),
}

# Personal data, pseudonymised before it reaches dlt when the caller passes ``pseudonymize``
# (dlt_sources/common/pseudonymise.py): customers (ids, e-mails, names, addresses, card holder
# names) and staff contact details. Staff names stay readable (the canonical cashier name), and so
# do locations' addresses (a shop, not a person).
_RECIPIENT = {"customer_id": "id", "display_name": "name", "email_address": "email", "phone_number": "phone",
              "address": "text"}
PII_FIELDS: dict[str, dict[str, str]] = {
    "payments": {"customer_id": "id", "buyer_email_address": "email", "billing_address": "text",
                 "shipping_address": "text", "card_details.card.cardholder_name": "name",
                 "card_details.card.billing_address": "text"},
    "orders": {"customer_id": "id", "tenders[].customer_id": "id",
               "tenders[].card_details.card.cardholder_name": "name",
               **{f"fulfillments[].{kind}_details.recipient.{key}": value
                  for kind in ("pickup", "shipment", "delivery") for key, value in _RECIPIENT.items()}},
    "team_members": {"email_address": "email", "phone_number": "phone"},
    # the id too: orders name their customer by it (hashed alike, so they still join); hashed on
    # the dict rows before the version guard, which then looks up the ids the destination holds
    "customers": {"id": "id", "given_name": "name", "family_name": "name", "nickname": "name",
                  "company_name": "name", "email_address": "email", "phone_number": "phone", "address": "text",
                  "birthday": "text", "reference_id": "id", "note": "text"},
}
