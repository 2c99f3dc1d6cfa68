"""``sandbox serve --live``: the clock follows the wall clock and live sales keep happening, counted
by the ledger; a restarted live sandbox (same seed) never re-draws the previous run's sales."""

from __future__ import annotations

from datetime import timedelta

from webhook_support import tiny_world

from pos_sandbox.ledger import compute_truth
from pos_sandbox.live_clock import REFUND_EVERY, VOID_EVERY, LiveClock
from pos_sandbox.live_sales import LEAD_SECONDS


class Wall:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


def sales_count(world) -> tuple[int, int]:
    daily = compute_truth(world, world.now + timedelta(seconds=LEAD_SECONDS))["daily"]  # the last sale closed
    return sum(r["sales_count"] for r in daily), sum(r["void_count"] for r in daily)


def test_the_clock_follows_the_wall_and_sales_keep_happening() -> None:
    world = tiny_world(6, days=1)
    wall = Wall(world.window_end_utc + timedelta(hours=1))
    before_sales, before_voids = sales_count(world)
    clock = LiveClock(world, sale_every=10, wall=wall)
    clock.series = "t"
    clock.step()  # the clock moves to the wall, the first sale is made
    assert world.now == wall.now and clock.sales_made == 1
    wall.now += timedelta(seconds=65)
    clock.step()  # 6 more sales are due (t+10 … t+60)
    assert clock.sales_made == 7 and world.live_sales == 7
    wall.now += timedelta(seconds=10)
    clock.step()
    after_sales, after_voids = sales_count(world)
    made = clock.sales_made
    assert after_voids - before_voids == made // VOID_EVERY
    assert after_sales - before_sales == made - made // VOID_EVERY
    assert made >= REFUND_EVERY  # a refund was asked for; it is completed a minute (and some) later
    wall.now += timedelta(minutes=15)
    clock.step()
    assert sum(r["refund_count"] for r in compute_truth(world)["daily"] if r["business_date"] >= world.end.isoformat()) \
        == made // REFUND_EVERY
    wall.now -= timedelta(hours=1)  # the wall clock never moves the world back
    clock.step()
    assert world.now > wall.now


def test_a_restarted_live_sandbox_draws_new_sales() -> None:
    def ids(series: str) -> list[str]:
        world = tiny_world(6, days=1)
        wall = Wall(world.window_end_utc + timedelta(hours=1))
        clock = LiveClock(world, sale_every=10, wall=wall)
        clock.series = series
        clock.step()
        wall.now += timedelta(seconds=30)
        clock.step()
        return sorted(s.id for sales in world._live.values() for s in sales)

    first = ids("run-1")
    assert len(first) == 4 and first == ids("run-1")  # reproducible within a run's series
    assert not set(first) & set(ids("run-2"))  # a restart never re-draws them
