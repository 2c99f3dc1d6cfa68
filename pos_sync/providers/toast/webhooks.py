"""Toast's webhooks: JSON events (``timestamp``, ``eventCategory``, ``eventType``, ``guid``,
``details.restaurantGuid``) signed in ``Toast-Signature`` = base64(HMAC-SHA256(the subscription's own
secret, raw body + the body's ``timestamp``)) — Toast's Java sample; the timestamp is the body's
field (Toast sends no timestamp header)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pos_sync.providers.webhook_registration import Registration, RegistrationFailed, RegistrationRequest
from pos_sync.providers.webhooks import (
    Keys,
    WebhookEvent,
    WebhookFlow,
    WebhookRejected,
    b64,
    equal,
    hmac_sha256,
)

SIGNATURE_HEADER = "toast-signature"
EVENT_TYPES = ("order_updated", "menus_updated")


def verify(raw: bytes, headers: Mapping[str, str], keys: Keys, parsed: Any) -> bool:
    timestamp = str((parsed.data if parsed is not None else {}).get("timestamp") or "")
    given = headers.get(SIGNATURE_HEADER)
    return any(equal(given, b64(hmac_sha256(key, raw + timestamp.encode()))) for _url, key in keys)


def parse(raw: bytes, headers: Mapping[str, str]) -> WebhookEvent:
    try:
        body = json.loads(raw)
        event_id, event_type = str(body["guid"]), str(body["eventType"])
        details = body.get("details") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise WebhookRejected(400, "malformed", "not a Toast event (JSON with guid and eventType)") from None
    restaurant = details.get("restaurantGuid") if isinstance(details, dict) else None
    restaurant = restaurant or headers.get("toast-restaurant-external-id")
    return WebhookEvent(event_id=event_id, event_type=event_type, data=body,
                        location_id=str(restaurant) if restaurant else None)


def register(req: RegistrationRequest) -> Registration:
    """Toast has no subscription API: its partner support sets up a subscription (per event
    category) to our receiver and hands out its signing secret, which registering records."""
    if not req.given_key:
        raise RegistrationFailed(422, f"Toast sets up webhook subscriptions itself: ask Toast partner support for a "
                                      f"subscription to {req.notification_url} ({', '.join(req.event_types)}), "
                                      "then register its signing secret here (signature_key)")
    ids = (req.given_id,) if req.given_id else ()
    return Registration("app", ids, req.event_types, req.given_key, created=False)


FLOW = WebhookFlow(content_type="application/json", parse=parse, verify=verify, key_source="subscription",
                   event_types=EVENT_TYPES, deadline_seconds=2.0, register=register)
