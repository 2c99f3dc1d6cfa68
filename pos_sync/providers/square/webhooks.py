"""Square's webhooks: JSON events (``merchant_id``, ``type``, ``event_id``, ``data``) signed in
``x-square-hmacsha256-signature`` = base64(HMAC-SHA256(subscription signature key, notification URL
+ raw body)); the key belongs to the application's subscription (``/v2/webhooks/subscriptions``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from dlt_sources.square.settings import SQUARE_VERSION
from pos_sync.providers.square.source import base_url
from pos_sync.providers.webhook_registration import (
    Registration,
    RegistrationFailed,
    RegistrationRequest,
    call,
)
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


APP_TOKEN_ENV = "SQUARE_APP_ACCESS_TOKEN"


def register(req: RegistrationRequest) -> Registration:
    """The application's subscription to our receiver: found by its notification URL (event types
    added and re-enabled when needed) or created (an idempotency key derived from the URL, so a
    retried create makes one); its signature key read back."""
    if not req.app_token:
        raise RegistrationFailed(422, f"Square's webhook subscriptions belong to the application: set {APP_TOKEN_ENV} "
                                      "to the application's personal access token (Developer Console → Credentials)")
    api = f"{base_url(req.creds)}/v2/webhooks/subscriptions"
    headers = {"Square-Version": SQUARE_VERSION}

    def square(method: str, url: str, **body: Any) -> Any:
        try:
            return call("Square", method, url, token=req.app_token, headers=headers, **body)
        except RegistrationFailed as exc:
            if exc.status == 409:  # 401/403 with the app's token: a configuration problem, not the merchant's
                raise RegistrationFailed(422, f"{exc} (is {APP_TOKEN_ENV} the application's personal access "
                                              "token? a seller's OAuth token cannot manage subscriptions)") from None
            raise

    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = square("GET", f"{api}?include_disabled=true" + (f"&cursor={quote(cursor)}" if cursor else ""))
        found += page.get("subscriptions") or []
        cursor = page.get("cursor")
        if not cursor:
            break
    mine = next((s for s in found if s.get("notification_url") == req.notification_url), None)
    if mine is None:
        created = square("POST", api, json={
            "idempotency_key": str(uuid.uuid5(uuid.NAMESPACE_URL, req.notification_url)),
            "subscription": {"name": "pos-sync", "event_types": list(req.event_types),
                             "notification_url": req.notification_url, "api_version": SQUARE_VERSION}})
        sub = created["subscription"]
        return Registration("app", (sub["id"],), tuple(sub["event_types"]), sub.get("signature_key"), created=True)
    wanted = sorted(set(mine.get("event_types") or ()) | set(req.event_types))
    if wanted != sorted(mine.get("event_types") or ()) or mine.get("enabled") is False:
        square("PUT", f"{api}/{mine['id']}", json={"subscription": {"event_types": wanted, "enabled": True}})
    sub = square("GET", f"{api}/{mine['id']}")["subscription"]
    return Registration("app", (sub["id"],), tuple(sub["event_types"]), sub.get("signature_key"), created=False)


FLOW = WebhookFlow(content_type="application/json", parse=parse, verify=verify, key_source="subscription",
                   event_types=EVENT_TYPES, deadline_seconds=10.0, register=register, app_token_env=APP_TOKEN_ENV)
