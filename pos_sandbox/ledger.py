"""The ground-truth ledger of a bakery world, computed from the world's own integers.

Definitions (documented in ``docs/sandbox.md``; every connector and transform reconciles to them):

* rows are keyed by ``provider``, ``location_id`` (the provider's id) and ``business_date``: the
  provider's business date where it has one (Toast: the restaurant's business day, shifted by its
  closeout hour) else the local date of the sale's closing time in the location's zone;
* ``sales_count``: completed sales (Square: COMPLETED orders that are not return orders; Toast:
  paid checks neither voided nor deleted; Lightspeed: CLOSED sales without ``return_for``);
* ``void_count``: voided sales, on their own business date; they count nowhere else;
* ``refund_count`` / ``refund_amount``: completed refunds, on the refund's own business date;
  the amount is the money returned (refunded tax, service charge and tip included);
* amounts of completed sales: ``gross_sales`` (Σ quantity × unit price as the till shows it,
  modifiers included, before discounts; tax included where prices include tax),
  ``discount_amount``, ``service_charge_amount``, ``tax_amount`` (included or added), ``tip_amount``,
  ``total_amount`` = gross − discounts + service charges + added tax + tips, and
  ``net_amount`` = total − refunds;
* ``items_quantity``: Σ line quantities of completed sales (decimal string); voided lines (Toast
  selections voided before the close) are in no amount or quantity of their sale;
* deleted sales (Toast checks deleted before payment) count nowhere, not even as voids;
* amounts are decimal strings in major units of the location's currency;
* ``closures``: the window's days each location is closed (``pos_sandbox/closures.py``): no sale
  and no refund there, so no ``daily`` row — a closed day, not a day without demand.

Everything is evaluated **as of** the sandbox clock: sales closed after it, tip edits and refunds
made after it do not exist yet, and a refund counts once it is completed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pos_sandbox.world import World

MINOR_UNITS = {"EUR": 2, "USD": 2, "JPY": 0, "GBP": 2}


def money(cents: int, currency: str) -> str:
    """Minor units → major-unit decimal string (exact)."""
    exponent = MINOR_UNITS.get(currency, 2)
    return str(Decimal(cents).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


@dataclass
class DailyRow:
    provider: str
    location_id: str
    business_date: date
    currency: str
    sales_count: int = 0
    void_count: int = 0
    refund_count: int = 0
    items_quantity: Decimal = field(default_factory=Decimal)
    gross: int = 0
    discount: int = 0
    service_charge: int = 0
    tax: int = 0
    tip: int = 0
    total: int = 0
    refund: int = 0

    def as_json(self) -> dict[str, Any]:
        c = self.currency
        return {
            "provider": self.provider,
            "location_id": self.location_id,
            "business_date": self.business_date.isoformat(),
            "currency": c,
            "sales_count": self.sales_count,
            "void_count": self.void_count,
            "refund_count": self.refund_count,
            "items_quantity": str(self.items_quantity.normalize()) if self.items_quantity else "0",
            "gross_sales": money(self.gross, c),
            "discount_amount": money(self.discount, c),
            "service_charge_amount": money(self.service_charge, c),
            "tax_amount": money(self.tax, c),
            "tip_amount": money(self.tip, c),
            "total_amount": money(self.total, c),
            "refund_amount": money(self.refund, c),
            "net_amount": money(self.total - self.refund, c),
        }


def _location_objects(provider: str, counts: dict[str, int]) -> dict[str, int]:
    """Object counts as each provider's emulator serves them."""
    orders, returns, voided = counts["orders"], counts["refunds"], counts["voided"]
    payments, lines = counts["payments"], counts["lines"]
    if provider == "square":
        return {"payments": payments, "refunds": returns, "refunds_completed": counts["refunds_completed"],
                "orders": orders + returns, "sale_orders": orders, "return_orders": returns,
                "voided_orders": voided, "line_items": lines}
    if provider == "toast":
        # refunds show in place on the payment once completed; deleted checks stay in ordersBulk
        return {"orders": orders, "checks": orders, "deleted_checks": counts["deleted"], "payments": payments,
                "selections": lines, "voided_selections": counts["voided_lines"],
                "refunded_payments": counts["refunds_completed"], "voided_orders": voided}
    return {"sales": orders + returns, "return_sales": returns, "payments": payments + returns,
            "line_items": lines, "voided_sales": voided}


