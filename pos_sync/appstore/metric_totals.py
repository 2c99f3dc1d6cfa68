"""Running totals behind the Prometheus counters (``pos_sync_totals``, ``pos_sync_error_totals``).

A sync log adds to them once, in the transaction that first closes it (:func:`finish_sync_log`, or
:func:`start_sync_log` closing a log a killed run left open): one more sync, the transactions it
processed, its duration in the cumulative histogram, and for a ``failed`` or ``partial`` sync one
more error of its ``error_type`` (``unknown`` when it names none). A log closed a second time (a
run declared dead that finished after all) adds only the transactions it processed beyond those
already counted. Nothing ever subtracts, so pruning sync logs leaves the counters monotonic.

Concurrent closes of two accounts of one tenant's provider meet in one ``INSERT … ON CONFLICT DO
UPDATE SET n = n + excluded.n`` (SQLite and PostgreSQL): no lost update, no read-modify-write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pos_sync.appstore.models import PosSyncErrorTotals, PosSyncLog, PosSyncTotals, SyncStatus, utcnow
from pos_sync.metrics.spec import SYNC_DURATION_BUCKETS, UNKNOWN_ERROR

ERROR_STATUSES = frozenset({SyncStatus.FAILED.value, SyncStatus.PARTIAL.value})
BUCKET_COLUMNS: dict[float, str] = {bound: f"duration_le_{bound:g}" for bound in SYNC_DURATION_BUCKETS}

if _missing := set(BUCKET_COLUMNS.values()) - set(PosSyncTotals.__table__.c.keys()):  # pragma: no cover
    raise RuntimeError(f"pos_sync_totals lacks the histogram columns {sorted(_missing)} (a migration is due)")


def error_label(error_type: str | None) -> str:
    return error_type or UNKNOWN_ERROR


def _add(session: Session, model: type[PosSyncTotals] | type[PosSyncErrorTotals], key: Mapping[str, str],
         increments: Mapping[str, Any]) -> None:
    table = model.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(**key, **increments, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={**{name: table.c[name] + stmt.excluded[name] for name in increments},
              "updated_at": stmt.excluded.updated_at})
    session.execute(stmt)


def count_first_close(session: Session, log: PosSyncLog, provider: str) -> None:
    """Add a log that was ``in_progress`` until now (call in the transaction that closes it)."""
    duration = max(0.0, log.sync_duration_seconds or 0.0)
    increments: dict[str, Any] = {"syncs": 1, "transactions_synced": log.transactions_processed,
                                  "duration_seconds_sum": duration}
    increments |= {column: int(duration <= bound) for bound, column in BUCKET_COLUMNS.items()}
    _add(session, PosSyncTotals, {"tenant_id": log.tenant_id, "pos_provider": provider}, increments)
    if log.status in ERROR_STATUSES:
        _add(session, PosSyncErrorTotals, {"tenant_id": log.tenant_id, "pos_provider": provider,
                                           "error_type": error_label(log.error_type)}, {"errors": 1})


def count_reclose(session: Session, log: PosSyncLog, provider: str, processed_before: int) -> None:
    """A log closed once already gets its real outcome: only newly processed transactions count."""
    extra = log.transactions_processed - processed_before
    if extra > 0:
        _add(session, PosSyncTotals, {"tenant_id": log.tenant_id, "pos_provider": provider},
             {"transactions_synced": extra})
