"""Sync logs and account status around one sync run.

``with track_sync(store, account_id, "incremental", run_id, reauth_status=...) as stats:`` opens a
``pos_sync_logs`` row (closing any row a killed run left ``in_progress`` as failed), and on exit
closes it as ``success`` or ``failed``. Failures update the account: an authorization that can no
longer be refreshed marks it with its provider's status (the registry's ``reauth_status``: Square
``disconnected``, Lightspeed and Toast ``reauth_required``) and the message that says what to do;
other errors mark it ``error`` and count consecutive failures. Success marks it ``active`` again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dlt_sources.common.errors import MissingScopes, ReauthorizationRequired
from pos_sync.appstore import AppStore


@dataclass
class SyncStats:
    fetched: int = 0
    processed: int = 0
    failed: int = 0
    new_products: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)

    def add_rows(self, table: str, rows: int) -> None:
        self.rows_by_table[table] = self.rows_by_table.get(table, 0) + rows


def _root_cause(exc: BaseException) -> BaseException:
    """dlt wraps resource errors (PipelineStepFailed → ResourceExtractionError → ours)."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ReauthorizationRequired | MissingScopes):
            return current
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            break
        current = nxt
    return exc


def classify_failure(exc: BaseException, reauth_status: str = "disconnected") -> tuple[str, str]:
    """(account status, message) of a failed sync; ``reauth_status`` is what the provider's lost
    authorization means (the registry's ``ProviderSpec.reauth_status``)."""
    cause = _root_cause(exc)
    if isinstance(cause, ReauthorizationRequired):
        return reauth_status, str(cause)
    if isinstance(cause, MissingScopes):
        return "error", str(cause)
    return "error", f"{type(cause).__name__}: {cause}"


@contextmanager
def track_sync(store: AppStore, account_id: str, sync_type: str, run_id: str | None = None, *,
               reauth_status: str = "disconnected") -> Iterator[SyncStats]:
    log_id = store.start_sync_log(account_id, sync_type, dagster_run_id=run_id)
    stats = SyncStats()
    try:
        yield stats
    except BaseException as exc:
        status, message = classify_failure(exc, reauth_status)
        store.finish_sync_log(log_id, "failed", fetched=stats.fetched, processed=stats.processed,
                              failed=stats.failed, new_products=stats.new_products, error_message=message)
        store.mark_account_error(account_id, status=status, message=message)
        raise
    store.finish_sync_log(log_id, "success", fetched=stats.fetched, processed=stats.processed,
                          failed=stats.failed, new_products=stats.new_products)
    store.mark_account_ok(account_id)
