"""Lightspeed X-Series webhooks for the emulator: ``/api/webhooks`` (API 0.9), events, signing.

Subscriptions, per store, with the store's OAuth token (``Authorization: Bearer``; the token's
domain prefix is the store):

* ``POST /api/webhooks``, form field ``data`` = JSON ``{"url", "active", "type"}`` →
  the webhook ``{"id", "retailer_id", "user_id", "url", "active", "type"}``; ``type`` is one of
  X-Series' (``sale.update``, ``product.update``, ``inventory.update``, ``customer.update``,
  ``register_closure.create``, ``consignment.send``, ``consignment.receive``; only the first two
  ever fire here), ``active`` defaults to true;
* ``GET /api/webhooks`` → a bare JSON array of the store's webhooks; ``GET /api/webhooks/{id}``;
* ``PUT /api/webhooks/{id}`` (form ``data``, any of the three fields);
* ``DELETE /api/webhooks/{id}`` → ``{"status": "success"}`` (the exact answer is UNCONFIRMED).

Errors: ``{"error", "message"}`` as the rest of the emulator (401 without a valid token, 400 for
a bad ``data``, 404 for another store's or an unknown webhook).

Events: ``sale.update`` whenever a sale's 2.0 ``version`` moves (it closes or is voided, its tip
is edited, a return is made against it) and for return sales (created SAVED, completed CLOSED);
``product.update`` whenever a product is created, renamed, re-priced or deleted. Payload: the
object in the API 1.0 shape (:mod:`pos_sandbox.lightspeed_payload`). X-Series payloads carry no
event id: the sandbox's log names each event by a UUID of (type, object, version).

Request: ``POST``, ``Content-Type: application/x-www-form-urlencoded``, form fields ``type``,
``domain_prefix`` and ``payload`` (the JSON text); ``X-Signature: signature=<digest>,algorithm=
HMAC-SHA256``, HMAC-SHA256 keyed with the app's ``client_secret`` (the webhook was created with
an OAuth token of that app) over the raw form-encoded body (default) or the ``payload`` JSON text
(``lightspeed.signed=payload``), digest in hex (default) or base64 (``lightspeed.signature=
base64``) — X-Series documents neither choice (UNCONFIRMED); third-party verifiers use hex over
the raw body. Deadline 5 s; any failure is retried (20 retries over ≈ 48 h).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pos_sandbox.lightspeed_http import LightspeedError, bad_request, json_response, to_us
from pos_sandbox.lightspeed_payload import product_v1, sale_v1
from pos_sandbox.webhook_model import (
    AttemptContext,
    Outgoing,
    Subscription,
    SubscriptionStore,
    WebhookEvent,
    event_guid,
)
from pos_sandbox.webhook_options import WebhookOptions
from pos_sandbox.world_changes import changes

if TYPE_CHECKING:
    from pos_sandbox.lightspeed import LightspeedEmulator

WEBHOOK_TYPES = ("sale.update", "product.update", "inventory.update", "customer.update", "register_closure.create",
                 "consignment.send", "consignment.receive")


def lightspeed_signature(secret: str, message: bytes, encoding: str = "hex") -> str:
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in (1, "1", "true", "True"):
        return True
    if value in (0, "0", "false", "False"):
        return False
    return None


class LightspeedWebhooks:
    """The Lightspeed adapter (:class:`~pos_sandbox.webhook_model.ProviderWebhooks`) and ``/api/webhooks``."""

    provider = "lightspeed"

    def __init__(self, emulator: LightspeedEmulator, options: WebhookOptions | None = None) -> None:
        self.emulator = emulator
        self.world = emulator.world
        self.store = SubscriptionStore("lightspeed")
        self.options = options or WebhookOptions()

    # ------------------------------------------------------------------ /api/webhooks
    def render(self, sub: Subscription) -> dict[str, Any]:
        account = self.world.account_by_id[sub.owner]
        return {"id": sub.id, "retailer_id": self.emulator.render.retailer(account)["id"],
                "user_id": sub.extra.get("user_id"), "url": sub.url, "active": sub.enabled, "type": sub.event_types[0]}

    async def _data(self, request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise bad_request("Send an application/x-www-form-urlencoded body with the form field 'data'.")
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        raw = form.get("data")
        if not raw:
            raise bad_request("Missing form field 'data' (a JSON object with url, active and type).")
        try:
            data = json.loads(raw)
        except ValueError:
            raise bad_request("Form field 'data' is not valid JSON.") from None
        if not isinstance(data, dict):
            raise bad_request("Form field 'data' must be a JSON object.")
        return data

    @staticmethod
    def _check(data: dict[str, Any], creating: bool) -> None:
        url = data.get("url")
        if creating or url is not None:
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise bad_request("'url' must be an absolute http(s) URL.")
        kind = data.get("type")
        if (creating or kind is not None) and kind not in WEBHOOK_TYPES:
            raise bad_request(f"'type' must be one of {', '.join(WEBHOOK_TYPES)}.")
        if data.get("active") is not None and _flag(data["active"]) is None:
            raise bad_request("'active' must be true or false.")

    def _own(self, request: Request, account_id: str) -> Subscription:
        sub = self.store.get(request.path_params["webhook_id"])
        if sub is None or sub.owner != account_id:
            raise LightspeedError(404, f"Webhook {request.path_params['webhook_id']} not found.")
        return sub

    async def create(self, request: Request) -> Response:
        token, headers = self.emulator.begin(request)
        data = await self._data(request)
        self._check(data, creating=True)
        n = self.store.next_number()
        owner = next((m.id for m in self.world.team[token.account_id] if m.is_owner), None)
        sub = self.store.add(Subscription(
            provider="lightspeed", id=event_guid(self.world.seed, "ls-webhook", n), url=data["url"],
            event_types=(data["type"],), secret=self.emulator.store.clients.get(token.client_id, ""),
            owner=token.account_id, enabled=_flag(data.get("active", True)) is not False,
            extra={"user_id": owner},
        ))
        return json_response(self.render(sub), headers=headers)

    async def list(self, request: Request) -> Response:
        token, headers = self.emulator.begin(request)
        return json_response([self.render(s) for s in self.store.all() if s.owner == token.account_id],
                             headers=headers)

    async def retrieve(self, request: Request) -> Response:
        token, headers = self.emulator.begin(request)
        return json_response(self.render(self._own(request, token.account_id)), headers=headers)

    async def update(self, request: Request) -> Response:
        token, headers = self.emulator.begin(request)
        sub = self._own(request, token.account_id)
        data = await self._data(request)
        self._check(data, creating=False)
        if data.get("url") is not None:
            sub.url = data["url"]
        if data.get("type") is not None:
            sub.event_types = (data["type"],)
        if data.get("active") is not None:
            sub.enabled = bool(_flag(data["active"]))
        return json_response(self.render(sub), headers=headers)

    async def delete(self, request: Request) -> Response:
        token, headers = self.emulator.begin(request)
        sub = self._own(request, token.account_id)
        self.store.remove(sub.id)
        return json_response({"status": "success"}, headers=headers)

    def routes(self, prefix: str = "") -> list[Route]:
        base = f"{prefix}/api/webhooks"
        return [
            Route(base, self.list, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(f"{base}/{{webhook_id}}", self.retrieve, methods=["GET"]),
            Route(f"{base}/{{webhook_id}}", self.update, methods=["PUT"]),
            Route(f"{base}/{{webhook_id}}", self.delete, methods=["DELETE"]),
        ]

    # ------------------------------------------------------------------ events
    def _event(self, type_: str, at: datetime, account_id: str, location_id: str | None, object_id: str,
               version: int, payload: dict[str, Any]) -> WebhookEvent:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        event_id = event_guid(self.world.seed, "lightspeed", type_, object_id, version)
        return WebhookEvent("lightspeed", event_id, type_, at, account_id, location_id, object_id, body)

    def _sale_event(self, account_id: str, object_id: str, at: datetime) -> WebhookEvent:
        rec = self.emulator.index(account_id).feed("sales").by_id[object_id]
        k = rec.current(to_us(at))
        assert k is not None
        sale = self.emulator.render_sale(rec, k, at)
        return self._event("sale.update", at, account_id, sale["outlet_id"], object_id, rec.versions[k], sale_v1(sale))

    def events(self, start: datetime, end: datetime) -> list[WebhookEvent]:
        out: list[WebhookEvent] = []
        for change in changes(self.world, "lightspeed", start, end):
            account_id = change.account_id
            if change.kind == "catalog":
                feed = self.emulator.index(account_id).feed("products")
                loc = self.world.account_locations(account_id)[0]
                for item in change.items:
                    rec = feed.by_id[item.item_id]
                    k = rec.current(to_us(change.at))
                    assert k is not None
                    product = self.emulator.render.product(item, rec, k)
                    payload = product_v1(product, self.world.tax_for(account_id, item.item_id), loc.prices_include_tax)
                    out.append(self._event("product.update", change.at, account_id, None, item.item_id,
                                           rec.versions[k], payload))
                continue
            sale = change.sale
            assert sale is not None
            if change.kind in ("closed", "tip_edited", "refund_created"):
                out.append(self._sale_event(account_id, sale.id, change.at))
            if change.kind in ("refund_created", "refund_completed") and sale.refund is not None:
                out.append(self._sale_event(account_id, sale.refund.return_order_id, change.at))
        return out

    # ------------------------------------------------------------------ delivery
    def wants(self, sub: Subscription, event: WebhookEvent) -> bool:
        return event.type in sub.event_types and event.account_id == sub.owner

    def request(self, sub: Subscription, event: WebhookEvent, url: str, secret: str,
                ctx: AttemptContext) -> Outgoing:
        payload = event.body.decode()
        body = urlencode([("type", event.type), ("domain_prefix", event.account_id), ("payload", payload)]).encode()
        signed = body if self.options.lightspeed_signed == "body" else event.body
        signature = lightspeed_signature(secret, signed, self.options.lightspeed_signature)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Signature": f"signature={signature},algorithm=HMAC-SHA256"}
        return Outgoing(url, headers, body)

    @staticmethod
    def retryable(status: int | None) -> bool:
        return True

    def note_result(self, sub: Subscription, ok: bool, now: float, scale: float) -> None:
        return None
