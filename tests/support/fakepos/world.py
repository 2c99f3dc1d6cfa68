"""FakePOS's little world: two shops, a few days of sales with lines, tax and tips — and the
ground truth of it, computed here from the world itself (never from what was loaded)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

SHOPS = {"shop-madrid": "Europe/Madrid", "shop-tenerife": "Atlantic/Canary"}
MENU = [("SKU-BARRA", "Barra de pan", 120), ("SKU-CROI", "Croissant", 150), ("SKU-ENS", "Ensaimada", 225),
        ("SKU-CAFE", "Café con leche", 180)]


@dataclass(frozen=True)
class Line:
    sku: str
    name: str
    quantity: int
    unit_cents: int


@dataclass(frozen=True)
class Sale:
    id: str
    shop: str
    closed_at: datetime
    lines: tuple[Line, ...]
    tax_cents: int
    tip_cents: int

    @property
    def subtotal_cents(self) -> int:
        return sum(line.quantity * line.unit_cents for line in self.lines)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents + self.tip_cents

    def local_date(self) -> date:
        return self.closed_at.astimezone(ZoneInfo(SHOPS[self.shop])).date()


class FakeWorld:
    def __init__(self, seed: int = 4, start: date = date(2026, 3, 2), days: int = 3, per_day: int = 6) -> None:
        rng = random.Random(seed)
        self.sales: list[Sale] = []
        for day in range(days):
            for shop, zone in SHOPS.items():
                opening = datetime.combine(start + timedelta(days=day), datetime.min.time(), ZoneInfo(zone))
                for n in range(per_day):
                    closed = (opening + timedelta(hours=7, minutes=rng.randrange(0, 12 * 60))).astimezone(UTC)
                    lines = tuple(Line(sku, name, rng.randint(1, 3), cents)
                                  for sku, name, cents in rng.sample(MENU, rng.randint(1, 3)))
                    subtotal = sum(li.quantity * li.unit_cents for li in lines)
                    self.sales.append(Sale(f"{shop}-{day}-{n}", shop, closed, lines, subtotal * 10 // 100,
                                           rng.choice([0, 0, 50, 100])))
        self.now = max(s.closed_at for s in self.sales) + timedelta(minutes=1)

    def visible(self) -> list[Sale]:
        """What the API shows at the world's ``now``, oldest change first."""
        return sorted((s for s in self.sales if s.closed_at <= self.now), key=lambda s: (s.closed_at, s.id))

    def truth(self) -> list[dict[str, str | int]]:
        """Daily figures per shop in the sandbox ledger's shape (what canonical_daily returns)."""
        days: dict[tuple[str, date], list[Sale]] = {}
        for sale in self.visible():
            days.setdefault((sale.shop, sale.local_date()), []).append(sale)

        def euros(cents: int) -> str:
            return str((Decimal(cents) / 100).quantize(Decimal("0.01")))

        return [{
            "provider": "fakepos", "location_id": shop, "business_date": str(day), "currency": "EUR",
            "sales_count": len(sales), "void_count": 0, "refund_count": 0,
            "gross_sales": euros(sum(s.subtotal_cents for s in sales)), "discount_amount": "0.00",
            "service_charge_amount": "0.00", "tax_amount": euros(sum(s.tax_cents for s in sales)),
            "tip_amount": euros(sum(s.tip_cents for s in sales)), "total_amount": euros(sum(s.total_cents for s in sales)),
            "refund_amount": "0.00", "net_amount": euros(sum(s.total_cents for s in sales)),
        } for (shop, day), sales in sorted(days.items())]
