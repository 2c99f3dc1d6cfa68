"""Square webhook events of the bakery world, and how Square signs and sends them.

Events per change of the world (:mod:`pos_sandbox.world_changes`), in this order, objects
rendered by the emulator's own renderer as of the change's instant:

===================  ====================================================================
change               events
===================  ====================================================================
sale closed          ``order.created`` (state COMPLETED, or CANCELED for a void), then
                     ``payment.created`` per tender (COMPLETED, or CANCELED/VOIDED)
tip edited           ``payment.updated`` (the tender), ``order.updated`` (version 2)
refund created       ``refund.created`` (PENDING), ``payment.updated`` (``refund_ids``,
                     ``refunded_money``), ``order.created`` (the return order)
refund completed     ``refund.updated`` (COMPLETED), ``payment.updated``, ``order.updated``
                     (the return order: its refund PENDING → APPROVED, version 2)
catalog change       ``catalog.version.updated`` (one per merchant and instant)
``/oauth2/revoke``   ``oauth.authorization.revoked`` (``revoker_type`` APPLICATION)
===================  ====================================================================

Bodies are the spec's event shape, compact JSON in this key order: ``merchant_id``, ``type``,
``event_id``, ``created_at`` (the change's instant on the sandbox clock, RFC 3339 ms), ``data``
{``type``, ``id``, ``object`` {<key>: <object>}}; ``payment``/``refund`` carry the full object
(refunds also ``version``: 1 when created, 2 when completed, as the spec's refund event examples
have one), ``order_created``/``order_updated`` the summary {``order_id``, ``version``,
``location_id``, ``state``, ``created_at``, ``updated_at`` (updated only)}. ``event_id`` is a
UUID derived from (seed, type, object, instant): a retry or a duplicate carries the same one.

Who receives: subscriptions of the application (client id) whose ``event_types`` include the
type, for sellers that have granted the application the event's scope (``PAYMENTS_READ``,
``ORDERS_READ``, ``ITEMS_READ``) and not revoked it; ``oauth.authorization.revoked`` needs none.

Request: ``POST`` to the notification URL with ``content-type: application/json``,
``x-square-hmacsha256-signature`` = base64(HMAC-SHA256(signature key, notification URL + raw
body)), the legacy ``x-square-signature`` = base64(HMAC-SHA1(same key, same string)),
``square-environment: Sandbox``, ``square-initial-delivery-timestamp`` (RFC 3339, real clock, the
first attempt) and, on retries, ``square-retry-number`` (1 for the first retry) and
``square-retry-reason`` (``http_timeout`` or ``http_error``: the values are UNCONFIRMED). Every
failure (non-2xx, timeout, no connection) is retried on Square's schedule.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pos_sandbox.square_event_types import SCOPES
from pos_sandbox.square_http import dumps, from_us, to_us, ts
from pos_sandbox.square_index import OrderRec, RefundRec, updated_us
from pos_sandbox.webhook_delivery import iso
from pos_sandbox.webhook_model import (
    AttemptContext,
    Outgoing,
    Subscription,
    SubscriptionStore,
    WebhookEvent,
    event_guid,
)
from pos_sandbox.world_changes import Change, changes

if TYPE_CHECKING:
    from pos_sandbox.square import SquareEmulator


def square_signature(key: str, url: str, body: bytes, digest: str = "sha256") -> str:
    """base64(HMAC(key, notification URL + raw body)): Square's webhook signature."""
    mac = hmac.new(key.encode(), url.encode() + body, getattr(hashlib, digest))
    return base64.b64encode(mac.digest()).decode()


