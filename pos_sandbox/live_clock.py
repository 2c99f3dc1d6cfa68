"""A live sandbox: the virtual clock follows the wall clock and sales keep happening.

``pos-sync sandbox serve --live`` (and ``pos-sync dev``) run a :class:`LiveClock` beside the
server. Every ``tick`` seconds it sets the world's clock to the wall clock (never backwards), so
the generated sales of the window's last hours appear when their close passes, and every
``sale_every`` seconds it makes a live sale (:mod:`pos_sandbox.live_sales`) at the next location,
round robin over the world's locations, closing :data:`~pos_sandbox.live_sales.LEAD_SECONDS`
ahead of the clock — so a connector reading "what changed until now" finds it once its close has
passed, exactly as with a real till. Every fifth live sale is refunded a minute after its close,
every seventh is voided: refunds and voids keep arriving too.

Choices:

* the clock starts at the wall clock: nothing is visible before it happened. By default the
  world's window has ended by then (``pos_sandbox.world.latest_start``); with an explicit later
  ``--start`` its last day may still be in progress, and its future stays hidden;
* the live sales are drawn from their own series, named by the instant the clock started
  (``LiveSaleRequest.series``): a sandbox restarted with the same seed serves the same world and
  never re-draws the previous run's live sales (which a warehouse may already hold) under the same
  ids; within one run they are reproducible for a seed and a start;
* everything happens in one daemon thread; :meth:`LiveClock.stop` ends it within a tick.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pos_sandbox.live_sales import LEAD_SECONDS, LiveSaleRequest, make_live_sale
from pos_sandbox.world import World

REFUND_EVERY = 5  # every fifth live sale is refunded …
REFUND_AFTER_SECONDS = 60.0  # … a minute after its close
VOID_EVERY = 7  # every seventh is voided


class LiveClock:
    """Moves ``world``'s clock with the wall clock and makes a live sale every ``sale_every``
    seconds (``0``: none). ``wall`` is the wall clock (tests pass their own)."""

    def __init__(self, world: World, sale_every: float = 10.0, tick: float = 1.0,
                 wall: Callable[[], datetime] | None = None) -> None:
        if sale_every < 0 or tick <= 0:
            raise ValueError("sale_every must be >= 0 and tick > 0")
        self.world = world
        self.sale_every = sale_every
        self.tick = tick
        self.wall = wall or (lambda: datetime.now(UTC))
        self.sales_made = 0
        self.series = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sale: datetime | None = None

    def step(self) -> None:
        """One tick: the clock to the wall clock (never back), then a live sale if one is due."""
        now = self.wall()
        if now > self.world.now:
            self.world.set_now(now)
        if not self.sale_every:
            return
        if self._next_sale is None:
            self._next_sale = now
        while now >= self._next_sale:
            self._make_sale()
            self._next_sale += timedelta(seconds=self.sale_every)

    def _make_sale(self) -> None:
        n = self.sales_made + 1
        locations = self.world.locations
        location = locations[(n - 1) % len(locations)]
        state = "voided" if n % VOID_EVERY == 0 else "completed"
        refund = REFUND_AFTER_SECONDS if state == "completed" and n % REFUND_EVERY == 0 else None
        make_live_sale(self.world, LiveSaleRequest(
            location_id=location.location_id, at=self.world.now + timedelta(seconds=LEAD_SECONDS), state=state,
            refund_after_seconds=refund, series=self.series))
        self.sales_made = n

    def start(self) -> LiveClock:
        started = self.wall()
        self.series = started.strftime("%Y%m%dT%H%M%S.%fZ")
        if started < self.world.now:  # the window's last day is still in progress: its future stays hidden
            self.world.set_now(started)
        self.step()
        self._thread = threading.Thread(target=self._run, name="pos-sandbox-live-clock", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - a live sandbox keeps serving; say why once per tick
                sys.stderr.write(f"live clock: {type(exc).__name__}: {exc}\n")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
