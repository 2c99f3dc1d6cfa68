"""Bounded retries: exponential backoff with full jitter, ``Retry-After`` honoured, a sleep budget.

Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the n-th wait is drawn
uniformly from ``[0, min(max_delay, base_delay * 2**n))``. A ``Retry-After`` header, in seconds or
as an HTTP-date, replaces the drawn wait. Two bounds stop a run from hanging: ``max_attempts``
(requests in total, the first one included) and ``max_total_sleep`` (seconds slept for one request).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How one HTTP request is retried. ``sleep`` and ``rng`` are injectable for tests."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_sleep: float = 120.0
    timeout: float = 60.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_sleep < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, retry_number: int) -> float:
        """Full-jitter wait before retry ``retry_number`` (0 for the first retry)."""
        cap = min(self.max_delay, self.base_delay * (2 ** retry_number))
        return self.rng.uniform(0, cap)


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
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
