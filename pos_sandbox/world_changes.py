"""The world's changes between two instants of the sandbox clock, whatever the provider.

A change is one instant at which an object's rendered form changes: a sale closes (voided sales
are voided at their close), its tip is edited, its refund is created or completed, a Toast check
is deleted, or POS catalog items are created, renamed, re-priced or deleted (catalog changes of
one account at one instant form one change). Each provider's webhook adapter maps changes to its
own events. ``changes(world, provider, start, end)`` returns those with ``start < at <= end``,
sorted by instant (then location, receipt number, kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pos_sandbox.model import Location, PosItem, Sale
from pos_sandbox.world import World

KIND_ORDER = {"closed": 0, "tip_edited": 1, "refund_created": 2, "refund_completed": 3, "deleted": 4, "catalog": 5}


@dataclass(frozen=True, slots=True)
class Change:
    at: datetime
    kind: str  # closed | tip_edited | refund_created | refund_completed | deleted | catalog
    account_id: str
    location: Location | None = None
    sale: Sale | None = None
    day: date | None = None  # the sale's key in World.sales_for_day
    items: tuple[PosItem, ...] = ()  # catalog: the items changed at that instant


def sale_changes(world: World, provider: str, start: datetime, end: datetime) -> list[Change]:
    out: list[Change] = []
    days = world.days_touching(start, end)
    for loc in world.locations:
        if loc.provider != provider:
            continue
        for day in days:
            for sale in world.sales_for_day(loc.location_id, day):
                instants: list[tuple[datetime, str]] = [(sale.closed_at, "closed")]
                if sale.tip_edit is not None:
                    instants.append((sale.tip_edit.at, "tip_edited"))
                if sale.refund is not None:
                    instants.append((sale.refund.created_at, "refund_created"))
                    instants.append((sale.refund.completed_at, "refund_completed"))
                if sale.deleted_at is not None:
                    instants.append((sale.deleted_at, "deleted"))
                for at, kind in instants:
                    if start < at <= end:
                        out.append(Change(at, kind, loc.account_id, loc, sale, day))
    return out


def catalog_changes(world: World, provider: str, start: datetime, end: datetime) -> list[Change]:
    out: list[Change] = []
    for account in world.accounts:
        if account.provider != provider:
            continue
        by_instant: dict[datetime, list[PosItem]] = {}
        for item in world.items[account.account_id]:
            for state in item.history:
                if start < state.at <= end:
                    by_instant.setdefault(state.at, []).append(item)
        for at, items in by_instant.items():
            out.append(Change(at, "catalog", account.account_id, items=tuple(items)))
    return out


def changes(world: World, provider: str, start: datetime, end: datetime) -> list[Change]:
    """Every change of ``provider``'s accounts with ``start < at <= end`` (module docstring)."""
    found = sale_changes(world, provider, start, end) + catalog_changes(world, provider, start, end)
    return sorted(found, key=lambda c: (c.at, c.location.location_id if c.location else "",
                                        c.sale.number if c.sale else 0, KIND_ORDER[c.kind]))
