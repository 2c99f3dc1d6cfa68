"""One ``pos_sync_health`` row per account: last success, lag behind the provider, error streak,
rows per sync, the provider API's pace, and freshness against the account's own sync frequency.

**Freshness**: the time since the account's last successful sync (or since it was linked, if it
never succeeded) against its ``sync_frequency_minutes``: ``warn`` beyond :data:`WARN_FACTOR` ×,
``error`` beyond :data:`ERROR_FACTOR` ×, ``disabled`` when syncing is turned off. A ``partial`` sync
is not a success here (a long rate-limit storm shows). "Now" is the connector's clock (``POS_NOW``
when injected, else UTC), the same one the lag uses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA

if TYPE_CHECKING:  # the app store's facts come in; its models are not needed to read the thresholds
    from pos_sync.appstore.monitoring import AccountSyncFacts

WARN_FACTOR = 2
ERROR_FACTOR = 4
OK, WARN, ERROR, DISABLED = "ok", "warn", "error", "disabled"


def freshness(last_success: datetime | None, linked_at: datetime, frequency_minutes: int, enabled: bool,
              now: datetime) -> tuple[str, int]:
    """``(state, seconds since the last success — or the link)``."""
    age = int((now - (last_success or linked_at)).total_seconds())
    if not enabled:
        return DISABLED, age
    period = max(1, frequency_minutes) * 60
    if age > ERROR_FACTOR * period:
        return ERROR, age
    if age > WARN_FACTOR * period:
        return WARN, age
    return OK, age


def newest_source_times(wh: Warehouse) -> dict[str, datetime]:
    """Per account: the newest provider timestamp in ``pos.pos_transactions`` (the later of the
    newest ``source_updated_at`` and the newest ``transaction_date``)."""
    if not wh.table_exists(SCHEMA, "pos_transactions"):
        return {}
    rows = wh.query(f"select pos_account_id, max(source_updated_at) as updated, max(transaction_date) as dated "
                    f"from {SCHEMA}.pos_transactions group by pos_account_id")
    out = {}
    for row in rows:
        times = [t for t in (row["updated"], row["dated"]) if t is not None]
        if times:
            out[str(row["pos_account_id"])] = max(times)
    return out


def health_rows(facts: Iterable[AccountSyncFacts], newest: dict[str, datetime], now: datetime) -> list[dict[str, Any]]:
    """The ``pos_sync_health`` rows of these accounts at ``now``."""
    rows = []
    for f in facts:
        state, age = freshness(f.last_success_at, f.linked_at, f.sync_frequency_minutes, f.sync_enabled, now)
        source = newest.get(f.account_id)
        rows.append({
            "pos_account_id": f.account_id, "tenant_id": f.tenant_id, "pos_provider": f.provider,
            "account_name": f.name, "account_status": f.status, "sync_enabled": f.sync_enabled,
            "sync_frequency_minutes": f.sync_frequency_minutes, "last_sync_at": f.last_sync_at,
            "last_sync_status": f.last_sync_status, "last_success_at": f.last_success_at,
            "newest_source_at": source,
            "lag_seconds": max(0, int((now - source).total_seconds())) if source is not None else None,
            "error_streak": f.error_streak, "syncs_counted": f.syncs_counted, "rows_synced": f.rows_synced,
            "rows_last_sync": f.rows_last_sync, "sync_seconds": round(f.sync_seconds, 3),
            "api_requests": int(f.api["requests"]), "api_retries": int(f.api["retries"]),
            "api_rate_limited": int(f.api["rate_limited"]), "api_server_errors": int(f.api["server_errors"]),
            "api_transport_errors": int(f.api["transport_errors"]),
            "api_waited_seconds": round(f.api["waited_seconds"], 3),
            "api_response_seconds": round(f.api["response_seconds"], 3),
            "freshness": state, "freshness_age_seconds": age, "evaluated_at": now,
        })
    return rows
