"""Square's Webhook Subscriptions API for the emulator (``/v2/webhooks/...``).

Endpoints (official OpenAPI 2025-08-20, ``WebhookSubscriptions``):

* ``POST /v2/webhooks/subscriptions`` ``{idempotency_key?, subscription: {name?, enabled?,
  event_types, notification_url, api_version?}}`` → ``{subscription}`` with its ``signature_key``;
* ``GET /v2/webhooks/subscriptions`` (``include_disabled``, ``sort_order`` ASC|DESC by creation,
  default ASC, ``limit`` ≤ 100, ``cursor``) → ``{subscriptions, cursor?}`` without signature keys
  (as the spec's example);
* ``GET /v2/webhooks/subscriptions/{id}`` → ``{subscription}`` with its ``signature_key``;
* ``PUT /v2/webhooks/subscriptions/{id}`` ``{subscription: {name?, enabled?, event_types?,
  notification_url?}}`` → ``{subscription}`` (without the key, as the spec's example);
* ``DELETE /v2/webhooks/subscriptions/{id}`` → ``{}``;
* ``POST /v2/webhooks/subscriptions/{id}/signature-key`` ``{idempotency_key?}`` →
  ``{signature_key}``: a new key; deliveries already in flight (retries included) keep signing
  with the key they were created with, new events use the new one (the sandbox's reading of
  "rotate");
* ``GET /v2/webhooks/event-types`` (``api_version``) → ``{event_types, metadata}``.

Authentication, as Square requires: "webhook subscriptions are owned by the application and not
any one seller, you cannot use OAuth access tokens … you must use the application's personal
access token" (the spec's tag description). The sandbox's application has one personal access
token (``app_access_token`` in the demo credentials); an OAuth access token of a seller is
refused with 403 ``FORBIDDEN`` (the exact status and code Square answers are UNCONFIRMED), an
unknown one with 401 ``UNAUTHORIZED``.

Choices: ``created_at``/``updated_at`` follow the spec's examples (``2022-01-10 23:29:48 +0000
UTC``, real clock), not the RFC 3339 of their description; ``notification_url`` must be an
absolute ``http`` or ``https`` URL (loopback receivers are plain http; whether Square refuses
http is UNCONFIRMED); event types must be Square's (:mod:`pos_sandbox.square_event_types`);
``api_version`` defaults to the request's ``Square-Version`` header, else ``2025-08-20``. The
subscription of id ``n`` gets a key derived from the seed; the first one's is the demo
credentials' ``webhook_signature_key``. ``TestWebhookSubscription`` is not emulated.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.square_event_types import EVENT_TYPES
from pos_sandbox.square_http import (
    VERSION_RE,
    SquareError,
    bad_request,
    check_body,
    check_query,
    check_version,
    enum_value,
    json_response,
    parse_bool,
    parse_int,
    read_json,
)
from pos_sandbox.square_oauth import MISSING_AUTH, TokenStore
from pos_sandbox.webhook_model import Subscription, SubscriptionStore

DEFAULT_API_VERSION = "2025-08-20"
KNOWN_TYPES = {name for name, *_ in EVENT_TYPES}
SUBSCRIPTION_SHAPE = {"id": str, "name": str, "enabled": bool, "event_types": [str], "notification_url": str,
                      "api_version": str, "signature_key": str, "created_at": str, "updated_at": str}
CREATE_BODY = {"idempotency_key": str, "subscription": SUBSCRIPTION_SHAPE}
UPDATE_BODY = {"subscription": SUBSCRIPTION_SHAPE}
ROTATE_BODY = {"idempotency_key": str}
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def go_time(epoch: float) -> str:
    """Square's subscription timestamps as in the spec's examples: ``2022-01-10 23:29:48 +0000 UTC``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


