"""Live sales: a new sale made "now" at one location, on demand (the ``POST /_sandbox/sales`` control).

The world's sales are generated lazily per (location, day) from a RNG seeded with (seed,
location, day), so a sale cannot be *inserted* into a generated day without changing every other
one. The least invasive way that keeps the ledger exact is to draw the new sale with the world's
own generator (``World._generate_day``) from a separate RNG stream (``live|<n>|<attempt>``, n =
the number of live sales so far + 1, so a fresh world replays the same live sales), for the
location's local day of the close — the till's arithmetic, that day's menu, taxes, tenders and
cashiers — then move it in time so that it closes at the requested instant, and hand it to
:meth:`World.add_live_sale`. The ledger, every emulator and the webhook engine then see it like
any other sale (they read sales through ``World.sales_for_day``).

Choices:

* the sale closes at ``at`` (default: the clock + :data:`LEAD_SECONDS`, so that its payments'
  ``created_at`` — up to 2 s per tender before the close on Square — are after the current
  instant); it is opened as long before the close as the drawn sale was;
* ``state``: ``completed`` (default) or ``voided``; a live sale is never a deleted Toast check;
* it has no refund and no tip edit unless asked: ``refund_after_seconds`` adds the generator's
  own refund (full or partial) created that long after the close (completed after the drawn
  refund's delay, 5 s to 10 min); ``tip_edit_after_seconds`` raises the tip of its card payment by
  ``tip_edit_cents`` that long after the close. Both need a single tender (and the tip edit a
  card one): the draw is repeated until one fits;
* receipt number: the next one of its day; business date: as the world computes it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from pos_sandbox.model import Refund, Sale, TipEdit
from pos_sandbox.world import IdMaker, World

LEAD_SECONDS = 5
DRAWS_PER_ATTEMPT = 40
MAX_ATTEMPTS = 60
STATES = ("completed", "voided")


@dataclass(frozen=True)
class LiveSaleRequest:
    location_id: str
    at: datetime | None = None
    state: str = "completed"
    refund_after_seconds: float | None = None
    tip_edit_after_seconds: float | None = None
    tip_edit_cents: int = 100
    series: str = ""  # names the RNG stream: a live clock's own series never re-draws another run's sales


def _fits(sale: Sale, req: LiveSaleRequest) -> bool:
    if sale.state != req.state:
        return False
    edited = req.refund_after_seconds is not None or req.tip_edit_after_seconds is not None
    if edited and (sale.state != "completed" or len(sale.tenders) != 1):
        return False
    return not (req.tip_edit_after_seconds is not None and sale.tenders[0].kind == "cash")


def _draw(world: World, req: LiveSaleRequest, closed_at: datetime, n: int) -> Sale:
    loc = world.location_by_id[req.location_id]
    day = closed_at.astimezone(world.zone(loc.timezone)).date()
    prefix = f"live|{req.series}|" if req.series else "live|"
    for attempt in range(MAX_ATTEMPTS):
        for sale in world._generate_day(loc, day, stream=f"{prefix}{n}|{attempt}", count=DRAWS_PER_ATTEMPT):
            if _fits(sale, req):
                return sale
    raise RuntimeError(f"no {req.state} sale fitting the request could be drawn for {req.location_id}")


def make_live_sale(world: World, req: LiveSaleRequest) -> Sale:
    """Draw, place and add a live sale; returns it (see the module docstring)."""
    loc = world.location_by_id.get(req.location_id)
    if loc is None:
        raise ValueError(f"unknown location {req.location_id!r}")
    if req.state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    for name in ("refund_after_seconds", "tip_edit_after_seconds"):
        value = getattr(req, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive")
    if req.at is not None and req.at.tzinfo is None:
        raise ValueError("at needs a time zone offset")
    closed_at = req.at or world.now + timedelta(seconds=LEAD_SECONDS)
    if closed_at <= world.now:
        raise ValueError("a live sale closes after the clock (at > now)")
    n = world.live_sales + 1
    sale = _draw(world, req, closed_at, n)
    shift = closed_at - sale.closed_at
    sale.opened_at += shift
    sale.closed_at = closed_at
    sale.void_at = closed_at if sale.state == "voided" else None
    sale.deleted_at = None
    sale.refund = None
    sale.tip_edit = None
    day = closed_at.astimezone(world.zone(loc.timezone)).date()
    sale.number = len(world.sales_for_day(loc.location_id, day)) + 1
    sale.receipt_number = sale.tenders[0].id[:4] if loc.provider == "square" \
        else f"{day.strftime('%y%m%d')}-{sale.number:04d}"
    sale.local_date = world.business_date(loc, sale.opened_at if loc.provider == "toast" else closed_at)
    if req.tip_edit_after_seconds is not None:
        tender = sale.tenders[0]
        sale.tip_edit = TipEdit(closed_at + timedelta(seconds=req.tip_edit_after_seconds), tender.id,
                                tender.tip_cents + req.tip_edit_cents)
    if req.refund_after_seconds is not None:
        sale.refund = _refund(world, sale, f"{req.series}|{n}" if req.series else str(n),
                              closed_at + timedelta(seconds=req.refund_after_seconds))
    world.add_live_sale(sale, day)
    return sale


def _refund(world: World, sale: Sale, n: str, created: datetime) -> Refund:
    loc = world.location_by_id[sale.location_id]
    rng = random.Random(f"{world.seed}|live-refund|{sale.location_id}|{n}")
    drawn = world._refund(sale, IdMaker(rng), rng, loc, loc.provider)
    drawn.completed_at = created + (drawn.completed_at - drawn.created_at)
    drawn.created_at = created
    return drawn


def describe_sale(sale: Sale) -> dict[str, object]:
    """What the control answers: the sale's ids as each provider shows them, and its instants."""
    out: dict[str, object] = {
        "provider": sale.provider,
        "location_id": sale.location_id,
        "sale_id": sale.id,
        "state": sale.state,
        "opened_at": _iso(sale.opened_at),
        "closed_at": _iso(sale.closed_at),
        "business_date": sale.local_date.isoformat(),
        "receipt_number": sale.receipt_number,
        "tender_ids": [t.id for t in sale.tenders],
        "total_cents": sale.total_as_of(sale.closed_at),
    }
    if sale.provider == "toast":
        out["check_id"] = sale.check_id
    if sale.tip_edit is not None:
        out["tip_edit_at"] = _iso(sale.tip_edit.at)
    if sale.refund is not None:
        out |= {"refund_id": sale.refund.id, "return_id": sale.refund.return_order_id,
                "refund_created_at": _iso(sale.refund.created_at),
                "refund_completed_at": _iso(sale.refund.completed_at)}
    return out


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
