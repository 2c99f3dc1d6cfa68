"""Sync logs and account status around one sync run: one truth about a sync.

A run's log is opened by its first step and closed once, by its last: the raw load, then the
canonical build and its integrity checks (:class:`SyncLog`). Any failed step closes it as
``failed`` with the step, the kind of failure (:func:`describe_failure`: ``authentication_failed``,
``rate_limited``, …) and the real message, and updates the account (``error_count``,
``last_error_at`` and its status: a lost authorization gives the provider's ``reauth_status`` —
Square ``disconnected``, Lightspeed and Toast ``reauth_required`` — anything else ``error``).
A success is written only when every step succeeded; it marks the account ``active`` again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dlt.destinations.exceptions import DestinationConnectionError

from dlt_sources.common.errors import (
    ApiError,
    MissingScopes,
    ReauthorizationRequired,
    RetriesExhausted,
    ServerUnreachable,
)
from pos_sync.appstore import AppStore, CryptoError
from pos_sync.warehouse.sql import WarehouseUnavailable

# the steps a sync log names when one fails
SETUP, RAW_LOAD, CANONICAL_BUILD, INTEGRITY_CHECKS, BACKFILL_WINDOW = (
    "setup", "raw_load", "canonical_build", "integrity_checks", "backfill_window")


@dataclass
class SyncStats:
    fetched: int = 0
    processed: int = 0
    failed: int = 0
    new_products: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)
    api: dict[str, Any] | None = None  # the run's SyncPace counters (requests, retries, 429s, waits)
    partial_reason: str | None = None  # streams that stopped early: the run closes as partial

    def add_rows(self, table: str, rows: int) -> None:
        self.rows_by_table[table] = self.rows_by_table.get(table, 0) + rows

    def counters(self) -> dict[str, int]:
        return {"fetched": self.fetched, "processed": self.processed, "failed": self.failed,
                "new_products": self.new_products}


@dataclass(frozen=True)
class Failure:
    status: str  # the account's status after it
    error_type: str
    message: str


class IntegrityCheckFailed(Exception):
    """The canonical tables of the sync failed an integrity check (the message names which)."""


_KNOWN = (ReauthorizationRequired, MissingScopes, ApiError, CryptoError, IntegrityCheckFailed, DestinationConnectionError,
          WarehouseUnavailable)


def _root_cause(exc: BaseException) -> BaseException:
    """dlt and Dagster wrap errors (PipelineStepFailed → ResourceExtractionError → ours)."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _KNOWN):
            return current
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            break
        current = nxt
    return exc