class SquareWebhooks:
    """The :class:`~pos_sandbox.webhook_model.ProviderWebhooks` adapter of one Square emulator."""

    provider = "square"

    def __init__(self, emulator: SquareEmulator, store: SubscriptionStore) -> None:
        self.emulator = emulator
        self.world = emulator.world
        self.store = store
        self._revocations = itertools.count(1)

    # ------------------------------------------------------------------ events
    def events(self, start: datetime, end: datetime) -> list[WebhookEvent]:
        out: list[WebhookEvent] = []
        for change in changes(self.world, "square", start, end):
            out.extend(self._events_of(change))
        return out

    def _event(self, type_: str, data_type: str, data_id: str, key: str, obj: dict[str, Any], at: datetime,
               merchant: str, location_id: str | None) -> WebhookEvent:
        event_id = event_guid(self.world.seed, "square", type_, data_id, to_us(at))
        body = dumps({"merchant_id": merchant, "type": type_, "event_id": event_id, "created_at": ts(at),
                      "data": {"type": data_type, "id": data_id, "object": {key: obj}}})
        scopes = SCOPES.get(type_, ())
        return WebhookEvent("square", event_id, type_, at, merchant, location_id, data_id, body,
                            scopes[0] if scopes else None)

    def _events_of(self, change: Change) -> list[WebhookEvent]:
        at, merchant = change.at, change.account_id
        if change.kind == "catalog":
            data_id = event_guid(self.world.seed, "square-catalog-version", merchant, to_us(at))
            return [self._event("catalog.version.updated", "catalog_version", data_id, "catalog_version",
                                {"updated_at": ts(at)}, at, merchant, None)]
        sale, loc = change.sale, change.location
        assert sale is not None and loc is not None
        index = self.emulator.indexes.location(loc.location_id)
        now_us = to_us(at)
        render = self.emulator.render
        loc_id = loc.location_id

        def payment(tender_id: str, type_: str) -> WebhookEvent:
            rec = index.payments_by_id[tender_id]
            return self._event(type_, "payment", tender_id, "payment", render.payment(rec, sale, now_us), at,
                               merchant, loc_id)

        def order(order_id: str, type_: str) -> WebhookEvent:
            rec = index.orders_by_id[order_id]
            key = "order_created" if type_ == "order.created" else "order_updated"
            return self._event(type_, key, order_id, key, self._order_summary(rec, now_us, key), at, merchant,
                               loc_id)

        def refund(type_: str) -> WebhookEvent:
            assert sale.refund is not None
            rec = index.refunds_by_id[sale.refund.id]
            obj = render.refund(rec, sale, now_us) | {"version": self._refund_version(rec, now_us)}
            return self._event(type_, "refund", rec.id, "refund", obj, at, merchant, loc_id)

        if change.kind == "closed":
            return [order(sale.id, "order.created")] + [payment(t.id, "payment.created") for t in sale.tenders]
        if change.kind == "tip_edited":
            assert sale.tip_edit is not None
            return [payment(sale.tip_edit.tender_id, "payment.updated"), order(sale.id, "order.updated")]
        assert sale.refund is not None
        if change.kind == "refund_created":
            return [refund("refund.created"), payment(sale.refund.tender_id, "payment.updated"),
                    order(sale.refund.return_order_id, "order.created")]
        if change.kind == "refund_completed":
            return [refund("refund.updated"), payment(sale.refund.tender_id, "payment.updated"),
                    order(sale.refund.return_order_id, "order.updated")]
        return []  # Square sales are never deleted

    @staticmethod
    def _order_summary(rec: OrderRec, now_us: int, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {"order_id": rec.id, "version": sum(1 for t in rec.events if t <= now_us) or 1,
                               "location_id": rec.location_id, "state": rec.state,
                               "created_at": ts(from_us(rec.created_us))}
        if key == "order_updated":
            out["updated_at"] = ts(from_us(updated_us(rec, now_us)))
        return out

    @staticmethod
    def _refund_version(rec: RefundRec, now_us: int) -> int:
        return sum(1 for t in rec.events if t <= now_us) or 1

    def revoked(self, merchant_id: str, client_id: str) -> list[WebhookEvent]:
        """``oauth.authorization.revoked`` for a revocation made now (sandbox clock)."""
        at = self.world.now
        n = next(self._revocations)
        data_id = event_guid(self.world.seed, "square-revocation", merchant_id, client_id, n)
        event = self._event("oauth.authorization.revoked", "revocation", data_id, "revocation",
                            {"revoked_at": ts(at), "revoker_type": "APPLICATION"}, at, merchant_id, None)
        return [event]

    # ------------------------------------------------------------------ delivery
    def wants(self, sub: Subscription, event: WebhookEvent) -> bool:
        if event.type not in sub.event_types:
            return False
        if event.scope is None:
            return True
        return event.scope in self.emulator.store.authorized_scopes(event.account_id, sub.owner)

    def request(self, sub: Subscription, event: WebhookEvent, url: str, secret: str,
                ctx: AttemptContext) -> Outgoing:
        headers = {
            "content-type": "application/json",
            "x-square-hmacsha256-signature": square_signature(secret, url, event.body),
            "x-square-signature": square_signature(secret, url, event.body, "sha1"),
            "square-environment": "Sandbox",
            "square-initial-delivery-timestamp": iso(ctx.first_sent_at),
        }
        if ctx.number > 1:
            headers["square-retry-number"] = str(ctx.number - 1)
            headers["square-retry-reason"] = ctx.previous_failure or "http_error"
        return Outgoing(url, headers, event.body)

    @staticmethod
    def retryable(status: int | None) -> bool:
        return True

    def note_result(self, sub: Subscription, ok: bool, now: float, scale: float) -> None:
        return None
