"""Lightspeed X-Series webhooks: ``application/x-www-form-urlencoded`` with ``payload`` = JSON (the
API 1.0 shape) and ``domain_prefix``; signed in ``X-Signature: signature=<value>,algorithm=HMAC-SHA256``
keyed with the app's ``client_secret``. Lightspeed does not document whether the value is hex or
base64, nor whether the raw form body or the decoded ``payload`` is signed: all four readings are
accepted (each needs the secret). No event id: the SHA-256 of the payload (the part every reading
signs) stands in, and the store is the payload's own where it names one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from dlt_sources.lightspeed.helpers import store_base_url
from pos_sync.providers.lightspeed.source import domain_prefix_of
from pos_sync.providers.webhook_registration import Registration, RegistrationRequest, call
from pos_sync.providers.webhooks import (
    Keys,
    WebhookEvent,
    WebhookFlow,
    WebhookRejected,
    b64,
    body_hash,
    equal,
    hmac_sha256,
)

SIGNATURE_HEADER = "x-signature"
EVENT_TYPES = ("sale.update", "product.update")


def _given(headers: Mapping[str, str]) -> tuple[str | None, str]:
    parts = dict(p.strip().split("=", 1) for p in headers.get(SIGNATURE_HEADER, "").split(",") if "=" in p)
    return parts.get("signature"), parts.get("algorithm", "HMAC-SHA256")


def verify(raw: bytes, headers: Mapping[str, str], keys: Keys, parsed: Any) -> bool:
    given, algorithm = _given(headers)
    if algorithm.upper() != "HMAC-SHA256":
        return False
    payload = str((parsed.data if parsed is not None else {}).get("_payload_text") or "").encode()
    for _url, key in keys:
        for signed in (raw, payload):
            digest = hmac_sha256(key, signed)
            if equal(given, digest.hex()) or equal(given, b64(digest)):
                return True
    return False


def parse(raw: bytes, _headers: Mapping[str, str]) -> WebhookEvent:
    try:
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), strict_parsing=True).items()}
        payload = json.loads(form["payload"])
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
    except (UnicodeDecodeError, ValueError, KeyError):
        raise WebhookRejected(400, "malformed", "not a Lightspeed webhook (a form with a JSON payload)") from None
    # the payload's store wins over the form's, and the payload is the event: when only the payload
    # is signed (one of the readings verify() accepts) the other fields are not, and an event re-sent
    # with another domain_prefix or an added field reached another store's account, or passed as new
    # (the type only picks what the sync after it reads: the form's still names it first)
    retailer = payload.get("retailer")
    prefix = (retailer.get("domain_prefix") if isinstance(retailer, dict) else None) or form.get("domain_prefix")
    event_type = form.get("type") or payload.get("type") or ("sale.update" if "register_sale_products" in payload
                                                             or "line_items" in payload else "product.update")
    return WebhookEvent(event_id=body_hash(form["payload"].encode()), event_type=str(event_type),
                        data={"payload": payload, "domain_prefix": prefix, "_payload_text": form["payload"]},
                        merchant_id=str(prefix).lower() if prefix else None)


def register(req: RegistrationRequest) -> Registration:
    """The store's webhooks to our receiver, one per event type (``/api/webhooks``, form field
    ``data``), created with the store's OAuth token where missing and re-activated where off.
    Lightspeed signs with the app's client secret: no key to store."""
    api = f"{store_base_url(domain_prefix_of(req.creds), req.creds.base_url)}/api/webhooks"
    existing = call("Lightspeed", "GET", api, tokens=req.tokens)
    mine = {w.get("type"): w for w in existing if isinstance(w, dict) and w.get("url") == req.notification_url}
    ids, created = [], False
    for event_type in req.event_types:
        form = {"data": json.dumps({"url": req.notification_url, "active": True, "type": event_type})}
        hook = mine.get(event_type)
        if hook is None:
            hook, created = call("Lightspeed", "POST", api, tokens=req.tokens, data=form), True
        elif not hook.get("active", True):
            hook = call("Lightspeed", "PUT", f"{api}/{hook['id']}", tokens=req.tokens, data=form)
        ids.append(str(hook["id"]))
    return Registration("account", tuple(ids), req.event_types, None, created=created)


FLOW = WebhookFlow(content_type="application/x-www-form-urlencoded", parse=parse, verify=verify,
                   key_source="app_secret", event_types=EVENT_TYPES, deadline_seconds=5.0, register=register)
