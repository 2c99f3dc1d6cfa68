"""Square emulator behaviour over real loopback HTTP: determinism, pagination, defaults, validation,
cursors, auth errors, the virtual clock, and rendered sums equal to the world's integers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from square_emulator_support import Served, make_world, served

from pos_sandbox.model import Sale
from pos_sandbox.world import World


@pytest.fixture(scope="module")
def sq() -> Iterator[Served]:
    with served() as s:
        yield s


def sales(world: World, location_id: str | None = None) -> list[Sale]:
    locs = [location_id] if location_id else list(world.accounts[0].location_ids)
    return [s for loc in locs for s in world.iter_sales(loc)]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def error_of(resp: httpx.Response) -> dict:
    body = resp.json()
    assert list(body) == ["errors"], body
    assert len(body["errors"]) == 1
    return body["errors"][0]


# ---------------------------------------------------------------------- determinism
def _transcript(s: Served) -> list[bytes]:
    loc = s.world.accounts[0].location_ids[0]
    out: list[bytes] = []
    out.append(s.get("/v2/locations").content)
    cursor = None
    for _ in range(3):
        r = s.get("/v2/payments", location_id=loc, limit=25, sort_order="ASC", cursor=cursor)
        out.append(r.content)
        cursor = r.json().get("cursor")
    out.append(s.get("/v2/refunds", sort_field="UPDATED_AT").content)
    r = s.post("/v2/orders/search", {"location_ids": [loc], "limit": 30,
                                     "query": {"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}})
    out.append(r.content)
    out.append(s.post("/v2/orders/search", {"location_ids": [loc], "limit": 30, "cursor": r.json()["cursor"],
                                            "query": {"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}}).content)
    ids = [o["id"] for o in r.json()["orders"][:5]]
    out.append(s.post("/v2/orders/batch-retrieve", {"order_ids": ids}).content)
    out.append(s.get("/v2/catalog/list", types="ITEM,ITEM_VARIATION,CATEGORY,TAX,DISCOUNT,MODIFIER_LIST").content)
    out.append(s.post("/v2/catalog/search", {"include_deleted_objects": True, "limit": 20}).content)
    out.append(s.post("/v2/team-members/search", {"limit": 2}).content)
    r = s.get("/v2/customers", limit=30)
    out.append(r.content)
    out.append(s.get("/v2/customers", limit=30, cursor=r.json()["cursor"]).content)
    return out


def test_same_seed_gives_identical_response_bytes() -> None:
    with served(make_world(seed=5)) as a, served(make_world(seed=5)) as b:
        first, second = _transcript(a), _transcript(b)
    assert first == second
    with served(make_world(seed=6)) as c:
        assert _transcript(c)[1] != first[1]


# ---------------------------------------------------------------------- pagination
def _sort_value(obj: dict, field: str) -> str:
    return obj[{"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "CLOSED_AT": "closed_at"}[field]]


def _assert_sorted(objs: list[dict], field: str, order: str) -> None:
    values = [parse(_sort_value(o, field)) for o in objs]
    assert values == sorted(values, reverse=order == "DESC")


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("field", ["CREATED_AT", "UPDATED_AT"])
def test_payments_pagination_every_object_once(sq: Served, field: str, order: str) -> None:
    for loc in sq.world.accounts[0].location_ids:
        expected = {t.id for s in sales(sq.world, loc) if s.visible(sq.world.now) for t in s.tenders}
        got, pages = sq.paginate("/v2/payments", "payments", location_id=loc, limit=7, sort_field=field,
                                 sort_order=order)
        ids = [p["id"] for p in got]
        assert len(ids) == len(set(ids)) == len(expected) and set(ids) == expected
        assert pages == -(-len(expected) // 7)
        _assert_sorted(got, field, order)


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("field", ["CREATED_AT", "UPDATED_AT"])
def test_refunds_pagination_every_object_once(sq: Served, field: str, order: str) -> None:
    now = sq.world.now
    expected = {s.refund.id for s in sales(sq.world) if s.refund is not None and s.refund.created_at <= now}
    assert expected
    got, _ = sq.paginate("/v2/refunds", "refunds", limit=1, sort_field=field, sort_order=order)
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    _assert_sorted(got, field, order)


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("field", ["CREATED_AT", "UPDATED_AT", "CLOSED_AT"])
def test_orders_pagination_every_object_once(sq: Served, field: str, order: str) -> None:
    now = sq.world.now
    all_sales = sales(sq.world)
    expected = {s.id for s in all_sales if s.visible(now)} | \
        {s.refund.return_order_id for s in all_sales if s.refund is not None and s.refund.created_at <= now}
    got, _ = sq.paginate("/v2/orders/search", "orders", method="POST", body={
        "location_ids": list(sq.world.accounts[0].location_ids), "limit": 13,
        "query": {"sort": {"sort_field": field, "sort_order": order}}})
    ids = [o["id"] for o in got]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    _assert_sorted(got, field, order)


def test_orders_default_sort_is_created_at_desc(sq: Served) -> None:
    got = sq.post("/v2/orders/search", {"location_ids": list(sq.world.accounts[0].location_ids)}).json()["orders"]
    _assert_sorted(got, "CREATED_AT", "DESC")


def test_orders_date_filter_is_inclusive_and_return_entries(sq: Served) -> None:
    loc = sq.world.accounts[0].location_ids[0]
    orders = sq.post("/v2/orders/search", {"location_ids": [loc], "limit": 1000}).json()["orders"]
    pivot = orders[len(orders) // 2]
    body = {"location_ids": [loc], "return_entries": True, "limit": 1000,
            "query": {"filter": {"date_time_filter": {"created_at": {"start_at": pivot["created_at"],
                                                                     "end_at": pivot["created_at"]}}},
                      "sort": {"sort_field": "CREATED_AT"}}}
    entries = sq.post("/v2/orders/search", body).json()["order_entries"]
    assert pivot["id"] in {e["order_id"] for e in entries}
    assert all(set(e) == {"order_id", "version", "location_id"} for e in entries)


def test_catalog_and_team_pagination(sq: Served) -> None:
    types = "item,ITEM_VARIATION,category,TAX,DISCOUNT,MODIFIER_LIST,MODIFIER"
    got, pages = sq.paginate("/v2/catalog/list", "objects", types=types)
    ids = [o["id"] for o in got]
    assert pages == -(-len(ids) // 100) and len(ids) == len(set(ids))
    assert {o["type"] for o in got} == {"ITEM", "ITEM_VARIATION", "CATEGORY", "TAX", "DISCOUNT", "MODIFIER_LIST",
                                        "MODIFIER"}
    assert not any(o["is_deleted"] for o in got)
    searched, pages = sq.paginate("/v2/catalog/search", "objects", method="POST",
                                  body={"limit": 9, "object_types": [t.upper() for t in types.split(",")]})
    assert pages > 5 and sorted(o["id"] for o in searched) == sorted(ids)
    default_types = {o["type"] for o in sq.paginate("/v2/catalog/list", "objects")[0]}
    assert "ITEM_VARIATION" not in default_types and "MODIFIER" not in default_types and "ITEM" in default_types
    members, pages = sq.paginate("/v2/team-members/search", "team_members", method="POST", body={"limit": 2})
    expected = {m.id for m in sq.world.team[sq.creds.account_id]}
    assert pages == -(-len(expected) // 2) and [m["id"] for m in members] == sorted(expected)


def test_customers_pagination_sort_and_the_ids_orders_carry(sq: Served) -> None:
    world_customers = sq.world.customers[sq.creds.account_id]
    got, pages = sq.paginate("/v2/customers", "customers", limit=25)
    assert pages == -(-len(world_customers) // 25) and len(got) == len(world_customers)
    by_id = {c.id: c for c in world_customers}
    assert {c["id"] for c in got} == set(by_id)
    for c in got:
        person = by_id[c["id"]]
        assert (c["given_name"], c["family_name"], c["email_address"], c["phone_number"]) == \
            (person.given_name, person.family_name, person.email, person.phone)
        assert c["version"] == 0 and c["updated_at"] == c["created_at"] and c["creation_source"] == "DIRECTORY"
    # DEFAULT: by given + family name (ties by id), ascending unless sort_order=DESC
    names = [(c["given_name"] + " " + c["family_name"], c["id"]) for c in got]
    assert names == sorted(names)
    desc, _ = sq.paginate("/v2/customers", "customers", limit=40, sort_order="DESC")
    assert [c["id"] for c in desc] == [c["id"] for c in reversed(got)]
    created, _ = sq.paginate("/v2/customers", "customers", limit=50, sort_field="CREATED_AT")
    assert [c["id"] for c in created] == [c.id for c in world_customers]
    assert [parse(c["created_at"]) for c in created] == sorted(parse(c["created_at"]) for c in created)
    # every customer an order names is a listed profile, created before the order
    orders, _ = sq.paginate("/v2/orders/search", "orders", method="POST",
                            body={"location_ids": list(sq.world.accounts[0].location_ids), "limit": 1000})
    named = [o for o in orders if o.get("customer_id")]
    listed = {c["id"]: parse(c["created_at"]) for c in got}
    assert named and all(o["customer_id"] in listed and listed[o["customer_id"]] <= parse(o["created_at"])
                         for o in named)


def test_customers_limit_and_enums_are_validated(sq: Served) -> None:
    assert len(sq.get("/v2/customers").json()["customers"]) == 100  # default and maximum page: 100
    assert len(sq.get("/v2/customers", limit=100).json()["customers"]) == 100
    for limit, code in ((0, "VALUE_TOO_LOW"), (101, "VALUE_TOO_HIGH")):
        resp = sq.get("/v2/customers", limit=limit)
        assert resp.status_code == 400 and (error_of(resp)["code"], error_of(resp)["field"]) == (code, "limit")
    for name, value in (("sort_field", "UPDATED_AT"), ("sort_order", "UP")):
        resp = sq.get("/v2/customers", **{name: value})
        assert resp.status_code == 400 and error_of(resp)["code"] == "INVALID_ENUM_VALUE"
    first = sq.get("/v2/customers", limit=10).json()
    other_query = sq.get("/v2/customers", limit=10, sort_field="CREATED_AT", cursor=first["cursor"])
    assert other_query.status_code == 400 and error_of(other_query)["code"] == "INVALID_CURSOR"
    assert "count" not in first


def test_customers_need_customers_read(sq: Served) -> None:
    issued = sq.post("/_sandbox/square/tokens", {"scopes": ["PAYMENTS_READ", "ORDERS_READ"]}).json()
    resp = sq.client.get("/v2/customers", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert resp.status_code == 403
    assert (error_of(resp)["category"], error_of(resp)["code"]) == ("AUTHENTICATION_ERROR", "INSUFFICIENT_SCOPES")
    assert "CUSTOMERS_READ" in error_of(resp)["detail"]
    granted = sq.post("/_sandbox/square/tokens", {"scopes": ["CUSTOMERS_READ"]}).json()
    ok = sq.client.get("/v2/customers", headers={"Authorization": f"Bearer {granted['access_token']}"})
    assert ok.status_code == 200 and ok.json()["customers"]


def test_team_filters(sq: Served) -> None:
    loc = sq.world.accounts[0].location_ids[1]
    body = {"query": {"filter": {"location_ids": [loc], "is_owner": False}}}
    members = sq.post("/v2/team-members/search", body).json()["team_members"]
    assert members and all(m["assigned_locations"]["location_ids"] == [loc] for m in members)
    owners = sq.post("/v2/team-members/search", {"query": {"filter": {"is_owner": True}}}).json()["team_members"]
    assert [m["is_owner"] for m in owners] == [True]


# ---------------------------------------------------------------------- defaults and validation
def test_list_payments_defaults_to_main_location(sq: Served) -> None:
    main = next(loc for loc in sq.world.locations if loc.is_main and loc.provider == "square")
    got, _ = sq.paginate("/v2/payments", "payments")
    assert got and {p["location_id"] for p in got} == {main.location_id}
    refunds, _ = sq.paginate("/v2/refunds", "refunds")
    # refunds default to every location
    assert {r["location_id"] for r in refunds} == {x.location_id for x in sales(sq.world) if x.refund is not None
                                                   and x.refund.created_at <= sq.world.now}


def test_list_payments_limit_above_100_is_clamped() -> None:
    with served(make_world(scale="small", days=1)) as s:
        resp = s.get("/v2/payments", limit=500)
        assert resp.status_code == 200 and len(resp.json()["payments"]) == 100 and "cursor" in resp.json()
        assert len(s.get("/v2/payments", limit=30).json()["payments"]) == 30
        bad = s.get("/v2/payments", limit=0)
        assert bad.status_code == 400 and error_of(bad)["code"] == "VALUE_TOO_LOW"
        refunds, _ = s.paginate("/v2/refunds", "refunds", limit=500)  # refunds: every location by default
        assert len({r["location_id"] for r in refunds}) == 2


def test_payments_filters(sq: Served) -> None:
    got, _ = sq.paginate("/v2/payments", "payments")
    card = next(p for p in got if p["source_type"] == "CARD")
    by_last4 = sq.get("/v2/payments", last_4=card["card_details"]["card"]["last_4"]).json()["payments"]
    assert card["id"] in {p["id"] for p in by_last4}
    by_total = sq.get("/v2/payments", total=card["total_money"]["amount"]).json()["payments"]
    assert all(p["total_money"]["amount"] == card["total_money"]["amount"] for p in by_total)
    window = sq.get("/v2/payments", begin_time=card["created_at"], end_time=card["created_at"]).json()["payments"]
    assert card["id"] in {p["id"] for p in window}
    assert sq.get("/v2/payments", is_offline_payment="true").json() == {}
    bad = sq.get("/v2/payments", begin_time="2026-03-05T00:00:00Z", end_time="2026-03-01T00:00:00Z")
    assert bad.status_code == 400 and error_of(bad)["code"] == "INVALID_TIME_RANGE"


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"location_ids": [f"L{i}" for i in range(11)]}, "ARRAY_LENGTH_TOO_LONG", "location_ids"),
    ({}, "MISSING_REQUIRED_PARAMETER", "location_ids"),
    ({"location_ids": ["@main"], "query": {"filter": {"date_time_filter": {"updated_at": {"start_at": "2026-03-01T00:00:00Z"}}},
                                           "sort": {"sort_field": "CREATED_AT"}}}, "INVALID_VALUE", "query.sort.sort_field"),
    ({"location_ids": ["@main"], "query": {"filter": {"date_time_filter": {"closed_at": {"start_at": "2026-03-01T00:00:00Z"}}}}},
     "INVALID_VALUE", "query.sort.sort_field"),
    ({"location_ids": ["@main"], "query": {"filter": {"date_time_filter": {
        "closed_at": {"start_at": "2026-03-01T00:00:00Z"}, "created_at": {"start_at": "2026-03-01T00:00:00Z"}}}}},
     "BAD_REQUEST", "query.filter.date_time_filter"),
    # unknown body fields: 400 BAD_REQUEST as the real API answers them (docs/sandbox.md, Strictness)
    ({"location_ids": ["@main"], "filter": {"state_filter": {"states": ["COMPLETED"]}}}, "BAD_REQUEST", "filter"),
    ({"location_ids": ["@main"], "sort": {"sort_field": "UPDATED_AT"}}, "BAD_REQUEST", "sort"),
    ({"location_ids": ["@main"], "query": {"filter": {"states": ["COMPLETED"]}}}, "BAD_REQUEST",
     "query.filter.states"),
    ({"location_ids": ["@main"], "query": {"sort": {"sort_field": "UPDATED", "sort_order": "ASC"}}}, "INVALID_ENUM_VALUE",
     "query.sort.sort_field"),
    ({"location_ids": ["@main"], "limit": 1001}, "VALUE_TOO_HIGH", "limit"),
    ({"location_ids": ["@main"], "query": {"filter": {"date_time_filter": {"created_at": {"start_at": "March 1"}}},
                                           "sort": {"sort_field": "CREATED_AT"}}}, "INVALID_TIME",
     "query.filter.date_time_filter.created_at.start_at"),
])
def test_search_orders_rejects_bad_bodies(sq: Served, body: dict, code: str, field: str) -> None:
    main = sq.world.accounts[0].location_ids[0]
    if body.get("location_ids") == ["@main"]:
        body = {**body, "location_ids": [main]}
    resp = sq.post("/v2/orders/search", body)
    assert resp.status_code == 400, resp.text
    err = error_of(resp)
    assert (err["category"], err["code"], err["field"]) == ("INVALID_REQUEST_ERROR", code, field)


def test_batch_retrieve_leaves_out_unknown_ids(sq: Served) -> None:
    loc = sq.world.accounts[0].location_ids[0]
    orders = sq.post("/v2/orders/search", {"location_ids": [loc], "limit": 3}).json()["orders"]
    ids = [o["id"] for o in orders]
    got = sq.post("/v2/orders/batch-retrieve", {"order_ids": [ids[0], "nope", ids[1]]}).json()["orders"]
    assert [o["id"] for o in got] == ids[:2]
    assert got[0] == orders[0]
    assert sq.post("/v2/orders/batch-retrieve", {"order_ids": ["nope"]}).json() == {}
    assert sq.get(f"/v2/orders/{ids[2]}").json()["order"] == orders[2]
    assert sq.get("/v2/orders/nope").status_code == 404


def test_unknown_query_parameters_are_ignored_known_ones_validated(sq: Served) -> None:
    """Square ignores query parameters an endpoint does not define (a widely used connector sends
    ``limit=100`` to ListLocations, which takes none) but validates the ones it defines."""
    plain = sq.get("/v2/locations")
    with_limit = sq.get("/v2/locations", limit="100")
    assert with_limit.status_code == 200, with_limit.text
    assert with_limit.json() == plain.json() and plain.json()["locations"]
    payments = sq.get("/v2/payments", limit="5")
    typo = sq.get("/v2/payments", limit="5", order="ASC")  # `order` instead of `sort_order`: ignored, DESC stays
    assert typo.status_code == 200 and typo.json()["payments"] == payments.json()["payments"]
    times = [p["created_at"] for p in typo.json()["payments"]]
    assert times == sorted(times, reverse=True)
    resp = sq.get("/v2/refunds", sort_field="CLOSED_AT")
    assert resp.status_code == 400 and error_of(resp)["code"] == "INVALID_ENUM_VALUE"
    resp = sq.get("/v2/payments", limit="five", extra="1")
    assert resp.status_code == 400 and error_of(resp)["code"] == "EXPECTED_INTEGER"


def test_unknown_body_field_is_bad_request_naming_it(sq: Served) -> None:
    main = sq.world.accounts[0].location_ids[0]
    resp = sq.post("/v2/orders/search", {"location_ids": [main], "limitt": 5})
    assert resp.status_code == 400
    assert error_of(resp) == {"category": "INVALID_REQUEST_ERROR", "code": "BAD_REQUEST",
                              "detail": "The field named 'limitt' is unrecognized.", "field": "limitt"}


# ---------------------------------------------------------------------- catalog
def test_catalog_begin_time_is_exclusive_and_tombstones_need_include_deleted(sq: Served) -> None:
    everything = sq.post("/v2/catalog/search", {"include_deleted_objects": True, "object_types": ["ITEM"]}).json()
    tombstones = [o for o in everything["objects"] if o["is_deleted"]]
    deleted = [it for it in sq.world.items[sq.creds.account_id] if it.state_at(sq.world.now).deleted]
    assert tombstones and {o["id"] for o in tombstones} == {it.item_id for it in deleted}
    for obj in tombstones:
        item = next(it for it in deleted if it.item_id == obj["id"])
        assert parse(obj["updated_at"]) == item.history[-1].at
    live = sq.post("/v2/catalog/search", {"object_types": ["ITEM"]}).json()["objects"]
    assert not any(o["is_deleted"] for o in live)
    listed, _ = sq.paginate("/v2/catalog/list", "objects", types="ITEM")
    assert {o["id"] for o in listed} == {o["id"] for o in live}
    assert everything["latest_time"] == max(o["updated_at"] for o in everything["objects"])

    changed = max(everything["objects"], key=lambda o: o["updated_at"])
    at = parse(changed["updated_at"])
    def search(begin: datetime) -> set[str]:
        body = {"include_deleted_objects": True, "object_types": ["ITEM"],
                "begin_time": begin.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        return {o["id"] for o in sq.post("/v2/catalog/search", body).json().get("objects", [])}
    assert changed["id"] not in search(at)
    assert changed["id"] in search(at - timedelta(milliseconds=1))
    resp = sq.post("/v2/catalog/search", {"begin_time": changed["updated_at"], "end_time": changed["updated_at"]})
    assert resp.status_code == 400 and error_of(resp)["code"] == "BAD_REQUEST"  # end_time: not a field


def test_catalog_hides_items_created_after_now() -> None:
    world = make_world(days=4)
    late = [it for it in world.items[world.accounts[0].account_id] if it.created_at > world.window_start_utc]
    assert late
    with served(world) as s:
        world.set_now(min(it.created_at for it in late) - timedelta(seconds=1))
        ids = {o["id"] for o in s.paginate("/v2/catalog/list", "objects", types="ITEM")[0]}
        assert not ids & {it.item_id for it in late}
        world.set_now(max(it.created_at for it in late))
        ids = {o["id"] for o in s.paginate("/v2/catalog/list", "objects", types="ITEM")[0]}
        assert {it.item_id for it in late} <= ids


def test_catalog_related_objects(sq: Served) -> None:
    data = sq.post("/v2/catalog/search", {"object_types": ["ITEM"], "include_related_objects": True, "limit": 5}).json()
    related_types = {o["type"] for o in data["related_objects"]}
    assert {"CATEGORY", "TAX"} <= related_types


# ---------------------------------------------------------------------- cursors
def test_cursor_expires_and_is_bound_to_its_query() -> None:
    with served(cursor_ttl_seconds=1.5) as s:  # time for a loaded machine to ask four times
        first = s.get("/v2/payments", limit=5).json()
        cursor = first["cursor"]
        assert s.get("/v2/payments", limit=5, cursor=cursor).status_code == 200
        other = s.get("/v2/payments", limit=6, cursor=cursor)  # another query
        assert other.status_code == 400 and error_of(other)["code"] == "INVALID_CURSOR"
        refunds = s.get("/v2/refunds", limit=5, cursor=cursor)  # another endpoint
        assert refunds.status_code == 400 and error_of(refunds)["code"] == "INVALID_CURSOR"
        garbled = s.get("/v2/payments", limit=5, cursor=cursor[:-3] + "abc")
        assert garbled.status_code == 400 and error_of(garbled)["code"] == "INVALID_CURSOR"
        time.sleep(1.7)
        expired = s.get("/v2/payments", limit=5, cursor=cursor)
        assert expired.status_code == 400
        assert error_of(expired) | {"detail": ""} == {"category": "INVALID_REQUEST_ERROR", "code": "INVALID_CURSOR",
                                                      "detail": "", "field": "cursor"}
        loc = s.world.accounts[0].location_ids[0]
        page = s.post("/v2/orders/search", {"location_ids": [loc], "limit": 2}).json()
        time.sleep(1.7)
        stale = s.post("/v2/orders/search", {"location_ids": [loc], "limit": 2, "cursor": page["cursor"]})
        assert stale.status_code == 400 and error_of(stale)["code"] == "INVALID_CURSOR"


# ---------------------------------------------------------------------- auth
def test_auth_failures_look_like_square(sq: Served) -> None:
    resp = sq.client.get("/v2/locations", headers={"Authorization": ""})
    assert resp.status_code == 401
    assert error_of(resp)["category"] == "AUTHENTICATION_ERROR" and error_of(resp)["code"] == "UNAUTHORIZED"
    resp = sq.client.get("/v2/payments", headers={"Authorization": "Bearer EAAAlnot-a-token"})
    assert resp.status_code == 401 and error_of(resp)["code"] == "UNAUTHORIZED"

    issued = sq.post("/_sandbox/square/tokens", {"scopes": ["PAYMENTS_READ"]}).json()
    limited = {"Authorization": f"Bearer {issued['access_token']}"}
    assert sq.client.get("/v2/payments", headers=limited).status_code == 200
    resp = sq.client.post("/v2/orders/search", headers=limited, json={"location_ids": ["x"]})
    assert resp.status_code == 403
    assert (error_of(resp)["category"], error_of(resp)["code"]) == ("AUTHENTICATION_ERROR", "INSUFFICIENT_SCOPES")
    for path in ("/v2/locations", "/v2/catalog/list"):
        assert sq.client.get(path, headers=limited).status_code == 403

    assert sq.post("/_sandbox/square/tokens/expire", {"access_token": issued["access_token"]}).status_code == 200
    resp = sq.client.get("/v2/payments", headers=limited)
    assert resp.status_code == 401 and error_of(resp)["code"] == "ACCESS_TOKEN_EXPIRED"

    short = sq.post("/_sandbox/square/tokens", {"expires_in": -1}).json()
    resp = sq.client.get("/v2/payments", headers={"Authorization": f"Bearer {short['access_token']}"})
    assert resp.status_code == 401 and error_of(resp)["code"] == "ACCESS_TOKEN_EXPIRED"


def test_square_version_header(sq: Served) -> None:
    for version in ("2025-08-20", "2026-09-16", "2019-01-01"):
        assert sq.client.get("/v2/locations", headers={"Square-Version": version}).status_code == 200
    resp = sq.client.get("/v2/locations", headers={"Square-Version": "latest"})
    assert resp.status_code == 400 and error_of(resp)["code"] == "INVALID_SQUARE_VERSION_FORMAT"


def test_unknown_route_and_location(sq: Served) -> None:
    resp = sq.get("/v2/nothing-here")
    assert resp.status_code == 404 and error_of(resp)["code"] == "NOT_FOUND"
    assert sq.get("/v2/locations/LNOPE").status_code == 404
    main = sq.get("/v2/locations/main").json()["location"]
    assert main["id"] == sq.world.accounts[0].location_ids[0] and main["language_code"] == "es-ES"


# ---------------------------------------------------------------------- the virtual clock
def test_virtual_clock_hides_the_future() -> None:
    world = make_world(days=4)
    with served(world) as s:
        all_payments, _ = s.paginate("/v2/payments", "payments")
        edited = [x for x in sales(world) if x.tip_edit is not None]
        refunded = [x for x in sales(world) if x.refund is not None]
        assert edited and refunded
        mid = world.window_start_utc + timedelta(days=2, hours=12)
        world.set_now(mid)
        some, _ = s.paginate("/v2/payments", "payments")
        assert 0 < len(some) < len(all_payments)
        assert all(parse(p["updated_at"]) <= mid and parse(p["created_at"]) <= mid for p in some)
        refunds, _ = s.paginate("/v2/refunds", "refunds")
        assert {r["id"] for r in refunds} == {x.refund.id for x in refunded if x.refund.created_at <= mid}

        sale = edited[0]
        tender = next(t for t in sale.tenders if t.id == sale.tip_edit.tender_id)
        loc = sale.location_id
        world.set_now(sale.tip_edit.at - timedelta(seconds=1))
        before = s.get(f"/v2/payments/{tender.id}").json()["payment"]
        order_before = s.get(f"/v2/orders/{sale.id}").json()["order"]
        assert before.get("tip_money", {}).get("amount", 0) == tender.tip_cents
        assert order_before["version"] == 1 and parse(order_before["updated_at"]) == sale.closed_at
        world.set_now(sale.tip_edit.at)
        after = s.get(f"/v2/payments/{tender.id}").json()["payment"]
        order_after = s.get(f"/v2/orders/{sale.id}").json()["order"]
        assert after["tip_money"]["amount"] == sale.tip_edit.new_tip_cents
        assert parse(after["updated_at"]) == sale.tip_edit.at and after["version_token"] != before["version_token"]
        assert order_after["version"] == 2 and order_after["total_tip_money"]["amount"] == sale.tip_as_of(world.now)
        ordered = s.post("/v2/orders/search", {"location_ids": [loc], "limit": 1, "query": {
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "DESC"}}}).json()["orders"]
        assert ordered[0]["id"] == sale.id  # the latest change at this instant

        sale = refunded[0]
        refund = sale.refund
        world.set_now(refund.created_at - timedelta(seconds=1))
        assert s.get(f"/v2/refunds/{refund.id}").status_code == 404
        assert s.get(f"/v2/orders/{refund.return_order_id}").status_code == 404
        assert "refund_ids" not in s.get(f"/v2/payments/{refund.tender_id}").json()["payment"]
        world.set_now(refund.created_at)
        pending = s.get(f"/v2/refunds/{refund.id}").json()["refund"]
        assert pending["status"] == "PENDING" and parse(pending["updated_at"]) == refund.created_at
        payment = s.get(f"/v2/payments/{refund.tender_id}").json()["payment"]
        assert payment["refund_ids"] == [refund.id] and payment["refunded_money"]["amount"] == refund.amount_cents
        world.set_now(refund.completed_at)
        done = s.get(f"/v2/refunds/{refund.id}").json()["refund"]
        assert done["status"] == "COMPLETED" and parse(done["updated_at"]) == refund.completed_at
        original = s.get(f"/v2/orders/{sale.id}").json()["order"]
        assert "refunds" not in original and "returns" not in original
        ret = s.get(f"/v2/orders/{refund.return_order_id}").json()["order"]
        assert ret["returns"][0]["source_order_id"] == sale.id and ret["refunds"][0]["status"] == "APPROVED"


def test_orders_end_at_defaults_to_the_first_request_of_the_chain() -> None:
    world = make_world(days=4)
    with served(world) as s:
        loc = world.accounts[0].location_ids[0]
        world.set_now(world.window_start_utc + timedelta(days=1, hours=20))
        body = {"location_ids": [loc], "limit": 5, "query": {
            "filter": {"date_time_filter": {"closed_at": {"start_at": "2020-01-01T00:00:00Z"}}},
            "sort": {"sort_field": "CLOSED_AT", "sort_order": "ASC"}}}
        first_now = world.now
        expected = sum(1 for x in world.iter_sales(loc) if x.closed_at <= first_now)
        page = s.post("/v2/orders/search", body).json()
        got = list(page["orders"])
        world.set_now(world.window_end_utc)  # the clock moves on while the client pages
        while "cursor" in page:
            page = s.post("/v2/orders/search", {**body, "cursor": page["cursor"]}).json()
            got.extend(page.get("orders", []))
        assert len(got) == expected and all(parse(o["closed_at"]) <= first_now for o in got)


# ---------------------------------------------------------------------- sums equal the world's integers
def test_rendered_sums_equal_the_world(sq: Served) -> None:
    world = sq.world
    now = world.now
    for loc in world.accounts[0].location_ids:
        visible = [x for x in sales(world, loc) if x.visible(now)]
        payments, _ = sq.paginate("/v2/payments", "payments", location_id=loc)
        assert sum(p["amount_money"]["amount"] for p in payments) == sum(t.amount_cents for x in visible for t in x.tenders)
        assert sum(p.get("tip_money", {}).get("amount", 0) for p in payments) == sum(x.tip_as_of(now) for x in visible)
        orders, _ = sq.paginate("/v2/orders/search", "orders", method="POST", body={"location_ids": [loc]})
        sale_orders = {o["id"]: o for o in orders if "returns" not in o}
        returns = [o for o in orders if "returns" in o]
        by_id = {x.id: x for x in visible}
        assert set(sale_orders) == set(by_id)
        for oid, order in sale_orders.items():
            sale = by_id[oid]
            assert order["total_money"]["amount"] == sale.total_as_of(now)
            assert order["total_tax_money"]["amount"] == sale.tax_cents
            assert order["total_discount_money"]["amount"] == sale.discount_cents
            assert order["total_service_charge_money"]["amount"] == sale.service_charge_cents
            assert sum(li["total_money"]["amount"] for li in order["line_items"]) == \
                sum(line.total_cents for line in sale.lines)
            assert sum(li["gross_sales_money"]["amount"] for li in order["line_items"]) == sale.gross_cents
            assert sum(t["amount_money"]["amount"] for t in order["tenders"]) == sale.total_as_of(now)
            assert sum(t["applied_money"]["amount"] for t in order["taxes"]) == sale.tax_cents
            assert sum(d["applied_money"]["amount"] for d in order.get("discounts", [])) == sale.discount_cents
            for li, line in zip(order["line_items"], sale.lines, strict=True):
                assert li["quantity"] == format(line.quantity, "f")
                assert sum(d["applied_money"]["amount"] for d in li.get("applied_discounts", [])) == line.discount_cents
        refunded = {x.refund.return_order_id: x.refund for x in sales(world, loc)
                    if x.refund is not None and x.refund.created_at <= now}
        assert {o["id"] for o in returns} == set(refunded)
        for order in returns:
            refund = refunded[order["id"]]
            ret = order["returns"][0]
            lines = sum(r["total_money"]["amount"] for r in ret["return_line_items"])
            extra = sum(r["total_money"]["amount"] for r in ret.get("return_service_charges", [])) + \
                sum(r["applied_money"]["amount"] for r in ret.get("return_tips", []))
            assert lines + extra == refund.amount_cents == order["return_amounts"]["total_money"]["amount"]
            assert order["return_amounts"]["tax_money"]["amount"] == refund.tax_cents
            assert order["total_money"]["amount"] == 0
        ref_list = sq.get("/v2/refunds", location_id=loc).json().get("refunds", [])
        assert sum(r["amount_money"]["amount"] for r in ref_list) == sum(r.amount_cents for r in refunded.values())


def test_clock_in_the_past_of_everything(sq: Served) -> None:
    world = sq.world
    before = world.now
    try:
        world.set_now(datetime(2020, 1, 1, tzinfo=UTC))
        assert sq.get("/v2/payments").json() == {}
        assert sq.get("/v2/refunds").json() == {}
        assert sq.post("/v2/orders/search", {"location_ids": list(world.accounts[0].location_ids)}).json() == {}
    finally:
        world.set_now(before)


# ---------------------------------------------------------------------- speed
def test_payment_pages_are_fast() -> None:
    """A page of 100 payments is rendered from prebuilt indexes (measured ~4 ms median even at
    ``chain`` scale over 90 days); the bound here is loose for slow CI machines."""
    with served(make_world(scale="small", days=3)) as s:
        s.emulator.warm()
        durations = []
        cursor = None
        for _ in range(15):
            t0 = time.perf_counter()
            resp = s.get("/v2/payments", limit=100, cursor=cursor)
            durations.append(time.perf_counter() - t0)
            cursor = resp.json().get("cursor")
            if cursor is None:
                break
        durations.sort()
        assert durations[len(durations) // 2] < 0.05


def test_full_world_with_every_provider() -> None:
    world = World(seed=3, start=make_world().start, days=2, scale="tiny")
    with served(world) as s:
        assert {loc["id"] for loc in s.get("/v2/locations").json()["locations"]} == \
            set(next(a for a in world.accounts if a.provider == "square").location_ids)
        assert s.get("/v2/payments").status_code == 200


def test_updated_at_follows_the_world_at_every_clock_position() -> None:
    world = make_world(days=4)
    interesting = [x for x in sales(world) if x.tip_edit is not None or x.refund is not None]
    instants = sorted({t for x in interesting for t in (
        [x.tip_edit.at] if x.tip_edit else []) + ([x.refund.created_at, x.refund.completed_at] if x.refund else [])})
    with served(world) as s:
        for now in instants[:: max(1, len(instants) // 6)] + [world.window_end_utc]:
            world.set_now(now)
            for loc in world.accounts[0].location_ids:
                by_id = {x.id: x for x in world.iter_sales(loc)}
                tenders = {t.id: (x, t) for x in by_id.values() for t in x.tenders}
                for p in s.paginate("/v2/payments", "payments", location_id=loc)[0]:
                    sale, tender = tenders[p["id"]]
                    assert parse(p["updated_at"]) == sale.payment_updated_at_as_of(tender, now)
                    assert parse(p["created_at"]) <= parse(p["updated_at"])
                    assert p["total_money"]["amount"] == tender.amount_cents + sale.tender_tip_as_of(tender, now)
                orders = s.paginate("/v2/orders/search", "orders", method="POST", body={"location_ids": [loc]})[0]
                for o in orders:
                    if o["id"] in by_id:
                        assert parse(o["updated_at"]) == by_id[o["id"]].updated_at_as_of(now)
