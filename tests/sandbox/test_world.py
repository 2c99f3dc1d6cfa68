"""The bakery world: determinism, shape, the virtual clock, DST, and the ledger's arithmetic."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from pos_sandbox.ledger import compute_truth
from pos_sandbox.world import World, half_up_div
from pos_sync.cli import main


def test_half_up_rounding() -> None:
    assert half_up_div(5, 10) == 1  # 0.5 -> 1
    assert half_up_div(14, 10) == 1
    assert half_up_div(15, 10) == 2
    assert half_up_div(-15, 10) == -2
    assert half_up_div(0, 7) == 0


def test_same_seed_same_world_different_seed_differs() -> None:
    a = compute_truth(World(seed=3, start=date(2026, 5, 4), days=3, scale="tiny"))
    b = compute_truth(World(seed=3, start=date(2026, 5, 4), days=3, scale="tiny"))
    c = compute_truth(World(seed=4, start=date(2026, 5, 4), days=3, scale="tiny"))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["daily"] != c["daily"]


def test_lazy_days_are_identical_in_any_order() -> None:
    w1 = World(seed=9, start=date(2026, 5, 4), days=4, scale="tiny")
    w2 = World(seed=9, start=date(2026, 5, 4), days=4, scale="tiny")
    loc = w1.locations[0].location_id
    forward = [s.id for d in w1.local_day_range() for s in w1.sales_for_day(loc, d)]
    backward = [s.id for d in reversed(w2.local_day_range()) for s in reversed(w2.sales_for_day(loc, d))]
    assert forward == list(reversed(backward))
    assert len(set(forward)) == len(forward)


def test_layout_time_zones_currencies_and_tax_modes() -> None:
    world = World(seed=1, start=date(2026, 5, 4), days=2, scale="small")
    by_provider = Counter(loc.provider for loc in world.locations)
    assert by_provider == {"square": 2, "toast": 1, "lightspeed": 1}
    zones = {loc.timezone for loc in world.locations}
    assert {"Europe/Madrid", "Atlantic/Canary", "America/New_York"} <= zones
    us = [loc for loc in world.locations if loc.country == "US"]
    assert us and all(loc.currency == "USD" and not loc.prices_include_tax for loc in us)
    assert all(loc.prices_include_tax for loc in world.locations if loc.country == "ES")
    chain = World(seed=1, start=date(2026, 5, 4), days=1, scale="chain")
    assert len(chain.locations) == 10 and {loc.provider for loc in chain.locations} == {"square", "toast", "lightspeed"}


def test_sale_arithmetic_is_consistent() -> None:
    world = World(seed=5, start=date(2026, 6, 1), days=3, scale="tiny")
    seen_weight = seen_modifier = seen_discount = False
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            counted = [line for line in sale.lines if not line.voided]  # Toast voided selections
            assert sale.gross_cents == sum(line.gross_cents for line in counted)
            assert sale.tax_cents == sum(line.tax_cents for line in counted)
            if sale.state != "deleted":  # a deleted (Toast) check was never paid
                assert sum(t.amount_cents for t in sale.tenders) == sale.net_before_tip_cents
            for line in sale.lines:
                expected_total = line.gross_cents - line.discount_cents + (0 if loc.prices_include_tax else line.tax_cents)
                assert line.total_cents == expected_total
                seen_weight |= line.unit == "kg" and line.quantity != line.quantity.to_integral_value()
                seen_modifier |= bool(line.modifiers)
                seen_discount |= line.discount_cents > 0
    assert seen_weight and seen_modifier and seen_discount


def test_refunds_voids_and_late_edits_exist_in_a_larger_world() -> None:
    world = World(seed=2, start=date(2026, 6, 1), days=7, scale="small", providers=["square"])
    sales = [s for loc in world.locations for s in world.iter_sales(loc.location_id)]
    refunds = [s.refund for s in sales if s.refund]
    assert any(r.full for r in refunds) and any(not r.full for r in refunds)
    assert any((r.created_at - s.closed_at) > timedelta(days=1) for s in sales if (r := s.refund))
    assert any(s.state == "voided" for s in sales)
    assert any(s.tip_edit for s in sales)
    assert any(len(s.tenders) > 1 for s in sales)
    assert any(s.customer_id for s in sales)
    assert any(s.service_charge_cents for s in sales)


def test_catalog_changes_during_window() -> None:
    world = World(seed=2, start=date(2026, 6, 1), days=10, scale="tiny", providers=["square"])
    items = world.items[world.accounts[0].account_id]
    assert any(len(it.history) > 1 and it.history[-1].deleted for it in items)
    assert any(len(it.history) > 1 and it.history[-1].name != it.history[0].name for it in items)
    assert any(len(it.history) > 1 and it.history[-1].price_cents != it.history[0].price_cents for it in items)
    assert any(it.created_at > world.window_start_utc for it in items)
    # a deleted item is never sold after its deletion
    deleted = {it.item_id: it.history[-1].at for it in items if it.history[-1].deleted}
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            for line in sale.lines:
                assert line.item_id not in deleted or sale.closed_at < deleted[line.item_id]


def test_clock_hides_the_future() -> None:
    world = World(seed=11, start=date(2026, 6, 1), days=4, scale="tiny", providers=["square"])
    full = compute_truth(world)
    mid = world.window_start_utc + timedelta(days=2)
    world.set_now(mid)
    partial = compute_truth(world)
    assert sum(r["sales_count"] for r in partial["daily"]) < sum(r["sales_count"] for r in full["daily"])
    assert max(r["business_date"] for r in partial["daily"]) <= mid.date().isoformat()
    assert compute_truth(world, as_of=world.window_end_utc)["daily"] == full["daily"]


def test_ledger_identities() -> None:
    truth = compute_truth(World(seed=8, start=date(2026, 6, 1), days=3, scale="tiny"))
    for row in truth["daily"]:
        gross, disc, svc, tax, tip = (Decimal(row[k]) for k in ("gross_sales", "discount_amount",
                                                                 "service_charge_amount", "tax_amount", "tip_amount"))
        added_tax = Decimal(0) if row["currency"] == "EUR" else tax
        assert Decimal(row["total_amount"]) == gross - disc + svc + added_tax + tip
        assert Decimal(row["net_amount"]) == Decimal(row["total_amount"]) - Decimal(row["refund_amount"])
        for key in ("gross_sales", "total_amount", "tax_amount"):
            assert Decimal(row[key]).as_tuple().exponent == -2


def test_dst_window_business_dates_are_local() -> None:
    # Europe switches to summer time on 2026-03-29; the US on 2026-03-08
    world = World(seed=4, start=date(2026, 3, 27), days=4, scale="tiny")
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            local = sale.closed_at.astimezone(world.zone(loc.timezone))
            assert loc.open_hour <= local.hour < loc.close_hour
            assert sale.local_date == local.date()
    dates = {r["business_date"] for r in compute_truth(world)["daily"]}
    assert {"2026-03-28", "2026-03-29", "2026-03-30"} <= dates


def test_truth_cli_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "truth", "--seed", "3", "--days", "2", "--start", "2026-05-04", "--scale", "tiny",
                 "--providers", "square", "--json"])
    assert code == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert set(doc) >= {"accounts", "daily", "objects", "mapping"}
    assert {a["provider"] for a in doc["accounts"]} == {"square"}
    assert all(m["product_id"] for m in doc["mapping"])


def test_truth_cli_rejects_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "truth", "--providers", "clover", "--json"]) == 1
    assert "unknown providers" in capsys.readouterr().err


def test_toast_deleted_checks_and_voided_selections() -> None:
    """Toast only: deleted (unpaid) checks and voided selections; Square sales never get them."""
    world = World(seed=3, start=date(2026, 6, 1), days=7, scale="small", providers=["square", "toast"])
    toast = next(loc for loc in world.locations if loc.provider == "toast")
    sales = list(world.iter_sales(toast.location_id))
    deleted = [s for s in sales if s.state == "deleted"]
    assert deleted and all(not s.tenders and s.deleted_at is not None and s.deleted_at > s.closed_at
                           and s.refund is None and s.tip_edit is None for s in deleted)
    with_voided = [s for s in sales if any(line.voided for line in s.lines)]
    assert with_voided and all(any(not line.voided for line in s.lines) for s in with_voided)
    for sale in with_voided:
        if sale.refund is not None:
            voided_uids = {line.uid for line in sale.lines if line.voided}
            assert not voided_uids & {r.line_uid for r in sale.refund.lines}
    for loc in world.locations:
        if loc.provider == "square":
            assert all(s.state != "deleted" and not any(line.voided for line in s.lines)
                       for s in world.iter_sales(loc.location_id))
    truth = compute_truth(world)
    row = next(r for r in truth["objects"] if r["location_id"] == toast.location_id)
    assert row["deleted_checks"] == len(deleted)
    assert row["voided_selections"] == sum(1 for s in sales for line in s.lines if line.voided)
    daily = [r for r in truth["daily"] if r["location_id"] == toast.location_id]
    completed = [s for s in sales if s.state == "completed"]
    assert sum(r["sales_count"] for r in daily) == len(completed)
    assert sum(r["void_count"] for r in daily) == sum(1 for s in sales if s.state == "voided")


@pytest.mark.parametrize(("providers", "scale"), [(("square", "toast"), "tiny"), (("square", "toast", "lightspeed"), "chain"),
                                                  (("square",), "small"), (("lightspeed", "lightspeed_r"), "tiny")])
def test_latest_start_gives_the_latest_window_that_has_ended(providers: tuple[str, ...], scale: str) -> None:
    from pos_sandbox.world import latest_start

    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # New York is still on Nov 30 (21:00), Madrid on Dec 1
    start = latest_start(3, scale=scale, providers=providers, ending_by=now)
    world = World(seed=7, start=start, days=3, scale=scale, providers=providers)
    assert world.now == world.window_end_utc <= now  # the clock is never ahead of the wall clock
    later = World(seed=7, start=start + timedelta(days=1), days=3, scale=scale, providers=providers)
    assert later.window_end_utc > now  # and no later window has ended yet
    expected = date(2026, 11, 27) if "toast" in providers else date(2026, 11, 28)
    assert start == expected


def test_today_minus_days_runs_ahead_of_the_wall_clock_at_two_utc_with_an_american_location() -> None:
    """What ``pos-sync dev``, the demo and the webhook bench did before ``latest_start``: at 02:00 UTC
    "today - days" makes the Toast (New York) world's clock 3 hours ahead of the wall clock."""
    from pos_sync.cli.dev import dev_start

    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    naive = World(seed=7, start=(now - timedelta(days=1)).date(), days=1, scale="tiny", providers=["square", "toast"])
    assert naive.now > now
    start = dev_start(1, "tiny", "square,toast", now=now)  # the live tests' stack
    assert World(seed=7, start=start, days=1, scale="tiny", providers=["square", "toast"]).now <= now
    assert start == date(2026, 11, 29)
    now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # past New York's midnight: today - days again
    assert dev_start(1, "tiny", "square,toast", now=now) == date(2026, 11, 30)


def test_the_default_start_is_the_latest_window_that_has_ended() -> None:
    from pos_sandbox.world import latest_start

    before = latest_start(2, scale="tiny", providers=["square", "toast"])
    world = World(seed=7, days=2, scale="tiny", providers=["square", "toast"])
    after = latest_start(2, scale="tiny", providers=["square", "toast"])
    assert world.now <= datetime.now(UTC)
    assert world.start in {before, after}  # (a midnight may pass in between)
