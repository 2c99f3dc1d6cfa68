"""The canonical model: tables in schema ``pos`` of the warehouse, whatever till a shop uses.

Money is DECIMAL in the currency's major units (``NUMERIC(14,2)``) beside a ``currency`` column —
never float. Refund rows carry positive refunded amounts. Names follow the service spec
(``pos_transactions``, ``pos_transaction_items``), extended.

These specs are the single source of the column lists, types and keys: the writers create the
tables from them (DuckDB and PostgreSQL), the normalizers emit rows with exactly these keys.

Keys: every table has its primary key on both databases. A table whose primary key is a derived id
also has a natural key (:attr:`Table.unique`: a provider's transaction, line, tender, product
version): a ``UNIQUE`` constraint on PostgreSQL; on DuckDB no index — its key indexes are ARTs held
whole in memory, and the natural keys' were half of them (Square at chain × 90 days: 1.5 M of
2.97 M keys) — but the canonical writer, the only code that writes these tables, checks them in the
build's own transaction before it commits (:meth:`pos_sync.canonical.writer.CanonicalWriter.check_natural_keys`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from hashlib import sha1
from typing import Any

SCHEMA = "pos"
ID_NAMESPACE = uuid.UUID("6f1d8f6e-3c1b-5a52-9f43-3e2f0a3d7b11")
_NAMESPACE_BYTES = ID_NAMESPACE.bytes
_VARIANT = {d: "89ab"[int(d, 16) & 0x3] for d in "0123456789abcdef"}  # a hex digit with its top two bits 10

MONEY = "NUMERIC(14,2)"
QTY = "NUMERIC(14,3)"


def sql_type(t: str, dialect: str) -> str:
    """A model type in the dialect's spelling."""
    if t == "JSON":
        return "JSONB" if dialect == "postgres" else "JSON"
    if t == "TIMESTAMPTZ":
        return "TIMESTAMPTZ" if dialect == "postgres" else "TIMESTAMP WITH TIME ZONE"
    if t == "DOUBLE":  # forecast units only: demand estimates, never money
        return "DOUBLE PRECISION" if dialect == "postgres" else "DOUBLE"
    return t


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type)
    key: tuple[str, ...]
    parent_key: str | None = None  # child tables: rows are replaced per parent id
    indexes: tuple[tuple[str, ...], ...] = field(default=())
    unique: tuple[str, ...] = ()  # the natural key, when the primary key is a derived id (see the module's doc)

    @property
    def unique_constraint(self) -> str | None:
        return f"uq_{self.name}_natural_key" if self.unique else None

    def create_table(self, dialect: str, name: str | None = None) -> str:
        """``CREATE TABLE`` with its primary key and, on PostgreSQL, its natural-key constraint (not
        its indexes). DuckDB gets no ``UNIQUE``: the canonical writer checks the natural keys there
        (the module's doc)."""
        def quoted(names: tuple[str, ...]) -> str:
            return ", ".join(f'"{n}"' for n in names)

        cols = ",\n  ".join(f'"{c}" {sql_type(t, dialect)}' for c, t in self.columns)
        unique = (f",\n  CONSTRAINT {self.unique_constraint} UNIQUE ({quoted(self.unique)})"
                  if self.unique and dialect == "postgres" else "")
        return f'CREATE TABLE IF NOT EXISTS {SCHEMA}."{name or self.name}" (\n  {cols},\n  PRIMARY KEY ({quoted(self.key)}){unique}\n)'

    def index_names(self) -> list[str]:
        return [f'ix_{self.name}_{"_".join(idx)}' for idx in self.indexes]

    def index_ddl(self) -> list[str]:
        return [f'CREATE INDEX IF NOT EXISTS {name} ON {SCHEMA}."{self.name}" ({", ".join(idx)})'
                for name, idx in zip(self.index_names(), self.indexes, strict=True)]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def ddl(self, dialect: str) -> list[str]:
        """The table, and on PostgreSQL its secondary indexes (:attr:`indexes`). DuckDB gets none: it
        reads these tables by scans pruned with zonemaps and joins by hash, never through an ART
        index of several columns, nor through a one-column one for our filters (an index scan only
        pays for a few rows of a constant; ``pos_account_id`` matches an account's whole history) —
        while each index is an ART kept in memory, built at the commit of the build that wrote the
        rows (≈ 30 MiB at chain × 30 days). The primary key is on both, :attr:`unique` on PostgreSQL."""
        return [self.create_table(dialect), *(self.index_ddl() if dialect == "postgres" else [])]


