"""Square's webhooks: JSON events (``merchant_id``, ``type``, ``event_id``, ``data``) signed in
``x-square-hmacsha256-signature`` = base64(HMAC-SHA256(subscription signature key, notification URL
+ raw body)); the key belongs to the application's subscription (``/v2/webhooks/subscriptions``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pos_sync.providers.webhooks import (
    Keys,
    WebhookEvent,
    WebhookFlow,
    WebhookRejected,
    b64,
    equal,
    hmac_sha256,
)

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
EVENT_TYPES = ("payment.created", "payment.updated", "refund.created", "refund.updated", "order.created",
               "order.updated", "catalog.version.updated", "oauth.authorization.revoked")


def signature(key: str, notification_url: str, raw: bytes) -> str:
    return b64(hmac_sha256(key, notification_url.encode() + raw))


def verify(raw: bytes, headers: Mapping[str, str], keys: Keys, _parsed: Any) -> bool:
    given = headers.get(SIGNATURE_HEADER)
    return any(equal(given, signature(key, url, raw)) for url, key in keys)


def parse(raw: bytes, _headers: Mapping[str, str]) -> WebhookEvent:
    try:
        body = json.loads(raw)
        event_id, event_type = str(body["event_id"]), str(body["type"])
    except (ValueError, KeyError, TypeError):
        raise WebhookRejected(400, "malformed", "not a Square event (JSON with event_id and type)") from None
    return WebhookEvent(event_id=event_id, event_type=event_type, data=body,
                        merchant_id=str(body.get("merchant_id") or "") or None,
                        revokes_access=event_type == "oauth.authorization.revoked")


FLOW = WebhookFlow(content_type="application/json", parse=parse, verify=verify, key_source="subscription",
                   event_types=EVENT_TYPES, deadline_seconds=10.0)
