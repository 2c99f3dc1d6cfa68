"""Webhook receivers: ``POST /api/v1/pos/webhooks/{square|toast|lightspeed}``.

In this order: the body's size (413 above ``POS_WEBHOOK_MAX_BYTES``, before anything else), the
signature over the raw bytes with the keys where the provider keeps them (401), the shape (400),
then the event is handed to the app's inbox writer (:mod:`pos_sync.api.inbox_writer`: group
commit — the events waiting are routed and stored in one transaction, once each, the provider's
event id being unique there) and the request answers 2xx with its own outcome once that batch
committed — or 503 (the provider delivers it again) if the event could not be stored; nothing
of it is then in the inbox. The answer comes well within the provider's deadline; no provider
API is called. The signing keys read from the app store are kept
in the process for :data:`KEYS_TTL_SECONDS`: a signature they do not verify is checked again with
the keys read afresh, so a key registered a moment ago is never refused, and a deleted
subscription's key is refused at most that long after.
An event no account of ours claims is acknowledged (2xx) and kept as ``unroutable`` so the
provider does not retry it for days. Every delivery is counted (``pos_webhooks_received_total``
by outcome) and every rejection logged, never stored.
``ENABLE_WEBHOOKS=false`` turns the receivers off (404)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pos_sync.api.inbox_writer import InboxWriter, StoreFailed
from pos_sync.api.metrics import count_webhook
from pos_sync.api.problems import Problem, problem_response
from pos_sync.appstore import AppStore
from pos_sync.appstore.models import utcnow
from pos_sync.appstore.webhooks import NewEvent, record_events, signature_keys
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


def _kept_keys(store: AppStore, provider: str, flow: WebhookFlow) -> list[tuple[str, str]] | None:
    """The keys without reading the app store (kept ones, or the app's secret), else None."""
    if flow.key_source == "app_secret":
        _client_id, secret = store.settings.app_credentials(registry.get(provider).app_env)
        return [("", secret)] if secret else []
    cached = _cached_keys.get((store.settings.database_url, provider))
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    return None


def _keys(store: AppStore, provider: str, flow: WebhookFlow, *, fresh: bool = False) -> list[tuple[str, str]]:
    kept = None if fresh and flow.key_source != "app_secret" else _kept_keys(store, provider, flow)
    if kept is not None:
        return kept
    keys = signature_keys(provider, settings=store.settings)
    _cached_keys[(store.settings.database_url, provider)] = (time.monotonic() + KEYS_TTL_SECONDS, keys)
    return keys


def new_event(provider: str, event: WebhookEvent, received_at: datetime | None = None) -> NewEvent:
    return NewEvent(provider, event.event_id, event.event_type, event.data, merchant_id=event.merchant_id,
                    location_id=event.location_id, received_at=received_at or utcnow())


async def _store(request: Request, provider: str, event: NewEvent) -> str:
    """The event's outcome once stored: by the app's inbox writer (group commit), or — no writer
    running (the lifespan off, or shutting down) — in a transaction of its own."""
    writer: InboxWriter | None = getattr(request.app.state, "webhook_writer", None)
    if writer is not None and writer.accepting:
        return await writer.store(event)
    try:
        [outcome] = await run_in_threadpool(record_events, [event], settings=request.app.state.settings)
    except Exception as exc:
        raise StoreFailed(str(exc)) from exc
    return outcome


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
    verified = await _verify(provider, spec.webhooks, store, request)
    if isinstance(verified, JSONResponse):
        return verified
    try:
        outcome = await _store(request, provider, new_event(provider, verified))
    except StoreFailed as exc:
        count_webhook(provider, "store_failed")
        log.error("webhook_store_failed", provider=provider, event_type=verified.event_type, error=str(exc)[:300])
        return problem_response(request, 503, "the event could not be stored; deliver it again")
    count_webhook(provider, outcome)
    log.info("webhook", provider=provider, outcome=outcome, event_type=verified.event_type)
    return JSONResponse({"status": outcome}, status_code=200)


async def _verify(provider: str, flow: WebhookFlow, store: AppStore, request: Request) -> WebhookEvent | JSONResponse:
    """The verified event, or the rejection's answer (counted and logged)."""
    try:
        raw = await _body(request, store.settings.webhook_max_bytes)
        keys = _kept_keys(store, provider, flow)  # no thread for what is kept
        if keys is None:
            keys = await run_in_threadpool(_keys, store, provider, flow)
        try:
            return _verified_event(raw, request.headers, keys, flow)
        except WebhookRejected as exc:  # kept keys may be stale: check once more with the app store's
            if exc.reason not in ("bad_signature", "no_key") or flow.key_source == "app_secret":
                raise
            keys = await run_in_threadpool(_keys, store, provider, flow, fresh=True)
            return _verified_event(raw, request.headers, keys, flow)
    except WebhookRejected as exc:
        count_webhook(provider, exc.reason)
        log.warning("webhook_rejected", provider=provider, reason=exc.reason, status=exc.status)
        return problem_response(request, exc.status, str(exc))


def _register(provider: str) -> None:
    async def receiver(request: Request) -> JSONResponse:
        return await receive(provider, request)

    label = registry.get(provider).label
    router.add_api_route(f"/{provider}", receiver, methods=["POST"], summary=f"{label} webhook receiver",
                         name=f"webhook_{provider}", responses={400: {}, 401: {}, 413: {}})


for _spec in registry:
    if _spec.webhooks is not None:
        _register(_spec.name)
