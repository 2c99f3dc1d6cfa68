"""Sending webhook deliveries: one sender thread per subscription, retries, and the delivery log.

A *delivery* is one event for one subscription (plus, when the ``dup`` fault fires, a second
independent copy of it). Each subscription has its own :class:`SubscriptionSender`: a thread
that sends its due deliveries one at a time, earliest due first (ties in the order they were
queued), so the arrival order at one receiver is deterministic for a given run — which is what
makes ``reorder`` reproducible. A slow receiver only delays its own subscription.

An attempt succeeds on a 2xx answer within the provider's deadline (httpx timeout = the
deadline, for connecting and for reading; redirects are not followed; proxies from the
environment are ignored). Otherwise it failed — ``http_timeout`` (no answer in time, or no
connection within the deadline) or ``http_error`` (any other status, or a refused/reset
connection) — and the provider decides whether to retry;
the next attempt is due after the provider's next retry delay (scaled by ``scale``). A delivery
ends ``acknowledged``, ``gave_up`` (retries exhausted or not retryable), ``dropped`` (the
``drop`` fault: never sent) or ``canceled`` (its subscription was deleted or disabled before it
could be sent). Every attempt is logged with its real send time, duration and outcome.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from pos_sandbox.webhook_model import AttemptContext, ProviderWebhooks, Subscription, WebhookEvent
from pos_sandbox.webhook_options import WebhookOptions

FINAL = ("acknowledged", "gave_up", "dropped", "canceled")
CLIENT_DEFAULTS = ("accept", "accept-encoding", "user-agent")  # httpx's, not the providers'


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Attempt:
    number: int
    sent_at: float  # real clock, epoch seconds
    duration: float
    status_code: int | None
    error: str | None  # http_timeout | http_error | connection error text

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"number": self.number, "sent_at": iso(self.sent_at),
                               "duration_ms": round(self.duration * 1000, 3),
                               "acknowledged": self.status_code is not None and 200 <= self.status_code < 300}
        if self.status_code is not None:
            out["status_code"] = self.status_code
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Delivery:
    seq: int
    event: WebhookEvent
    subscription_id: str
    url: str  # as when the event was created
    secret: str  # the signing key as when the event was created (Square key rotation)
    enqueued_at: float  # real clock
    copy: int = 0  # 1 for the duplicate sent by the ``dup`` fault
    reordered: bool = False
    status: str = "pending"
    reason: str | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        e = self.event
        out: dict[str, Any] = {
            "seq": self.seq, "provider": e.provider, "subscription_id": self.subscription_id, "url": self.url,
            "event_id": e.event_id, "event_type": e.type, "object_id": e.object_id,
            "event_at": e.at.isoformat().replace("+00:00", "Z"), "account_id": e.account_id,
            "location_id": e.location_id, "copy": self.copy, "duplicate": self.copy > 0,
            "reordered": self.reordered, "status": self.status, "enqueued_at": iso(self.enqueued_at),
            "attempts": [a.as_json() for a in self.attempts],
        }
        if self.reason:
            out["reason"] = self.reason
        acked = next((a for a in self.attempts if a.status_code is not None and 200 <= a.status_code < 300), None)
        if acked is not None:
            out["acknowledged_at"] = iso(acked.sent_at + acked.duration)
            out["latency_ms"] = round((acked.sent_at + acked.duration - self.enqueued_at) * 1000, 3)
        return out


class DeliveryLog:
    """Every delivery (up to ``limit`` finished ones are kept) and running counters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Condition()
        self._seq = itertools.count(1)
        self.entries: deque[Delivery] = deque()
        self.counters: Counter[str] = Counter()
        self.per_provider: dict[str, Counter[str]] = {}
        self.pending = 0
        self.events: set[str] = set()

    def new(self, **kwargs: Any) -> Delivery:
        with self._lock:
            d = Delivery(seq=next(self._seq), **kwargs)
            self.entries.append(d)
            self.pending += 1
            self.events.add(d.event.event_id)
            self._count(d, "deliveries")
            if d.copy:
                self._count(d, "duplicates")
            if d.reordered:
                self._count(d, "reordered")
            while len(self.entries) > self.limit and self.entries[0].status in FINAL:
                self.entries.popleft()
            return d

    def _count(self, d: Delivery, key: str, n: int = 1) -> None:
        self.counters[key] += n
        self.per_provider.setdefault(d.event.provider, Counter())[key] += n

    def attempt(self, d: Delivery, attempt: Attempt) -> None:
        with self._lock:
            d.attempts.append(attempt)
            self._count(d, "attempts")
            if attempt.number > 1:
                self._count(d, "retries")
            if not (attempt.status_code is not None and 200 <= attempt.status_code < 300):
                self._count(d, "failed_attempts")

    def mark(self, d: Delivery, status: str, reason: str | None = None) -> None:
        with self._lock:
            if d.status in FINAL:
                return
            d.status = status
            d.reason = reason
            if status in FINAL:
                self.pending -= 1
                self._count(d, status)
                self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no delivery is pending (or ``timeout`` seconds passed); True when idle."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def snapshot(self, *, provider: str | None = None, event_id: str | None = None,
                 subscription_id: str | None = None, status: str | None = None,
                 since: int = 0) -> dict[str, Any]:
        with self._lock:
            rows = [d.as_json() for d in self.entries
                    if d.seq > since and (provider is None or d.event.provider == provider)
                    and (event_id is None or d.event.event_id == event_id)
                    and (subscription_id is None or d.subscription_id == subscription_id)
                    and (status is None or d.status == status)]
            counters = dict(self.counters) | {"pending": self.pending, "events": len(self.events)}
            return {"counters": counters, "per_provider": {p: dict(c) for p, c in self.per_provider.items()},
                    "events": per_event(rows), "deliveries": rows}