def _duckdb_file_held(cause: BaseException) -> bool:
    """DuckDB's error for a warehouse file another process holds (no import: an error of a module
    never imported cannot be this one)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()


def _error_type(cause: BaseException) -> str:
    if isinstance(cause, ReauthorizationRequired):
        return "authentication_failed"
    if isinstance(cause, MissingScopes):
        return "missing_scopes"
    if isinstance(cause, CryptoError):
        return "encryption_key"
    if isinstance(cause, IntegrityCheckFailed):
        return "invalid_data"
    if isinstance(cause, ServerUnreachable):
        return "provider_unreachable"
    if isinstance(cause, DestinationConnectionError | WarehouseUnavailable) or _duckdb_file_held(cause):
        return "warehouse_unavailable"
    if isinstance(cause, ApiError):
        if cause.status == 429:
            return "rate_limited"
        if isinstance(cause, RetriesExhausted) or (cause.status or 0) >= 500:
            return "provider_unavailable"
        return "provider_error"
    if isinstance(cause, ConnectionError | TimeoutError) or type(cause).__module__.startswith("requests"):
        return "provider_unavailable"
    return "internal_error"


def sandbox_not_running(url: str) -> str:
    """The one line for an account whose (loopback) sandbox is gone."""
    parts = urlsplit(url)
    return f"the sandbox at {parts.scheme}://{parts.netloc} is not running: start it with `pos-sync dev`"


def describe_failure(exc: BaseException, reauth_status: str = "disconnected") -> Failure:
    """What a failed sync means: the account's status, the kind of failure and its message
    (``reauth_status``: what the provider's lost authorization means, from the registry)."""
    cause = _root_cause(exc)
    error_type = _error_type(cause)
    status = reauth_status if error_type == "authentication_failed" else "error"
    plain = isinstance(cause, ReauthorizationRequired | MissingScopes | CryptoError | IntegrityCheckFailed)
    message = str(cause) if plain else f"{type(cause).__name__}: {cause}"
    if isinstance(cause, ServerUnreachable):
        message = sandbox_not_running(cause.url)
    elif isinstance(cause, DestinationConnectionError):  # dlt's text guesses at credentials; the reason is what counts
        message = f"the warehouse cannot be opened: {cause.inner_exc}"
    elif isinstance(cause, WarehouseUnavailable) or _duckdb_file_held(cause):  # opened by our own code, not dlt's
        message = f"the warehouse cannot be opened: {cause}"
    return Failure(status, error_type, " ".join(message.split()))


def classify_failure(exc: BaseException, reauth_status: str = "disconnected") -> tuple[str, str]:
    """(account status, message) of a failed sync."""
    failure = describe_failure(exc, reauth_status)
    return failure.status, failure.message


class SyncLog:
    """One run's ``pos_sync_logs`` row, opened by its first step and closed once."""

    def __init__(self, store: AppStore, account_id: str, log_id: str) -> None:
        self.store = store
        self.account_id = account_id
        self.log_id = log_id

    @classmethod
    def open(cls, store: AppStore, account_id: str, sync_type: str, run_id: str | None) -> SyncLog:
        """A new ``in_progress`` log (closing any a killed run left open as failed)."""
        return cls(store, account_id, store.start_sync_log(account_id, sync_type, dagster_run_id=run_id))

    @classmethod
    def of_run(cls, store: AppStore, account_id: str, run_id: str, *earlier_runs: str | None) -> SyncLog | None:
        """The log still open that run ``run_id`` opened, else one of ``earlier_runs`` opened: a run
        re-executed from its failed step (run retries, after its worker died in the canonical step)
        did not run the raw step that opened the sync's log — its parent or root run did."""
        for run in dict.fromkeys((run_id, *earlier_runs)):
            log_id = store.open_log_of_run(account_id, run) if run else None
            if log_id:
                return cls(store, account_id, log_id)
        return None

    def record(self, stats: SyncStats) -> None:
        self.store.record_sync_counts(self.log_id, api_stats=stats.api, partial_reason=stats.partial_reason,
                                      **stats.counters())

    def record_built(self, transactions: int) -> None:
        """The canonical build's count: transactions that reached ``pos.*`` in this run."""
        self.store.record_sync_counts(self.log_id, processed=transactions)

    def fail(self, exc: BaseException, step: str, reauth_status: str, stats: SyncStats | None = None) -> Failure:
        if stats is not None and stats.api is not None:
            self.store.record_sync_counts(self.log_id, api_stats=stats.api)
        failure = describe_failure(exc, reauth_status)
        counters = stats.counters() if stats is not None else {}
        self.store.finish_sync_log(self.log_id, "failed", error_message=failure.message,
                                   error_type=failure.error_type, failed_step=step, **counters)
        self.store.mark_account_error(self.account_id, failure.status, failure.message)
        return failure

    def succeed(self, stats: SyncStats | None = None, *, new_products: int | None = None) -> None:
        """Close as ``success`` — or ``partial`` when the run recorded a partial reason.
        ``new_products``: the POS products the run's canonical build saw first (the other
        counters keep what the raw step recorded)."""
        counters: dict[str, int] = stats.counters() if stats is not None else {}
        if new_products is not None:
            counters["new_products"] = new_products
        if stats is not None and (stats.api is not None or stats.partial_reason):
            self.store.record_sync_counts(self.log_id, api_stats=stats.api, partial_reason=stats.partial_reason)
        self.store.finish_sync_log(self.log_id, "success", **counters)
        self.store.mark_account_ok(self.account_id)


@contextmanager
def track_sync(store: AppStore, account_id: str, sync_type: str, run_id: str | None = None, *,
               reauth_status: str = "disconnected", step: str = RAW_LOAD, close: bool = True) -> Iterator[SyncStats]:
    """Open the run's log around its first step; a failure closes it as failed (naming ``step``);
    a success closes it only when ``close`` (the step is the run's last), else records the counts
    for the last step to close (:meth:`SyncLog.of_run`)."""
    log = SyncLog.open(store, account_id, sync_type, run_id)
    stats = SyncStats()
    try:
        yield stats
    except BaseException as exc:
        log.fail(exc, step, reauth_status, stats)
        raise
    if close:
        log.succeed(stats)
    else:
        log.record(stats)
