"""The provider-neutral objects of the bakery world.

Every amount is an ``int`` in the minor unit of the location's currency (cents): the till's own
arithmetic, done once, in the world. Emulators *render* these objects in each provider's format
(Square: integer minor units; Toast: major-unit doubles; Lightspeed: tax-exclusive major units)
and never recompute them; the ledger sums them. Times are aware UTC ``datetime`` objects.

A sale's visible state depends on the sandbox clock (``now``): a sale exists from ``closed_at``
on (a Toast sale in state ``deleted`` is an unpaid check, without tenders, deleted at
``deleted_at``); its tip adjustment (a late edit) applies from ``tip_edit.at``; its refund exists from
``refund.created_at`` and is completed from ``refund.completed_at``. Use the ``*_as_of`` helpers
rather than reading the raw fields when rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

PROVIDERS = ("square", "toast", "lightspeed", "lightspeed_r")
# the providers of a world when none are named (Lightspeed R-Series is asked for by name:
# ``World(..., providers=[..., "lightspeed_r"])``, ``sandbox serve --providers lightspeed_r``)
DEFAULT_PROVIDERS = ("square", "toast", "lightspeed")


@dataclass(frozen=True, slots=True)
class Product:
    """An item of the bakery's *internal* catalog (what forecasting plans for)."""

    id: str  # stable UUID
    sku: str  # internal SKU, e.g. "PAN-BARRA-250"
    name: str  # e.g. "Barra de pan"
    category: str  # Panadería | Bollería | Pastelería | Cafetería | Bebidas
    vat_rate: int  # Spanish IVA: 4, 10 or 21 (%)
    price_cents: int  # reference price in EUR cents, tax included
    by_weight: bool = False  # sold by the kilo (quantity is fractional, unit kg)


@dataclass(frozen=True, slots=True)
class Location:
    provider: str  # square | toast | lightspeed
    account_id: str  # provider account: Square merchant id, Toast client id, Lightspeed domain prefix
    location_id: str  # the provider's own id (Square location id, Toast restaurant GUID, Lightspeed outlet id)
    name: str
    timezone: str  # IANA zone
    currency: str  # ISO 4217
    country: str  # ISO 3166 alpha-2
    prices_include_tax: bool  # True in Spain (IVA included), False in the US (sales tax added)
    sales_tax_rate: Decimal  # US sales tax in percent (e.g. 8.875); 0 where prices include tax
    address: str
    city: str
    postal_code: str
    open_hour: int  # local opening hour
    close_hour: int  # local closing hour
    closeout_hour: int  # Toast restaurant closeout hour (business day boundary), 4 elsewhere
    mean_daily_sales: int
    registers: tuple[str, ...]  # device / register ids
    register_names: tuple[str, ...]
    is_main: bool = False  # Square: the merchant's main location


@dataclass(frozen=True, slots=True)
class Account:
    provider: str
    account_id: str  # Square merchant id / Toast management-group client id / Lightspeed domain prefix
    name: str
    location_ids: tuple[str, ...]
    currency: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ItemState:
    """One version of a POS catalog item: valid from ``at`` until the next state."""

    at: datetime
    version: int  # monotonically increasing (Square: ms timestamp of ``at``)
    name: str
    variation_name: str
    price_cents: int  # tax included where the location's prices include tax
    sku: str | None  # POS SKU (present for only some items)
    deleted: bool = False


@dataclass(slots=True)
class PosItem:
    """A POS catalog item of one account (Square ITEM + one ITEM_VARIATION; Toast menu item;
    Lightspeed product). ``history`` is ordered by time; the first state is its creation."""

    account_id: str
    item_id: str
    variation_id: str  # Square ITEM_VARIATION id (== item_id for providers without variations)
    product_id: str  # the true internal Product id (ground truth of the mapping)
    category_id: str
    category_name: str
    vat_rate: int
    by_weight: bool
    history: list[ItemState]

    def state_at(self, when: datetime) -> ItemState | None:
        """The state in force at ``when``; None before creation."""
        current = None
        for state in self.history:
            if state.at <= when:
                current = state
            else:
                break
        return current

    @property
    def created_at(self) -> datetime:
        return self.history[0].at


