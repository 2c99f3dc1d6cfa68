"""The sale index of the Lightspeed R-Series emulator: every sale and return of an account with
each ``(timeStamp, saleID)`` it ever takes, sorted, so a ``sort=timeStamp`` page is a bisect and a
scan (the current stamp of a record is the last one at or before the sandbox clock), and the
owner of every sale line (``SaleLine.json?saleLineID=IN,[…]``)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from pos_sandbox.lightspeed_r_render import derived_id
from pos_sandbox.model import Refund, Sale
from pos_sandbox.world import World


def us(when: datetime) -> int:
    """An instant in microseconds since the epoch (the index's sort key)."""
    return int(when.timestamp() * 1_000_000)


@dataclass(slots=True)
class SaleRec:
    """A sale or a return as the API sees it: its id, shop and the instants its timeStamp takes."""

    sale_id: int
    shop: str
    sale: Sale
    refund: Refund | None  # set for a return
    stamps: tuple[datetime, ...]

    def current(self, now: datetime) -> int | None:
        k = None
        for i, at in enumerate(self.stamps):
            if at <= now:
                k = i
        return k


class SaleIndex:
    """Every sale and return of an account, with each (timeStamp, saleID) it ever takes, sorted."""

    def __init__(self, world: World, account_id: str) -> None:
        self.recs: dict[int, SaleRec] = {}
        self._owners: dict[str, int] | None = None
        events: list[tuple[int, int, int]] = []
        for loc in world.account_locations(account_id):
            for sale in world.iter_sales(loc.location_id):
                stamps = [sale.closed_at]
                if sale.tip_edit is not None and sale.state != "voided":
                    stamps.append(sale.tip_edit.at)
                self._add(SaleRec(int(sale.id), loc.location_id, sale, None, tuple(stamps)), events)
                if sale.refund is not None:
                    r = sale.refund
                    self._add(SaleRec(int(r.return_order_id), loc.location_id, sale, r,
                                      (r.created_at, r.completed_at)), events)
        events.sort()
        self.events = events
        self.keys = [(e[0], e[1]) for e in events]

    def line_owners(self) -> dict[str, int]:
        """saleLineID → saleID of every sale and return (built on first use)."""
        if self._owners is None:
            owners: dict[str, int] = {}
            for rec in self.recs.values():
                if rec.refund is None:
                    owners.update((line.uid, rec.sale_id) for line in rec.sale.lines)
                    owners[derived_id(rec.sale.id, "service-charge")] = rec.sale_id
                else:
                    owners.update((derived_id(rec.refund.return_order_id, "line", n), rec.sale_id)
                                  for n in range(len(rec.refund.lines)))
                    owners[derived_id(rec.refund.return_order_id, "fee")] = rec.sale_id
            self._owners = owners
        return self._owners

    def _add(self, rec: SaleRec, events: list[tuple[int, int, int]]) -> None:
        self.recs[rec.sale_id] = rec
        for k, at in enumerate(rec.stamps):
            events.append((us(at), rec.sale_id, k))

    def scan(self, after: tuple[int, int], now: datetime) -> Iterator[tuple[SaleRec, int]]:
        """Current (record, stamp index) pairs with (timeStamp, saleID) > ``after``, ascending."""
        now_us = us(now)
        for i in range(bisect_left(self.keys, (after[0], after[1] + 1)), len(self.events)):
            at, sale_id, k = self.events[i]
            if at > now_us:
                return
            rec = self.recs[sale_id]
            if rec.current(now) == k:
                yield rec, k


__all__ = ["SaleIndex", "SaleRec", "us"]
