"""Client-side pacing of one API client: a shared cool-down gate and request-rate limiters.

* :class:`CoolDown`: after a 429 the provider may want the **client** to slow down, not only the
  request that got it. The gate holds every request of the client (every thread: the sources
  page several streams at once) until the ``Retry-After`` instant; a later 429 can only push it
  further. It also closes when a response says the quota is used up (``X-RateLimit-Remaining: 0``
  and when it resets: :attr:`Pacing.remaining_header`, :attr:`Pacing.reset_header`), and a
  request waits for the reset when the requests in flight have booked what the last answers said
  was left (parallel streams: :meth:`Pacer.settle`).
  :attr:`Pacing.gate_after` says how many 429s **in a row** (answers of the whole client, no
  success in between) close it: 1 (the default) every 429; more for a provider whose 429s are
  not documented as client-wide (a lone 429 then delays only its own request, which still waits
  out its ``Retry-After`` or its backoff; see ``dlt_sources/square/README.md``, "Pacing").
* :class:`RateLimiter`: at most ``requests`` per ``seconds`` in **any** window of that length (a
  sliding log of send times, so the provider's fixed windows are never exceeded either), per key
  (e.g. per Toast restaurant) and optionally only for some paths (Toast's ``/menus``: 1 per second).
* :class:`Pacing`: what a provider documents (its limits and headers), a frozen, shareable config;
  :class:`Pacer`: the per-client runtime state built from it (thread-safe).

Clocks and sleeps are injectable (monotonic ``clock`` for waits, ``wall`` for HTTP dates and epoch
resets), so tests never really sleep.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dlt_sources.common.retry import seconds_until_http_date

Clock = Callable[[], float]
Sleep = Callable[[float], None]
EPOCH_THRESHOLD = 1_000_000_000.0  # a reset value above this is a Unix time, below it delta-seconds
QUOTA_WINDOW_SLACK = 0.5  # seconds: two resets closer than this are the same window (HTTP dates: whole seconds)


class CoolDown:
    """The "cool down until" gate of one client (monotonic time)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    @property
    def until(self) -> float:
        with self._lock:
            return self._until

    def hold(self, seconds: float) -> float:
        """Close the gate for ``seconds`` from now (never shortens it); returns ``now + seconds``
        (this hold's own end: the gate may already stay closed longer)."""
        with self._lock:
            end = self.clock() + max(0.0, seconds)
            self._until = max(self._until, end)
            return end

    def remaining(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        with self._lock:
            return max(0.0, self._until - self.clock())


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per ``seconds``; ``path_contains``: only requests whose URL path contains it."""

    requests: int
    seconds: float
    path_contains: str | None = None

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0:
            raise ValueError("a rate limit needs requests >= 1 and seconds > 0")

    def applies(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path


class RateLimiter:
    """Sliding-log limiter: a send is allowed when fewer than ``requests`` sends of the same key
    happened in the last ``seconds``; :meth:`reserve` books the send and returns how long to wait."""

    def __init__(self, limit: RateLimit, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str = "") -> float:
        """Book one send for ``key``; the seconds the caller must wait before sending it (0: now).

        The booked instant is ``now + wait``, so concurrent callers queue up instead of all waking
        at the same moment.
        """
        with self._lock:
            now = self.clock()
            log = self._sent.setdefault(key, deque())
            while log and log[0] <= now - self.limit.seconds:
                log.popleft()
            at = now
            if len(log) >= self.limit.requests:
                at = max(now, log[-self.limit.requests] + self.limit.seconds)
            log.append(at)
            return at - now


@dataclass(frozen=True)
class Pacing:
    """A provider's pacing rules (shareable; each client builds its own :class:`Pacer`).

    ``limits``: client-side rate limits (empty: none); ``key_header``: the request header whose
    value keys the limiters (None: one bucket for the client); ``remaining_header``/``reset_header``:
    response headers telling how many requests are left and when the quota resets (HTTP-date,
    Unix time or delta-seconds): at ``remaining <= 0`` the gate closes until the reset.
    ``gate``: False turns the shared cool-down off (each retry only waits for itself).
    ``gate_after``: the gate closes after this many consecutive 429 answers of the client (a
    success in between starts the count again; 5xx and transport errors neither count nor reset):
    1 closes it on every 429. A 429 that does not close it is waited out by its own request only.
    The quota headers close it regardless (a response saying none is left).
    """

    limits: tuple[RateLimit, ...] = ()
    key_header: str | None = None
    remaining_header: str | None = None
    reset_header: str | None = None
    gate: bool = True
    max_header_wait: float = 900.0  # never trust a quota-reset header further than this
    gate_after: int = 1

    def __post_init__(self) -> None:
        if self.gate_after < 1:
            raise ValueError("gate_after must be at least 1")

    def pacer(self, clock: Clock = time.monotonic, wall: Clock = time.time) -> Pacer:
        return Pacer(self, clock=clock, wall=wall)


NO_PACING = Pacing(gate=False)


@dataclass
class Pacer:
    """The pacing state of one client: its gate and limiters (see :class:`Pacing`)."""

    rules: Pacing
    clock: Clock = time.monotonic
    wall: Clock = time.time
    gate: CoolDown = field(init=False)
    limiters: list[RateLimiter] = field(init=False)

    def __post_init__(self) -> None:
        self.gate = CoolDown(self.clock)
        self.limiters = [RateLimiter(limit, self.clock) for limit in self.rules.limits]
        self._streak = 0  # consecutive 429 answers of the client
        self._streak_lock = threading.Lock()
        # the quota headers' count, less the requests sent since (None: not known), and when it resets
        self._budget: int | None = None
        self._budget_reset = 0.0  # monotonic
        self._in_flight = 0  # requests sent, not answered yet
        self._quota_lock = threading.Lock()

    def throttle(self, path: str, headers: Mapping[str, str], sleep: Sleep, *, own_until: float = 0.0) -> float:
        """Wait for the gate and the limiters before one send; returns the seconds waited.

        ``own_until``: the gate's end as this request itself set it after its own 429 and already
        slept out (its sleep and the gate's clock may differ in tests): only a later extension by
        another response makes it wait again.
        """
        waited = 0.0
        passed = own_until
        while self.rules.gate:  # once per end of the gate: a 429 elsewhere may extend it meanwhile
            until = self.gate.until
            wait = until - self.clock() if until > passed else 0.0
            if wait <= 0:
                break
            sleep(wait)
            waited += wait
            passed = until
        key = str(headers.get(self.rules.key_header, "")) if self.rules.key_header else ""
        wait = max((limiter.reserve(key) for limiter in self.limiters if limiter.limit.applies(path)), default=0.0)
        if wait > 0:
            sleep(wait)
            waited += wait
        while (wait := self._reserve_quota()) > 0:  # the quota left is booked by requests in flight
            sleep(wait)
            waited += wait
        return waited

    def _reserve_quota(self) -> float:
        """Book one request of the quota the headers announced; the seconds to wait first when the
        requests sent since the last answer used it up (parallel streams: each answer's count does
        not include the requests still in flight). Counts the request as in flight (:meth:`settle`)."""
        with self._quota_lock:
            if self._budget is not None and self._budget <= 0:
                wait = self._budget_reset - self.clock()
                if wait > 0:
                    return wait  # every request waits for the reset (the budget stays spent till then)
                self._budget = None  # reset: the quota is known again from the next answer
            if self._budget is not None:
                self._budget -= 1
            self._in_flight += 1
            return 0.0

    def settle(self, headers: Mapping[str, str] | None) -> None:
        """The request booked by :meth:`throttle` was answered (``headers``) or failed (None)."""
        with self._quota_lock:
            self._in_flight = max(0, self._in_flight - 1)
        if headers is not None:
            self.observe(headers)

    def cool_down(self, seconds: float) -> float:
        """Hold every request of the client for ``seconds`` (after a 429); returns this hold's end."""
        return self.gate.hold(seconds) if self.rules.gate else 0.0

    def rate_limited(self, seconds: float) -> float:
        """A 429 answer whose request waits ``seconds`` before its retry: counts it in the client's
        streak of 429s and, once the streak reaches ``gate_after``, holds every request of the
        client that long (:meth:`cool_down`). Returns the hold's end, 0.0 when the gate stayed open
        (only the request that got the 429 waits)."""
        with self._streak_lock:
            self._streak += 1
            closes = self._streak >= self.rules.gate_after
        return self.cool_down(seconds) if closes else 0.0

    def succeeded(self) -> None:
        """An answer that is not retried (a success): the streak of 429s starts again."""
        with self._streak_lock:
            self._streak = 0

    @property
    def streak(self) -> int:
        """Consecutive 429 answers of the client so far."""
        with self._streak_lock:
            return self._streak

    def observe(self, headers: Mapping[str, str]) -> None:
        """Close the gate until the quota resets when a response says none is left; keep what is
        left, less the requests in flight, for :meth:`throttle` to book."""
        if not (self.rules.gate and self.rules.remaining_header and self.rules.reset_header):
            return
        remaining = _number(headers.get(self.rules.remaining_header))
        if remaining is None:
            return
        wait = self.reset_in(headers.get(self.rules.reset_header))
        wait = min(wait, self.rules.max_header_wait) if wait is not None else None
        with self._quota_lock:  # requests still in flight will use some of what is left
            if wait is None:
                self._budget = None
            else:
                left, reset = int(remaining) - self._in_flight, self.clock() + wait
                if self._budget is None or reset > self._budget_reset + QUOTA_WINDOW_SLACK:
                    self._budget, self._budget_reset = left, reset  # first count of a (new) window
                elif reset >= self._budget_reset - QUOTA_WINDOW_SLACK:
                    # the same window: answers come back out of order, an older count is higher
                    self._budget = min(self._budget, left)
                # else an answer of a window already over: its count says nothing now
        if remaining <= 0 and wait is not None and wait > 0:
            self.gate.hold(wait)

    def reset_in(self, value: str | None) -> float | None:
        """Seconds until a quota reset given as Unix time, delta-seconds or an HTTP-date."""
        number = _number(value)
        if number is not None:
            return max(0.0, number - self.wall()) if number >= EPOCH_THRESHOLD else max(0.0, number)
        if value is None:
            return None
        return seconds_until_http_date(value, datetime.fromtimestamp(self.wall(), UTC))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
