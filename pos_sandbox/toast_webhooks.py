"""Toast webhooks for the emulator: subscriptions (a sandbox control), events, signing, back-off.

Toast has no public subscription API: partner support configures a subscription per event
category and environment, each with its own signing secret (``shared/providers.md`` §2.9). The
sandbox emulates that with a control of the Toast emulator (not Toast's API; no auth):

* ``POST /_sandbox/toast/webhooks`` ``{"url", "event_types"?: ["order_updated", "menus_updated"],
  "restaurant_guids"?: [...]}`` → the subscription, with its ``secret`` (defaults: both event
  types, every restaurant of the partner client); the first subscription's secret is the demo
  credentials' ``webhook_signature_key``, later ones are derived from the seed;
* ``GET /_sandbox/toast/webhooks`` → ``{"subscriptions": [...]}``;
* ``DELETE /_sandbox/toast/webhooks/{guid}``; ``POST /_sandbox/toast/webhooks/{guid}/restart``
  (what Toast support does for a subscription the back-off stopped).

Events: ``order_updated`` (category ``orders``) whenever an order's ``modifiedDate`` moves —
the check closes (or is voided), its tip is edited, its refund completes (Toast shows refunds in
place once completed), it is deleted — with ``details`` = {``restaurantGuid``, ``order`` (the full
order exactly as ``/orders/v2`` renders it at that instant, minus guest PII: no check
``customer``, since the orders schema's ``Customer`` requires name, phone and email; ``externalId``
null), ``appliedPackagingInfo``: null}; ``menus_updated`` (category ``menus``) for each restaurant when the account's catalog
changes, ``details`` = {``restaurantGuid``, ``publishedDate``} (the field name is UNCONFIRMED).
Body keys: ``timestamp`` (the change's instant on the sandbox clock, ``2024-04-01T15:09:30.223Z``
— UTC with milliseconds; Toast's exact format is UNCONFIRMED), ``eventCategory``, ``eventType``,
``guid`` (the event's id: a retry or duplicate carries the same), ``details``.

Request headers: ``Content-Type: application/json``, ``Toast-Signature`` = base64(HMAC-SHA256(
secret, raw body + the body's ``timestamp``)) (Toast's Java sample; reading "timestamp" as the
body field is an inference, UNCONFIRMED), ``Toast-Event-Type``, ``Toast-Event-Category``,
``Toast-Restaurant-External-ID``, ``Toast-Attempt-Number`` (1 on the first send),
``User-Agent: Apache-HttpClient/4.5.13 (Java/17.0.8)``. Deadline 2 s; retried after a timeout,
no connection, 404, 429 or 5xx only (5 min, then 10 min); other answers are final. Back-off: 50
failed attempts within 5 min pause the subscription for 1 min; 9 pauses within 10 min stop it
(``state: stopped``) until restarted — windows scaled by the engine's ``scale``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.toast_http import ToastError, bad_request, dumps, json_response, toast_ts
from pos_sandbox.webhook_delivery import iso
from pos_sandbox.webhook_model import (
    AttemptContext,
    Outgoing,
    Subscription,
    SubscriptionStore,
    WebhookEvent,
    event_guid,
)
from pos_sandbox.world_changes import changes

if TYPE_CHECKING:
    from pos_sandbox.toast import ToastEmulator

EVENT_CATEGORIES = {
    "order_updated": "orders", "channel_order_updated": "orders", "menus_updated": "menus",
    "partner_added": "partners", "partner_removed": "partners", "partner_updated": "partners",
    "in_stock": "stock", "low_quantity": "stock", "out_of_stock": "stock",
}
DEFAULT_TYPES = ("order_updated", "menus_updated")
ORDER_CHANGES = ("closed", "tip_edited", "refund_completed", "deleted")
USER_AGENT = "Apache-HttpClient/4.5.13 (Java/17.0.8)"
ERRORS_TO_PAUSE, ERROR_WINDOW, PAUSE_SECONDS = 50, 300.0, 60.0
PAUSES_TO_STOP, PAUSE_WINDOW = 9, 600.0


def event_timestamp(when: datetime) -> str:
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def toast_signature(secret: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, raw body + timestamp)): Toast's ``Toast-Signature``."""
    return base64.b64encode(hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).digest()).decode()


