"""What the API's webhook receiver needs from a provider (``ProviderSpec.webhooks``): how its events
are signed and verified, parsed, identified and routed to an account.

Verification is HMAC-SHA256 over the raw bytes, compared in constant time, with the keys where the
provider keeps them (the app's subscription key, a subscription's own secret, the app's client
secret). A provider without event ids gets the SHA-256 of the raw body as one, so a redelivery of
the same bytes is still a duplicate."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


class WebhookRejected(Exception):
    """The request is not a genuine, well-formed event: answered with ``status``, counted by ``reason``."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    data: Mapping[str, Any]
    merchant_id: str | None = None  # routes by the account's merchant id …
    location_id: str | None = None  # … or by one of its locations
    revokes_access: bool = False  # the merchant revoked the app: the account needs a human


Keys = Sequence[tuple[str, str]]  # (notification URL the key signs for, key)


@dataclass(frozen=True)
class WebhookFlow:
    content_type: str
    parse: Callable[[bytes, Mapping[str, str]], WebhookEvent]  # raises WebhookRejected(400, …)
    verify: Callable[[bytes, Mapping[str, str], Keys, Any], bool]  # (raw, headers, keys, parsed) -> genuine
    key_source: Literal["subscription", "app_secret"]
    event_types: tuple[str, ...] = field(default_factory=tuple)  # what a subscription asks for
    deadline_seconds: float = 5.0  # how fast the provider wants the 2xx
    # makes sure an account's events reach the receiver (pos_sync.providers.webhook_registration)
    register: Callable[[Any], Any] | None = None
    app_token_env: str | None = None  # the variable holding the application's own API token, if it needs one


def hmac_sha256(key: str | bytes, message: bytes) -> bytes:
    return hmac.new(key.encode() if isinstance(key, str) else key, message, hashlib.sha256).digest()


def equal(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a header value with the expected signature."""
    return given is not None and hmac.compare_digest(given.strip().encode(), expected.encode())


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def body_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
