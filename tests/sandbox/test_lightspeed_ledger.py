"""The ledger recomputed through the Lightspeed emulator's HTTP API, with arithmetic of its own,
equals ``compute_truth``'s daily rows for the Lightspeed outlets, at several clock positions.

Definitions (docs/sandbox.md): ``sales_count`` = CLOSED sales without ``return_for``; voided
sales count only in ``void_count``; refunds = CLOSED return sales, on their own business date;
business date = the outlet-local date (``/outlets`` ``time_zone``) of ``sale_date``. Amounts are
rebuilt from the tax-exclusive values: total = ``total_price + total_tax``; tax = Σ line
``total_tax``; a line's tax-inclusive discount = ``total_discount × (1 + rate)`` rounded half-up
to the cent (rate from ``/taxes``); gross = Σ line (``total_price + total_tax``) + discounts;
tips and service charges from the TIP / SURCHARGE adjustments.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lightspeed_emulator_support import Served, make_world, served

from pos_sandbox.ledger import compute_truth

CENT = Decimal("0.01")
FIELDS = ("gross_sales", "discount_amount", "service_charge_amount", "tax_amount", "tip_amount", "total_amount",
          "refund_amount")


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def ledger_via_api(ls: Served) -> list[dict[str, Any]]:
    outlets, _ = ls.feed("/api/2.0/outlets")
    zones = {o["id"]: ZoneInfo(o["time_zone"]) for o in outlets}
    currency = {o["id"]: o["currency"] for o in outlets}
    taxes, _ = ls.feed("/api/2.0/taxes")
    rate = {t["id"]: Decimal(str(t["rates"][0]["rate"])) for t in taxes}
    sales, _ = ls.feed("/api/2.0/sales", page_size=37)
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {
        "sales_count": 0, "void_count": 0, "refund_count": 0, "items_quantity": Decimal(0),
        **{f: Decimal(0) for f in FIELDS}})
    for sale in sales:
        day = _parse(sale["sale_date"]).astimezone(zones[sale["outlet_id"]]).date().isoformat()
        row = rows[(sale["outlet_id"], day)]
        collected = sale["total_price"] + sale["total_tax"]
        assert collected == sum((p["amount"] for p in sale["payments"]), Decimal(0))
        if sale.get("return_for"):
            if sale["status"] == "CLOSED":
                row["refund_count"] += 1
                row["refund_amount"] -= collected
            continue
        if sale["status"] == "VOIDED":
            row["void_count"] += 1
            continue
        assert sale["status"] == "CLOSED"
        row["sales_count"] += 1
        for line in sale["line_items"]:
            discount = _cents(line["total_discount"] * (1 + rate[line["tax_id"]]))
            row["items_quantity"] += line["quantity"]
            row["discount_amount"] += discount
            row["tax_amount"] += line["total_tax"]
            row["gross_sales"] += line["total_price"] + line["total_tax"] + discount
        for adj in sale["adjustments"]:
            if adj["type"] == "TIP":
                row["tip_amount"] += adj["value"]
            elif adj["type"] == "SURCHARGE":
                row["service_charge_amount"] += adj["value"]
        row["total_amount"] += collected
    out = []
    for (outlet, day), row in sorted(rows.items()):
        out.append({
            "provider": "lightspeed", "location_id": outlet, "business_date": day, "currency": currency[outlet],
            "sales_count": row["sales_count"], "void_count": row["void_count"], "refund_count": row["refund_count"],
            "items_quantity": str(row["items_quantity"].normalize()) if row["items_quantity"] else "0",
            **{f: str(_cents(row[f])) for f in FIELDS},
            "net_amount": str(_cents(row["total_amount"] - row["refund_amount"])),
        })
    return out


def truth_rows(ls: Served) -> list[dict[str, Any]]:
    return sorted((r for r in compute_truth(ls.world)["daily"] if r["provider"] == "lightspeed"),
                  key=lambda r: (r["location_id"], r["business_date"]))


@pytest.mark.parametrize("scale,days,offset_hours", [
    ("small", 4, None), ("small", 4, -40), ("small", 4, 24 * 7),
    ("chain", 1, None),  # three outlets (Barcelona, Valencia, Sevilla) in one store: one version counter
])
def test_ledger_through_the_api_equals_truth(scale: str, days: int, offset_hours: int | None) -> None:
    world = make_world(seed=5, days=days, scale=scale)
    if offset_hours is not None:
        world.set_now(world.window_end_utc + timedelta(hours=offset_hours))
    with served(world) as ls:
        got = ledger_via_api(ls)
        expected = truth_rows(ls)
        assert got == expected
        assert {r["location_id"] for r in got} == {loc.location_id for loc in world.locations}
        assert sum(r["refund_count"] for r in got) > 0 and sum(r["void_count"] for r in got) > 0
        assert any(r["tip_amount"] != "0.00" for r in got) and any(r["discount_amount"] != "0.00" for r in got)