def _catalog_objects(world: World, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for account in world.accounts:
        items = [it for it in world.items[account.account_id] if it.created_at <= now]
        deleted = sum(1 for it in items if (s := it.state_at(now)) is not None and s.deleted)
        catalog = {
            "items": len(items) - deleted,
            "deleted_items": deleted,
            "categories": len(world.categories[account.account_id]),
            "taxes": len(world.taxes[account.account_id]),
            "discounts": len(world.discounts[account.account_id]),
            "modifiers": len(world.modifiers[account.account_id]),
        }
        rows.append({"provider": account.provider, "account_id": account.account_id, "location_id": None,
                     "catalog": catalog, "team_members": len(world.team[account.account_id])})
    return rows


def compute_truth(world: World, as_of: datetime | None = None) -> dict[str, Any]:
    """The ground truth as one JSON-able document: accounts, daily, objects, mapping, closures."""
    now = world.now if as_of is None else as_of
    daily: dict[tuple[str, str, date], DailyRow] = {}

    def row(loc_provider: str, loc_id: str, day: date, currency: str) -> DailyRow:
        key = (loc_provider, loc_id, day)
        found = daily.get(key)
        if found is None:
            found = daily[key] = DailyRow(loc_provider, loc_id, day, currency)
        return found

    objects: list[dict[str, Any]] = []
    for loc in world.locations:
        counts = dict.fromkeys(("orders", "refunds", "refunds_completed", "voided", "payments", "lines",
                                "voided_lines", "deleted"), 0)
        for day in world.local_day_range():
            for sale in world.sales_for_day(loc.location_id, day):
                if sale.closed_at > now:
                    continue
                counts["orders"] += 1
                counts["payments"] += len(sale.tenders)
                counts["lines"] += len(sale.lines)
                counts["voided_lines"] += sum(1 for line in sale.lines if line.voided)
                if sale.refund is not None and sale.refund.created_at <= now:
                    counts["refunds"] += 1
                    counts["refunds_completed"] += sale.refund.completed_at <= now
                if sale.state == "deleted":
                    counts["deleted"] += sale.deleted_at is not None and sale.deleted_at <= now
                    continue
                r = row(loc.provider, loc.location_id, sale.local_date, loc.currency)
                if sale.state == "voided":
                    counts["voided"] += 1
                    r.void_count += 1
                    continue
                r.sales_count += 1
                r.items_quantity += sum((line.quantity for line in sale.lines if not line.voided), Decimal(0))
                r.gross += sale.gross_cents
                r.discount += sale.discount_cents
                r.service_charge += sale.service_charge_cents
                r.tax += sale.tax_cents
                tip = sale.tip_as_of(now)
                r.tip += tip
                r.total += sale.net_before_tip_cents + tip
                refund = sale.refund
                if refund is not None and refund.completed_at <= now:
                    rr = row(loc.provider, loc.location_id, world.business_date(loc, refund.created_at), loc.currency)
                    rr.refund_count += 1
                    rr.refund += refund.amount_cents
        objects.append({"provider": loc.provider, "account_id": loc.account_id, "location_id": loc.location_id,
                        **_location_objects(loc.provider, counts)})

    accounts = [
        {
            "provider": loc.provider,
            "account_id": loc.account_id,
            "location_id": loc.location_id,
            "name": loc.name,
            "timezone": loc.timezone,
            "currency": loc.currency,
            "prices_include_tax": loc.prices_include_tax,
            "country": loc.country,
        }
        for loc in world.locations
    ]
    mapping = []
    for account in world.accounts:
        for item in world.items[account.account_id]:
            if item.created_at > now:
                continue
            state = item.state_at(now)
            assert state is not None
            product = world.product_by_id[item.product_id]
            mapping.append({
                "provider": account.provider,
                "account_id": account.account_id,
                "pos_item_id": item.item_id,
                "pos_variation_id": item.variation_id,
                "pos_name": state.name,
                "pos_sku": state.sku,
                "deleted": state.deleted,
                "product_id": product.id,
                "product_sku": product.sku,
                "product_name": product.name,
            })
    closed = [{"provider": loc.provider, "location_id": loc.location_id, "business_date": day.isoformat(),
               "reason": reason}
              for loc in world.locations for day in world.local_day_range()
              if world.start <= day < world.end and (reason := world.closure(loc, day)) is not None]
    return {
        "world": world.describe() | {"as_of": now.isoformat().replace("+00:00", "Z")},
        "accounts": accounts,
        "daily": [r.as_json() for _, r in sorted(daily.items(), key=lambda kv: kv[0])],
        "objects": objects + _catalog_objects(world, now),
        "mapping": mapping,
        "closures": closed,
    }
