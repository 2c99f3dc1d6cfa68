"""The webhook delivery engine: the world's changes, as the clock moves, POSTed to subscriptions.

``WebhookEngine(world, providers, options)`` listens to the sandbox clock
(:meth:`World.add_clock_listener`: ``world.set_now``/``advance`` in-process, ``POST
/_sandbox/clock`` over HTTP, ``POST /_sandbox/sales``). When the clock moves forward from the
last instant it handled (the *mark*) to ``now``, it asks each provider with an active
subscription for the events of ``(mark, now]`` — computed from the world's own objects by the
provider's adapter — and fans them out to the subscriptions that want them; sender threads
(:mod:`pos_sandbox.webhook_delivery`) POST them. Events are computed synchronously in the thread
that moved the clock, so a test that sets the clock and then waits sees every event of that move;
a watcher thread also polls ``world.now`` (every 0.2 s) for moves made without ``set_now``.

Choices:

* **An event fires once.** The mark only moves forward: setting the clock back delivers nothing,
  and moving it forward again delivers only changes later than the mark (a replayed period is not
  re-announced). Events before the engine started (or made while no subscription was active)
  are never delivered: subscribe first, then move the clock.
* **Who gets an event** is decided when it is created: the subscriptions active at that moment
  (a subscription created later does not get it). The URL and signing key of the delivery are
  fixed then too: retries of an in-flight delivery keep the key it was created with, even after
  a Square key rotation (new events use the new key); they stop if the subscription is deleted
  or disabled (the delivery is ``canceled``).
* Faults (``dup``, ``reorder``, ``drop``, ``delay``, ``jitter``) are decided per (subscription,
  event) from the seed (:meth:`WebhookOptions.draw`): the same run gives the same decisions.
* ``publish`` is also called directly for events that are not clock driven (Square's
  ``oauth.authorization.revoked``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pos_sandbox.webhook_delivery import DeliveryLog, SubscriptionSender
from pos_sandbox.webhook_model import ProviderWebhooks, Subscription, WebhookEvent, sort_events
from pos_sandbox.webhook_options import WebhookOptions
from pos_sandbox.world import World

WATCH_SECONDS = 0.2


class WebhookEngine:
    """See the module docstring. ``start()`` / ``stop()``; thread safe."""

    def __init__(self, world: World, providers: Sequence[ProviderWebhooks],
                 options: WebhookOptions | None = None) -> None:
        self.world = world
        self.options = options or WebhookOptions()
        self.providers: dict[str, ProviderWebhooks] = {p.provider: p for p in providers}
        self.log = DeliveryLog(self.options.log_limit)
        self._lock = threading.RLock()
        self._mark: datetime = world.now
        self._senders: dict[str, SubscriptionSender] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> WebhookEngine:
        if self.started:
            return self
        self._mark = self.world.now
        self.world.add_clock_listener(self.on_clock)
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="webhooks-clock", daemon=True)
        self._watcher.start()
        self.started = True
        return self

    def stop(self) -> None:
        if not self.started:
            return
        self.world.remove_clock_listener(self.on_clock)
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._lock:
            senders, self._senders = list(self._senders.values()), {}
        for sender in senders:
            sender.stop()
        self.started = False

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            self.on_clock(self.world.now)
            self._reap()

    def _reap(self) -> None:
        """Stop the senders of deleted subscriptions (cancelling what they still held)."""
        with self._lock:
            gone = [(sid, s) for sid, s in self._senders.items() if s.provider.store.get(sid) is None]
            for sid, _ in gone:
                del self._senders[sid]
        for _, sender in gone:
            sender.cancel_all("subscription deleted")
            sender.stop()

    # ------------------------------------------------------------------ clock
    @property
    def mark(self) -> datetime:
        with self._lock:
            return self._mark

    def on_clock(self, now: datetime) -> None:
        """The clock is at ``now``: publish the events of (mark, now]."""
        with self._lock:
            if now <= self._mark:
                return
            start, self._mark = self._mark, now
            if not self.options.enabled:
                return
            events: list[WebhookEvent] = []
            for provider in self.providers.values():
                if provider.store.active():
                    events.extend(provider.events(start, now))
            self.publish(sort_events(events))

    # ------------------------------------------------------------------ fan-out
    def publish(self, events: Sequence[WebhookEvent]) -> int:
        """Queue ``events`` for every active subscription that wants them; returns the number of
        deliveries created (dropped ones included)."""
        created = 0
        with self._lock:
            if not self.options.enabled:
                return 0
            now_mono = time.monotonic()  # one instant per batch: its order is the queue order
            for event in events:
                provider = self.providers.get(event.provider)
                if provider is None:
                    continue
                for sub in provider.store.active():
                    if provider.wants(sub, event):
                        created += self._deliver(provider, sub, event, now_mono)
        return created

    def _sender(self, provider: ProviderWebhooks, sub: Subscription) -> SubscriptionSender:
        sender = self._senders.get(sub.id)
        if sender is None:
            sender = self._senders[sub.id] = SubscriptionSender(provider, sub, self.options, self.log)
        return sender

    def _deliver(self, provider: ProviderWebhooks, sub: Subscription, event: WebhookEvent, now_mono: float) -> int:
        opts = self.options
        key = (sub.id, event.event_id)
        now_real = time.time()
        reordered = opts.draw("reorder", *key) < opts.reorder
        base = dict(event=event, subscription_id=sub.id, url=sub.url, secret=sub.secret, enqueued_at=now_real)
        if opts.draw("drop", *key) < opts.drop:
            self.log.mark(self.log.new(**base), "dropped", "injected drop")
            return 1
        due = now_mono + opts.delay + opts.jitter * opts.draw("jitter", *key) + (opts.hold if reordered else 0.0)
        sender = self._sender(provider, sub)
        sender.push(self.log.new(**base, reordered=reordered), due)
        if opts.draw("dup", *key) < opts.dup:  # same due instant, queued next: sent right after the original
            sender.push(self.log.new(**base, copy=1, reordered=reordered), due)
            return 2
        return 1

    # ------------------------------------------------------------------ reporting
    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.log.wait_idle(timeout)

    def snapshot(self, **filters: Any) -> dict[str, Any]:
        subs = [s.public() for p in self.providers.values() for s in p.store.all()]
        return {"options": self.options.describe(), "mark": self.mark.isoformat().replace("+00:00", "Z"),
                "subscriptions": subs, **self.log.snapshot(**filters)}