class ToastWebhooks:
    """The Toast adapter (:class:`~pos_sandbox.webhook_model.ProviderWebhooks`) and its control."""

    provider = "toast"

    def __init__(self, emulator: ToastEmulator, credentials: Mapping[str, DemoCredentials]) -> None:
        self.emulator = emulator
        self.world = emulator.world
        self.store = SubscriptionStore("toast")
        toast = [c for c in credentials.values() if c.provider == "toast"]
        self.first_secret = toast[0].webhook_signature_key if toast else ""
        self.accounts = [a.account_id for a in self.world.accounts if a.provider == "toast"]

    # ------------------------------------------------------------------ control
    def _secret(self, n: int) -> str:
        if n == 1 and self.first_secret:
            return self.first_secret
        return hashlib.blake2b(f"{self.world.seed}|toast-webhook-secret|{n}".encode(), digest_size=24).hexdigest()

    @staticmethod
    def render(sub: Subscription) -> dict[str, Any]:
        return {"guid": sub.id, "url": sub.url, "event_types": list(sub.event_types),
                "restaurant_guids": list(sub.scope), "secret": sub.secret, "enabled": sub.enabled,
                "state": sub.state, "created_at": iso(sub.created_at)}

    async def create(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        url = body.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad_request("url must be an absolute http(s) URL.", "url")
        types = body.get("event_types") or list(DEFAULT_TYPES)
        if not isinstance(types, list) or any(t not in EVENT_CATEGORIES for t in types):
            raise bad_request(f"event_types must be a list of: {', '.join(EVENT_CATEGORIES)}.", "event_types")
        if not self.accounts:
            raise ToastError(404, "Not Found", "The world has no Toast account.")
        account_id = self.accounts[0]
        mine = [loc.location_id for loc in self.world.account_locations(account_id)]
        guids = body.get("restaurant_guids") or mine
        if not isinstance(guids, list) or any(g not in mine for g in guids):
            raise bad_request("restaurant_guids must be restaurants of the partner client.", "restaurant_guids")
        n = self.store.next_number()
        sub = self.store.add(Subscription(
            provider="toast", id=event_guid(self.world.seed, "toast-subscription", n), url=url,
            event_types=tuple(dict.fromkeys(types)), secret=self._secret(n), owner=account_id,
            scope=tuple(dict.fromkeys(guids)),
        ))
        return json_response(self.render(sub))

    async def list(self, request: Request) -> Response:
        return json_response({"subscriptions": [self.render(s) for s in self.store.all()]})

    def _get(self, request: Request) -> Subscription:
        sub = self.store.get(request.path_params["guid"])
        if sub is None:
            raise ToastError(404, "Not Found", f"Webhook subscription {request.path_params['guid']} was not found.")
        return sub

    async def delete(self, request: Request) -> Response:
        sub = self._get(request)
        self.store.remove(sub.id)
        return json_response({"deleted": True, "guid": sub.id})

    async def restart(self, request: Request) -> Response:
        sub = self._get(request)
        sub.state, sub.paused_until, sub.extra = "active", 0.0, {}
        return json_response(self.render(sub))

    def routes(self, prefix: str = "") -> list[Route]:
        base = f"{prefix}/_sandbox/toast/webhooks"
        return [
            Route(base, self.list, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(f"{base}/{{guid}}", self.delete, methods=["DELETE"]),
            Route(f"{base}/{{guid}}/restart", self.restart, methods=["POST"]),
        ]

    # ------------------------------------------------------------------ events
    def _event(self, type_: str, at: datetime, account_id: str, restaurant: str, object_id: str,
               details: dict[str, Any]) -> WebhookEvent:
        event_id = event_guid(self.world.seed, "toast", type_, restaurant, object_id, at.timestamp())
        body = dumps({"timestamp": event_timestamp(at), "eventCategory": EVENT_CATEGORIES[type_], "eventType": type_,
                      "guid": event_id, "details": details})
        return WebhookEvent("toast", event_id, type_, at, account_id, restaurant, object_id, body)

    def order_for_webhook(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order as ``/orders/v2`` renders it, minus guest PII, ``externalId`` null."""
        for check in order.get("checks", ()):
            check.pop("customer", None)  # guest PII (module docstring)
        return {"guid": order["guid"], "entityType": order["entityType"], "externalId": None,
                **{k: v for k, v in order.items() if k not in ("guid", "entityType")}}

    def events(self, start: datetime, end: datetime) -> list[WebhookEvent]:
        out: list[WebhookEvent] = []
        for change in changes(self.world, "toast", start, end):
            if change.kind == "catalog":
                for loc in self.world.account_locations(change.account_id):
                    out.append(self._event("menus_updated", change.at, change.account_id, loc.location_id,
                                           loc.location_id, {"restaurantGuid": loc.location_id,
                                                             "publishedDate": toast_ts(change.at)}))
            elif change.kind in ORDER_CHANGES:
                sale, loc = change.sale, change.location
                assert sale is not None and loc is not None
                order = self.order_for_webhook(self.emulator.render.order(sale, change.at))
                out.append(self._event("order_updated", change.at, change.account_id, loc.location_id, sale.id,
                                       {"restaurantGuid": loc.location_id, "order": order,
                                        "appliedPackagingInfo": None}))
        return out

    # ------------------------------------------------------------------ delivery
    def wants(self, sub: Subscription, event: WebhookEvent) -> bool:
        return event.type in sub.event_types and event.account_id == sub.owner and event.location_id in sub.scope

    def request(self, sub: Subscription, event: WebhookEvent, url: str, secret: str,
                ctx: AttemptContext) -> Outgoing:
        headers = {
            "Content-Type": "application/json",
            "Toast-Signature": toast_signature(secret, event.body, event_timestamp(event.at)),
            "Toast-Event-Type": event.type,
            "Toast-Event-Category": EVENT_CATEGORIES[event.type],
            "Toast-Restaurant-External-ID": event.location_id or "",
            "Toast-Attempt-Number": str(ctx.number),
            "User-Agent": USER_AGENT,
        }
        return Outgoing(url, headers, event.body)

    @staticmethod
    def retryable(status: int | None) -> bool:
        return status is None or status in (404, 429) or status >= 500

    def note_result(self, sub: Subscription, ok: bool, now: float, scale: float) -> None:
        if ok:
            return
        errors = [t for t in sub.extra.get("errors", []) if t > now - ERROR_WINDOW * scale] + [now]
        sub.extra["errors"] = errors
        if len(errors) < ERRORS_TO_PAUSE:
            return
        sub.extra["errors"] = []
        sub.paused_until = now + PAUSE_SECONDS * scale
        pauses = [t for t in sub.extra.get("pauses", []) if t > now - PAUSE_WINDOW * scale] + [now]
        sub.extra["pauses"] = pauses
        sub.state = "stopped" if len(pauses) >= PAUSES_TO_STOP else "paused"
