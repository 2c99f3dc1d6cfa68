"""Clock-independent indexes over one Square location's payments, refunds and orders.

Built lazily, once per location, from every sale of the window (whatever the sandbox clock says):
sorted arrays of ``(time, id)`` keys with a compact record per object. Visibility is decided at
query time against ``world.now``, so moving the clock costs nothing:

* created/closed keys: the object is visible when ``rec.visible_us <= now``;
* updated keys: one entry per *candidate* update instant of an object (close, tip edit, refund
  creation, refund completion), each with the next candidate instant; the entry is the object's
  current ``updated_at`` when ``time <= now < next``. Exactly one entry per visible object
  qualifies, so sorting and paging by updated_at needs no rebuild when the clock moves.

Records point back at the sale by ``(day, index)``; sales are re-read through the world's LRU
(``World.sales_for_day``), so memory stays proportional to the number of objects, not their size.
"""

from __future__ import annotations

import heapq
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from pos_sandbox.model import Sale
from pos_sandbox.square_http import to_us
from pos_sandbox.world import World

FAR_FUTURE = 2**62
MAX_ID = "\U0010ffff"
PAYMENT_CREATED_LEAD_SECONDS = 2  # a payment is created this many seconds (per later tender) before the close


def source_type_of(kind: str) -> str:
    return {"cash": "CASH", "card": "CARD", "contactless": "CARD", "mobile": "WALLET"}[kind]


@dataclass(slots=True)
class PaymentRec:
    id: str
    location_id: str
    day: date
    sale_idx: int
    tender_idx: int
    created_us: int
    visible_us: int  # sale.closed_at
    events: tuple[int, ...]  # candidate updated_at instants, ascending
    amount: int
    tip0: int
    tip_edit_us: int  # FAR_FUTURE when none
    tip1: int
    source_type: str
    card_brand: str | None
    last_4: str | None


@dataclass(slots=True)
class RefundRec:
    id: str
    location_id: str
    day: date
    sale_idx: int
    created_us: int
    completed_us: int
    visible_us: int
    events: tuple[int, ...]
    source_type: str


@dataclass(slots=True)
class OrderRec:
    id: str
    location_id: str
    day: date
    sale_idx: int
    is_return: bool
    created_us: int
    closed_us: int
    visible_us: int
    events: tuple[int, ...]
    state: str  # COMPLETED | CANCELED
    source_name: str
    customer_id: str | None


Rec = PaymentRec | RefundRec | OrderRec


def updated_us(rec: Rec, now_us: int) -> int:
    """The record's updated_at as of ``now`` (its latest candidate instant not after now)."""
    events = rec.events
    i = bisect_right(events, now_us)
    return events[i - 1] if i else events[0]


class SortedKeys:
    """``(time_us, id)`` keys, ascending, with a record and the next candidate instant each."""

    __slots__ = ("keys", "recs", "nexts")

    def __init__(self, entries: Iterable[tuple[int, str, int, Rec]]) -> None:
        rows = sorted(entries, key=lambda e: (e[0], e[1]))
        self.keys = [(t, i) for t, i, _, _ in rows]
        self.nexts = [n for _, _, n, _ in rows]
        self.recs = [r for _, _, _, r in rows]

    def scan(self, *, asc: bool, lo: int | None, hi: int | None, after: tuple[int, str] | None,
             now_us: int, updated: bool) -> Iterator[tuple[tuple[int, str], Rec]]:
        """Entries with ``lo <= time <= hi``, strictly after ``after`` in the scan direction, whose
        object is visible at ``now_us`` (for updated keys: whose instant is the current one)."""
        keys, recs, nexts = self.keys, self.recs, self.nexts
        if asc:
            start = bisect_left(keys, (lo, "")) if lo is not None else 0
            if after is not None:
                start = max(start, bisect_right(keys, after))
            stop = bisect_right(keys, (hi, MAX_ID)) if hi is not None else len(keys)
            positions: Iterable[int] = range(start, stop)
        else:
            start = bisect_right(keys, (hi, MAX_ID)) - 1 if hi is not None else len(keys) - 1
            if after is not None:
                start = min(start, bisect_left(keys, after) - 1)
            stop = bisect_left(keys, (lo, "")) - 1 if lo is not None else -1
            positions = range(start, stop, -1)
        for pos in positions:
            key = keys[pos]
            rec = recs[pos]
            if updated:
                if not (key[0] <= now_us < nexts[pos]):
                    continue
            elif rec.visible_us > now_us:
                continue
            yield key, rec


def merge_scans(scans: list[Iterator[tuple[tuple[int, str], Rec]]], asc: bool) -> Iterator[tuple[tuple[int, str], Rec]]:
    if len(scans) == 1:
        return scans[0]
    return heapq.merge(*scans, key=lambda e: e[0], reverse=not asc)


def _update_entries(rec: Rec) -> Iterator[tuple[int, str, int, Rec]]:
    events = rec.events
    for k, t in enumerate(events):
        yield t, rec.id, events[k + 1] if k + 1 < len(events) else FAR_FUTURE, rec


