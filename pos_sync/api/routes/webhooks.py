"""Webhook receivers: ``POST /api/v1/pos/webhooks/{square|toast|lightspeed}``.

In this order: the body's size (413 above ``POS_WEBHOOK_MAX_BYTES``, before anything else), the
signature over the raw bytes with the keys where the provider keeps them (401), the shape (400),
then the event is routed to its account and stored in the inbox once (the provider's event id is
unique there; routing and storing share one transaction). The answer is 2xx well within the
provider's deadline; no provider API is called. The signing keys read from the app store are kept
in the process for :data:`KEYS_TTL_SECONDS`: a signature they do not verify is checked again with
the keys read afresh, so a key registered a moment ago is never refused, and a deleted
subscription's key is refused at most that long after.
An event no account of ours claims is acknowledged (2xx) and kept as ``unroutable`` so the
provider does not retry it for days. Every delivery is counted (``pos_webhooks_received_total``
by outcome) and every rejection logged, never stored.
``ENABLE_WEBHOOKS=false`` turns the receivers off (404)."""

from __future__ import annotations

import time
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pos_sync.api.metrics import count_webhook
from pos_sync.api.problems import Problem, problem_response
from pos_sync.appstore import AppStore, session_scope
from pos_sync.appstore.routing import accounts_for
from pos_sync.appstore.webhooks import record_event, signature_keys
from pos_sync.providers import UnknownProvider, registry
from pos_sync.providers.webhooks import WebhookEvent, WebhookFlow, WebhookRejected

router = APIRouter(prefix="/api/v1/pos/webhooks", tags=["webhooks"])
log = structlog.get_logger("pos_sync.api.webhooks")


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise WebhookRejected(413, "too_large", f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookRejected(413, "too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


KEYS_TTL_SECONDS = 5.0
_cached_keys: dict[tuple[str, str], tuple[float, list[tuple[str, str]]]] = {}


def _keys(store: AppStore, provider: str, flow: WebhookFlow, *, fresh: bool = False) -> list[tuple[str, str]]:
    if flow.key_source == "app_secret":
        _client_id, secret = store.settings.app_credentials(registry.get(provider).app_env)
        return [("", secret)] if secret else []
    cache_key = (store.settings.database_url, provider)
    cached = _cached_keys.get(cache_key)
    if not fresh and cached is not None and cached[0] > time.monotonic():
        return cached[1]
    keys = signature_keys(provider, settings=store.settings)
    _cached_keys[cache_key] = (time.monotonic() + KEYS_TTL_SECONDS, keys)
    return keys


def _store_event(store: AppStore, provider: str, event: WebhookEvent) -> str:
    data = {k: v for k, v in event.data.items() if not k.startswith("_")}
    with session_scope(store.settings) as s:
        routes = accounts_for(provider, merchant_id=event.merchant_id, location_id=event.location_id, session=s)
        account_id, tenant_id = routes[0] if routes else (None, None)
        return record_event(provider, event.event_id, event.event_type, data, account_id=account_id,
                            tenant_id=tenant_id, session=s)


def _verified_event(raw: bytes, headers: Any, keys: list[tuple[str, str]], flow: WebhookFlow) -> WebhookEvent:
    parsed: WebhookEvent | None = None
    malformed: WebhookRejected | None = None
    try:
        parsed = flow.parse(raw, headers)
    except WebhookRejected as exc:
        malformed = exc
    if not keys:
        raise WebhookRejected(401, "no_key", "no signing key is registered for this provider's webhooks")
    if not flow.verify(raw, headers, keys, parsed):
        raise WebhookRejected(401, "bad_signature", "the signature is missing or does not match")
    if malformed is not None or parsed is None:
        raise malformed or WebhookRejected(400, "malformed", "the event could not be read")
    return parsed


async def receive(provider: str, request: Request) -> JSONResponse:
    settings = request.app.state.settings
    if not settings.enable_webhooks:
        raise Problem(404, "webhooks are turned off here (ENABLE_WEBHOOKS=false)")
    try:
        spec = registry.get(provider)
    except UnknownProvider:
        raise Problem(404, f"no webhooks for provider {provider!r}") from None
    if spec.webhooks is None:
        raise Problem(404, f"{spec.label} sends no webhooks here")
    store = AppStore(settings)
    try:
        raw = await _body(request, settings.webhook_max_bytes)
        keys = await run_in_threadpool(_keys, store, provider, spec.webhooks)
        try:
            event = _verified_event(raw, request.headers, keys, spec.webhooks)
        except WebhookRejected as exc:  # kept keys may be stale: check once more with the app store's
            if exc.reason not in ("bad_signature", "no_key") or spec.webhooks.key_source == "app_secret":
                raise
            keys = await run_in_threadpool(_keys, store, provider, spec.webhooks, fresh=True)
            event = _verified_event(raw, request.headers, keys, spec.webhooks)
    except WebhookRejected as exc:
        count_webhook(provider, exc.reason)
        log.warning("webhook_rejected", provider=provider, reason=exc.reason, status=exc.status)
        return problem_response(request, exc.status, str(exc))
    outcome = await run_in_threadpool(_store_event, store, provider, event)
    count_webhook(provider, outcome)
    log.info("webhook", provider=provider, outcome=outcome, event_type=event.event_type)
    return JSONResponse({"status": outcome}, status_code=200)


def _register(provider: str) -> None:
    async def receiver(request: Request) -> JSONResponse:
        return await receive(provider, request)

    label = registry.get(provider).label
    router.add_api_route(f"/{provider}", receiver, methods=["POST"], summary=f"{label} webhook receiver",
                         name=f"webhook_{provider}", responses={400: {}, 401: {}, 413: {}})


for _spec in registry:
    if _spec.webhooks is not None:
        _register(_spec.name)
