"""The deterministic bakery world.

``World(seed, start, days, scale, providers)`` describes a bakery chain: its internal product
catalog, its POS accounts and locations (Square, Toast, Lightspeed), each account's own POS
catalog (names that differ the way real tills do, with additions, renames, re-pricing and
deletions during the window) and every sale, refund, void and late edit.

Sales are generated lazily and deterministically per (location, day) from a RNG seeded with
``(seed, location, day)``, so memory stays flat whatever the window, and the same seed gives the
same world byte for byte. A bounded LRU keeps recently used days.

The world also holds the sandbox clock: ``now`` (default: the end of the window). Objects later
than ``now`` are invisible to the emulators and to the ledger's ``as_of`` view. Clock listeners
(:meth:`World.add_clock_listener`) hear every move (the webhook engine does).

**Live sales** (:meth:`World.add_live_sale`, built by :mod:`pos_sandbox.live_sales`) are sales made
on demand by the sandbox's ``/_sandbox/sales`` control: they are kept apart from the generated
days, appended to ``sales_for_day`` of their local day (after the generated ones, so the
``(day, index)`` of every other sale never changes), and counted by the ledger like any other
sale. ``revision`` counts them: the emulators rebuild their clock-independent indexes when it
moves.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import unicodedata
import uuid
from bisect import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pos_sandbox import catalog_data as data
from pos_sandbox import closures
from pos_sandbox.model import (
    DEFAULT_PROVIDERS,
    PROVIDERS,
    Account,
    AppliedModifier,
    Category,
    Customer,
    Discount,
    ItemState,
    Line,
    Location,
    Modifier,
    PosItem,
    Product,
    Refund,
    RefundLine,
    Sale,
    Tax,
    TeamMember,
    Tender,
    TipEdit,
)
from transforms.times import zone as zone_of  # the product's zone rules: the tzdata package's, not the host's

SCALES: dict[str, int] = {"tiny": 20, "small": 300, "chain": 800}
EPOCH_BEFORE_WINDOW = timedelta(days=400)  # catalog objects created long before the window
MAX_LATE_DAYS = 6  # refunds / tip edits arrive at most this many days after the sale
TOAST_VOIDED_LINE_RATE = 0.08  # Toast sales with 2+ lines: one selection voided before the close
TOAST_DELETED_RATE = 0.03  # Toast sales whose (unpaid) check is deleted, e.g. merged into another order
DAY_CACHE_SIZE = 160  # (location, day) entries kept in memory

# provider -> list of (place key, is main) per scale family
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "default": {
        "square": ("madrid-centro", "las-palmas"),
        "toast": ("new-york",),
        "lightspeed": ("barcelona",),
        "lightspeed_r": ("zaragoza",),
    },
    "chain": {
        "square": ("madrid-centro", "madrid-chamberi", "madrid-retiro", "las-palmas", "santa-cruz"),
        "toast": ("new-york", "brooklyn"),
        "lightspeed": ("barcelona", "valencia", "sevilla"),
        "lightspeed_r": ("zaragoza", "bilbao"),
    },
}

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def half_up_div(numerator: int, denominator: int) -> int:
    """Integer division rounding half away from zero (the till's rounding)."""
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((2 * -numerator + denominator) // (2 * denominator))


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=24).digest()


def square_id(length: int, *parts: object) -> str:
    """Square-looking opaque ids (base62, e.g. payments are 29 chars, orders 27)."""
    raw = base64.b64encode(_digest(*parts)).decode()
    return raw.replace("+", "a").replace("/", "Z")[:length]


def upper_id(length: int, *parts: object) -> str:
    """Upper-case ids like Square merchant / location ids (``L88917AVBK2S5``)."""
    digest = _digest(*parts)
    return "".join(UPPER[b % len(UPPER)] for b in digest[:length])


def numeric_id(*parts: object) -> str:
    """Lightspeed R-Series style ids: positive integers as strings (``"48213"``)."""
    return str(int.from_bytes(_digest(*parts)[:5], "big") % 999_999_937 + 1)


def guid(*parts: object) -> str:
    """Toast / Lightspeed style UUIDs."""
    return str(uuid.UUID(bytes=_digest(*parts)[:16], version=4))


_B64_FIX = str.maketrans("+/", "aZ")
HEX = "0123456789abcdef"


class IdMaker:
    """Fast ids drawn from a seeded RNG (deterministic per location-day stream)."""

    __slots__ = ("_bits",)

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits

    def square(self, length: int) -> str:
        return base64.b64encode(self._bits(192).to_bytes(24, "big")).decode().translate(_B64_FIX)[:length]

    def guid(self) -> str:
        h = f"{self._bits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{HEX[8 + (int(h[16], 16) & 3)]}{h[17:20]}-{h[20:]}"

    def for_provider(self, provider: str, length: int) -> str:
        if provider == "lightspeed_r":  # R-Series ids are integers (rendered as strings)
            return str(self._bits(40) + 1)
        return self.square(length) if provider == "square" else self.guid()


def _cum(weights: tuple[int, ...]) -> list[int]:
    out, total = [], 0
    for w in weights:
        total += w
        out.append(total)
    return out


LINES_CHOICES, LINES_CUM = (1, 2, 3, 4, 5), _cum((38, 32, 17, 9, 4))
UNITS_CHOICES, UNITS_CUM = (1, 2, 3, 4, 6), _cum((70, 18, 6, 4, 2))
LINES_TOTAL, UNITS_TOTAL = float(LINES_CUM[-1]), float(UNITS_CUM[-1])
KINDS = ("cash", "card", "contactless", "mobile")
KINDS_CUM_US, KINDS_CUM_ES = _cum((15, 55, 22, 8)), _cum((38, 25, 30, 7))


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def pos_name_variant(name: str, rng: random.Random, provider: str) -> str:
    """How a till shows a product: abbreviations, upper case, missing accents, sizes, typos."""
    style = rng.random()
    words = name.split()
    if style < 0.25:
        out = _strip_accents(name).upper()
    elif style < 0.45:
        out = " ".join(w for w in (data.ABBREVIATIONS.get(w.lower(), w) for w in words) if w)
    elif style < 0.6:
        out = _strip_accents(name)
    elif style < 0.7 and len(name) > 6:
        i = rng.randrange(1, len(name) - 2)
        out = name[:i] + name[i + 1] + name[i] + name[i + 2 :]  # transposition typo
    elif style < 0.8:
        out = name + rng.choice((" 250g", " grande", " unidad", " (ud)", " 1u"))
    else:
        out = name
    if provider == "lightspeed" and rng.random() < 0.3:
        out = out.title()
    return out.strip()


def known_providers(providers: Iterable[str]) -> tuple[str, ...]:
    """``providers`` in the registry's order; ValueError naming any unknown one."""
    wanted = set(providers)
    if unknown := wanted - set(PROVIDERS):
        raise ValueError(f"unknown providers: {', '.join(sorted(unknown))}")
    return tuple(p for p in PROVIDERS if p in wanted)


def layout_zones(scale: str, providers: Iterable[str]) -> set[str]:
    """The IANA zones of the locations a world of ``scale`` and ``providers`` has (seed-independent)."""
    layout = LAYOUTS["chain" if scale == "chain" else "default"]
    return {data.PLACES[key][1] for provider in known_providers(providers) for key in layout[provider]}


def latest_start(days: int, *, scale: str = "small", providers: Iterable[str] = DEFAULT_PROVIDERS,
                 ending_by: datetime | None = None) -> date:
    """The latest first day of a ``days``-day window that has ended by ``ending_by`` (default: now).

    A window ends at its end day's latest local midnight over the world's locations
    (``World.window_end_utc``, the world's clock): with an American location that is early the next
    morning UTC, so "today minus ``days``" builds, between 00:00 and about 05:00 UTC, a world whose
    clock is ahead of the wall clock (its last day still in progress; a sale made "now" on it is in
    the future for a sync reading until the wall clock). Only the zones matter (not the seed, not the
    sales): cheap, no world is built."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    when = (ending_by or datetime.now(UTC)).astimezone(UTC)
    zones = [zone_of(tz) for tz in sorted(layout_zones(scale, providers))]
    if not zones:
        raise ValueError("a world needs at least one provider")
    end = when.date() + timedelta(days=2)  # no zone's midnight of that day has passed yet (UTC+14 at most)
    while max(datetime.combine(end, time(0), zone) for zone in zones) > when:
        end -= timedelta(days=1)
    return end - timedelta(days=days)


class World:
    """A deterministic bakery world over a window of ``days`` local days from ``start``."""

    def __init__(
        self,
        seed: int = 42,
        start: date | None = None,
        days: int = 14,
        scale: str = "small",
        providers: Iterable[str] = DEFAULT_PROVIDERS,
    ) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        if days < 1:
            raise ValueError("days must be at least 1")
        self.seed = int(seed)
        self.days = int(days)
        self.scale = scale
        self.providers = known_providers(providers)
        self.start = start or latest_start(self.days, scale=scale, providers=self.providers)
        self.mean_daily_sales = SCALES[scale]
        self.end = self.start + timedelta(days=self.days)  # first local day after the window
        self.tenant_id = guid(self.seed, "tenant")
        self._lock = threading.RLock()
        self._day_cache: OrderedDict[tuple[str, date], list[Sale]] = OrderedDict()
        self._live: dict[tuple[str, date], list[Sale]] = {}  # (location, local day) -> live sales
        self._clock_listeners: list[Callable[[datetime], None]] = []
        self.revision = 0  # bumped by every live sale: emulators rebuild their indexes

        self.products: list[Product] = [
            Product(
                id=guid(self.seed, "product", sku),
                sku=sku,
                name=name,
                category=category,
                vat_rate=vat,
                price_cents=price,
                by_weight=by_weight,
            )
            for sku, name, category, vat, price, by_weight, _ in data.PRODUCTS
        ]
        self._popularity = {sku: weight for sku, *_, weight in data.PRODUCTS}
        self.product_by_id = {p.id: p for p in self.products}

        self.accounts: list[Account] = []
        self.locations: list[Location] = []
        self._build_accounts()
        self.closure_policy = closures.policies(self.locations)  # pos_sandbox/closures.py
        self.location_by_id = {loc.location_id: loc for loc in self.locations}
        self.account_by_id = {acc.account_id: acc for acc in self.accounts}

        self.window_start_utc = min(self.local_midnight(loc, self.start) for loc in self.locations)
        self.window_end_utc = max(self.local_midnight(loc, self.end) for loc in self.locations)
        self.now: datetime = self.window_end_utc

        self.items: dict[str, list[PosItem]] = {}
        self.categories: dict[str, list[Category]] = {}
        self.modifiers: dict[str, list[Modifier]] = {}
        self.taxes: dict[str, list[Tax]] = {}
        self.discounts: dict[str, list[Discount]] = {}
        self.team: dict[str, list[TeamMember]] = {}
        self.customers: dict[str, list[Customer]] = {}
        self._tax_for_item: dict[tuple[str, str], Tax] = {}
        for account in self.accounts:
            self._build_catalog(account)
            self._build_people(account)

    # ------------------------------------------------------------------ clock
    def set_now(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("the sandbox clock needs an aware datetime")
        with self._lock:
            self.now = when.astimezone(UTC)
            now = self.now
        self._notify(now)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self.now = self.now + delta
            now = self.now
        self._notify(now)
        return now

    def add_clock_listener(self, listener: Callable[[datetime], None]) -> None:
        """Call ``listener(now)`` after every move of the clock (in the mover's thread)."""
        with self._lock:
            self._clock_listeners.append(listener)

    def remove_clock_listener(self, listener: Callable[[datetime], None]) -> None:
        with self._lock:
            if listener in self._clock_listeners:
                self._clock_listeners.remove(listener)

    def _notify(self, now: datetime) -> None:
        with self._lock:
            listeners = list(self._clock_listeners)
        for listener in listeners:
            listener(now)

    # ------------------------------------------------------------------ layout
    def zone(self, tz: str) -> ZoneInfo:
        return zone_of(tz)  # read once per process (transforms.times.zone is cached)

    def local_midnight(self, loc: Location, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone(loc.timezone)).astimezone(UTC)

    def local_day_range(self) -> list[date]:
        """The window's local days, then any later or earlier day holding a live sale."""
        days = [self.start + timedelta(days=i) for i in range(self.days)]
        if self._live:
            extra = sorted({day for _, day in self._live if not self.start <= day < self.end})
            days = sorted(days + extra)
        return days

    def closure(self, loc: Location, day: date) -> str | None:
        """Why ``loc`` is closed on its local ``day`` (None: it trades; :mod:`pos_sandbox.closures`)."""
        return closures.closure_reason(self.closure_policy[loc.location_id], loc.country, day)

    def business_date(self, loc: Location, when: datetime) -> date:
        """The business date of an instant at a location (Toast: shifted by the closeout hour)."""
        local = when.astimezone(self.zone(loc.timezone))
        if loc.provider == "toast":
            local = local - timedelta(hours=loc.closeout_hour)
        return local.date()

    def _build_accounts(self) -> None:
        layout = LAYOUTS["chain" if self.scale == "chain" else "default"]
        for provider in self.providers:
            if provider == "square":
                account_id = upper_id(13, self.seed, "square-merchant")
                name = "Horno San Bartolo"
            elif provider == "toast":
                account_id = guid(self.seed, "toast-client")
                name = "San Bartolo Bakery NYC"
            elif provider == "lightspeed":
                account_id = "sanbartolo" + upper_id(4, self.seed, "ls-prefix").lower()
                name = "Forn San Bartolo"
            else:  # Lightspeed R-Series: a numeric accountID
                account_id = str(100_000 + int.from_bytes(_digest(self.seed, "lsr-account")[:3], "big") % 900_000)
                name = "Obrador San Bartolo"
            location_ids = []
            for i, key in enumerate(layout[provider]):
                city, tz, country, currency, incl, sales_tax, postal, street = data.PLACES[key]
                if provider == "square":
                    location_id = "L" + upper_id(12, self.seed, provider, key)
                elif provider == "lightspeed_r":  # shopIDs count from 1 within the account
                    location_id = str(i + 1)
                else:
                    location_id = guid(self.seed, provider, key)
                if provider == "lightspeed_r":
                    registers = tuple(str(2 * i + r + 1) for r in range(2))
                else:
                    registers = tuple(guid(self.seed, "register", location_id, r) for r in range(2))
                self.locations.append(
                    Location(
                        provider=provider,
                        account_id=account_id,
                        location_id=location_id,
                        name=f"{name} - {city.split(' de ')[0]}" + (f" {i + 1}" if key.startswith("madrid") else ""),
                        timezone=tz,
                        currency=currency,
                        country=country,
                        prices_include_tax=incl,
                        sales_tax_rate=Decimal(sales_tax),
                        address=street,
                        city=city,
                        postal_code=postal,
                        open_hour=7,
                        close_hour=21 if country == "ES" else 19,
                        closeout_hour=4,
                        mean_daily_sales=self.mean_daily_sales,
                        registers=registers,
                        register_names=("Caja 1", "Caja 2") if country == "ES" else ("Register 1", "Register 2"),
                        is_main=(i == 0),
                    )
                )
                location_ids.append(location_id)
            first = self.locations[-len(location_ids)]
            self.accounts.append(
                Account(
                    provider=provider,
                    account_id=account_id,
                    name=name,
                    location_ids=tuple(location_ids),
                    currency=first.currency,
                    created_at=self.local_midnight(first, self.start) - EPOCH_BEFORE_WINDOW,
                )
            )

    def account_locations(self, account_id: str) -> list[Location]:
        return [loc for loc in self.locations if loc.account_id == account_id]

    # ------------------------------------------------------------------ catalog
    def _catalog_time(self, account: Account, day_index: int) -> datetime:
        """Catalog edits happen at 05:00 local, before opening, so a day's menu is fixed."""
        loc = self.account_locations(account.account_id)[0]
        day = self.start + timedelta(days=day_index)
        return self.local_midnight(loc, day) + timedelta(hours=5)

    def _build_catalog(self, account: Account) -> None:
        rng = random.Random(f"{self.seed}|catalog|{account.account_id}")
        provider = account.provider
        loc = self.account_locations(account.account_id)[0]
        us = loc.country == "US"
        created = account.created_at
        version0 = int(created.timestamp() * 1000)
        def mk(*parts: object) -> str:
            if provider == "lightspeed_r":
                return numeric_id(*parts)
            return upper_id(24, *parts) if provider == "square" else guid(*parts)

        categories: dict[str, Category] = {}
        for name in sorted({p.category for p in self.products}):
            shown = name if not us else {"Panadería": "Bread", "Bollería": "Pastries", "Pastelería": "Cakes",
                                         "Cafetería": "Coffee", "Bebidas": "Drinks"}[name]
            categories[name] = Category(account.account_id, mk(self.seed, "cat", account.account_id, name),
                                        shown, created, version0)
        self.categories[account.account_id] = list(categories.values())

        if us:
            taxes = {0: Tax(account.account_id, mk(self.seed, "tax", account.account_id, "us"), "NY Sales Tax",
                            loc.sales_tax_rate, False, created, version0)}
        else:
            taxes = {
                rate: Tax(account.account_id, mk(self.seed, "tax", account.account_id, rate), f"IVA {rate}%",
                          Decimal(rate), True, created, version0)
                for rate in (4, 10, 21)
            }
        self.taxes[account.account_id] = list(taxes.values())
        self.discounts[account.account_id] = [
            Discount(account.account_id, mk(self.seed, "disc", account.account_id, "promo"),
                     "Promo 10%" if not us else "Happy hour 10%", Decimal(10), "LINE_ITEM", created, version0),
            Discount(account.account_id, mk(self.seed, "disc", account.account_id, "staff"),
                     "Descuento empleado 20%" if not us else "Staff 20%", Decimal(20), "ORDER", created, version0),
        ]
        list_id = mk(self.seed, "modlist", account.account_id)
        self.modifiers[account.account_id] = [
            Modifier(account.account_id, mk(self.seed, "mod", account.account_id, name), list_id,
                     "Opciones café" if not us else "Coffee options", name, price, created, version0)
            for name, price in data.COFFEE_MODIFIERS
        ]

        items: list[PosItem] = []
        window_days = self.days
        for product in self.products:
            late = product.sku in data.LATE_ADDITIONS
            if late and window_days < 3:
                continue
            name = pos_name_variant(product.name, rng, provider)
            price = product.price_cents if not us else max(100, round(product.price_cents * 1.1 / 5) * 5)
            sku = (product.sku if rng.random() < 0.7 else f"{rng.randrange(10**7, 10**8)}") if rng.random() < 0.55 else None
            start_at = created if not late else self._catalog_time(account, rng.randrange(1, max(2, window_days)))
            item_id = mk(self.seed, "item", account.account_id, product.sku)
            variation_id = mk(self.seed, "var", account.account_id, product.sku) if provider == "square" else item_id
            variation = "kg" if product.by_weight else ("Regular" if provider == "square" else "")
            history = [ItemState(start_at, int(start_at.timestamp() * 1000), name, variation, price, sku)]
            items.append(PosItem(account.account_id, item_id, variation_id, product.id,
                                 categories[product.category].id, categories[product.category].name,
                                 product.vat_rate if not us else 0, product.by_weight, history))

        # edits during the window: renames, re-pricing, one deletion
        if window_days >= 2:
            editable = [it for it in items if it.history[0].at == created]
            rng.shuffle(editable)
            for kind, item in zip(("rename", "rename", "price", "price", "price", "delete"), editable, strict=False):
                at = self._catalog_time(account, rng.randrange(1, window_days))
                last = item.history[-1]
                if kind == "rename":
                    new = ItemState(at, int(at.timestamp() * 1000), pos_name_variant(
                        self.product_by_id[item.product_id].name, rng, provider) + " NUEVO"[: rng.choice((0, 6))],
                        last.variation_name, last.price_cents, last.sku)
                    if new.name == last.name:
                        new = ItemState(new.at, new.version, last.name + " *", new.variation_name, new.price_cents, new.sku)
                elif kind == "price":
                    new = ItemState(at, int(at.timestamp() * 1000), last.name, last.variation_name,
                                    last.price_cents + rng.choice((5, 10, 15, 20)), last.sku)
                else:
                    new = ItemState(at, int(at.timestamp() * 1000), last.name, last.variation_name,
                                    last.price_cents, last.sku, deleted=True)
                item.history.append(new)
        self.items[account.account_id] = items
        for item in items:
            self._tax_for_item[(account.account_id, item.item_id)] = taxes[item.vat_rate if not us else 0]

    def _build_people(self, account: Account) -> None:
        rng = random.Random(f"{self.seed}|people|{account.account_id}")
        locs = self.account_locations(account.account_id)
        members = []
        for loc in locs:
            for k in range(3):
                given, family = rng.choice(data.GIVEN_NAMES), rng.choice(data.FAMILY_NAMES)
                member_id = ("TM" + square_id(18, self.seed, "tm", loc.location_id, k)) if account.provider == "square" \
                    else numeric_id(self.seed, "tm", account.account_id, loc.location_id, k) \
                    if account.provider == "lightspeed_r" else guid(self.seed, "tm", loc.location_id, k)
                members.append(TeamMember(account.account_id, member_id, given, family,
                                          f"{_strip_accents(given).lower()}.{k}@sanbartolo.example",
                                          (loc.location_id,), is_owner=False, created_at=account.created_at))
        owner_id = ("TM" + square_id(18, self.seed, "owner", account.account_id)) if account.provider == "square" \
            else numeric_id(self.seed, "owner", account.account_id) if account.provider == "lightspeed_r" \
            else guid(self.seed, "owner", account.account_id)
        members.append(TeamMember(account.account_id, owner_id, "Bartolomé", "Sanz", "owner@sanbartolo.example",
                                  tuple(loc.location_id for loc in locs), is_owner=True, created_at=account.created_at))
        self.team[account.account_id] = members
        customers = []
        for k in range(120):
            given, family = rng.choice(data.GIVEN_NAMES), rng.choice(data.FAMILY_NAMES)
            customer_id = square_id(26, self.seed, "cust", account.account_id, k).upper() \
                if account.provider == "square" else numeric_id(self.seed, "cust", account.account_id, k) \
                if account.provider == "lightspeed_r" else guid(self.seed, "cust", account.account_id, k)
            customers.append(Customer(account.account_id, customer_id, given, family,
                                      f"{_strip_accents(given).lower()}.{_strip_accents(family).lower()}{k}@mail.example",
                                      f"+34 6{rng.randrange(10**7, 10**8)}"))
        self.customers[account.account_id] = customers

    def tax_for(self, account_id: str, item_id: str) -> Tax:
        return self._tax_for_item[(account_id, item_id)]

    def catalog_as_of(self, account_id: str, when: datetime) -> list[tuple[PosItem, ItemState]]:
        """Items sellable at ``when`` (created and not deleted)."""
        out = []
        for item in self.items[account_id]:
            state = item.state_at(when)
            if state is not None and not state.deleted:
                out.append((item, state))
        return out

    # ------------------------------------------------------------------ sales
    def sales_for_day(self, location_id: str, day: date) -> list[Sale]:
        """All sales of one location on one local day, sorted by close time (cached, LRU)."""
        key = (location_id, day)
        with self._lock:
            cached = self._day_cache.get(key)
            if cached is not None:
                self._day_cache.move_to_end(key)
                live = self._live.get(key)
                return cached + live if live else cached
        sales = self._generate_day(self.location_by_id[location_id], day) if self.start <= day < self.end else []
        with self._lock:
            self._day_cache[key] = sales
            while len(self._day_cache) > DAY_CACHE_SIZE:
                self._day_cache.popitem(last=False)
            live = self._live.get(key)
        return sales + live if live else sales

    def add_live_sale(self, sale: Sale, day: date) -> int:
        """Append a live sale (see the module docstring) to ``day`` of its location; returns its
        index in ``sales_for_day(location, day)``."""
        with self._lock:
            existing = self.sales_for_day(sale.location_id, day)
            self._live.setdefault((sale.location_id, day), []).append(sale)
            self.revision += 1
            return len(existing)

    @property
    def live_sales(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._live.values())

    def iter_sales(self, location_id: str) -> Iterator[Sale]:
        for day in self.local_day_range():
            yield from self.sales_for_day(location_id, day)

    def _generate_day(self, loc: Location, day: date, stream: str = "sales", count: int | None = None) -> list[Sale]:
        """The sales of one location-day. ``stream`` and ``count`` (live sales only) draw from
        another RNG stream a fixed number of sales; the defaults are the world's own days."""
        if count is None and self.closure(loc, day) is not None:
            return []
        rng = random.Random(f"{self.seed}|{stream}|{loc.location_id}|{day.isoformat()}")
        factor = data.WEEKDAY_FACTOR[day.weekday()] * data.HOLIDAYS.get((day.month, day.day), 1.0)
        drawn = int(round(loc.mean_daily_sales * factor * rng.uniform(0.85, 1.15)))
        count = drawn if count is None else count
        if count <= 0:
            return []
        account = self.account_by_id[loc.account_id]
        provider = loc.provider
        us = loc.country == "US"
        midnight = self.local_midnight(loc, day)
        # one UTC offset for the day's opening hours: DST switches happen at night, when closed
        offset = datetime.combine(day, time(12), self.zone(loc.timezone)).utcoffset()
        assert offset is not None
        day_start_utc = datetime.combine(day, time(0), UTC) - offset
        open_minutes = (loc.close_hour - loc.open_hour) * 60
        weights = list(data.HOURLY_WEIGHTS[: loc.close_hour - loc.open_hour])
        hours = rng.choices(range(len(weights)), weights=weights, k=count)
        ids = IdMaker(rng)
        seconds = sorted(
            (loc.open_hour + h) * 3600 + rng.randrange(0, 3600) for h in hours
        )
        del open_minutes, midnight

        menu_time = self._catalog_time(account, (day - self.start).days)
        menu = self.catalog_as_of(account.account_id, menu_time)
        menu_cum = _cum(tuple(self._popularity[self.product_by_id[it.product_id].sku] for it, _ in menu))
        # sales open at least an hour after the business-day boundary (Toast's closeout hour):
        # their business date is the local day itself, no per-sale zone conversion needed
        same_day = loc.open_hour - 1 >= loc.closeout_hour
        menu_range = range(len(menu))
        menu_total, menu_hi = float(menu_cum[-1]), len(menu_cum) - 1
        coffee = {it.item_id for it, _ in menu if self.product_by_id[it.product_id].category == "Cafetería"}
        modifiers = self.modifiers[account.account_id]
        promo, staff = self.discounts[account.account_id]
        cashiers = [m for m in self.team[account.account_id] if loc.location_id in m.location_ids and not m.is_owner]
        customers = self.customers[account.account_id]
        tax_mode_incl = loc.prices_include_tax
        kinds_cum = KINDS_CUM_US if us else KINDS_CUM_ES
        random_ = rng.random
        brands = ("VISA", "MASTERCARD", "AMERICAN_EXPRESS", "DISCOVER") if us else ("VISA", "MASTERCARD", "VISA", "MASTERCARD", "AMERICAN_EXPRESS")
        sales: list[Sale] = []
        for i, sec in enumerate(seconds):
            closed_at = day_start_utc + timedelta(seconds=sec)
            opened_at = closed_at - timedelta(seconds=rng.randrange(20, 600))
            sale_id = ids.for_provider(provider, 27)

            # ---- lines
            # bisect(cum, random() * total) is exactly what Random.choices does for one draw,
            # without its per-call overhead (same stream, same world)
            n_lines = LINES_CHOICES[bisect(LINES_CUM, random_() * LINES_TOTAL)]
            picks = [menu_range[bisect(menu_cum, random_() * menu_total, 0, menu_hi)] for _ in range(n_lines)]
            order_discount = random_() < 0.02
            lines: list[Line] = []
            for pick in picks:
                item, state = menu[pick]
                tax = self.tax_for(account.account_id, item.item_id)
                if item.by_weight:
                    grams = rng.randrange(180, 1300)
                    quantity = Decimal(grams).scaleb(-3)
                    mods: tuple[AppliedModifier, ...] = ()
                    gross = half_up_div(grams * state.price_cents, 1000)
                else:
                    units = UNITS_CHOICES[bisect(UNITS_CUM, random_() * UNITS_TOTAL)]
                    quantity = Decimal(units)
                    mods = ()
                    if item.item_id in coffee and rng.random() < 0.3:
                        mod = rng.choice(modifiers)
                        mods = (AppliedModifier(mod.id, mod.name, mod.price_cents),)
                    gross = units * (state.price_cents + sum(m.price_cents for m in mods))
                discount = 0
                discount_id = None
                if rng.random() < 0.03:
                    discount = half_up_div(gross * 10, 100)
                    discount_id = promo.id
                if order_discount:
                    discount += half_up_div((gross - discount) * 20, 100)
                net = gross - discount
                rate_milli = int(tax.rate * 1000)
                if tax_mode_incl:
                    tax_cents = half_up_div(net * rate_milli, 100_000 + rate_milli)
                    total = net
                else:
                    tax_cents = half_up_div(net * rate_milli, 100_000)
                    total = net + tax_cents
                lines.append(Line(
                    uid=ids.for_provider(provider, 22),
                    item_id=item.item_id, variation_id=item.variation_id, product_id=item.product_id,
                    name=state.name, variation_name=state.variation_name, sku=state.sku,
                    category_id=item.category_id, category_name=item.category_name,
                    quantity=quantity, unit="kg" if item.by_weight else None,
                    unit_price_cents=state.price_cents, modifiers=mods, gross_cents=gross,
                    discount_cents=discount, discount_id=discount_id, tax_id=tax.id, tax_rate=tax.rate,
                    tax_cents=tax_cents, total_cents=total,
                ))
            if provider == "toast" and len(lines) >= 2 and random_() < TOAST_VOIDED_LINE_RATE:
                lines[rng.randrange(len(lines))].voided = True  # stays on the check, in no total
            counted = [line for line in lines if not line.voided]
            gross_sum = sum(line.gross_cents for line in counted)
            discount_sum = sum(line.discount_cents for line in counted)
            tax_sum = sum(line.tax_cents for line in counted)
            service = 0
            service_name = None
            if rng.random() < 0.02:
                service = 150 if not us else 200
                service_name = "Servicio a domicilio" if not us else "Delivery fee"
            due = gross_sum - discount_sum + service + (0 if tax_mode_incl else tax_sum)

            voided = rng.random() < 0.01
            deleted = provider == "toast" and not voided and random_() < TOAST_DELETED_RATE
            # ---- tenders
            kind = KINDS[bisect(kinds_cum, random_() * kinds_cum[-1])]
            if voided:
                kind = "card"
            split = (not voided) and due >= 500 and rng.random() < 0.04
            tip = 0
            if kind != "cash" and not voided:
                if us and rng.random() < 0.6:
                    tip = half_up_div(due * rng.choice((15, 18, 20)), 100)
                elif not us and rng.random() < 0.08:
                    tip = rng.choice((20, 50, 100, 200))
            tenders: list[Tender] = []
            if split:
                cash_part = (due // 2) // 10 * 10 or due // 2
                tenders.append(self._tender(ids, "cash", cash_part, 0, rng, brands, provider))
                tenders.append(self._tender(ids, "card", due - cash_part, tip, rng, brands, provider))
            else:
                tenders.append(self._tender(ids, kind, due, tip, rng, brands, provider))
            deleted_at = None
            if deleted:  # an unpaid check, deleted later (Toast keeps it with deleted=true)
                tenders = []
                deleted_at = closed_at + timedelta(minutes=rng.randrange(2, 90))

            sale = Sale(
                id=sale_id,
                check_id=ids.guid(),
                location_id=loc.location_id,
                provider=provider,
                number=i + 1,
                receipt_number=tenders[0].id[:4] if provider == "square" else f"{day.strftime('%y%m%d')}-{i + 1:04d}",
                opened_at=opened_at,
                closed_at=closed_at,
                local_date=day if same_day else self.business_date(loc, opened_at if provider == "toast" else closed_at),
                state="voided" if voided else "deleted" if deleted else "completed",
                prices_include_tax=tax_mode_incl,
                lines=tuple(lines),
                order_discount_id=staff.id if order_discount else None,
                service_charge_cents=service,
                service_charge_name=service_name,
                tenders=tuple(tenders),
                customer_id=rng.choice(customers).id if rng.random() < 0.15 else None,
                cashier_id=rng.choice(cashiers).id,
                register_id=rng.choice(loc.registers),
                gross_cents=gross_sum,
                discount_cents=discount_sum,
                tax_cents=tax_sum,
                void_at=closed_at if voided else None,
                deleted_at=deleted_at,
                source={"square": "Square Point of Sale", "toast": "In Store", "lightspeed": "USER",
                        "lightspeed_r": "Register"}[provider],
            )
            if not voided and len(tenders) == 1:
                roll = rng.random()
                if roll < 0.015:
                    sale.refund = self._refund(sale, ids, rng, loc, provider)
                elif roll < 0.03 and tenders[0].kind != "cash":
                    at = closed_at + timedelta(minutes=rng.randrange(60, 30 * 60))
                    sale.tip_edit = TipEdit(at, tenders[0].id, tip + rng.choice((50, 100, 150, 200)))
            sales.append(sale)
        return sales

    def _tender(self, ids: IdMaker, kind: str, amount: int, tip: int, rng: random.Random,
                brands: tuple[str, ...], provider: str) -> Tender:
        tender_id = ids.for_provider(provider, 29)
        if kind == "cash":
            return Tender(tender_id, "cash", amount, 0, None, None, None)
        brand = rng.choice(brands)
        last_4 = f"{rng.randrange(10000):04d}"
        entry = {"card": rng.choice(("EMV", "EMV", "SWIPED", "KEYED")), "contactless": "CONTACTLESS",
                 "mobile": "CONTACTLESS"}[kind]
        wallet = rng.choice(("APPLE_PAY", "GOOGLE_PAY")) if kind == "mobile" else None
        return Tender(tender_id, kind, amount, tip, brand, last_4, entry, wallet)

    def _refund(self, sale: Sale, ids: IdMaker, rng: random.Random, loc: Location, provider: str) -> Refund:
        tender = sale.tenders[0]
        if rng.random() < 0.4:
            created = sale.closed_at + timedelta(minutes=rng.randrange(5, 90))
        else:
            created = sale.closed_at + timedelta(days=rng.randrange(1, MAX_LATE_DAYS), minutes=rng.randrange(-120, 120))
        created = closures.next_open(self.closure_policy[loc.location_id], loc.country,
                                     created.astimezone(self.zone(loc.timezone))).astimezone(UTC)
        completed = created + timedelta(seconds=rng.randrange(5, 600))
        live = [line for line in sale.lines if not line.voided]  # voided selections are never refunded
        full = rng.random() < 0.5 or len(live) == 1 and live[0].quantity == 1
        refund_lines: list[RefundLine] = []
        if full:
            for line in live:
                refund_lines.append(RefundLine(line.uid, line.quantity, line.total_cents, line.tax_cents))
            service, tip = sale.service_charge_cents, tender.tip_cents
        else:
            line = rng.choice(live)
            if line.unit is None and line.quantity > 1:
                qty = Decimal(1)
                amount = half_up_div(line.total_cents, int(line.quantity))
                tax = half_up_div(line.tax_cents, int(line.quantity))
            else:
                qty = line.quantity
                amount, tax = line.total_cents, line.tax_cents
            refund_lines.append(RefundLine(line.uid, qty, amount, tax))
            service, tip = 0, 0
        amount = sum(r.amount_cents for r in refund_lines) + service + tip
        tax_sum = sum(r.tax_cents for r in refund_lines)
        refund_id = f"{tender.id}_{ids.square(35)}" if provider == "square" else ids.guid()
        return Refund(
            id=refund_id,
            tender_id=tender.id,
            created_at=created,
            completed_at=completed,
            full=full,
            lines=tuple(refund_lines),
            service_charge_cents=service,
            tip_cents=tip,
            amount_cents=amount,
            tax_cents=tax_sum,
            reason=rng.choice(("Producto defectuoso", "Error en el pedido", "Cliente insatisfecho"))
            if loc.country == "ES" else rng.choice(("Wrong order", "Quality issue", "Customer request")),
            return_order_id=ids.for_provider(provider, 27),
        )

    # ------------------------------------------------------------------ queries used by emulators
    def days_touching(self, since: datetime | None, until: datetime | None) -> list[date]:
        """Local days whose sales may have objects changing within [since, until]."""
        days = self.local_day_range()
        if since is not None:
            first = (since - timedelta(days=MAX_LATE_DAYS + 2)).date()
            days = [d for d in days if d >= first]
        if until is not None:
            last = (until + timedelta(days=1)).date()
            days = [d for d in days if d <= last]
        return days

    def describe(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "scale": self.scale,
            "providers": list(self.providers),
            "tenant_id": self.tenant_id,
            "now": self.now.isoformat().replace("+00:00", "Z"),
        } | ({"live_sales": self.live_sales} if self._live else {})