class LocationIndex:
    """Every payment, refund and order (sale and return) of one location, indexed by time."""

    def __init__(self, world: World, location_id: str) -> None:
        self.location_id = location_id
        payments: list[PaymentRec] = []
        refunds: list[RefundRec] = []
        orders: list[OrderRec] = []
        for day in world.local_day_range():
            for idx, sale in enumerate(world.sales_for_day(location_id, day)):
                self._add_sale(sale, day, idx, payments, refunds, orders)
        self.payments_by_id = {p.id: p for p in payments}
        self.refunds_by_id = {r.id: r for r in refunds}
        self.orders_by_id = {o.id: o for o in orders}
        self.payments_created = SortedKeys((p.created_us, p.id, FAR_FUTURE, p) for p in payments)
        self.payments_updated = SortedKeys(e for p in payments for e in _update_entries(p))
        self.refunds_created = SortedKeys((r.created_us, r.id, FAR_FUTURE, r) for r in refunds)
        self.refunds_updated = SortedKeys(e for r in refunds for e in _update_entries(r))
        self.orders_created = SortedKeys((o.created_us, o.id, FAR_FUTURE, o) for o in orders)
        self.orders_closed = SortedKeys((o.closed_us, o.id, FAR_FUTURE, o) for o in orders)
        self.orders_updated = SortedKeys(e for o in orders for e in _update_entries(o))

    @staticmethod
    def _add_sale(sale: Sale, day: date, idx: int, payments: list[PaymentRec], refunds: list[RefundRec],
                  orders: list[OrderRec]) -> None:
        closed = to_us(sale.closed_at)
        n = len(sale.tenders)
        refund = sale.refund
        edit = sale.tip_edit
        for k, tender in enumerate(sale.tenders):
            events = {closed}
            tip1 = tender.tip_cents
            edit_us = FAR_FUTURE
            if edit is not None and edit.tender_id == tender.id:
                edit_us = to_us(edit.at)
                tip1 = edit.new_tip_cents
                events.add(edit_us)
            if refund is not None and refund.tender_id == tender.id:
                events.add(to_us(refund.created_at))
                events.add(to_us(refund.completed_at))
            payments.append(PaymentRec(
                id=tender.id, location_id=sale.location_id, day=day, sale_idx=idx, tender_idx=k,
                created_us=closed - (n - k) * PAYMENT_CREATED_LEAD_SECONDS * 1_000_000,
                visible_us=closed, events=tuple(sorted(events)), amount=tender.amount_cents,
                tip0=tender.tip_cents, tip_edit_us=edit_us, tip1=tip1,
                source_type=source_type_of(tender.kind), card_brand=tender.card_brand, last_4=tender.last_4,
            ))
        order_events = {closed}
        if edit is not None:
            order_events.add(to_us(edit.at))
        orders.append(OrderRec(
            id=sale.id, location_id=sale.location_id, day=day, sale_idx=idx, is_return=False,
            created_us=to_us(sale.opened_at), closed_us=closed, visible_us=closed,
            events=tuple(sorted(order_events)), state="CANCELED" if sale.state == "voided" else "COMPLETED",
            source_name=sale.source, customer_id=sale.customer_id,
        ))
        if refund is not None:
            created, completed = to_us(refund.created_at), to_us(refund.completed_at)
            tender = next(t for t in sale.tenders if t.id == refund.tender_id)
            events_r = tuple(sorted({created, completed}))
            refunds.append(RefundRec(
                id=refund.id, location_id=sale.location_id, day=day, sale_idx=idx, created_us=created,
                completed_us=completed, visible_us=created, events=events_r,
                source_type=source_type_of(tender.kind),
            ))
            orders.append(OrderRec(
                id=refund.return_order_id, location_id=sale.location_id, day=day, sale_idx=idx, is_return=True,
                created_us=created, closed_us=created, visible_us=created, events=events_r, state="COMPLETED",
                source_name=sale.source, customer_id=sale.customer_id,
            ))


class SquareIndexes:
    """Lazily built :class:`LocationIndex` per location, plus id lookups across a merchant."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._by_location: dict[str, LocationIndex] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._revision = world.revision

    def location(self, location_id: str) -> LocationIndex:
        if self._revision != self.world.revision:  # a live sale was added: rebuild lazily
            with self._guard:
                self._revision = self.world.revision
                self._by_location = {}
        index = self._by_location.get(location_id)
        if index is not None:
            return index
        with self._guard:
            lock = self._locks.setdefault(location_id, threading.Lock())
        with lock:
            index = self._by_location.get(location_id)
            if index is None:
                index = self._by_location[location_id] = LocationIndex(self.world, location_id)
        return index

    def sale(self, rec: Rec) -> Sale:
        return self.world.sales_for_day(rec.location_id, rec.day)[rec.sale_idx]

    def find(self, location_ids: Iterable[str], getter: Callable[[LocationIndex], dict[str, Rec]],
             object_id: str) -> Rec | None:
        for location_id in location_ids:
            rec = getter(self.location(location_id)).get(object_id)
            if rec is not None:
                return rec
        return None
