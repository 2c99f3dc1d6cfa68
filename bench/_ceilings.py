"""Serving ceilings of the Toast and Lightspeed emulators: what a simple client (httpx, each page
parsed only as far as its paging needs) gets through per second with the connectors' own queries
and page sizes — the figure every Toast/Lightspeed import is compared with in the same run
(Square's is ``bench._common.SimpleClient``)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx

from bench._common import Sandbox, Served

TOAST_PAGE_SIZE = 100  # dlt_sources.toast.settings.ORDERS_PAGE_SIZE
TOAST_WINDOW = timedelta(days=1)  # MAX_ORDERS_WINDOW
LIGHTSPEED_PAGE_SIZE = 1000  # dlt_sources.lightspeed.settings (sales)


def account(sandbox: Sandbox, provider: str) -> dict[str, Any]:
    return next(a for a in sandbox.manifest["accounts"] if a["provider"] == provider)


def _toast_ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _toast_wait(response: httpx.Response) -> float:
    """Seconds until the rate-limit window of a 429 resets (``X-Toast-RateLimit-Reset``: epoch
    seconds), else its ``Retry-After``."""
    reset = response.headers.get("X-Toast-RateLimit-Reset")
    if reset:
        return min(max(0.0, float(reset) - time.time()), 2.0)
    return float(response.headers.get("Retry-After") or 1)


def toast_orders(sandbox: Sandbox, begin: datetime, end: datetime) -> Served:
    """ordersBulk by modifiedDate windows of one day, following ``Link: next``, the restaurants side
    by side (a thread each: Toast's limits count per restaurant, and the connector reads them so);
    a 429 of the emulator's rate limits (``ordersBulk`` 5 requests/s and 20/s in all per restaurant,
    the connector's own pace) waits for the window's reset — the ceiling includes it
    (``rate_limited``: how many)."""
    acct = account(sandbox, "toast")
    with httpx.Client(base_url=acct["base_url"], timeout=120) as http:
        login = http.post("/authentication/v1/authentication/login", json={
            "clientId": acct["client_id"], "clientSecret": acct["client_secret"],
            "userAccessType": "TOAST_MACHINE_CLIENT"})
        login.raise_for_status()
        token = login.json()["token"]["accessToken"]
    guids = acct["location_ids"]
    parts = [Served() for _ in guids]

    def restaurant(guid: str, served: Served) -> None:
        headers = {"Authorization": f"Bearer {token}", "Toast-Restaurant-External-ID": guid}
        with httpx.Client(base_url=acct["base_url"], timeout=120, headers=headers) as http:
            start = begin
            while start < end:
                stop = min(start + TOAST_WINDOW, end)
                url: str | None = "/orders/v2/ordersBulk"
                params: dict[str, Any] | None = {"startDate": _toast_ts(start), "endDate": _toast_ts(stop),
                                                 "pageSize": TOAST_PAGE_SIZE}
                while url:
                    t0 = time.perf_counter()
                    r = http.get(url, params=params)
                    if r.status_code == 429:
                        served.rate_limited += 1
                        time.sleep(_toast_wait(r))
                        continue
                    served.page_latencies_ms.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                    data = r.json()
                    served.pages += 1
                    served.records += len(data)
                    nxt = r.links.get("next", {}).get("url")
                    url, params = (nxt, None) if nxt and data else (None, None)
                start = stop

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(guids)) as pool:
        for done in [pool.submit(restaurant, guid, part) for guid, part in zip(guids, parts, strict=True)]:
            done.result()
    served = Served(records=sum(p.records for p in parts), pages=sum(p.pages for p in parts),
                    page_latencies_ms=[ms for p in parts for ms in p.page_latencies_ms],
                    rate_limited=sum(p.rate_limited for p in parts))
    served.seconds = time.perf_counter() - started
    return served


def lightspeed_sales(sandbox: Sandbox) -> Served:
    """The ``/api/2.0/sales`` version feed from ``after=0`` until a page comes back empty, after one
    untimed request of one sale: the emulator builds an account's version index at its first feed
    request (1.8 s at chain × 14), once per process, like the Square emulator's per-location indexes
    (``SimpleClient.warm_up``). Timed cold, the ceiling carried that build, which no import after it
    pays: 9.2–9.5 s against 6.0–6.4 s measured again after the imports of the same run (stop 34)."""
    acct = account(sandbox, "lightspeed")
    served = Served()
    with httpx.Client(base_url=acct["base_url"], timeout=120,
                      headers={"Authorization": f"Bearer {acct['access_token']}"}) as http:
        t0 = time.perf_counter()
        http.get("/api/2.0/sales", params={"after": 0, "page_size": 1}).raise_for_status()
        served.warm_up_seconds = time.perf_counter() - t0
        started = time.perf_counter()
        after = 0
        while True:
            t0 = time.perf_counter()
            r = http.get("/api/2.0/sales", params={"after": after, "page_size": LIGHTSPEED_PAGE_SIZE})
            served.page_latencies_ms.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            body = r.json()
            served.pages += 1
            rows = body.get("data") or []
            if not rows:
                break
            served.records += len(rows)
            after = int(body["version"]["max"])
        served.seconds = time.perf_counter() - started
    return served
