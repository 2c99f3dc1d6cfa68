"""The Lightspeed R-Series (API V3) emulator over real HTTP: shapes, cursors, filters, returns,
voids, archived payments, the leaky bucket, OAuth with rotating refresh tokens, and the ledger."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from tests.support.worlds import sandbox_world

RELATIONS = json.dumps(["SaleLines", "SalePayments", "SalePayments.PaymentType", "Customer"])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    world = sandbox_world(40, "lightspeed_r", days=4)  # a void, returns, a tip edit, a fee
    with SandboxServer(world, bucket=(10_000, 1000.0)) as server:
        creds = next(c for c in server.credentials.values() if c.provider == "lightspeed_r")
        client = httpx.Client(base_url=server.provider_url("lightspeed_r"),
                              headers={"Authorization": f"Bearer {creds.access_token}"}, timeout=30)
        yield {"world": world, "server": server, "creds": creds, "client": client,
               "api": f"/API/V3/Account/{creds.account_id}"}
        client.close()


def all_sales(sb: dict[str, Any], **params: str) -> list[dict[str, Any]]:
    client = sb["client"]
    out: list[dict[str, Any]] = []
    response = client.get(f"{sb['api']}/Sale.json", params={"load_relations": RELATIONS, **params})
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        page = body.get("Sale", [])
        out += [page] if isinstance(page, dict) else page
        nxt = body["@attributes"]["next"]
        if not nxt:
            return out
        assert "after=" in nxt and "offset" not in nxt
        response = client.get(nxt)


def as_list(value: Any, key: str) -> list[dict[str, Any]]:
    if not value:
        return []
    inner = value[key]
    return [inner] if isinstance(inner, dict) else inner


def scalars(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from scalars(v)
    elif isinstance(value, list):
        for v in value:
            yield from scalars(v)
    else:
        yield value


def test_account_and_string_scalars_and_collection_shapes(sandbox: dict[str, Any]) -> None:
    account = sandbox["client"].get("/API/V3/Account.json").json()["Account"]
    assert account["accountID"] == sandbox["creds"].account_id and account["accountID"].isdigit()
    sales = all_sales(sandbox, sort="timeStamp")
    assert all(isinstance(v, str) for v in scalars(sales))
    one_line = [s for s in sales if isinstance((s.get("SaleLines") or {}).get("SaleLine"), dict)]
    many = [s for s in sales if isinstance((s.get("SaleLines") or {}).get("SaleLine"), list)]
    assert one_line and many, "both one-element (object) and multi-element (list) collections appear"
    assert all(len(s["SaleLines"]["SaleLine"]) > 1 for s in many)
    without_customer = [s for s in sales if s["customerID"] == "0"]
    assert without_customer and all("Customer" not in s for s in without_customer)
    with_customer = [s for s in sales if s["customerID"] != "0"]
    assert with_customer and all(s["Customer"]["customerID"] == s["customerID"] for s in with_customer)


def test_cursor_pages_cover_every_sale_once_and_match_the_ledger(sandbox: dict[str, Any]) -> None:
    sales = all_sales(sandbox, sort="timeStamp", limit="37")
    ids = [s["saleID"] for s in sales]
    assert len(ids) == len(set(ids))
    stamps = [s["timeStamp"] for s in sales]
    assert stamps == sorted(stamps)
    truth = compute_truth(sandbox["world"])
    objects = next(o for o in truth["objects"] if o["provider"] == "lightspeed_r" and o["location_id"])
    assert len(ids) == objects["sales"]
    by_id = sorted(all_sales(sandbox), key=lambda s: int(s["saleID"]))
    assert [s["saleID"] for s in by_id] == sorted(ids, key=int)

    # completed sales of the R-Series shop, summed per local day, are the ledger's totals to the cent
    zone = ZoneInfo("Europe/Madrid")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for s in sales:
        if s["completed"] == "true" and s["voided"] == "false" and not any(
                ln["parentSaleLineID"] != "0" for ln in as_list(s.get("SaleLines"), "SaleLine")):
            day = httpx_day(s["completeTime"], zone)
            tips = sum((Decimal(p["tipAmount"]) for p in as_list(s.get("SalePayments"), "SalePayment")
                        if p["archived"] == "false"), Decimal(0))
            totals[day] += Decimal(s["calcTotal"]) + tips
    expected = {r["business_date"]: Decimal(r["total_amount"]) for r in truth["daily"]
                if r["provider"] == "lightspeed_r" and r["sales_count"]}
    assert dict(totals) == expected


def httpx_day(stamp: str, zone: ZoneInfo) -> str:
    from datetime import datetime
    return datetime.fromisoformat(stamp).astimezone(zone).date().isoformat()


def test_returns_voids_and_archived_payments(sandbox: dict[str, Any]) -> None:
    sales = all_sales(sandbox)
    lines = {ln["saleLineID"]: s for s in sales for ln in as_list(s.get("SaleLines"), "SaleLine")}
    returns = [s for s in sales if any(ln["parentSaleLineID"] != "0" for ln in as_list(s.get("SaleLines"), "SaleLine"))]
    assert returns
    for ret in returns:
        for ln in as_list(ret["SaleLines"], "SaleLine"):
            assert Decimal(ln["unitQuantity"]) < 0 and Decimal(ln["calcTotal"]) <= 0
            original = lines[ln["parentSaleLineID"]]
            assert original["saleID"] != ret["saleID"] and Decimal(original["calcTotal"]) > 0
        if ret["completed"] == "true":
            assert all(Decimal(p["amount"]) < 0 for p in as_list(ret["SalePayments"], "SalePayment"))
    voided = [s for s in sales if s["voided"] == "true"]
    assert voided and all(p["archived"] == "true" for s in voided
                          for p in as_list(s.get("SalePayments"), "SalePayment"))
    attempts = [p for s in sales if s["voided"] == "false"
                for p in as_list(s.get("SalePayments"), "SalePayment") if p["archived"] == "true"]
    assert attempts, "declined card attempts stay on completed sales as archived payments"
    assert all(p["PaymentType"]["paymentTypeID"] == p["paymentTypeID"]
               for s in sales for p in as_list(s.get("SalePayments"), "SalePayment"))


def test_timestamp_filters_and_clock_advance(sandbox: dict[str, Any]) -> None:
    world = sandbox["world"]
    everything = all_sales(sandbox, sort="timeStamp")
    mid = everything[len(everything) // 2]["timeStamp"]
    later = all_sales(sandbox, sort="timeStamp", timeStamp=f">,{mid}")
    assert later and all(s["timeStamp"] > mid for s in later)
    assert len(later) == sum(1 for s in everything if s["timeStamp"] > mid)
    first, last = everything[10]["timeStamp"], everything[20]["timeStamp"]
    between = all_sales(sandbox, sort="timeStamp", timeStamp=f"><,{first},{last}")
    assert [s["saleID"] for s in between] == [s["saleID"] for s in everything if first <= s["timeStamp"] <= last]

    # move the clock back one day: a "later" read at the old clock loads exactly what changed
    end = world.now
    try:
        world.set_now(end - timedelta(days=1))
        before = {s["saleID"]: s["timeStamp"] for s in all_sales(sandbox, sort="timeStamp")}
        mark = max(before.values())
        world.set_now(end)
        changed = all_sales(sandbox, sort="timeStamp", timeStamp=f">,{mark}")
        after = {s["saleID"]: s["timeStamp"] for s in everything}
        assert {s["saleID"] for s in changed} == {i for i, t in after.items() if before.get(i) != t}
    finally:
        world.set_now(end)


@pytest.mark.parametrize(("params", "fragment"), [
    ({"offset": "200"}, "Offset pagination"),
    ({"limit": "101"}, "largest page is 100"),
    ({"load_relations": "SaleLines"}, "JSON-encoded array"),
    ({"timeStamp": "2026-03-02T00:00:00+00:00"}, "Invalid filter"),
    ({"timeStamp": ">,2026-03-02T00:00:00 00:00"}, "URL-encoded"),
])
def test_bad_requests_answer_400_in_the_r_series_shape(sandbox: dict[str, Any], params: dict[str, str],
                                                         fragment: str) -> None:
    response = sandbox["client"].get(f"{sandbox['api']}/Sale.json", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["httpCode"] == "400" and body["httpMessage"] == "Bad Request"
    assert body["errorClass"] and fragment in body["message"]


def test_catalog_lists(sandbox: dict[str, Any]) -> None:
    client, api = sandbox["client"], sandbox["api"]
    items = client.get(f"{api}/Item.json", params={"archived": "true"}).json()["Item"]
    live = client.get(f"{api}/Item.json").json()["Item"]
    assert len(items) >= len(live) and all(i["systemSku"].isdigit() for i in items)
    prices = [as_list(i["Prices"], "ItemPrice") for i in items]
    assert all(any(p["useType"] == "Default" for p in ps) for ps in prices)
    for name, key in (("Category", "categoryID"), ("Employee", "employeeID"), ("PaymentType", "paymentTypeID"),
                      ("Register", "registerID"), ("TaxCategory", "taxCategoryID"), ("Shop", "shopID")):
        body = client.get(f"{api}/{name}.json").json()
        rows = body[name] if isinstance(body[name], list) else [body[name]]
        assert rows and all(r[key].isdigit() for r in rows), name
    shop = client.get(f"{api}/Shop.json").json()["Shop"]
    assert shop["timeZone"] == "Europe/Madrid" and shop["isTaxInclusive"] == "true"
    assert client.get("/API/V3/Account/1/Shop.json").status_code == 403


def test_leaky_bucket_throttles_with_retry_after() -> None:
    world = sandbox_world(32, "lightspeed_r", days=1)
    with SandboxServer(world, bucket=(5, 0.5)) as server:
        creds = next(iter(server.credentials.values()))
        headers = {"Authorization": f"Bearer {creds.access_token}"}
        url = server.provider_url("lightspeed_r") + "/API/V3/Account.json"
        levels = []
        with httpx.Client(headers=headers) as client:
            for _ in range(5):
                r = client.get(url)
                assert r.status_code == 200
                levels.append(r.headers["X-LS-API-Bucket-Level"])
            over = client.get(url)
        assert [int(level.split("/")[0].split(".")[0]) for level in levels][-1] >= 4
        assert all(level.endswith("/5") for level in levels)
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        assert over.json()["errorClass"] == "RateLimitedException" and over.json()["httpCode"] == "429"


def test_oauth_consent_code_and_rotating_refresh_tokens(sandbox: dict[str, Any]) -> None:
    creds, server = sandbox["creds"], sandbox["server"]
    base = server.provider_url("lightspeed_r")
    with httpx.Client(base_url=base) as client:
        page = client.get("/auth/oauth/authorize", params={
            "response_type": "code", "client_id": creds.client_id, "scope": "employee:all", "state": "s1",
            "redirect_uri": "https://app.example/cb"})
        assert page.status_code == 200 and "Authorize application" in page.text
        allow = re.search(r'id="allow" href="([^"]+)"', page.text)
        assert allow is not None
        redirect = client.get(allow.group(1).replace("&amp;", "&").removeprefix("/lightspeed_r"))
        assert redirect.status_code == 302 and "state=s1" in redirect.headers["location"]
        code = re.search(r"code=([0-9a-f]+)", redirect.headers["location"])
        assert code is not None
        form = {"client_id": creds.client_id, "client_secret": creds.client_secret}
        first = client.post("/auth/oauth/token", data={**form, "grant_type": "authorization_code",
                                                       "code": code.group(1)}).json()
        assert first["expires_in"] == 3600 and first["token_type"] == "bearer"
        again = client.post("/auth/oauth/token", data={**form, "grant_type": "authorization_code",
                                                       "code": code.group(1)})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        second = client.post("/auth/oauth/token", data={**form, "grant_type": "refresh_token",
                                                        "refresh_token": first["refresh_token"]}).json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        stale = client.post("/auth/oauth/token", data={**form, "grant_type": "refresh_token",
                                                       "refresh_token": first["refresh_token"]})
        assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
        me = client.get("/API/V3/Account.json", headers={"Authorization": f"Bearer {second['access_token']}"})
        assert me.json()["Account"]["accountID"] == creds.account_id
        bad = client.get("/API/V3/Account.json", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.json()["httpMessage"] == "Unauthorized"


def test_a_tax_exclusive_shop_adds_the_tax_and_still_matches_the_ledger() -> None:
    import dataclasses

    world = sandbox_world(43, "lightspeed_r", days=2)
    [loc] = world.locations  # no sale is generated yet: the shop shows prices before tax from now on
    world.locations[0] = dataclasses.replace(loc, prices_include_tax=False)
    world.location_by_id[loc.location_id] = world.locations[0]
    with SandboxServer(world) as server:
        creds = next(iter(server.credentials.values()))
        client = httpx.Client(base_url=server.provider_url("lightspeed_r"),
                              headers={"Authorization": f"Bearer {creds.access_token}"}, timeout=30)
        sb = {"client": client, "api": f"/API/V3/Account/{creds.account_id}"}
        sales = all_sales(sb, sort="timeStamp")
        client.close()
    assert {s["isTaxInclusive"] for s in sales} == {"false"}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for s in sales:
        lines = as_list(s.get("SaleLines"), "SaleLine")
        if s["completed"] != "true" or s["voided"] == "true" or any(ln["parentSaleLineID"] != "0" for ln in lines):
            continue
        fees = sum((Decimal(ln["calcTotal"]) for ln in lines if ln["itemID"] == "0"), Decimal(0))
        assert Decimal(s["calcTotal"]) == (Decimal(s["calcSubtotal"]) - Decimal(s["calcDiscount"]) + fees
                                           + Decimal(s["calcTax1"]))
        tips = sum((Decimal(p["tipAmount"]) for p in as_list(s.get("SalePayments"), "SalePayment")
                    if p["archived"] == "false"), Decimal(0))
        totals[httpx_day(s["completeTime"], ZoneInfo("Europe/Madrid"))] += Decimal(s["calcTotal"]) + tips
    truth = {r["business_date"]: Decimal(r["total_amount"]) for r in compute_truth(world)["daily"] if r["sales_count"]}
    assert dict(totals) == truth