@dataclass(frozen=True, slots=True)
class Category:
    account_id: str
    id: str
    name: str
    created_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Modifier:
    account_id: str
    id: str
    list_id: str  # Square MODIFIER_LIST id / Toast modifier group
    list_name: str
    name: str
    price_cents: int
    created_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Tax:
    account_id: str
    id: str
    name: str  # "IVA 10%" / "NY Sales Tax"
    rate: Decimal  # percent
    inclusive: bool
    created_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Discount:
    account_id: str
    id: str
    name: str
    percentage: Decimal
    scope: str  # LINE_ITEM | ORDER
    created_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class TeamMember:
    account_id: str
    id: str
    given_name: str
    family_name: str
    email: str
    location_ids: tuple[str, ...]
    is_owner: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Customer:
    account_id: str
    id: str
    given_name: str
    family_name: str
    email: str
    phone: str


@dataclass(slots=True)  # not frozen: frozen __init__ is ~3x slower to build
class AppliedModifier:
    modifier_id: str
    name: str
    price_cents: int  # per unit of the line


@dataclass(slots=True)  # not frozen: frozen __init__ is ~3x slower to build
class Line:
    uid: str
    item_id: str
    variation_id: str
    product_id: str  # truth: the internal product (never rendered by emulators)
    name: str  # item name as the till showed it at sale time
    variation_name: str
    sku: str | None
    category_id: str
    category_name: str
    quantity: Decimal  # fractional for bread by weight (unit kg)
    unit: str | None  # "kg" for by-weight items, else None
    unit_price_cents: int  # catalog price at sale time (tax included where prices include tax)
    modifiers: tuple[AppliedModifier, ...]
    gross_cents: int  # round_half_up(quantity * (unit price + modifier prices))
    discount_cents: int  # line-level and allocated order-level discounts
    discount_id: str | None  # line-level catalog discount applied (None if only order-level)
    tax_id: str
    tax_rate: Decimal
    tax_cents: int  # included (Spain) or added (US)
    total_cents: int  # gross - discount + added tax
    voided: bool = False  # Toast: a selection voided before the close; kept, but in no total of the sale


@dataclass(slots=True)  # not frozen: frozen __init__ is ~3x slower to build
class Tender:
    id: str  # Square payment id / Toast payment guid / Lightspeed payment id
    kind: str  # cash | card | contactless | mobile
    amount_cents: int  # excludes tip
    tip_cents: int  # tip at close (see Sale.tip_edit for a later adjustment)
    card_brand: str | None  # VISA | MASTERCARD | AMERICAN_EXPRESS | ... (None for cash)
    last_4: str | None
    entry_method: str | None  # EMV | CONTACTLESS | SWIPED | KEYED (None for cash)
    wallet: str | None = None  # APPLE_PAY | GOOGLE_PAY for mobile


@dataclass(slots=True)  # not frozen: frozen __init__ is ~3x slower to build
class TipEdit:
    """A late edit: the tip on ``tender_id`` is changed after the sale closed."""

    at: datetime
    tender_id: str
    new_tip_cents: int


@dataclass(slots=True)  # not frozen: frozen __init__ is ~3x slower to build
class RefundLine:
    line_uid: str
    quantity: Decimal
    amount_cents: int  # money returned for this line (tax included)
    tax_cents: int


