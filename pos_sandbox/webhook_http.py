"""Sandbox controls for webhooks and live sales, mounted by the sandbox server (not provider APIs).

* ``GET /_sandbox/webhooks`` — the delivery log: ``options``, ``mark`` (the last clock instant whose
  events were computed), ``subscriptions`` (every provider's, without secrets), ``counters``
  (``events``, ``deliveries``, ``attempts``, ``retries``, ``failed_attempts``, ``acknowledged``,
  ``gave_up``, ``dropped``, ``duplicates``, ``reordered``, ``canceled``, ``pending``),
  ``per_provider`` counters, ``events`` (per event id: deliveries, attempts, retries,
  acknowledged, duplicates, dropped, gave_up, pending, first acknowledgement) and ``deliveries``
  (one per event × subscription × copy, with every attempt's real send time, duration, status
  code or error, and ``latency_ms`` from the event's creation to its acknowledgement). Filters: ``provider``, ``event_id``, ``subscription_id``,
  ``status``, ``since`` (only deliveries with a larger ``seq``).
* ``POST /_sandbox/webhooks/wait`` ``{"timeout": 10}`` — block until no delivery is pending (or
  the timeout); answers ``{"idle": bool, "counters": …}``.
* ``POST /_sandbox/sales`` ``{"location_id" | "provider", "at"?, "state"?: "completed"|"voided",
  "refund_after_seconds"?, "tip_edit_after_seconds"?, "advance"?: true}`` — make a live sale
  (:mod:`pos_sandbox.live_sales`): it closes at ``at`` (default: the clock + 5 s, or 5 s after the
  last instant whose webhooks were sent if the clock was set back before it) and, unless
  ``advance`` is false, the clock moves to its close, so its webhooks fire at once. Answers
  ``{"now", "sale": {ids, instants, total_cents}}``; the ledger (``/_sandbox/truth``) counts it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pos_sandbox.live_sales import LEAD_SECONDS, LiveSaleRequest, describe_sale, make_live_sale
from pos_sandbox.webhook_engine import WebhookEngine
from pos_sandbox.world import World

LIVE_SALE_FIELDS = ("location_id", "provider", "at", "state", "refund_after_seconds", "tip_edit_after_seconds",
                    "advance")


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def sandbox_routes(world: World, engine: WebhookEngine, parse_instant: Any) -> list[Route]:
    async def log(request: Request) -> JSONResponse:
        q = request.query_params
        try:
            since = int(q.get("since", "0"))
        except ValueError:
            return _error("since must be an integer")
        filters = {k: q[k] for k in ("provider", "event_id", "subscription_id", "status") if k in q}
        return JSONResponse(engine.snapshot(since=since, **filters))

    async def wait(request: Request) -> JSONResponse:
        try:
            body = await _json(request)
            timeout = float(body.get("timeout", 10))
        except (TypeError, ValueError) as exc:
            return _error(str(exc))
        idle = await asyncio.to_thread(engine.wait_idle, timeout)
        return JSONResponse({"idle": idle, "counters": engine.snapshot(since=2**62)["counters"]})

    async def sales(request: Request) -> JSONResponse:
        try:
            body = await _json(request)
            unknown = sorted(set(body) - set(LIVE_SALE_FIELDS))
            if unknown:
                raise ValueError(f"unknown field(s): {', '.join(unknown)}")
            location_id = body.get("location_id")
            if location_id is None and body.get("provider"):
                location_id = next((loc.location_id for loc in world.locations if loc.provider == body["provider"]),
                                   None)
            if location_id is None:
                raise ValueError("give location_id (or provider)")
            at = parse_instant(str(body["at"])) if body.get("at") else None
            if at is None and engine.mark > world.now:  # the clock was set back: close after what was delivered
                at = engine.mark + timedelta(seconds=LEAD_SECONDS)
            req = LiveSaleRequest(
                location_id=str(location_id),
                at=at,
                state=str(body.get("state", "completed")),
                refund_after_seconds=float(body["refund_after_seconds"])
                if body.get("refund_after_seconds") is not None else None,
                tip_edit_after_seconds=float(body["tip_edit_after_seconds"])
                if body.get("tip_edit_after_seconds") is not None else None,
            )
            sale = make_live_sale(world, req)
        except (TypeError, ValueError) as exc:
            return _error(str(exc))
        if body.get("advance", True):
            world.set_now(sale.closed_at)
        return JSONResponse({"now": world.now.isoformat().replace("+00:00", "Z"), "sale": describe_sale(sale)})

    return [
        Route("/_sandbox/webhooks", log, methods=["GET"]),
        Route("/_sandbox/webhooks/wait", wait, methods=["POST"]),
        Route("/_sandbox/sales", sales, methods=["POST"]),
    ]
