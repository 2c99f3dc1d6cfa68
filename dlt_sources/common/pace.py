"""What a sync run's HTTP traffic went through: retries, 429s, waits, and whether it stopped early.

:class:`SyncPace` is filled by the client's :class:`~dlt_sources.common.http.ApiSession` (and the
token provider's logins and refreshes) and by the source's streams. Read it after the run:

* ``pace = sync_pace(source)`` on the object the source factory returned (``square_source(...)``,
  ``toast_source(...)``, ``lightspeed_source(...)``), or pass your own ``pace=SyncPace()`` to the
  factory and keep it;
* ``pace.as_dict()``: JSON-safe counters for a sync log or Dagster metadata;
* ``pace.partial``: True when a stream stopped early because its retry budget ran out. What it had
  read is loaded and its cursor moved only past loaded rows: the next sync resumes from there.
  Record such a run as ``partial``, not ``success``.

:func:`stops_early` is how a stream ends early instead of failing the whole run: only
:class:`~dlt_sources.common.errors.RetriesExhausted` is absorbed; every other error still fails it.
:func:`optional_stream` is how an *enrichment* stream (staff names, devices, customers: columns the
sales do not need) is skipped when the token lacks its scope: the run goes on and is ``partial``,
the reason naming the scope; the core streams still fail on a missing scope.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from dlt_sources.common.errors import MissingScopes, RetriesExhausted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlyStop:
    """A stream that ended before reading everything: ``reason`` is the exhausted request's error
    (``skipped``: an optional stream not read at all, ``reason`` names the missing permission)."""

    stream: str
    reason: str
    skipped: bool = False


class SyncPace:
    """Counters of one sync run (thread-safe). Waits are summed per request, so with two threads
    waiting together the seconds can exceed the run's wall time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0  # 429 answers
        self.server_errors = 0  # retried 5xx answers
        self.transport_errors = 0  # timeouts, refused or broken connections
        self.retry_wait_seconds = 0.0  # slept before retrying a request
        self.retry_after_seconds = 0.0  # of which the provider asked for (Retry-After), the rest is backoff
        self.throttle_wait_seconds = 0.0  # held by the cool-down gate or a client-side rate limit
        self.gave_up = 0  # requests whose retry budget ran out
        self.response_seconds = 0.0  # spent waiting for answers (each attempt's send to its answer or error)
        self.responses = 0  # HTTP answers received (any status): the server was reachable in this run
        self.stopped_early: list[EarlyStop] = []

    # ------------------------------------------------------------------ recording
    def sent(self) -> None:
        with self._lock:
            self.requests += 1

    def answered(self, seconds: float) -> None:
        """One attempt took ``seconds`` from sending to its answer (or its transport error)."""
        with self._lock:
            self.response_seconds += max(0.0, seconds)

    def responded(self) -> None:
        """One attempt got an HTTP answer (any status)."""
        with self._lock:
            self.responses += 1

    def failed_attempt(self, status: int | None) -> None:
        """One retryable failure: ``status`` None for a transport error."""
        with self._lock:
            if status is None:
                self.transport_errors += 1
            elif status == 429:
                self.rate_limited += 1
            else:
                self.server_errors += 1

    def retried(self, slept: float, *, asked: bool = False) -> None:
        """One retry after sleeping ``slept`` seconds (``asked``: the answer's ``Retry-After``)."""
        with self._lock:
            self.retries += 1
            self.retry_wait_seconds += slept
            if asked:
                self.retry_after_seconds += slept

    def throttled(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.throttle_wait_seconds += seconds

    def exhausted(self) -> None:
        with self._lock:
            self.gave_up += 1

    def stop(self, stream: str, reason: str) -> None:
        with self._lock:
            self.stopped_early.append(EarlyStop(stream, reason))
        log.warning("%s stopped early, keeping what it loaded (the next sync resumes from there): %s",
                    stream, reason)

    def skip(self, stream: str, reason: str) -> None:
        """An optional stream not read (its permission is missing): the run goes on, as partial."""
        with self._lock:
            self.stopped_early.append(EarlyStop(stream, reason, skipped=True))
        log.warning("%s skipped, the sync goes on without it: %s", stream, reason)

    # ------------------------------------------------------------------ reading
    @property
    def budget_spent(self) -> bool:
        """True once a request of this run ran out of retry budget: later requests try once."""
        return self.gave_up > 0

    @property
    def partial(self) -> bool:
        """True when a stream stopped early: record the sync as ``partial``."""
        return bool(self.stopped_early)

    @property
    def waited_seconds(self) -> float:
        return self.retry_wait_seconds + self.throttle_wait_seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe counters (sync log, Dagster metadata)."""
        with self._lock:
            return {
                "requests": self.requests, "retries": self.retries, "rate_limited": self.rate_limited,
                "server_errors": self.server_errors, "transport_errors": self.transport_errors,
                "retry_wait_seconds": round(self.retry_wait_seconds, 3),
                "retry_after_seconds": round(self.retry_after_seconds, 3),
                "throttle_wait_seconds": round(self.throttle_wait_seconds, 3),
                "waited_seconds": round(self.retry_wait_seconds + self.throttle_wait_seconds, 3),
                "response_seconds": round(self.response_seconds, 3),
                "gave_up": self.gave_up, "partial": bool(self.stopped_early),
                "stopped_early": [{"stream": s.stream, "reason": s.reason} | ({"skipped": True} if s.skipped else {})
                                  for s in self.stopped_early],
            }

    def summary(self) -> str:
        """One line for a log or a run summary."""
        d = self.as_dict()
        text = (f"{d['requests']} requests, {d['retries']} retries ({d['rate_limited']} × 429, "
                f"{d['server_errors']} × 5xx, {d['transport_errors']} transport), waited {d['waited_seconds']:.1f}s")
        if self.stopped_early:
            text += "; stopped early: " + ", ".join(s.stream for s in self.stopped_early)
        return text

    def __repr__(self) -> str:
        return f"SyncPace({self.summary()})"


@contextmanager
def optional_stream(pace: SyncPace, stream: str, what: str) -> Iterator[EarlyStopMark]:
    """Run an optional stream's reads: a :class:`MissingScopes` inside skips the stream (``what``
    says which columns stay empty) instead of failing the run; :func:`stops_early` still applies."""
    mark = EarlyStopMark()
    try:
        yield mark
    except RetriesExhausted as exc:
        mark.early = True
        pace.stop(stream, str(exc))
    except MissingScopes as exc:
        mark.early = True
        pace.skip(stream, f"{exc} ({what} stay empty until it is granted)")


class EarlyStopMark:
    """Yielded by :func:`stops_early`: ``early`` tells the stream whether it ended early."""

    early = False


@contextmanager
def stops_early(pace: SyncPace, stream: str) -> Iterator[EarlyStopMark]:
    """Run a stream's reads; a :class:`RetriesExhausted` inside ends the block instead of the run.

    Use it around the part of a generator that pages, then move the cursor only as far as the
    rows yielded before it (``mark.early`` says which case it was)::

        with stops_early(pace, "orders") as mark:
            for page in pages: yield page; last = ...
        state["mark"] = last if mark.early else end
    """
    mark = EarlyStopMark()
    try:
        yield mark
    except RetriesExhausted as exc:
        mark.early = True
        pace.stop(stream, str(exc))


# ---------------------------------------------------------------------- reaching it from the source
_BUILDING: ContextVar[SyncPace | None] = ContextVar("dlt_sources_building_pace", default=None)
PACE_ATTRIBUTE = "sync_pace"


def building(pace: SyncPace | None) -> SyncPace:
    """Called in a source function's body: the run's pace (``pace`` or a new one), handed to the
    factory's postprocessor (:func:`attach_pace`) that sets it on the returned source."""
    pace = pace if pace is not None else SyncPace()
    _BUILDING.set(pace)
    return pace


def attach_pace(factory: Any) -> Any:
    """Register the postprocessor that puts the pace of the source being built on it (returns ``factory``)."""

    def attach(source: Any) -> Any:
        pace = _BUILDING.get()
        _BUILDING.set(None)
        if pace is not None:
            object.__setattr__(source, PACE_ATTRIBUTE, pace)
        return source

    factory.add_postprocessor(attach)
    return factory


def sync_pace(source: Any) -> SyncPace:
    """The :class:`SyncPace` of a source built by ``square_source``, ``toast_source`` or
    ``lightspeed_source`` (the object the factory returned; dlt's clones, e.g. ``with_resources``,
    share its HTTP client but not this attribute: keep the original)."""
    pace = vars(source).get(PACE_ATTRIBUTE)
    if not isinstance(pace, SyncPace):
        raise ValueError("this object carries no SyncPace: pass the source the factory returned "
                         "(or give the factory pace=SyncPace() and keep it)")
    return pace
