"""The Toast emulator over loopback HTTP: auth, ordersBulk windows and Link pagination, single
orders, menus, restaurants, rate limits; every response validated against the Swagger copies."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from toast_emulator_support import (
    cents,
    make_world,
    served,
    toast_ts,
    validate,
    validate_error,
    window_params,
)

from pos_sandbox.world import World


def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    validate_error(body)
    assert body["status"] == status and isinstance(body["code"], int) and body["message"]
    return dict(body)


def _toast_sales(world: World) -> list[Any]:
    loc = world.locations[0]
    return [s for s in world.iter_sales(loc.location_id) if s.closed_at <= world.now]


def test_login_caches_one_token_and_rejects_bad_credentials() -> None:
    with served() as s:
        first = s.login()
        assert first.status_code == 200
        validate("authentication", "AuthenticationResponse", first.json())
        token = first.json()["token"]
        assert token["tokenType"] == "Bearer" and 0 < token["expiresIn"] <= 86_400
        assert token["accessToken"] == s.token  # the same token until shortly before expiry
        assert s.emulator.tokens.issued == 1
        _error(s.login(secret="wrong"), 401)
        _error(s.login(client_id="nobody"), 401)
        bad = s.client.post("/authentication/v1/authentication/login",
                            json={"clientId": s.creds.client_id, "clientSecret": s.creds.client_secret})
        _error(bad, 400)  # userAccessType is required


def test_token_renewed_near_expiry_and_expired_token_is_401() -> None:
    with served(token_ttl_seconds=2.0, token_renew_before_seconds=1.0) as s:
        assert s.get("/menus/v2/metadata").status_code == 200
        time.sleep(1.1)  # within the renewal margin: login now hands out a new token
        renewed = s.login().json()["token"]
        assert renewed["accessToken"] != s.token and renewed["expiresIn"] in (1, 2)
        time.sleep(1.0)  # the first token has expired
        body = _error(s.get("/menus/v2/metadata"), 401)
        assert "expired" in body["developerMessage"]
        _error(s.client.get("/menus/v2/metadata", headers={"Toast-Restaurant-External-ID": s.restaurant}), 401)


def test_login_rate_limit() -> None:
    with served(login_rate_limit=(3, 60.0)) as s:
        assert [s.login().status_code for _ in range(2)] == [200, 200]  # 1 login by `served` + 2
        resp = s.login()
        _error(resp, 429)
        assert int(resp.headers["Retry-After"]) >= 1


def test_restaurant_header_required_and_checked() -> None:
    with served() as s:
        resp = s.client.get("/menus/v2/metadata", headers={"Authorization": f"Bearer {s.token}"})
        assert _error(resp, 400)["fieldName"] == "Toast-Restaurant-External-ID"
        _error(s.get("/menus/v2/metadata", restaurant="00000000-0000-4000-8000-000000000000"), 403)
        _error(s.get("/restaurants/v1/restaurants/00000000-0000-4000-8000-000000000000"), 404)
        _error(s.get("/orders/v2/nothing"), 404)


def test_orders_bulk_link_pagination_yields_every_order_exactly_once() -> None:
    world = make_world()
    with served(world) as s:
        pages = list(s.bulk_pages(**window_params(world), pageSize=7))
        orders = []
        for n, resp in enumerate(pages, start=1):
            body = resp.json()
            validate("orders", "Order", body, array=True)
            assert isinstance(body, list) and len(body) <= 7
            links = resp.links
            assert links["self"]["url"].endswith(f"page={n}&pageSize=7") and links["first"]["url"].endswith("page=1&pageSize=7")
            assert ("prev" in links) == (n > 1)
            assert "%2B0000" in links["self"]["url"]  # the offset's '+' stays encoded in the links
            orders.extend(body)
        assert len(pages) > 3
        ids = [o["guid"] for o in orders]
        assert len(ids) == len(set(ids))
        assert set(ids) == {sale.id for sale in _toast_sales(world)}
        # a page past the end is an empty array, 200
        past = s.bulk(**window_params(world), pageSize=7, page=len(pages) + 1)
        assert past.status_code == 200 and past.json() == [] and "next" not in past.links


def test_orders_bulk_window_is_on_modified_date_start_inclusive_end_exclusive() -> None:
    world = make_world()
    with served(world) as s:
        sales = _toast_sales(world)
        sale = sales[len(sales) // 2]
        at = s.emulator.render.modified(sale, world.now)
        hit = s.all_orders(startDate=toast_ts(at), endDate=toast_ts(at + timedelta(milliseconds=1)))
        assert sale.id in {o["guid"] for o in hit}
        assert all(o["modifiedDate"] == toast_ts(at) for o in hit)
        miss = s.all_orders(startDate=toast_ts(at - timedelta(seconds=1)), endDate=toast_ts(at))
        assert sale.id not in {o["guid"] for o in miss}
        # offsets other than +0000 name the same instant
        local = at.astimezone(world.zone("America/New_York"))
        text = local.strftime("%Y-%m-%dT%H:%M:%S.000") + local.strftime("%z")
        assert sale.id in {o["guid"] for o in s.all_orders(startDate=text, endDate=toast_ts(at + timedelta(seconds=1)))}


def test_orders_bulk_rejects_bad_parameters() -> None:
    world = make_world()
    with served(world) as s:
        window = window_params(world)
        url = f"/orders/v2/ordersBulk?startDate={window['startDate']}&endDate={window['endDate']}"  # '+' unencoded
        body = _error(s.client.get(url, headers=s.headers()), 400)
        assert "%2B" in body["message"]
        _error(s.bulk(**window, pageSize=101), 400)
        _error(s.bulk(**window, page=0), 400)
        _error(s.bulk(startDate=window["startDate"]), 400)
        _error(s.bulk(startDate=window["endDate"], endDate=window["startDate"]), 400)
        _error(s.bulk(startDate="2015-01-01T00:00:00.000+0000", endDate=window["endDate"]), 400)
        _error(s.bulk(), 400)
        _error(s.bulk(businessDate="2026-03-02"), 400)
    with served(world, max_bulk_window_seconds=86_400) as s:
        _error(s.bulk(**window_params(world)), 400)


def test_orders_bulk_ignores_unknown_query_parameters() -> None:
    """Unknown query parameters are ignored (docs/sandbox.md, *Strictness*); known ones still checked."""
    world = make_world()
    with served(world) as s:
        window = window_params(world)
        plain = s.bulk(**window, pageSize=5)
        extra = s.bulk(**window, pageSize=5, expand="checks", restaurantGuid="x")
        assert extra.status_code == 200 and extra.json() == plain.json() and plain.json()
        _error(s.bulk(**window, pageSize=101, expand="checks"), 400)
        info = s.get(f"/restaurants/v1/restaurants/{s.restaurant}", includeArchived="true")
        assert info.status_code == 200


def test_orders_by_business_date_follow_the_closeout_hour() -> None:
    world = make_world()
    with served(world) as s:
        sales = _toast_sales(world)
        day = sales[0].local_date
        got = s.all_orders(businessDate=day.strftime("%Y%m%d"))
        validate("orders", "Order", got, array=True)
        assert {o["guid"] for o in got} == {sale.id for sale in sales if sale.local_date == day}
        assert all(o["businessDate"] == int(day.strftime("%Y%m%d")) for o in got)


def test_single_order_and_404() -> None:
    world = make_world()
    with served(world) as s:
        sale = _toast_sales(world)[3]
        resp = s.get(f"/orders/v2/orders/{sale.id}")
        assert resp.status_code == 200
        validate("orders", "Order", resp.json())
        assert resp.json()["guid"] == sale.id and resp.json()["checks"][0]["guid"] == sale.check_id
        _error(s.get("/orders/v2/orders/00000000-0000-4000-8000-000000000000"), 404)
        world.set_now(sale.closed_at - timedelta(seconds=1))  # not closed yet: invisible
        _error(s.get(f"/orders/v2/orders/{sale.id}"), 404)


def test_money_voids_deletions_refunds_and_modifiers_render_as_toast_does() -> None:
    world = make_world(seed=39)
    sales = [s for s in world.iter_sales(world.locations[0].location_id)]
    assert any(s.state == "deleted" for s in sales) and any(s.state == "voided" for s in sales)
    assert any(line.voided for s in sales for line in s.lines) and any(s.refund for s in sales)
    with served(world) as s:
        by_id = {o["guid"]: o for o in s.all_orders(**window_params(world))}
        for sale in sales:
            order = by_id[sale.id]
            check = order["checks"][0]
            if sale.state == "deleted":
                assert order["deleted"] and check["deleted"] and check["paymentStatus"] == "OPEN"
                assert check["deletedDate"] == toast_ts(sale.deleted_at) and not check["payments"]
                assert order["modifiedDate"] == toast_ts(sale.deleted_at)
                continue
            assert check["deletedDate"] == "1970-01-01T00:00:00.000+0000" and not check["deleted"]
            live = [sel for sel, line in zip(check["selections"], sale.lines, strict=True) if not line.voided]
            # check amounts are float sums: round the decimal text half-up once
            assert cents(check["amount"]) == Decimal(sale.gross_cents - sale.discount_cents
                                                     + sale.service_charge_cents) / 100
            assert cents(check["taxAmount"]) == Decimal(sale.tax_cents) / 100
            assert cents(check["totalAmount"]) == Decimal(sale.net_before_tip_cents) / 100
            assert sum(cents(sel["preDiscountPrice"]) for sel in live) == Decimal(sale.gross_cents) / 100
            for sel, line in zip(check["selections"], sale.lines, strict=True):
                assert sel["voided"] == (line.voided or sale.state == "voided")
                assert ("voidDate" in sel) == sel["voided"]
                assert sel["quantity"] == Decimal(str(float(line.quantity)))
                if line.modifiers:  # modifier prices are already in the parent's price
                    assert sel["modifiers"] and sum(m["price"] for m in sel["modifiers"]) <= sel["preDiscountPrice"]
                    assert cents(sel["preDiscountPrice"]) == Decimal(line.gross_cents) / 100
            if sale.state == "voided":
                assert order["voided"] and check["voided"] and order["voidDate"] == toast_ts(sale.void_at)
                assert all(p["paymentStatus"] == "VOIDED" and "voidInfo" in p for p in check["payments"])
            tips = sum(cents(p["tipAmount"]) for p in check["payments"])
            assert tips == Decimal(sale.tip_as_of(world.now)) / 100
            assert sum(cents(p["amount"]) for p in check["payments"]) == Decimal(sale.net_before_tip_cents) / 100
            if sale.refund is not None and sale.refund.completed_at <= world.now:
                payment = next(p for p in check["payments"] if p["guid"] == sale.refund.tender_id)
                assert payment["refundStatus"] == ("FULL" if sale.refund.full else "PARTIAL")
                refund = payment["refund"]
                assert cents(refund["refundAmount"]) + cents(refund["tipRefundAmount"]) == \
                    Decimal(sale.refund.amount_cents) / 100
                assert refund["refundDate"] == toast_ts(sale.refund.created_at)
                assert any("refundDetails" in sel for sel in check["selections"])
                assert order["modifiedDate"] >= toast_ts(sale.refund.completed_at)


def test_refund_and_tip_edit_bump_modified_date_with_the_clock() -> None:
    world = make_world(seed=39)
    sales = list(world.iter_sales(world.locations[0].location_id))
    refunded = next(s for s in sales if s.refund is not None and s.refund.completed_at - s.closed_at > timedelta(hours=1))
    edited = next(s for s in sales if s.tip_edit is not None)
    with served(world) as s:
        world.set_now(refunded.refund.completed_at - timedelta(seconds=1))
        before = s.get(f"/orders/v2/orders/{refunded.id}").json()
        assert before["modifiedDate"] == toast_ts(refunded.updated_at_as_of(world.now))
        assert all(p["refundStatus"] == "NONE" for p in before["checks"][0]["payments"])
        world.set_now(refunded.refund.completed_at)
        after = s.get(f"/orders/v2/orders/{refunded.id}").json()
        assert after["modifiedDate"] == toast_ts(refunded.refund.completed_at)
        # it now falls in a window starting at the refund, not in one ending before it
        got = s.all_orders(startDate=toast_ts(refunded.refund.completed_at),
                           endDate=toast_ts(refunded.refund.completed_at + timedelta(seconds=1)))
        assert refunded.id in {o["guid"] for o in got}

        world.set_now(edited.tip_edit.at)
        order = s.get(f"/orders/v2/orders/{edited.id}").json()
        assert order["modifiedDate"] == toast_ts(edited.tip_edit.at)
        payment = next(p for p in order["checks"][0]["payments"] if p["guid"] == edited.tip_edit.tender_id)
        assert cents(payment["tipAmount"]) == Decimal(edited.tip_edit.new_tip_cents) / 100


def test_menus_nested_groups_references_and_archived_items() -> None:
    world = make_world(seed=2, days=10)
    account_id = world.accounts[0].account_id
    deleted = [it for it in world.items[account_id] if it.history[-1].deleted]
    assert deleted
    with served(world) as s:
        meta = s.get("/menus/v2/metadata")
        assert meta.status_code == 200
        validate("menus", "Metadata", meta.json())
        time.sleep(1.0)
        menus = s.get("/menus/v2/menus")
        assert menus.status_code == 200, menus.text
        body = menus.json()
        validate("menus", "Restaurant", body)
        assert body["lastUpdated"] == meta.json()["lastUpdated"] and body["restaurantTimeZone"] == "America/New_York"

        def items(group: dict[str, Any]) -> list[dict[str, Any]]:
            return group["menuItems"] + [i for g in group["menuGroups"] for i in items(g)]

        top = body["menus"][0]["menuGroups"]
        assert all(g["menuGroups"] and not g["menuItems"] for g in top)  # nested groups
        served_items = [i for g in top for i in items(g)]
        guids = {i["guid"] for i in served_items}
        assert not guids & {it.item_id for it in deleted}  # archived items are missing
        assert guids == {it.item_id for it, _ in world.catalog_as_of(account_id, world.now)}
        for item in served_items:
            for ref in item["modifierGroupReferences"]:
                group = body["modifierGroupReferences"][str(ref)]
                assert all(str(o) in body["modifierOptionReferences"] for o in group["modifierOptionReferences"])
        assert any(i["modifierGroupReferences"] for i in served_items)
        # metadata follows the clock: before the deletion the item is there and lastUpdated is older
        first_delete = min(it.history[-1].at for it in deleted)
        world.set_now(first_delete - timedelta(seconds=1))
        older = s.get("/menus/v2/metadata").json()["lastUpdated"]
        assert older < meta.json()["lastUpdated"]
        time.sleep(1.0)
        earlier = s.get("/menus/v2/menus").json()
        assert {it.item_id for it in deleted if it.history[-1].at == first_delete} <= \
            {i["guid"] for g in earlier["menus"][0]["menuGroups"] for i in items(g)}


def test_menus_endpoint_limit_is_one_request_per_second_per_restaurant() -> None:
    with served() as s:
        time.sleep(1.0 - time.time() % 1.0 + 0.02)  # start of a fresh second
        assert s.get("/menus/v2/menus").status_code == 200
        resp = s.get("/menus/v2/menus")
        body = _error(resp, 429)
        assert body["status"] == 429
        assert resp.headers["X-Toast-RateLimit-By"] == "ENDPOINT" and resp.headers["Retry-After"] == "1"
        assert int(resp.headers["X-Toast-RateLimit-Reset"]) >= int(time.time())
        assert s.get("/menus/v2/metadata").status_code == 200  # other endpoints are not affected


def test_orders_bulk_endpoint_limit_is_five_requests_per_second_per_restaurant() -> None:
    """Toast's rate-limiting page: ``GET /ordersBulk`` five requests per client per location per
    second; other endpoints and the client's other restaurants keep their own budgets."""
    world = make_world(days=1, scale="chain")  # the chain layout: two Toast restaurants of one client
    with served(world) as s:
        first, second = s.world.accounts[0].location_ids[:2]
        window = window_params(world)
        time.sleep(1.0 - time.time() % 1.0 + 0.02)  # start of a fresh second
        statuses = [s.get("/orders/v2/ordersBulk", first, **window, pageSize=1).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        resp = s.get("/orders/v2/ordersBulk", first, **window, pageSize=1)
        body = _error(resp, 429)
        assert "5 requests per 1 s" in body["developerMessage"]
        assert resp.headers["X-Toast-RateLimit-By"] == "ENDPOINT" and resp.headers["Retry-After"] == "1"
        assert s.get("/orders/v2/ordersBulk", second, **window, pageSize=1).status_code == 200  # its own budget
        assert s.get(f"/restaurants/v1/restaurants/{first}", first).status_code == 200  # other endpoints: not affected
        time.sleep(max(0.0, float(resp.headers["X-Toast-RateLimit-Reset"]) - time.time()) + 0.01)
        assert s.get("/orders/v2/ordersBulk", first, **window, pageSize=1).status_code == 200  # the next second


def test_global_rate_limits_answer_429_with_retry_after() -> None:
    with served(rate_limits=[(5, 2.0), (8, 86_400.0)]) as s:  # a long second window: no reset mid-test
        time.sleep(2.0 - time.time() % 2.0 + 0.02)
        statuses = []
        for _ in range(7):
            resp = s.get("/menus/v2/metadata")
            statuses.append(resp.status_code)
        assert statuses == [200] * 5 + [429] * 2
        assert resp.headers["X-Toast-RateLimit-By"] == "GLOBAL" and int(resp.headers["Retry-After"]) in (1, 2)
        ok = s.get("/restaurants/v1/restaurants/" + s.restaurant, restaurant=None)
        assert ok.status_code == 429  # counted per restaurant, whatever the endpoint
        time.sleep(int(resp.headers["Retry-After"]))
        after = s.get("/menus/v2/metadata")
        assert after.status_code == 200 and after.headers["X-Toast-RateLimit-Remaining"] == "2"
        for _ in range(2):
            s.get("/menus/v2/metadata")
        quarter = s.get("/menus/v2/metadata")  # 8 per day used up
        assert quarter.status_code == 429 and int(quarter.headers["Retry-After"]) > 2


def test_restaurant_info() -> None:
    world = make_world()
    with served(world) as s:
        resp = s.get(f"/restaurants/v1/restaurants/{s.restaurant}")
        assert resp.status_code == 200
        validate("restaurants", "RestaurantInfo", resp.json())
        general = resp.json()["general"]
        loc = world.locations[0]
        assert (general["timeZone"], general["closeoutHour"], general["currencyCode"]) == \
            (loc.timezone, loc.closeout_hour, "USD")
        assert general["managementGroupGuid"] == world.accounts[0].account_id


def test_employees_and_devices_name_what_orders_reference() -> None:
    """``Order.server`` resolves in the labor API's employees, ``createdDevice.id`` in the device
    details API (with their scopes; without them: 403)."""
    world = make_world()
    with served(world) as s:
        employees = s.get("/labor/v1/employees")
        devices = s.get("/device-details/v1/device-info")
        assert employees.status_code == devices.status_code == 200
        by_guid = {e["guid"]: e for e in employees.json()}
        names = {d["posDeviceInfo"]["deviceId"]: d["posDeviceInfo"]["deviceName"] for d in devices.json()}
        assert all(e["entityType"] == "RestaurantUser" and not e["deleted"] for e in by_guid.values())
        assert {d["deviceType"] for d in devices.json()} == {"POS"}
        orders = s.all_orders(**window_params(world))
        assert orders
        for order in orders:
            assert order["server"]["guid"] in by_guid
            assert order["createdDevice"]["id"] in names
        loc = world.location_by_id[s.restaurant]
        assert set(names.values()) == set(loc.register_names)
        member = next(m for m in world.team[loc.account_id] if m.id == orders[0]["server"]["guid"])
        assert (by_guid[member.id]["firstName"], by_guid[member.id]["lastName"], by_guid[member.id]["email"]) == \
            (member.given_name, member.family_name, member.email)
        one = s.get("/labor/v1/employees", employeeIds=member.id).json()
        assert [e["guid"] for e in one] == [member.id]
        _error(s.get("/labor/v1/employees", employeeIds=[member.id] * 101), 400)
    with served(world, scopes=("orders:read", "restaurants:read")) as s:
        assert "labor.employees:read" in _error(s.get("/labor/v1/employees"), 403)["developerMessage"]
        assert "device-details.info:read" in _error(s.get("/device-details/v1/device-info"), 403)["developerMessage"]
