"""What the time-windowed POS sources share: the run's clock, per-account resource state and the
choice between incremental and window mode."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dlt_sources.common.guard import VersionGuard

ParseTs = Callable[[Any], datetime]
Window = tuple[datetime, datetime]


def iso(when: datetime) -> str:
    """Aware datetime -> RFC 3339 UTC with milliseconds (``2026-03-29T05:24:29.123Z``; state values)."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def account_state(key: str) -> dict[str, Any]:
    """The current resource's state for one account (two tenants in one pipeline never share a cursor)."""
    import dlt  # here, not at the top: a client importing ``iso`` (discovery, linking) loads no dlt

    accounts = dlt.current.resource_state().setdefault("accounts", {})
    state: dict[str, Any] = accounts.setdefault(key, {})
    return state


def window_of(start: datetime | None, end: datetime | None, parse_ts: ParseTs) -> Window | None:
    """``start`` and ``end`` both (window mode: the non-empty ``[start, end)``) or neither (None: incremental)."""
    if (start is None) != (end is None):
        raise ValueError("give both start and end (window mode) or neither (incremental mode)")
    if start is None or end is None:
        return None
    window = (parse_ts(start), parse_ts(end))
    if window[0] >= window[1]:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    return window


class IncrementalSync:
    """What the resources of one source instance share: tenant, window, clock, lookback, guard.

    ``now`` is the run's upper bound (default: real UTC now, fixed at first use so every stream
    shares it); ``initial_start`` where the first incremental run starts (default: ``initial_days``
    before now).
    """

    initial_days = 90

    def __init__(self, account_id: str | None, window: Window | None, initial_start: datetime | None,
                 lookback: timedelta, now: datetime | None, guard: VersionGuard) -> None:
        self.account_id = account_id
        self.window = window
        self._initial_start = initial_start
        self.lookback = lookback
        self._now = now
        self.guard = guard
        self._now_lock = threading.Lock()

    def now(self) -> datetime:
        """The run's upper bound, fixed at first use so every stream shares it (streams run in
        parallel: whichever asks first fixes it)."""
        with self._now_lock:
            if self._now is None:
                self._now = datetime.now(UTC)
            return self._now

    def initial_start(self) -> datetime:
        return self._initial_start or self.now() - timedelta(days=self.initial_days)

    def state(self) -> dict[str, Any]:
        """This resource's incremental state for this account (tenants never share a cursor)."""
        return account_state(self.account_id or "_default")