class SquareSubscriptionsApi:
    """State and handlers of the Webhook Subscriptions API of one Square emulator."""

    def __init__(self, seed: int, oauth: TokenStore, credentials: Mapping[str, DemoCredentials]) -> None:
        self.seed = seed
        self.oauth = oauth
        self.store = SubscriptionStore("square")
        square = [c for c in credentials.values() if c.provider == "square"]
        # personal access token of the application's owner -> the application (client id)
        self.app_tokens = {c.app_access_token: c.client_id for c in square if c.app_access_token}
        self.first_key = square[0].webhook_signature_key if square else ""
        self._idempotent: dict[tuple[str, str], tuple[str, Any]] = {}
        self._rotations = 0

    # ------------------------------------------------------------------ helpers
    def _key(self, n: int) -> str:
        if n == 1 and self.first_key:
            return self.first_key
        digest = hashlib.blake2b(f"{self.seed}|sq-webhook-key|{n}".encode(), digest_size=32).digest()
        return "".join(KEY_ALPHABET[b % 64] for b in digest)[:22]

    def application(self, request: Request) -> str:
        """The client id of the application whose personal access token authorizes the request."""
        check_version(request.headers)
        header = (request.headers.get("authorization") or "").strip()
        scheme, _, value = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not value.strip():
            raise SquareError(401, "UNAUTHORIZED", MISSING_AUTH)
        client_id = self.app_tokens.get(value.strip())
        if client_id is not None:
            return client_id
        if self.oauth.token_of_header(header) is not None:
            raise SquareError(403, "FORBIDDEN", "Webhook subscriptions are owned by the application: use the "
                              "application's personal access token, not an OAuth access token.")
        raise SquareError(401, "UNAUTHORIZED", "This request could not be authorized.")

    def _own(self, client_id: str, sub_id: str) -> Subscription:
        sub = self.store.get(sub_id)
        if sub is None or sub.owner != client_id:
            raise SquareError(404, "NOT_FOUND", f"Subscription `{sub_id}` not found.")
        return sub

    @staticmethod
    def render(sub: Subscription, with_key: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": sub.id}
        if sub.name is not None:
            out["name"] = sub.name
        out |= {"enabled": sub.enabled, "event_types": list(sub.event_types), "notification_url": sub.url,
                "api_version": sub.api_version}
        if with_key:
            out["signature_key"] = sub.secret
        out |= {"created_at": go_time(sub.created_at), "updated_at": go_time(sub.updated_at)}
        return out

    @staticmethod
    def _check_fields(fields: dict[str, Any], creating: bool) -> None:
        where = "subscription"
        url = fields.get("notification_url")
        if creating and not url:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "`notification_url` is required.",
                              f"{where}.notification_url")
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise bad_request("INVALID_VALUE", f"`{url}` is not a valid notification URL.",
                                  f"{where}.notification_url")
        types = fields.get("event_types")
        if creating and not types:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "`event_types` is required.", f"{where}.event_types")
        for i, name in enumerate(types or ()):
            if name not in KNOWN_TYPES:
                raise bad_request("INVALID_VALUE", f"`{name}` is not a valid event type.", f"{where}.event_types[{i}]")
        name = fields.get("name")
        if name is not None and len(name) > 64:
            raise bad_request("INVALID_VALUE", "`name` must be at most 64 characters.", f"{where}.name")
        version = fields.get("api_version")
        if version is not None and not VERSION_RE.match(version):
            raise bad_request("INVALID_VALUE", f"`{version}` is not a valid API version.", f"{where}.api_version")

    # ------------------------------------------------------------------ handlers
    async def create(self, request: Request) -> Response:
        client_id = self.application(request)
        body = await read_json(request)
        check_body(body, CREATE_BODY)
        fields = body.get("subscription")
        if not isinstance(fields, dict):
            raise bad_request("MISSING_REQUIRED_PARAMETER", "`subscription` is required.", "subscription")
        key = body.get("idempotency_key")
        if key is not None and (client_id, key) in self._idempotent:
            fingerprint, sub_id = self._idempotent[(client_id, key)]
            if fingerprint != fields:
                raise bad_request("IDEMPOTENCY_KEY_REUSED", "The idempotency key was used with another request.",
                                  "idempotency_key")
            sub = self.store.get(sub_id)
            if sub is not None:
                return json_response({"subscription": self.render(sub, True)})
        self._check_fields(fields, creating=True)
        n = self.store.next_number()
        sub_id = "wbhk_" + hashlib.blake2b(f"{self.seed}|sq-subscription|{n}".encode(), digest_size=16).hexdigest()
        version = fields.get("api_version") or (request.headers.get("square-version") or "").strip() \
            or DEFAULT_API_VERSION
        sub = self.store.add(Subscription(
            provider="square", id=sub_id, url=fields["notification_url"],
            event_types=tuple(dict.fromkeys(fields["event_types"])), secret=self._key(n), owner=client_id,
            enabled=fields.get("enabled") if fields.get("enabled") is not None else True,
            name=fields.get("name"), api_version=version,
        ))
        if key is not None:
            self._idempotent[(client_id, key)] = (fields, sub.id)
        return json_response({"subscription": self.render(sub, True)})

    async def list(self, request: Request) -> Response:
        client_id = self.application(request)
        check_query(request.query_params.keys(), ("cursor", "include_disabled", "sort_order", "limit"))
        q = request.query_params
        include_disabled = parse_bool(q["include_disabled"], "include_disabled") if "include_disabled" in q else False
        order = enum_value(q.get("sort_order", "ASC"), ("ASC", "DESC"), "sort_order")
        limit = parse_int(q["limit"], "limit") if "limit" in q else 100
        if limit < 1:
            raise bad_request("VALUE_TOO_LOW", "`limit` must be at least 1.", "limit")
        limit = min(limit, 100)
        start = 0
        if "cursor" in q:
            if not q["cursor"].isdigit():
                raise bad_request("INVALID_CURSOR", "The cursor is not valid.", "cursor")
            start = int(q["cursor"])
        subs = [s for s in self.store.all() if s.owner == client_id and (include_disabled or s.enabled)]
        if order == "DESC":
            subs.reverse()
        page = subs[start:start + limit]
        out: dict[str, Any] = {}
        if page:
            out["subscriptions"] = [self.render(s, False) for s in page]
        if start + limit < len(subs):
            out["cursor"] = str(start + limit)
        return json_response(out)

    async def retrieve(self, request: Request) -> Response:
        client_id = self.application(request)
        sub = self._own(client_id, request.path_params["subscription_id"])
        return json_response({"subscription": self.render(sub, True)})

    async def update(self, request: Request) -> Response:
        client_id = self.application(request)
        sub = self._own(client_id, request.path_params["subscription_id"])
        body = await read_json(request)
        check_body(body, UPDATE_BODY)
        fields = body.get("subscription") or {}
        self._check_fields(fields, creating=False)
        if fields.get("name") is not None:
            sub.name = fields["name"]
        if fields.get("enabled") is not None:
            sub.enabled = bool(fields["enabled"])
        if fields.get("event_types"):
            sub.event_types = tuple(dict.fromkeys(fields["event_types"]))
        if fields.get("notification_url") is not None:
            sub.url = fields["notification_url"]
        if fields.get("api_version") is not None:
            sub.api_version = fields["api_version"]
        sub.updated_at = time.time()
        return json_response({"subscription": self.render(sub, False)})

    async def delete(self, request: Request) -> Response:
        client_id = self.application(request)
        sub = self._own(client_id, request.path_params["subscription_id"])
        self.store.remove(sub.id)
        return json_response({})

    async def rotate(self, request: Request) -> Response:
        client_id = self.application(request)
        sub = self._own(client_id, request.path_params["subscription_id"])
        body = await read_json(request)
        check_body(body, ROTATE_BODY)
        key = body.get("idempotency_key")
        if key is not None and (client_id, f"rotate|{key}") in self._idempotent:
            return json_response({"signature_key": self._idempotent[(client_id, f"rotate|{key}")][1]})
        self._rotations += 1
        digest = hashlib.blake2b(f"{self.seed}|sq-webhook-rotation|{sub.id}|{self._rotations}".encode(),
                                 digest_size=32).digest()
        sub.secret = "".join(KEY_ALPHABET[b % 64] for b in digest)[:22]
        sub.updated_at = time.time()
        if key is not None:
            self._idempotent[(client_id, f"rotate|{key}")] = ({}, sub.secret)
        return json_response({"signature_key": sub.secret})

    async def event_types(self, request: Request) -> Response:
        self.application(request)
        check_query(request.query_params.keys(), ("api_version",))
        version = request.query_params.get("api_version")
        if version is not None and not VERSION_RE.match(version):
            raise bad_request("INVALID_VALUE", f"`{version}` is not a valid API version.", "api_version")
        rows = [(n, since, status) for n, since, status, _ in EVENT_TYPES if version is None or since <= version]
        return json_response({
            "event_types": [n for n, _, _ in rows],
            "metadata": [{"event_type": n, "api_version_introduced": since, "release_status": status}
                         for n, since, status in rows],
        })

    def routes(self, prefix: str = "") -> list[Route]:
        base = f"{prefix}/v2/webhooks"
        return [
            Route(f"{base}/event-types", self.event_types, methods=["GET"]),
            Route(f"{base}/subscriptions", self.list, methods=["GET"]),
            Route(f"{base}/subscriptions", self.create, methods=["POST"]),
            Route(f"{base}/subscriptions/{{subscription_id}}", self.retrieve, methods=["GET"]),
            Route(f"{base}/subscriptions/{{subscription_id}}", self.update, methods=["PUT"]),
            Route(f"{base}/subscriptions/{{subscription_id}}", self.delete, methods=["DELETE"]),
            Route(f"{base}/subscriptions/{{subscription_id}}/signature-key", self.rotate, methods=["POST"]),
        ]


__all__ = ["SquareSubscriptionsApi", "go_time"]
