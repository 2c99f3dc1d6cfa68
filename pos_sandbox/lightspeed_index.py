"""Version feeds of the Lightspeed X-Series emulator: every object's change events and versions.

X-Series gives every object a ``version``: a global, monotonically increasing counter per entity
type, bumped on every visible change (creation, edit, soft delete), and its list endpoints are
change feeds sorted by version (``after`` = exclusive lower bound). The world has no such
counter, so it is derived here, deterministically and independent of the sandbox clock:

* each object has a list of **change events** (instants at which its rendered form changes):
  a sale closes, its tip is edited, a return is made against it; a return sale is created
  (SAVED) and completed (CLOSED); a product is created, renamed, re-priced, soft-deleted; every
  other object (outlets, registers, users, payment types, taxes) is created once, with the
  account;
* all events of one entity type of one account (domain prefix) are sorted by
  ``(instant, object id, event number)`` and numbered: ``version = max(instant in µs since the
  epoch, previous version + 1)``. Versions are unique, increase with time, and an event visible
  at ``now`` always has a smaller version than any event after ``now``, so a client that stores
  ``version.max`` never misses a later change;
* a feed entry is *current* at ``now`` when ``event instant <= now < next event instant`` of the
  same object: exactly one entry per visible object qualifies, so moving the clock needs no
  rebuild (the same trick as the Square index).

Sales are read back through the world's LRU by ``(location, day, index)``.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from pos_sandbox.lightspeed_http import to_us
from pos_sandbox.model import Sale
from pos_sandbox.world import World

FAR_FUTURE = 2**62


@dataclass(slots=True)
class FeedRec:
    """One object of a feed: its id, kind, change instants (µs, ascending) and their versions."""

    id: str
    kind: str  # sale | return | product | outlet | register | user | payment_type | tax | customer
    events: tuple[int, ...]
    versions: tuple[int, ...]
    ref: Any  # sales: (location_id, day, index); others: the world object

    def current(self, now_us: int) -> int | None:
        """Index of the event in force at ``now_us``; None before the object exists."""
        i = bisect_right(self.events, now_us)
        return i - 1 if i else None


class Feed:
    """Entries ``(version, instant, next instant, rec, event index)`` sorted by version."""

    __slots__ = ("versions", "times", "nexts", "recs", "ks", "by_id")

    def __init__(self, items: list[tuple[str, str, tuple[int, ...], Any]]) -> None:
        """``items``: (object id, kind, event instants, ref); versions are assigned here."""
        events: list[tuple[int, str, int, int]] = []  # (instant, id, event number, item index)
        cleaned: list[tuple[str, str, tuple[int, ...], Any]] = []
        for n, (obj_id, kind, instants, ref) in enumerate(items):
            unique = tuple(sorted(set(instants)))
            cleaned.append((obj_id, kind, unique, ref))
            events.extend((t, obj_id, k, n) for k, t in enumerate(unique))
        events.sort()
        versions_of: list[list[int]] = [[0] * len(c[2]) for c in cleaned]
        previous = 0
        for t, _, k, n in events:
            version = max(t, previous + 1)
            versions_of[n][k] = version
            previous = version
        recs = [FeedRec(obj_id, kind, instants, tuple(versions_of[n]), ref)
                for n, (obj_id, kind, instants, ref) in enumerate(cleaned)]
        self.by_id = {r.id: r for r in recs}
        rows = sorted(
            (rec.versions[k], rec.events[k], rec.events[k + 1] if k + 1 < len(rec.events) else FAR_FUTURE, rec, k)
            for rec in recs for k in range(len(rec.events))
        ) if recs else []
        self.versions = [r[0] for r in rows]
        self.times = [r[1] for r in rows]
        self.nexts = [r[2] for r in rows]
        self.recs = [r[3] for r in rows]
        self.ks = [r[4] for r in rows]

    def scan(self, after: int, before: int | None, now_us: int) -> Iterator[tuple[int, FeedRec, int]]:
        """Current entries with ``after < version`` (and ``version < before``), by version."""
        start = bisect_right(self.versions, after)
        versions, times, nexts, recs, ks = self.versions, self.times, self.nexts, self.recs, self.ks
        for i in range(start, len(versions)):
            version = versions[i]
            if before is not None and version >= before:
                return
            if times[i] <= now_us < nexts[i]:
                yield version, recs[i], ks[i]


class LightspeedIndex:
    """Lazily built feeds of one account (domain prefix), one per entity type."""

    KINDS = ("sales", "products", "outlets", "registers", "users", "payment_types", "taxes", "customers")

    def __init__(self, world: World, account_id: str, payment_types: Callable[[str], list[Any]]) -> None:
        self.world = world
        self.account_id = account_id
        self._payment_types = payment_types
        self._feeds: dict[str, Feed] = {}
        self._lock = threading.Lock()

    def feed(self, kind: str) -> Feed:
        found = self._feeds.get(kind)
        if found is not None:
            return found
        with self._lock:
            found = self._feeds.get(kind)
            if found is None:
                found = self._feeds[kind] = Feed(getattr(self, f"_build_{kind}")())
        return found

    def sale(self, rec: FeedRec) -> Sale:
        location_id, day, idx = rec.ref
        return self.world.sales_for_day(location_id, day)[idx]

    # ------------------------------------------------------------------ builders
    def _build_sales(self) -> list[tuple[str, str, tuple[int, ...], Any]]:
        items: list[tuple[str, str, tuple[int, ...], Any]] = []
        for loc in self.world.account_locations(self.account_id):
            for day in self.world.local_day_range():
                for idx, sale in enumerate(self.world.sales_for_day(loc.location_id, day)):
                    items.extend(sale_items(sale, loc.location_id, day, idx))
        return items

    def _build_products(self) -> list[tuple[str, str, tuple[int, ...], Any]]:
        return [(item.item_id, "product", tuple(to_us(s.at) for s in item.history), item)
                for item in self.world.items[self.account_id]]

    def _created(self, kind: str, objects: list[Any]) -> list[tuple[str, str, tuple[int, ...], Any]]:
        created = to_us(self.world.account_by_id[self.account_id].created_at)
        return [(obj_id, kind, (created,), obj) for obj_id, obj in objects]

    def _build_outlets(self) -> list[tuple[str, str, tuple[int, ...], Any]]:
        return self._created("outlet", [(loc.location_id, loc) for loc in self.world.account_locations(self.account_id)])

    def _build_registers(self) -> list[tuple[str, str, tuple[int, ...], Any]]:
        return self._created("register", [(reg, (loc, k)) for loc in self.world.account_locations(self.account_id)
                                          for k, reg in enumerate(loc.registers)])

    def _build_users(self) -> list[tuple[str, str, tuple[int, ...], Any]]:
        return self._created("user", [(m.id, m) for m in self.world.team[self.account_id]])

    def _build_payment_types(self) -> list[tuple[str, str, tuple[int, ...], Any]]:
        return self._created("payment_type", [(p.id, p) for p in self._payment_types(self.account_id)])

    def _build_taxes(self) -> list[tuple[str, str, tuple[int, ...], Any]]:
        return self._created("tax", [(t.id, t) for t in self.world.taxes[self.account_id]])

    def _build_customers(self) -> list[tuple[str, str, tuple[int, ...], Any]]:
        return self._created("customer", [(c.id, c) for c in self.world.customers[self.account_id]])


def sale_items(sale: Sale, location_id: str, day: date, idx: int) -> list[tuple[str, str, tuple[int, ...], Any]]:
    """The sale's feed items: the sale itself and, when it has one, its return sale."""
    ref = (location_id, day, idx)
    events = [to_us(sale.closed_at)]
    if sale.tip_edit is not None:
        events.append(to_us(sale.tip_edit.at))
    refund = sale.refund
    if refund is not None:
        events.append(to_us(refund.created_at))  # a return marks the original sale as changed
    out: list[tuple[str, str, tuple[int, ...], Any]] = [(sale.id, "sale", tuple(events), ref)]
    if refund is not None:
        out.append((refund.return_order_id, "return", (to_us(refund.created_at), to_us(refund.completed_at)), ref))
    return out
