"""The day-window backfill of one account over a date range (``pos-sync backfill``, the API's
``POST /api/v1/pos/sync/{id}/historical``): which range fits, and the sync request the Dagster
sensor turns into one ``<provider>_historical_backfill`` run per day.

**The default range is the account's own history**: from the first day its historical import
covered — ``historical_import_days`` (the account's, else ``HISTORICAL_IMPORT_DAYS``) before its
historical import (when it succeeded, else when the account was linked) — to today (UTC). Not
from ``POS_BACKFILL_START_DATE``: that is only the first day the backfill jobs' partitions offer
(a floor for every account), and backfilling from it would walk years of empty days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pos_sync.appstore import AccountInfo
from pos_sync.providers import registry
from pos_sync.settings import Settings

MAX_DAYS = 366


class BackfillRangeError(ValueError):
    """The range does not fit (the message says why, in one line)."""


@dataclass(frozen=True)
class BackfillRange:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def history_start(account: AccountInfo, settings: Settings) -> date:
    """The first day of the account's history as its historical import read it (never before
    ``POS_BACKFILL_START_DATE``, the backfill partitions' first day)."""
    days = account.historical_import_days or settings.historical_import_days
    anchor = account.historical_import_done_at or account.created_at
    first = (anchor.astimezone(UTC) - timedelta(days=days)).date()
    return max(first, settings.backfill_start_date)


def backfill_range(account: AccountInfo, settings: Settings, start: date | None = None,
                   end: date | None = None, today: date | None = None) -> BackfillRange:
    """The range to backfill (defaults: the account's history start, today); raises
    :class:`BackfillRangeError` for one that does not fit."""
    spec = registry.get(account.provider)
    if spec.windows is None:
        raise BackfillRangeError(
            f"{spec.label} has no date-window import: {spec.no_window_reason or 'no day windows'}; its first sync "
            "already read the whole history — a sync reads what changed since")
    today = today or datetime.now(UTC).date()
    start = start or history_start(account, settings)
    end = end or today
    if end < start:
        raise BackfillRangeError(f"the range ends ({end}) before it starts ({start})")
    if end > today:
        raise BackfillRangeError(f"the range ends after today ({end} > {today})")
    if start < settings.backfill_start_date:
        raise BackfillRangeError(f"the range starts before {settings.backfill_start_date} (POS_BACKFILL_START_DATE, "
                                 "the backfill jobs' first day)")
    chosen = BackfillRange(start, end)
    if chosen.days > MAX_DAYS:
        raise BackfillRangeError(f"at most {MAX_DAYS} days per backfill, asked for {chosen.days}")
    return chosen
