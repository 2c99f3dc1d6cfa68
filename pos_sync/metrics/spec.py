"""Every metric family pos-sync exposes, named once.

The first five are the service spec's ("Custom Metrics (Prometheus)") with exactly its names, help
texts, labels and buckets; the collector, the app store's totals table, the API and the tests read
them from here. The others are pos-sync's own (docs/metrics.md says what each means).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    labels: tuple[str, ...]
    type: str  # gauge | counter | histogram


# ------------------------------------------------------------------ the service spec's five
ACCOUNTS = Family("pos_accounts_total", "Total connected POS accounts", ("tenant_id", "pos_provider", "status"),
                  "gauge")
TRANSACTIONS_SYNCED = Family("pos_transactions_synced_total", "Total transactions synced from POS",
                             ("tenant_id", "pos_provider"), "counter")
SYNC_DURATION = Family("pos_sync_duration_seconds", "POS sync duration", ("tenant_id", "pos_provider"), "histogram")
SYNC_DURATION_BUCKETS: tuple[float, ...] = (5, 10, 30, 60, 120, 300)
SYNC_ERRORS = Family("pos_sync_errors_total", "Total POS sync errors", ("tenant_id", "pos_provider", "error_type"),
                     "counter")
UNMAPPED_PRODUCTS = Family("pos_unmapped_products_total", "Products without mapping", ("tenant_id", "pos_account_id"),
                           "gauge")
SPEC_FAMILIES = (ACCOUNTS, TRANSACTIONS_SYNCED, SYNC_DURATION, SYNC_ERRORS, UNMAPPED_PRODUCTS)

UNKNOWN_ERROR = "unknown"  # the error_type label of a failed sync whose log names no kind

# ------------------------------------------------------------------ pos-sync's own, from the app store
WEBHOOK_INBOX = Family("pos_webhooks_inbox", "Webhook events in the inbox by processing status "
                       "(settled ones are kept until pruned)", ("pos_provider", "status"), "gauge")
APPSTORE_UP = Family("pos_metrics_appstore_up", "1 when this scrape could read the app store, else 0", (), "gauge")
APPSTORE_FAMILIES = (*SPEC_FAMILIES, WEBHOOK_INBOX, APPSTORE_UP)

# ------------------------------------------------------------------ measured in the API process
WEBHOOKS_RECEIVED = Family("pos_webhooks_received_total", "Webhook deliveries this API process answered, by "
                           "outcome (accepted, duplicate, unroutable, or why it was rejected)",
                           ("pos_provider", "outcome"), "counter")
API_REQUESTS = Family("pos_api_requests_total", "HTTP requests this API process answered",
                      ("method", "route", "status_code"), "counter")
API_LATENCY = Family("pos_api_request_duration_seconds", "Time this API process took to answer a request",
                     ("method", "route", "status_code"), "histogram")
API_LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
API_FAMILIES = (WEBHOOKS_RECEIVED, API_REQUESTS, API_LATENCY)