def per_event(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The deliveries summed up per event id: what was sent, acknowledged, retried, dropped."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        e = out.setdefault(row["event_id"], {"provider": row["provider"], "type": row["event_type"],
                                             "object_id": row["object_id"], "event_at": row["event_at"],
                                             "deliveries": 0, "attempts": 0, "retries": 0, "acknowledged": 0,
                                             "duplicates": 0, "dropped": 0, "gave_up": 0, "pending": 0})
        e["deliveries"] += 1
        e["attempts"] += len(row["attempts"])
        e["retries"] += max(0, len(row["attempts"]) - 1)
        e["duplicates"] += row["duplicate"]
        status = row["status"]
        if status in ("acknowledged", "dropped", "gave_up"):
            e[status] += 1
        elif status in ("pending", "retrying"):
            e["pending"] += 1
        if "acknowledged_at" in row and ("first_acknowledged_at" not in e
                                         or row["acknowledged_at"] < e["first_acknowledged_at"]):
            e["first_acknowledged_at"] = row["acknowledged_at"]
    return out


class SubscriptionSender:
    """The sender thread of one subscription (module docstring)."""

    def __init__(self, provider: ProviderWebhooks, sub: Subscription, options: WebhookOptions,
                 log: DeliveryLog) -> None:
        self.provider = provider
        self.sub = sub
        self.options = options
        self.log = log
        self._heap: list[tuple[float, int, Delivery, int, float, str | None]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._running = True
        timeout = options.timeout(provider.provider)
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False)
        self._thread = threading.Thread(target=self._run, name=f"webhooks-{sub.id[:16]}", daemon=True)
        self._thread.start()

    def push(self, d: Delivery, due: float, attempt: int = 1, first_sent: float = 0.0,
             previous_failure: str | None = None) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._order), d, attempt, first_sent, previous_failure))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify()
        self._thread.join(timeout=5)
        self._client.close()

    def cancel_all(self, reason: str) -> None:
        with self._cond:
            items, self._heap = self._heap, []
        for item in items:
            self.log.mark(item[2], "canceled", reason)

    def _next(self) -> tuple[Delivery, int, float, str | None] | None:
        with self._cond:
            while self._running:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    _, _, d, attempt, first_sent, failure = heapq.heappop(self._heap)
                    return d, attempt, first_sent, failure
                self._cond.wait(min(self._heap[0][0] - now, 0.5) if self._heap else 0.5)
        return None

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            d, attempt, first_sent, failure = item
            current = self.provider.store.get(self.sub.id)
            if current is None or not current.enabled or current.state == "stopped":
                self.log.mark(d, "canceled", "subscription deleted" if current is None else "subscription disabled")
                continue
            if current.paused_until > time.monotonic():
                self.push(d, current.paused_until, attempt, first_sent, failure)
                continue
            if current.state == "paused":  # the pause is over
                current.state = "active"
            self._attempt(current, d, attempt, first_sent, failure)

    def _attempt(self, sub: Subscription, d: Delivery, number: int, first_sent: float, failure: str | None) -> None:
        sent_at = time.time()
        first = first_sent or sent_at
        out = self.provider.request(sub, d.event, d.url, d.secret, AttemptContext(number, first, failure))
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            request = self._client.build_request("POST", out.url, content=out.body, headers=out.headers)
            for name in CLIENT_DEFAULTS:  # only the provider's own headers (and Host, Content-Length)
                if name not in out.headers and name.title() not in out.headers:
                    del request.headers[name]
            response = self._client.send(request)
            status = response.status_code
        except httpx.TimeoutException:
            error = "http_timeout"
        except httpx.HTTPError as exc:  # no connection (refused, reset): retried like an error status
            error = f"connection_error: {type(exc).__name__}"
        duration = time.monotonic() - started
        self.log.attempt(d, Attempt(number, sent_at, duration, status, error))
        ok = status is not None and 200 <= status < 300
        self.provider.note_result(sub, ok, time.monotonic(), self.options.time_scale)
        if ok:
            self.log.mark(d, "acknowledged")
            return
        reason = "http_timeout" if error == "http_timeout" else "http_error"
        delay = self.options.retry_delay(self.provider.provider, number) if self.provider.retryable(status) else None
        if delay is None:
            self.log.mark(d, "gave_up", f"{reason} after {number} attempt(s)")
            return
        self.log.mark(d, "retrying", reason)
        self.push(d, time.monotonic() + delay, number + 1, first, reason)