POS_LOCATIONS = Table(
    "pos_locations",
    (
        ("tenant_id", "TEXT"), ("pos_account_id", "TEXT"), ("pos_provider", "TEXT"), ("location_id", "TEXT"),
        ("name", "TEXT"), ("timezone", "TEXT"), ("currency", "TEXT"), ("prices_include_tax", "BOOLEAN"),
        ("country", "TEXT"), ("updated_at", "TIMESTAMPTZ"),
        ("postal_code", "TEXT"),  # the holiday region of the demand calendar (added by migration)
    ),
    key=("tenant_id", "pos_provider", "location_id"),
)

POS_TRANSACTIONS = Table(
    "pos_transactions",
    (
        ("id", "TEXT"),
        ("tenant_id", "TEXT"),
        ("pos_account_id", "TEXT"),
        ("pos_provider", "TEXT"),
        ("location_id", "TEXT"),
        ("pos_transaction_id", "TEXT"),
        ("transaction_type", "TEXT"),  # sale | refund | void
        ("status", "TEXT"),  # completed | pending | failed | voided
        ("refunded_transaction_id", "TEXT"),
        ("transaction_date", "TIMESTAMPTZ"),
        ("business_date", "DATE"),
        ("subtotal", MONEY),
        ("discount_amount", MONEY),
        ("service_charge_amount", MONEY),
        ("tax_amount", MONEY),
        ("tip_amount", MONEY),
        ("total_amount", MONEY),
        ("currency", "TEXT"),
        ("items_quantity", QTY),
        ("payment_method", "TEXT"),  # cash | card | contactless | mobile | split | other
        ("card_brand", "TEXT"),
        ("card_last_four", "TEXT"),
        ("cashier_id", "TEXT"),
        ("cashier_name", "TEXT"),
        ("device_id", "TEXT"),
        ("device_name", "TEXT"),
        ("receipt_number", "TEXT"),
        ("customer_ref", "TEXT"),  # keyed hash of the provider's customer id
        ("customer_name", "TEXT"),
        ("customer_email", "TEXT"),  # keyed hash unless POS_STORE_CUSTOMER_PII=true
        ("customer_phone", "TEXT"),  # keyed hash unless POS_STORE_CUSTOMER_PII=true
        ("source_version", "TEXT"),  # provider's version / updated_at the row was built from
        ("source_updated_at", "TIMESTAMPTZ"),
        ("source_load_id", "TEXT"),
    ),
    key=("id",),
    indexes=(("tenant_id", "pos_provider", "location_id", "business_date"), ("pos_account_id",)),
    unique=("tenant_id", "pos_provider", "pos_transaction_id"),
)

POS_TRANSACTION_ITEMS = Table(
    "pos_transaction_items",
    (
        ("id", "TEXT"),
        ("transaction_id", "TEXT"),
        ("tenant_id", "TEXT"),
        ("pos_account_id", "TEXT"),
        ("pos_provider", "TEXT"),
        ("location_id", "TEXT"),
        ("business_date", "DATE"),
        ("transaction_type", "TEXT"),
        ("line_number", "INTEGER"),
        ("pos_line_id", "TEXT"),
        ("pos_item_id", "TEXT"),  # the sellable POS product (Square: item variation id)
        ("pos_parent_item_id", "TEXT"),  # Square: item id
        ("product_name", "TEXT"),
        ("variation_name", "TEXT"),
        ("product_sku", "TEXT"),
        ("category", "TEXT"),
        ("quantity", QTY),
        ("unit", "TEXT"),
        ("unit_price", MONEY),
        ("gross_amount", MONEY),
        ("discount_amount", MONEY),
        ("tax_amount", MONEY),
        ("line_total", MONEY),
        ("currency", "TEXT"),
        ("modifiers", "JSON"),
        ("mapped_product_id", "TEXT"),
        ("is_mapped", "BOOLEAN"),
    ),
    key=("id",),
    parent_key="transaction_id",
    indexes=(("transaction_id",), ("tenant_id", "location_id", "business_date")),
    unique=("transaction_id", "pos_line_id"),
)

POS_TENDERS = Table(
    "pos_tenders",
    (
        ("id", "TEXT"),
        ("transaction_id", "TEXT"),
        ("tenant_id", "TEXT"),
        ("pos_provider", "TEXT"),
        ("pos_tender_id", "TEXT"),
        ("method", "TEXT"),
        ("card_brand", "TEXT"),
        ("card_last_four", "TEXT"),
        ("entry_method", "TEXT"),
        ("amount", MONEY),  # excludes tip
        ("tip_amount", MONEY),
        ("currency", "TEXT"),
        ("status", "TEXT"),
    ),
    key=("id",),
    parent_key="transaction_id",
    indexes=(("transaction_id",),),
    unique=("transaction_id", "pos_tender_id"),
)

