"""Run and op tags pos-sync sets and reads."""

WAREHOUSE_WRITER = {"pos/warehouse-writer": "1"}  # runs that write the warehouse (DuckDB: one at a time)
ACCOUNT = "pos/account"  # the account a run syncs
PROVIDER = "pos/provider"
TRIGGER = "pos/trigger"  # why it runs: new-account, due, cli, …
SYNC_REQUEST = "pos/sync-request"  # the API sync request a run answers
REREAD = "pos/reread"  # a sync that re-reads the whole change feed through a fresh pipeline (the request's id)
WEBHOOK_BATCH = "pos/webhook-batch"  # the inbox events a targeted sync settles
WEBHOOK_SCOPE = "pos/webhook-scope"  # a webhook sync's assets: full (the whole job) or targeted (raw + canonical)
# Dagster's run-queue priority (higher first, then the oldest): webhook syncs and forecasting runs,
# the two ends of a sale's way to a forecast, go before monitoring, polls and backfills
PRIORITY = {"dagster/priority": "1"}
# Dagster's own, on a re-execution (run retries): the run it re-executes and the first of the chain
PARENT_RUN, ROOT_RUN = "dagster/parent_run_id", "dagster/root_run_id"
ACCOUNT_LABEL = "pos/account-label"  # tenant · provider · store name: what a person recognises in the runs list


def account_label(account: object) -> str:
    """``tenant · provider · name`` of an account (an ``AccountInfo``), for run tags."""
    name = getattr(account, "name", None) or getattr(account, "merchant_id", "")
    return f"{getattr(account, 'tenant_id', '')} · {getattr(account, 'provider', '')} · {name}"[:200]
