"""Retries bounded by time: exponential backoff with full jitter, ``Retry-After`` honoured.

Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the n-th wait is drawn
uniformly from ``[0, min(max_delay, base_delay * 2**n))``. A ``Retry-After`` header, in seconds or
as an HTTP-date, replaces the drawn wait.

What stops a request from retrying forever is **elapsed time**, not a number of attempts: a
rate-limit storm answers half the attempts with 429 and must slow a sync down, not kill it.
``max_elapsed`` bounds the seconds from a request's first attempt to the end of the wait before
its next one (a wait that would end past it is not started: the request gives up at once).
``max_attempts`` is only a safety net far above what a storm needs (0.52**100 ≈ 4e-29), and
``max_total_sleep`` an optional cap on the seconds slept by one request (None: none). Syncs use
:data:`SYNC_RETRY_POLICY` (minutes); an operator waiting at a prompt gets
``dlt_sources.common.discovery.DISCOVERY_RETRY_POLICY`` (seconds).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
DEFAULT_MAX_ELAPSED = 900.0  # one request of a sync may keep retrying for 15 minutes (Toast's longest window)
DEFAULT_MAX_ATTEMPTS = 100  # safety net only: the budget is max_elapsed


@dataclass(frozen=True)
class RetryPolicy:
    """How one HTTP request is retried. ``sleep``, ``clock`` and ``rng`` are injectable for tests
    (``clock``: monotonic seconds; a fake ``sleep`` should advance a fake ``clock``)."""

    max_elapsed: float | None = DEFAULT_MAX_ELAPSED
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_sleep: float | None = None
    timeout: float = 60.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if (self.max_total_sleep is not None and self.max_total_sleep < 0) or \
                (self.max_elapsed is not None and self.max_elapsed < 0):
            raise ValueError("budgets must not be negative")

    def backoff(self, retry_number: int) -> float:
        """Full-jitter wait before retry ``retry_number`` (0 for the first retry)."""
        cap = min(self.max_delay, self.base_delay * (2 ** min(retry_number, 62)))
        return self.rng.uniform(0, cap)

    def refusal(self, *, attempt: int, elapsed: float, slept: float, delay: float) -> str | None:
        """Why the request must not wait ``delay`` more seconds and retry (None: it may)."""
        if attempt >= self.max_attempts:
            return f"gave up after {attempt} attempts"
        if self.max_elapsed is not None and elapsed + delay > self.max_elapsed:
            return (f"waiting {delay:.1f}s more would exceed the retry budget of {self.max_elapsed:.0f}s "
                    f"({elapsed:.1f}s elapsed over {attempt} attempts)")
        if self.max_total_sleep is not None and slept + delay > self.max_total_sleep:
            return (f"waiting {delay:.1f}s more would exceed the retry sleep budget of {self.max_total_sleep:.0f}s "
                    f"(slept {slept:.1f}s over {attempt} attempts)")
        return None


SYNC_RETRY_POLICY = RetryPolicy()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    return seconds_until_http_date(text, now)


def seconds_until_http_date(text: str, now: datetime | None = None) -> float | None:
    """Seconds from ``now`` (default: the wall clock) to an HTTP-date (RFC 1123); None if it is not one."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
