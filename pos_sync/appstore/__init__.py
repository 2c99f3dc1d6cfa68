"""The app store: POS accounts, their locations, sync logs and the webhook inbox.

SQLite under ``POS_HOME`` by default, PostgreSQL with ``POS_DATABASE_URL``. Secrets are
Fernet-encrypted at rest (:mod:`.crypto`); the schema is managed by Alembic (:func:`upgrade`,
run automatically by every repository function). Typical use::

    from pos_sync.appstore import account_credentials, start_sync_log, finish_sync_log

    creds = account_credentials(account_id)
    log_id = start_sync_log(account_id, "incremental", dagster_run_id=context.run_id)
    ...
    finish_sync_log(log_id, "success", fetched=120, processed=120)
"""

from pos_sync.appstore.account_state import mark_account_error, mark_account_ok, save_tokens
from pos_sync.appstore.accounts import (
    account_credentials,
    add_account,
    find_account,
    get_account,
    list_accounts,
    load_for_sync,
    remove_account,
    set_locations,
    update_account,
    upsert_account,
)
from pos_sync.appstore.crypto import CryptoError, decrypt, encrypt
from pos_sync.appstore.db import (
    current_revision,
    dispose_engines,
    ensure_schema,
    get_engine,
    head_revision,
    normalize_url,
    read_connection,
    session_scope,
    upgrade,
)
from pos_sync.appstore.errors import (
    AccountNotFound,
    AppStoreError,
    LocationConflict,
    PurgeFailed,
    PurgeUnavailable,
    SyncLogNotFound,
)
from pos_sync.appstore.models import AccountStatus, SyncStatus, SyncType
from pos_sync.appstore.store import AppStore
from pos_sync.appstore.sync_logs import (
    STALE_SYNC_MESSAGE,
    finish_sync_log,
    open_log_of_run,
    prune_sync_logs,
    record_sync_counts,
    start_sync_log,
    sync_history,
)
from pos_sync.appstore.values import (
    AccountCredentials,
    AccountInfo,
    LocationInfo,
    RemovedAccount,
    SyncLogInfo,
)

__all__ = [
    "STALE_SYNC_MESSAGE",
    "AccountCredentials",
    "AccountInfo",
    "AccountNotFound",
    "AccountStatus",
    "AppStore",
    "AppStoreError",
    "CryptoError",
    "LocationConflict",
    "LocationInfo",
    "PurgeFailed",
    "PurgeUnavailable",
    "RemovedAccount",
    "SyncLogInfo",
    "SyncLogNotFound",
    "SyncStatus",
    "SyncType",
    "account_credentials",
    "add_account",
    "current_revision",
    "decrypt",
    "dispose_engines",
    "encrypt",
    "ensure_schema",
    "find_account",
    "finish_sync_log",
    "get_account",
    "get_engine",
    "head_revision",
    "list_accounts",
    "load_for_sync",
    "mark_account_error",
    "mark_account_ok",
    "normalize_url",
    "open_log_of_run",
    "prune_sync_logs",
    "read_connection",
    "record_sync_counts",
    "remove_account",
    "save_tokens",
    "session_scope",
    "set_locations",
    "start_sync_log",
    "sync_history",
    "upgrade",
    "update_account",
    "upsert_account",
]
