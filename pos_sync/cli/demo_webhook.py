"""``pos-sync demo``'s last act: a sale rung up after the import reaches ``pos.*`` by webhook.

With the historical import done, the demo serves the HTTP API in-process (uvicorn in a thread, on
a free loopback port), registers the Square account's webhooks with it exactly as
``POST /api/v1/pos/accounts/{id}/webhooks/register`` does (the application's subscription, made
with the sandbox's personal access token), and makes one live sale in the sandbox, closed 5 s
after the sandbox clock — just after the world's window: the clock moves only those 5 s, so no
other provider's account gets changes it would have to sync again for the reconciliation to
hold. The emulator delivers its signed events to the receiver, which stores them in the inbox;
one evaluation of ``webhook_inbox_sensor`` (what the daemon does every
``POS_WEBHOOK_SENSOR_INTERVAL_SECONDS``) asks for one targeted sync, which runs here, in-process,
and settles the events. The latency printed is real time, from the till (the live sale request)
to the sale's row being read back from ``pos.pos_transactions``; without a daemon there is no
wait for the sensor's next tick, so a deployment adds up to one interval to it
(``bench/webhook_latency.py`` measures that, with the daemon processes). The demo's
reconciliation, run afterwards, covers the live sale too: the sandbox ledger counts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pos_sync.cli import CommandError

LAND_TIMEOUT_SECONDS = 60.0


@contextmanager
def serve_in_thread(app: Any, startup_timeout: float = 15.0) -> Iterator[str]:
    """``app`` on a real loopback HTTP server (uvicorn in a daemon thread, a free port)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                          lifespan="off", loop="asyncio", http="h11"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name="demo-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise CommandError("the demo could not start the HTTP API")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _landed(sale_id: str) -> dict[str, Any] | None:
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    try:
        if not wh.table_exists("pos", "pos_transactions"):
            return None
        rows = wh.query("select pos_transaction_id, pos_provider, status, total_amount from pos.pos_transactions "
                        "where pos_transaction_id = %s and transaction_type = 'sale'", [sale_id])
    finally:
        wh.close()
    return rows[0] if rows else None


def live_sale_by_webhook(server: Any, tenant_id: str, settings: Any, accounts: list[dict[str, Any]],
                         runner: Any, log: Any) -> dict[str, Any]:
    """The webhook act (module docstring); what it saw, for the demo's document."""
    import httpx

    from pos_sync.api import logs
    from pos_sync.api.app import create_app
    from pos_sync.appstore import AppStore
    from pos_sync.ingest.webhooks import register_account
    from pos_sync.settings import load_settings

    square = next((a for a in accounts if a["provider"] == "square" and a["status"] == "success"), None)
    cred = next((c for c in server.manifest()["accounts"] if c["provider"] == "square"), None)
    if square is None or cred is None:
        return {"status": "skipped", "reason": "no Square account was synced"}
    # the application's personal access token, for this registration only (never put in the process environment)
    with_token = load_settings({**load_settings().environ, "SQUARE_APP_ACCESS_TOKEN": cred["app_access_token"]})
    store = AppStore(with_token)
    account_id = square["account_id"]
    logs.configure(logging.WARNING)  # the receiver's request logs: warnings only, on stderr
    with serve_in_thread(create_app(settings)) as api_url:
        registered = register_account(store, account_id, tenant_id, api_url)
        rang = time.time()  # the till rings: a sale at a Square location, closed 5 s after the sandbox clock
        answer = httpx.post(f"{server.base_url}/_sandbox/sales", json={"provider": "square"}, timeout=30)
        if answer.status_code != 200:
            raise CommandError(f"the sandbox did not make the live sale: HTTP {answer.status_code} {answer.text[:200]}")
        sale = answer.json()["sale"]
        if not server.webhooks.wait_idle(LAND_TIMEOUT_SECONDS):
            raise CommandError("the sandbox's webhooks were not all delivered within a minute")
        delivered = time.time()
        runs: list[dict[str, Any]] = []
        row = None
        while row is None and time.time() - rang < LAND_TIMEOUT_SECONDS:
            runs += runner.webhook_syncs()  # one sensor tick, its targeted sync run in-process
            row = _landed(sale["sale_id"])
            if row is None:
                time.sleep(0.2)
        landed = time.time()
    counters = server.webhooks.snapshot(since=2**62, provider="square")["counters"]
    out = {"status": "landed" if row else "missing", "provider": "square", "account_id": account_id,
           "notification_url": registered["notification_url"], "sale_id": sale["sale_id"],
           "closed_at": sale["closed_at"], "total_cents": sale["total_cents"], "tender_ids": sale["tender_ids"],
           "events_delivered": counters.get("deliveries", 0), "events_acknowledged": counters.get("acknowledged", 0),
           "delivered_after_seconds": round(delivered - rang, 2), "runs": runs,
           "landed_after_seconds": round(landed - rang, 2), "row": row and {k: str(v) for k, v in row.items()}}
    log(webhook_line(out))
    return out


def webhook_line(result: dict[str, Any]) -> str:
    """The demo's one line about the webhook act."""
    if result["status"] == "landed":
        return (f"webhook: sale {result['sale_id']} landed in pos.pos_transactions {result['landed_after_seconds']:.1f} s "
                f"after the till rang it (signed webhook acknowledged after {result['delivered_after_seconds']:.1f} s, "
                f"{len(result['runs'])} targeted sync)")
    if result["status"] == "skipped":
        return f"webhook: skipped ({result['reason']})"
    return (f"webhook: sale {result['sale_id']} did NOT land in pos.pos_transactions within "
            f"{LAND_TIMEOUT_SECONDS:.0f} s ({len(result['runs'])} targeted sync(s))")
