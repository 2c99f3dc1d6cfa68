"""Sync logs and account status around one sync run.

``with track_sync(account_id, "incremental", run_id) as stats:`` opens a ``pos_sync_logs`` row
(closing any row a killed run left ``in_progress`` as failed), and on exit closes it as
``success`` or ``failed``. Failures update the account: an authorization that can no longer be
refreshed marks it with its provider's status (:data:`REAUTH_STATUS`: Square ``disconnected``,
Lightspeed and Toast ``reauth_required``) and the message that says what to do; other errors
mark it ``error`` and count consecutive failures. Success marks it ``active`` again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dlt_sources.common.errors import MissingScopes, ReauthorizationRequired
from pos_sync import appstore


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


# account status when a provider's authorization can no longer be refreshed (a human must act):
# Square: the grant was revoked or the refresh token is dead -> re-link through OAuth;
# Lightspeed: a rotated refresh token was lost (or access revoked) -> approve access again;
# Toast: the machine client's login is refused -> enter the client's current credentials.
REAUTH_STATUS = {"square": "disconnected", "lightspeed": "reauth_required", "toast": "reauth_required"}


def classify_failure(exc: BaseException, provider: str | None = None) -> tuple[str, str]:
    """(account status, message) for a failed sync of a ``provider`` account (default: Square's
    behaviour)."""
    cause = _root_cause(exc)
    if isinstance(cause, ReauthorizationRequired):
        return REAUTH_STATUS.get(provider or "square", "disconnected"), str(cause)
    if isinstance(cause, MissingScopes):
        return "error", str(cause)
    return "error", f"{type(cause).__name__}: {cause}"


@contextmanager
def track_sync(account_id: str, sync_type: str, run_id: str | None = None, *,
               provider: str | None = None) -> Iterator[SyncStats]:
    log_id = appstore.start_sync_log(account_id, sync_type, dagster_run_id=run_id)
    stats = SyncStats()
    try:
        yield stats
    except BaseException as exc:
        if provider is None:
            try:
                provider = appstore.get_account(account_id).provider
            except appstore.AppStoreError:
                provider = None
        status, message = classify_failure(exc, provider)
        appstore.finish_sync_log(log_id, "failed", fetched=stats.fetched, processed=stats.processed,
                                 failed=stats.failed, new_products=stats.new_products, error_message=message)
        appstore.mark_account_error(account_id, status=status, message=message)
        raise
    appstore.finish_sync_log(log_id, "success", fetched=stats.fetched, processed=stats.processed,
                             failed=stats.failed, new_products=stats.new_products)
    appstore.mark_account_ok(account_id)
