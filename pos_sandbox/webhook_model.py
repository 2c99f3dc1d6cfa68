"""The provider-neutral pieces of webhook emulation: subscriptions, events, outgoing requests.

Each emulator owns a :class:`SubscriptionStore` (Square: the Webhook Subscriptions API; Lightspeed:
``/api/webhooks``; Toast: a sandbox control, Toast configures them out of band) and a
:class:`ProviderWebhooks` adapter that turns the world's changes into that provider's events and
each delivery attempt into the HTTP request the provider would send. The delivery engine
(:mod:`pos_sandbox.webhook_engine`) knows nothing provider specific beyond this interface.

Time: event instants (``WebhookEvent.at``) are on the sandbox's *virtual* clock (when the change
happened in the world); subscriptions and delivery attempts are stamped with the *real* clock
(what a receiver measures latency with).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


def event_guid(*parts: object) -> str:
    """A deterministic UUID (version 4 layout) for an event: the same change gets the same id."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


@dataclass
class Subscription:
    """One webhook subscription, whatever the provider.

    ``owner``: whose events it receives — Square: the application (client id), Toast: the partner
    client (the Toast account id), Lightspeed: the store (domain prefix). ``scope``: optional
    narrowing (Toast: restaurant guids). ``secret``: the signing key (Square ``signature_key``,
    Toast subscription secret, Lightspeed app ``client_secret``).
    """

    provider: str
    id: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    owner: str
    enabled: bool = True
    name: str | None = None
    api_version: str | None = None
    scope: tuple[str, ...] = ()
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    state: str = "active"  # active | paused | stopped (Toast's back-off stops a subscription)
    paused_until: float = 0.0  # monotonic clock
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The sandbox log's view (no secret)."""
        return {"provider": self.provider, "id": self.id, "url": self.url, "event_types": list(self.event_types),
                "enabled": self.enabled, "state": self.state, "owner": self.owner}


class SubscriptionStore:
    """Thread-safe subscriptions of one emulator, in creation order."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._lock = threading.Lock()
        self._subs: dict[str, Subscription] = {}
        self.created = 0  # subscriptions ever created (ids and keys are derived from this counter)

    def add(self, sub: Subscription) -> Subscription:
        with self._lock:
            self._subs[sub.id] = sub
            self.created += 1
        return sub

    def next_number(self) -> int:
        with self._lock:
            return self.created + 1

    def get(self, sub_id: str) -> Subscription | None:
        with self._lock:
            return self._subs.get(sub_id)

    def remove(self, sub_id: str) -> Subscription | None:
        with self._lock:
            return self._subs.pop(sub_id, None)

    def all(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs.values())

    def active(self) -> list[Subscription]:
        return [s for s in self.all() if s.enabled and s.state != "stopped"]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event, identical for every subscription (the signature is computed per delivery).

    ``body``: Square and Toast — the exact JSON bytes; Lightspeed — the ``payload`` JSON text
    (the form around it is built per delivery). ``scope``: the OAuth scope a Square seller must
    have granted for the application to receive it (None: no scope needed).
    """

    provider: str
    event_id: str
    type: str
    at: datetime
    account_id: str
    location_id: str | None
    object_id: str
    body: bytes
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """The HTTP request of one delivery attempt."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class AttemptContext:
    """What a provider needs to build an attempt: its number (1 = first), when the first attempt
    was sent (real clock, epoch seconds) and why the previous one failed."""

    number: int
    first_sent_at: float
    previous_failure: str | None  # "http_timeout" | "http_error" | None


class ProviderWebhooks(Protocol):
    """What the delivery engine needs from one provider's emulator."""

    provider: str
    store: SubscriptionStore

    def events(self, start: datetime, end: datetime) -> list[WebhookEvent]:
        """Every event of the world's changes in ``(start, end]`` (virtual clock), in order."""

    def wants(self, sub: Subscription, event: WebhookEvent) -> bool:
        """Whether ``sub`` receives ``event`` (event type, account, authorization)."""

    def request(self, sub: Subscription, event: WebhookEvent, url: str, secret: str,
                ctx: AttemptContext) -> Outgoing:
        """The signed request of one attempt (``url``/``secret`` as when the event was created)."""

    def retryable(self, status: int | None) -> bool:
        """Whether a failed attempt (``status`` None: timeout or connection error) is retried."""

    def note_result(self, sub: Subscription, ok: bool, now: float, scale: float) -> None:
        """Back-off bookkeeping after an attempt (Toast pauses and stops failing subscriptions)."""


def sort_events(events: Iterable[WebhookEvent]) -> list[WebhookEvent]:
    return sorted(events, key=lambda e: e.at)