@dataclass(slots=True)  # not frozen: frozen __init__ is ~3x slower to build
class Refund:
    id: str
    tender_id: str  # the tender refunded (sales with refunds have exactly one tender)
    created_at: datetime
    completed_at: datetime  # PENDING before, COMPLETED from then on
    full: bool
    lines: tuple[RefundLine, ...]  # every line for a full refund
    service_charge_cents: int  # refunded service charge (full refunds)
    tip_cents: int  # refunded tip (full refunds)
    amount_cents: int  # total money returned: lines + service charge + tip
    tax_cents: int  # refunded tax (included in amount)
    reason: str
    return_order_id: str  # Square return order / Lightspeed return sale id


@dataclass(slots=True)
class Sale:
    id: str  # neutral sale id; Square order id, Toast order guid, Lightspeed sale id
    check_id: str  # Toast check guid (one check per order in this world)
    location_id: str
    provider: str
    number: int  # running receipt number within the location
    receipt_number: str
    opened_at: datetime
    closed_at: datetime
    local_date: date  # business date (location zone; Toast: with closeout hour)
    state: str  # completed | voided | deleted (Toast only: the check was deleted; counted nowhere)
    prices_include_tax: bool
    lines: tuple[Line, ...]
    order_discount_id: str | None  # order-scope discount (allocated into line discounts)
    service_charge_cents: int
    service_charge_name: str | None
    tenders: tuple[Tender, ...]
    customer_id: str | None
    cashier_id: str
    register_id: str
    gross_cents: int  # sums over the lines that are not voided
    discount_cents: int
    tax_cents: int
    refund: Refund | None = None
    tip_edit: TipEdit | None = None
    void_at: datetime | None = None  # voided sales: when the void happened (== closed_at)
    deleted_at: datetime | None = None  # deleted (Toast) sales: when the check was deleted (> closed_at)
    source: str = "Square Point of Sale"
    note: str | None = field(default=None)

    # --- clock-dependent views -------------------------------------------------------------
    def tip_as_of(self, now: datetime) -> int:
        return sum(self.tender_tip_as_of(t, now) for t in self.tenders)

    def tender_tip_as_of(self, tender: Tender, now: datetime) -> int:
        edit = self.tip_edit
        if edit is not None and edit.tender_id == tender.id and edit.at <= now:
            return edit.new_tip_cents
        return tender.tip_cents

    def total_as_of(self, now: datetime) -> int:
        """What was collected: gross - discounts + service charge + added tax + tips."""
        return self.net_before_tip_cents + self.tip_as_of(now)

    @property
    def added_tax_cents(self) -> int:
        return 0 if self.prices_include_tax else self.tax_cents

    @property
    def net_before_tip_cents(self) -> int:
        """gross - discounts + service charge + added tax (the tip comes on top)."""
        return self.gross_cents - self.discount_cents + self.service_charge_cents + self.added_tax_cents

    def updated_at_as_of(self, now: datetime) -> datetime:
        """Last modification visible at ``now`` (close, tip edit, refund creation/completion)."""
        stamp = self.closed_at
        if self.tip_edit is not None and self.tip_edit.at <= now:
            stamp = max(stamp, self.tip_edit.at)
        if self.deleted_at is not None and self.deleted_at <= now:
            stamp = max(stamp, self.deleted_at)
        return stamp

    def payment_updated_at_as_of(self, tender: Tender, now: datetime) -> datetime:
        """A payment changes at close, at its tip edit, and when its refund is created/completed."""
        stamp = self.closed_at
        edit = self.tip_edit
        if edit is not None and edit.tender_id == tender.id and edit.at <= now:
            stamp = max(stamp, edit.at)
        refund = self.refund
        if refund is not None and refund.tender_id == tender.id:
            if refund.created_at <= now:
                stamp = max(stamp, refund.created_at)
            if refund.completed_at <= now:
                stamp = max(stamp, refund.completed_at)
        return stamp

    def refund_as_of(self, now: datetime) -> Refund | None:
        if self.refund is not None and self.refund.created_at <= now:
            return self.refund
        return None

    def visible(self, now: datetime) -> bool:
        return self.closed_at <= now
