"""Constants of the Lightspeed Retail R-Series (API V3) source: hosts, paths, streams, field types."""

from __future__ import annotations

from datetime import timedelta

from dlt_sources.common.rows import ACCOUNT_COLUMN as ACCOUNT_COLUMN  # re-exported

DEFAULT_BASE_URL = "https://api.lightspeedapp.com"  # the API host (the same for every account)
OAUTH_BASE_URL = "https://cloud.lightspeedapp.com"  # authorize + token (sandbox: the emulator's base URL)
API_PREFIX = "/API/V3"
TOKEN_PATH = "/auth/oauth/token"  # refresh tokens rotate on every use
AUTHORIZE_PATH = "/auth/oauth/authorize"
USER_AGENT = "pos-sync (dlt source lightspeed_r)"

PAGE_LIMIT = 100  # R-Series' largest page
# re-read this much before the stored high-water mark: a change whose timeStamp lands just behind
# it (a SaleLine edit that may not bump its Sale at once, clock skew between Lightspeed's servers)
# is still seen; rows already loaded with the same timeStamp are skipped, so a quiet sync loads nothing
LOOKBACK = timedelta(minutes=15)
# the leaky bucket: keep the level at most this many units under the bucket's size
BUCKET_HEADROOM = 5

SALE_RELATIONS = ("SaleLines", "SalePayments", "SalePayments.PaymentType", "Customer")

# resource -> (R-Series object name, id field, extra query parameters, read per shop)
STREAMS: dict[str, tuple[str, str, dict[str, str], bool]] = {
    "shops": ("Shop", "shopID", {}, False),
    "registers": ("Register", "registerID", {}, False),
    "employees": ("Employee", "employeeID", {"archived": "true"}, False),
    "payment_types": ("PaymentType", "paymentTypeID", {"archived": "true"}, False),
    "tax_categories": ("TaxCategory", "taxCategoryID", {}, False),
    "categories": ("Category", "categoryID", {"archived": "true"}, False),
    "items": ("Item", "itemID", {"archived": "true"}, False),
    "sales": ("Sale", "saleID", {}, True),
}
SHOP_SCOPED = ("sales", "shops", "registers")

# R-Series sends every scalar as a string: these become exact Decimals (money, quantities, rates)
DECIMAL_FIELDS = frozenset({
    "amount", "tipAmount", "unitQuantity", "unitPrice", "normalUnitPrice", "discountAmount", "discountPercent",
    "avgCost", "fifoCost", "tax1Rate", "tax2Rate", "displayableSubtotal", "displayableUnitPrice",
    "calcLineDiscount", "calcTransactionDiscount", "calcTotal", "calcSubtotal", "calcTax1", "calcTax2",
    "calcDiscount", "calcTaxable", "calcNonTaxable", "calcAvgCost", "calcFIFOCost", "calcPayments", "calcTips",
    "total", "totalDue", "displayableTotal", "balance", "change", "defaultCost", "serviceRate",
})
# ... and these booleans ("false" is truthy as a string)
BOOL_FIELDS = frozenset({
    "completed", "archived", "voided", "enablePromotions", "isTaxInclusive", "tax", "isLayaway", "isWorkorder",
    "isSpecialOrder", "discountable", "serialized", "publishToEcom", "taxLabor", "labelMsrp", "zipCodeRequired",
    "open", "lockOut", "requireCustomer", "internalReserved",
})
# nested collections and the element key inside them (a one-element collection comes as an object)
COLLECTIONS = {"SaleLines": "SaleLine", "SalePayments": "SalePayment", "Prices": "ItemPrice",
               "Registers": "Register"}

RECONNECT_HINT = (
    "Mark the Lightspeed R-Series account reauth_required and reconnect it: run `pos-sync accounts add lightspeed_r "
    "--account-id <accountID> …` with tokens from a new authorization (R-Series rotates refresh tokens on every "
    "use: a refresh token that was already used can no longer be exchanged). Nothing synced so far is lost: the "
    "next sync resumes from the last timeStamp that was loaded."
)

# Personal data, pseudonymised before dlt sees it (dlt_sources/common/pseudonymise.py)
PII_FIELDS: dict[str, dict[str, str]] = {
    "sales": {"customerID": "id", "customer_name": "name", "customer_email": "email", "customer_phone": "phone",
              "SaleLines[].customerID": "id"},
}
