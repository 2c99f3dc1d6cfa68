"""The official Square Python SDK (squareup 46) against the emulator: every call parses, every
object validates as the SDK's pydantic model, and the SDK-parsed totals equal the world's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from square import Square  # squareup, a dev dependency: missing, this module fails (never skips)
from square.types.catalog_object import CatalogObject
from square.types.location import Location
from square.types.order import Order
from square.types.payment import Payment
from square.types.payment_refund import PaymentRefund
from square.types.team_member import TeamMember
from square_emulator_support import Served, make_world, served


@pytest.fixture(scope="module")
def sq() -> Iterator[Served]:
    with served(make_world(days=4)) as s:
        yield s


@pytest.fixture(scope="module")
def client(sq: Served) -> Square:
    return Square(token=sq.creds.access_token, base_url=sq.base_url)


def strict(type_: Any, obj: Any) -> None:
    """Validate the SDK-parsed object's JSON (by alias, as sent) strictly against the SDK model."""
    raw = obj.model_dump(mode="json", by_alias=True, exclude_unset=True)
    pydantic.TypeAdapter(type_).validate_python(raw)
    assert not getattr(obj, "__pydantic_extra__", None), f"fields unknown to the SDK: {obj.__pydantic_extra__}"


def test_sdk_lists_every_resource_and_totals_match_the_world(sq: Served, client: Square) -> None:
    world = sq.world
    now = world.now
    locations = client.locations.list().locations
    assert locations and {loc.id for loc in locations} == set(world.accounts[0].location_ids)
    for loc in locations:
        strict(Location, loc)

    for loc in locations:
        payments = list(client.payments.list(location_id=loc.id, limit=17, sort_order="ASC"))
        for p in payments:
            strict(Payment, p)
        visible = [s for s in world.iter_sales(loc.id) if s.visible(now)]
        assert len(payments) == sum(len(s.tenders) for s in visible)
        assert sum(p.amount_money.amount for p in payments) == sum(t.amount_cents for s in visible for t in s.tenders)
        assert sum(p.total_money.amount for p in payments) == sum(s.total_as_of(now) for s in visible)

        orders: list[Order] = []
        cursor = None
        while True:
            resp = client.orders.search(location_ids=[loc.id], limit=50, cursor=cursor,
                                        query={"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}})
            orders.extend(resp.orders or [])
            cursor = resp.cursor
            if not cursor:
                break
        for o in orders:
            strict(Order, o)
        sale_orders = [o for o in orders if not o.returns]
        assert len(sale_orders) == len(visible)
        assert sum(o.total_money.amount for o in sale_orders) == sum(s.total_as_of(now) for s in visible)
        assert sum(o.total_tax_money.amount for o in sale_orders) == sum(s.tax_cents for s in visible)
        batch = client.orders.batch_get(order_ids=[o.id for o in orders[:100]], location_id=loc.id).orders or []
        assert [o.id for o in batch] == [o.id for o in orders[:100]]

    refunds = list(client.refunds.list(limit=3))
    for r in refunds:
        strict(PaymentRefund, r)
    expected = [s.refund for loc in locations for s in world.iter_sales(loc.id)
                if s.refund is not None and s.refund.created_at <= now]
    assert refunds and sum(r.amount_money.amount for r in refunds) == sum(r.amount_cents for r in expected)
    return_orders = client.orders.batch_get(order_ids=[r.order_id for r in refunds]).orders or []
    assert {o.returns[0].source_order_id for o in return_orders} == {
        s.id for loc in locations for s in world.iter_sales(loc.id) if s.refund is not None and s.refund.created_at <= now}

    catalog = list(client.catalog.list(types="ITEM,CATEGORY,TAX,DISCOUNT,MODIFIER_LIST"))
    for obj in catalog:
        strict(CatalogObject, obj)
    items = [o for o in catalog if o.type == "ITEM"]
    assert len(items) == len(world.catalog_as_of(sq.creds.account_id, now))
    searched = client.catalog.search(object_types=["ITEM"], include_deleted_objects=True)
    assert searched.latest_time and any(o.is_deleted for o in searched.objects or [])
    for obj in searched.objects or []:
        strict(CatalogObject, obj)

    team = client.team_members.search(limit=200).team_members or []
    for member in team:
        strict(TeamMember, member)
    assert {m.id for m in team} == {m.id for m in world.team[sq.creds.account_id]}


def test_sdk_surfaces_square_errors(sq: Served) -> None:
    from square.core.api_error import ApiError

    bad = Square(token="EAAAlnope", base_url=sq.base_url)
    with pytest.raises(ApiError) as info:
        bad.locations.list()
    assert info.value.status_code == 401
    assert info.value.body["errors"][0]["code"] == "UNAUTHORIZED"