POS_PRODUCTS = Table(
    "pos_products",
    (
        ("id", "TEXT"),  # the version's id: canonical_id(tenant, provider, "product", pos item id, version)
        ("tenant_id", "TEXT"),
        ("pos_account_id", "TEXT"),
        ("pos_provider", "TEXT"),
        ("pos_item_id", "TEXT"),
        ("version", "INTEGER"),  # 1, 2, … per POS product, in the order the versions were seen
        ("pos_parent_item_id", "TEXT"),
        ("name", "TEXT"),
        ("variation_name", "TEXT"),
        ("category", "TEXT"),
        ("sku", "TEXT"),
        ("price", MONEY),
        ("currency", "TEXT"),
        ("is_deleted", "BOOLEAN"),  # the provider deleted it (Square is_deleted, Lightspeed deleted_at)
        ("is_archived", "BOOLEAN"),  # no longer sold: Square is_archived, Lightspeed inactive, Toast gone from menus
        ("source_version", "TEXT"),
        ("valid_from", "TIMESTAMPTZ"),  # when this version took effect (the provider's change time when known)
        ("valid_to", "TIMESTAMPTZ"),  # when the next version took effect; NULL for the current one
        ("is_current", "BOOLEAN"),
        ("first_seen_at", "TIMESTAMPTZ"),  # of the product (the same on every version)
        ("last_seen_at", "TIMESTAMPTZ"),  # last time a build saw this version
    ),
    key=("id",),
    indexes=(("tenant_id", "pos_provider", "pos_item_id"), ("pos_account_id",)),
    unique=("tenant_id", "pos_provider", "pos_item_id", "version"),
)

# what makes a new version of a POS product: any of these changed (bookkeeping such as the
# provider's version number or when it was last seen does not)
PRODUCT_VERSIONED = ("pos_parent_item_id", "name", "variation_name", "category", "sku", "price", "currency",
                     "is_deleted", "is_archived")

DAILY_PRODUCT_SALES = Table(
    "daily_product_sales",
    (
        ("tenant_id", "TEXT"),
        ("pos_provider", "TEXT"),
        ("location_id", "TEXT"),
        ("business_date", "DATE"),
        ("pos_item_id", "TEXT"),
        ("product_name", "TEXT"),
        ("mapped_product_id", "TEXT"),
        ("currency", "TEXT"),
        ("quantity_sold", QTY),
        ("quantity_refunded", QTY),
        ("gross_sales", MONEY),
        ("discount_amount", MONEY),
        ("refund_amount", MONEY),
        ("net_revenue", MONEY),  # line totals of completed sales - refunded line totals
        ("transactions", "INTEGER"),
    ),
    key=("tenant_id", "pos_provider", "location_id", "business_date", "pos_item_id"),
)

# bookkeeping: which raw loads each account's canonical build has processed
TRANSFORM_LOADS = Table(
    "transform_loads",
    (("pos_account_id", "TEXT"), ("pos_provider", "TEXT"), ("load_id", "TEXT"), ("processed_at", "TIMESTAMPTZ"),
     ("transactions", "INTEGER")),
    key=("pos_account_id", "pos_provider", "load_id"),
)

TABLES: tuple[Table, ...] = (
    POS_LOCATIONS, POS_TRANSACTIONS, POS_TRANSACTION_ITEMS, POS_TENDERS, POS_PRODUCTS, DAILY_PRODUCT_SALES,
    TRANSFORM_LOADS,
)


def canonical_id(*parts: Any) -> str:
    """Deterministic row ids (UUIDv5): the same source object always gets the same id, on any
    warehouse, so re-runs replace rows instead of duplicating them."""
    # uuid.uuid5 and str(UUID) spelled out (SHA-1 of namespace + name, version 5, RFC 4122 variant):
    # the same text, byte for byte, at a third of the cost — ids of every warehouse stay as they are
    # on the hex text: the version nibble (hex digit 12) is 5, the variant bits of digit 16 are 10
    name = "|".join([p if p.__class__ is str else "" if p is None else str(p) for p in parts])
    h = sha1(_NAMESPACE_BYTES + name.encode("utf-8")).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


@dataclass
class CanonicalBatch:
    """Rows per canonical table produced by a normalizer run."""

    transactions: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    tenders: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: CanonicalBatch) -> None:
        self.transactions += other.transactions
        self.items += other.items
        self.tenders += other.tenders
        self.products += other.products
        self.locations += other.locations
