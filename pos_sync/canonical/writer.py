"""The canonical tables' one writer: what every provider's builder hands over is written here
(replace-by-id, never duplicate; line items carry the tenant's product mappings, passed in), and the days it touched are remembered so
``daily_product_sales`` is recomputed for exactly those (location, business date) pairs.

On DuckDB it also holds the natural keys (:attr:`transforms.canonical.Table.unique`), which have
no index there: :meth:`CanonicalWriter.check_natural_keys`, before the build commits, refuses a
transaction, line, tender or product version the tables would hold twice under different ids
(PostgreSQL's ``UNIQUE`` constraints refuse them at the insert)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from pos_sync.warehouse.sql import Warehouse
from transforms.build import SetBasedSales
from transforms.canonical import (
    DAILY_PRODUCT_SALES,
    POS_LOCATIONS,
    POS_PRODUCTS,
    POS_TENDERS,
    POS_TRANSACTION_ITEMS,
    POS_TRANSACTIONS,
    SCHEMA,
    CanonicalBatch,
    Table,
)
from transforms.canonical_sql import CANONICAL_ID_MACRO
from transforms.catalog import product_key, version_products

Day = tuple[str, str, str, date]  # tenant, provider, location, business date
# location-days of daily_product_sales recomputed per query: a first build's 432 location-days (chain
# × 90 days) in one query took 189 MiB of DuckDB hash tables, at the end of the build, on top of its
# key indexes; 60 at a time 66 MiB, in the same time (measured on the built warehouse)
DAYS_PER_QUERY = 60


# keys a sale / order / check of the providers' worlds adds to DuckDB's key indexes, transaction, items
# and tenders with their primary key: 3.9–4.1 at chain × 90 days (Square 1.49 M keys of 364 k orders,
# Lightspeed 0.9 M of 220 k sales, Toast 98 k of 24.8 k orders at chain × 14)
KEYS_PER_OBJECT = 4


# transactions whose natural keys (and their lines' and tenders') are checked at a time: a first
# build's are checked in parts of this many (CanonicalWriter.check_natural_keys)
CHECK_PART_ROWS = 100_000


class NaturalKeyRepeated(Exception):
    """The build would store a natural key twice (the message says which): it is rolled back whole."""


class CanonicalWriter:
    """A :class:`transforms.build.CanonicalSink` over the warehouse, inside the caller's transaction."""

    def __init__(self, wh: Warehouse, account_id: str, provider: str,
                 mappings: Mapping[str, str] | None = None) -> None:
        self.wh = wh
        self.mappings = dict(mappings or {})  # {pos_item_id: bakery_product_id}: what the items are mapped to
        self.account_id = account_id
        self.provider = provider
        self.days: set[Day] = set()
        self.transactions = self.items = self.tenders = self.products = 0
        self.locations = 0  # location rows written
        self.daily_rows = 0  # daily_product_sales rows written by recompute_daily_product_sales
        self.new_products = 0  # POS products first seen by this build
        self.new_versions = 0  # new versions of products already known (changed or archived)
        self.keys_written = 0  # keys this writer's inserts added to the canonical tables' key indexes
        self.memory_limit_sized_to: int | None = None  # bytes: raised for the key indexes of its inserts
        self._written: str | None = None  # DuckDB: the temporary table of the transaction ids written

    def write(self, batch: CanonicalBatch, stale_ids: Iterable[str] = ()) -> None:
        ids = sorted({(t["id"],) for t in batch.transactions} | {(i,) for i in stale_ids})
        if not ids:
            return
        wh = self.wh
        keys = wh.temp_keys(["id"], ids)
        self._delete_transactions(keys)
        self._room_for_keys(len(batch.transactions) + len(batch.items) + len(batch.tenders))  # a key a row
        wh.insert_rows(POS_TRANSACTIONS, batch.transactions)
        # the tenant's mappings as two columns (with_mappings' values, without a copy of every item)
        targets = [self.mappings.get(i.get("pos_item_id") or "") for i in batch.items]
        wh.insert_rows(POS_TRANSACTION_ITEMS, batch.items,
                       {"mapped_product_id": targets, "is_mapped": [t is not None for t in targets]})
        wh.insert_rows(POS_TENDERS, batch.tenders)
        self._remember_written(f"select id from {keys}")  # (with the stale ids: deleted, they match no row)
        self.days |= {(t["tenant_id"], t["pos_provider"], t["location_id"], t["business_date"])
                      for t in batch.transactions if t["business_date"] is not None}
        self.transactions += len(batch.transactions)
        self.items += len(batch.items)
        self.tenders += len(batch.tenders)

    def _room_for_keys(self, new_keys: int, *, estimate: bool = False) -> None:
        """Before inserting rows with ``new_keys`` keys: DuckDB's ``memory_limit`` raised to twice the
        key indexes the transaction will hold — the committed history's, what this writer inserted,
        and these (:meth:`~pos_sync.warehouse.sql.Warehouse.fit_memory_limit_to_keys`). A first
        build of a long history has no committed keys to size ahead from: at chain × 90 days its
        ~1.8 M keys outgrew the 256MB default, and the build failed, rolled back and ran again
        (half of its 26 s). Counted from the rows about to go in, the limit is right the first time.
        ``estimate``: keys expected, not yet made (they are counted again before their insert)."""
        if new_keys <= 0:
            return
        raised = self.wh.fit_memory_limit_to_keys(pending_keys=self.keys_written + new_keys)
        if raised is not None:
            self.memory_limit_sized_to = raised
        if not estimate:
            self.keys_written += new_keys

    def _delete_transactions(self, key_table: str) -> None:
        """Delete the transactions whose ids are in ``key_table`` (column ``id``) with their items and
        tenders, remembering the days they were on (their daily figures are recomputed)."""
        wh = self.wh
        before = wh.query(
            f"select distinct t.tenant_id, t.pos_provider, t.location_id, t.business_date from {SCHEMA}.pos_transactions t "
            f"join {key_table} k on t.id = k.id")
        self.days |= {(r["tenant_id"], r["pos_provider"], r["location_id"], r["business_date"]) for r in before}
        wh.delete_in(POS_TRANSACTIONS, key_table, {"id": "id"})  # one key table for the three (DuckDB keeps
        wh.delete_in(POS_TRANSACTION_ITEMS, key_table, {"transaction_id": "id"})  # each until the commit)
        wh.delete_in(POS_TENDERS, key_table, {"transaction_id": "id"})

    @property
    def set_based(self) -> bool:
        """Set-based builds run on DuckDB (their SQL is DuckDB's: ``sha1``, macros, ``timezone``)."""
        return self.wh.dialect == "duckdb"

    def write_set_based(self, sales: SetBasedSales, ids: Collection[str]) -> list[str]:
        """:meth:`write` of the rows ``sales``' SQL makes of the objects ``ids``: intermediate and
        canonical rows in temporary tables, then the same deletes and inserts, never through Python.
        Returns the ids the SQL left to the normaliser (``sales.left_out``).

        ``ids`` is consumed: a set is emptied once its ids are in the warehouse's key table — a
        long history's are ≈ 100 MiB of Python strings (Square at chain × 90 days: 364 k orders),
        otherwise alive beside DuckDB's memory through the whole build."""
        wh = self.wh
        count = len(ids)
        keys = wh.temp_key_column("id", sorted(ids))  # (in order: the build's joins run faster)
        if isinstance(ids, set):
            ids.clear()
        # the intermediate tables come first, and a long history's can outgrow the limit before any
        # insert (Square at chain × 90 days: its transactions table at 256MB): room for an estimate
        self._room_for_keys(count * KEYS_PER_OBJECT, estimate=True)
        wh.execute(CANONICAL_ID_MACRO)
        for statement in sales.prepare:
            wh.execute(statement.replace("{keys}", keys))
        left_out = [r[0] for r in wh.tuples(sales.left_out.replace("{keys}", keys))] if sales.left_out else []
        for lookup in sales.lookups:
            rows = [(*key, *lookup.compute(key)) for key in wh.tuples(lookup.source.replace("{keys}", keys))]
            wh.temp_keys((*lookup.keys, *lookup.values), rows, lookup.name)
        made = {}
        for table, select in ((POS_TRANSACTIONS, sales.transactions), (POS_TRANSACTION_ITEMS, sales.items),
                              (POS_TENDERS, sales.tenders)):
            made[table.name] = f"{keys}_{table.name}"
            wh.execute(f"CREATE OR REPLACE TEMP TABLE {made[table.name]} AS {select.replace('{keys}', keys)}")
        stale = f"{keys}_stale"
        wh.execute(f"CREATE OR REPLACE TEMP TABLE {stale} AS {sales.stale_ids.replace('{keys}', keys)}")
        self._delete_transactions(stale)
        self._room_for_keys(sum(int(wh.scalar(f"select count(*) from {made[t.name]}"))  # a key a row
                                for t in (POS_TRANSACTIONS, POS_TRANSACTION_ITEMS, POS_TENDERS)))
        mappings = wh.temp_keys(["pos_item_id", "target"], sorted(self.mappings.items()))
        counts = {}
        for table in (POS_TRANSACTIONS, POS_TRANSACTION_ITEMS, POS_TENDERS):
            cols = ", ".join(f'"{c}"' for c in table.column_names)
            select = ", ".join(f'm.target AS "{c}"' if c == "mapped_product_id" and table is POS_TRANSACTION_ITEMS
                               else 'm.target IS NOT NULL AS "is_mapped"' if c == "is_mapped"
                               else f'r."{c}"' for c in table.column_names)
            join = (f" LEFT JOIN {mappings} m ON m.pos_item_id = r.pos_item_id"
                    if table is POS_TRANSACTION_ITEMS else "")
            counts[table.name] = wh.execute_count(
                f'INSERT INTO {SCHEMA}."{table.name}" ({cols}) SELECT {select} FROM {made[table.name]} r{join}')
        self._remember_written(f"select id from {made[POS_TRANSACTIONS.name]}")
        made_days = wh.query(f"select distinct tenant_id, pos_provider, location_id, business_date "
                             f"from {made[POS_TRANSACTIONS.name]} where business_date is not null")
        self.days |= {(r["tenant_id"], r["pos_provider"], r["location_id"], r["business_date"]) for r in made_days}
        self.transactions += counts[POS_TRANSACTIONS.name]
        self.items += counts[POS_TRANSACTION_ITEMS.name]
        self.tenders += counts[POS_TENDERS.name]
        return left_out

    def _remember_written(self, select: str) -> None:
        """DuckDB: add the transaction ids ``select`` gives to the table :meth:`check_natural_keys` reads."""
        if self.wh.dialect != "duckdb":
            return
        if self._written is None:
            self._written = "pos_written_ids"  # (a temporary table: this connection's, this transaction's)
            self.wh.execute(f"CREATE OR REPLACE TEMP TABLE {self._written} (id VARCHAR)")
        self.wh.execute(f"INSERT INTO {self._written} {select}")

    def check_natural_keys(self) -> None:
        """DuckDB, before the build commits: raise :class:`NaturalKeyRepeated` if a natural key of
        what this writer inserted is stored under another id too. Nothing on PostgreSQL, whose
        ``UNIQUE`` constraints refused the insert itself.

        A repeat needs a row written here (the tables start, and stay, without any), so only those
        are looked at: a transaction it wrote against every transaction (a join on the natural
        key); the lines and tenders of the transactions it wrote among themselves (their natural
        key starts with the transaction's id, and a write replaces all of a transaction's lines
        and tenders: none of another write can share it); the product versions of its provider.
        Keys with a NULL are never equal, as under a ``UNIQUE`` constraint.
        The written transactions go :data:`CHECK_PART_ROWS` at a time (a hash range of their ids),
        with their lines and tenders: the hash tables of a first build's 358 k transactions and
        1.1 M lines and tenders at once ran out of the build's memory, whose limit is sized for
        the key indexes (Square at chain × 90 days: 284 MiB)."""
        if self.wh.dialect != "duckdb":
            return
        if self._written is not None:
            written = int(self.wh.scalar(f"select count(*) from {self._written}"))
            parts = max(1, -(-written // CHECK_PART_ROWS))
            for part in range(parts):
                self._check_written_part(f"hash(id) % {parts} = {part}" if parts > 1 else "true")
        if self.products:
            self._refuse_repeat(POS_PRODUCTS, self._repeat_among(POS_PRODUCTS, "pos_provider = %s", (self.provider,)))

    def _check_written_part(self, part: str) -> None:
        """:meth:`check_natural_keys` of the written transactions whose ids are in the hash range
        ``part`` (SQL of ``id``): the hash tables hold theirs, the other side streams past."""
        written = f"select id from {self._written} where {part}"
        same = " and ".join(f'o."{c}" = n."{c}"' for c in POS_TRANSACTIONS.unique)
        key = ", ".join(f'n."{c}"' for c in POS_TRANSACTIONS.unique)
        self._refuse_repeat(POS_TRANSACTIONS, self.wh.tuples(
            f"select {key}, n.id, o.id from (select * from {SCHEMA}.pos_transactions where id in ({written})) n "
            f"join {SCHEMA}.pos_transactions o on {same} and o.id <> n.id limit 1"))
        for table in (POS_TRANSACTION_ITEMS, POS_TENDERS):
            self._refuse_repeat(table, self._repeat_among(table, f"transaction_id in ({written})"))

    def _repeat_among(self, table: Table, where: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The first natural key of ``table`` held twice among its rows ``where`` selects, with the
        least and greatest of its ids (none: ``[]``). Keys with a NULL are never equal (:func:`_complete`)."""
        cols = ", ".join(f'"{c}"' for c in table.unique)
        return self.wh.tuples(f'select {cols}, min(id), max(id) from {SCHEMA}."{table.name}" where {where} '
                              f"and {_complete(table)} group by {cols} having count(*) > 1 limit 1", params)

    @staticmethod
    def _refuse_repeat(table: Table, found: list[tuple[Any, ...]]) -> None:
        if found:
            *key, one, other = found[0]
            raise NaturalKeyRepeated(
                f"{SCHEMA}.{table.name} would hold the natural key ({', '.join(table.unique)}) = "
                f"({', '.join(repr(k) for k in key)}) twice, under ids {one} and {other}: the canonical "
                "build is rolled back, nothing of it stored")

    def replace_products(self, products: list[dict[str, Any]], as_of: datetime | None = None) -> None:
        """Version the account's POS products against what is stored (:mod:`transforms.catalog`):
        a changed product gets a new version, an unchanged one none, one the catalog no longer
        lists an archived version; nothing is deleted. ``as_of``: the catalog's time (else now).

        A product is the tenant's (its versions' key has no account): one an earlier account of
        the same store wrote (the store was re-linked under a new id) is taken over, not duplicated."""
        wh = self.wh
        keys = sorted({product_key(p) for p in products})
        tmp = wh.temp_keys(["tenant_id", "pos_provider", "pos_item_id"], keys)
        stored = wh.query(
            f"select p.* from {SCHEMA}.pos_products p where p.is_current and p.pos_provider = %s and "
            f"(p.pos_account_id = %s or exists (select 1 from {tmp} k where p.tenant_id = k.tenant_id "
            f"and p.pos_provider = k.pos_provider and p.pos_item_id = k.pos_item_id))",
            (self.provider, self.account_id))
        changes = version_products(stored, products, account_id=self.account_id, as_of=as_of or datetime.now(UTC))
        wh.delete_by_keys(POS_PRODUCTS, ["id"], [(i,) for i in changes.replaced_ids])
        wh.insert_rows(POS_PRODUCTS, changes.rows)
        self.products += len(products)
        self.new_products += changes.new_products
        self.new_versions += changes.new_versions

    def product_versions(self, tenant_id: str) -> list[dict[str, Any]]:
        return self.wh.query(f"select * from {SCHEMA}.pos_products where tenant_id = %s and pos_provider = %s",
                             (tenant_id, self.provider))

    def replace_locations(self, rows: list[dict[str, Any]]) -> None:
        self.wh.delete_by_keys(POS_LOCATIONS, ["tenant_id", "pos_provider", "location_id"],
                               [(r["tenant_id"], r["pos_provider"], r["location_id"]) for r in rows])
        self.wh.insert_rows(POS_LOCATIONS, rows)
        self.locations += len(rows)

    def recompute_daily_product_sales(self) -> int:
        """``daily_product_sales`` of every day the writes touched, from the canonical rows."""
        days, rows = rebuild_daily_product_sales(self.wh, self.days)
        self.daily_rows += rows
        return days


def _complete(table: Table) -> str:
    """SQL: the row's natural key has no NULL — as a ``UNIQUE`` constraint, keys with a NULL are
    never equal (a line without the provider's id, twice in a sale, is two lines)."""
    return " and ".join(f'"{c}" is not null' for c in table.unique)


def rebuild_daily_product_sales(wh: Warehouse, days: Iterable[Day]) -> tuple[int, int]:
    """``daily_product_sales`` of the location-days ``days`` (tenant, provider, location, business
    date) rebuilt from the canonical rows (a day without sales left has none); (days, rows written)."""
    keys = sorted(set(days), key=lambda d: (d[0], d[1], d[2], d[3]))
    if not keys:
        return 0, 0
    columns = ["tenant_id", "pos_provider", "location_id", "business_date"]
    wh.delete_by_keys(DAILY_PRODUCT_SALES, columns, keys)
    rows = 0
    for i in range(0, len(keys), DAYS_PER_QUERY):
        rows += _insert_daily_product_sales(wh, wh.temp_keys(columns, keys[i:i + DAYS_PER_QUERY]))
    return len(keys), rows


def _insert_daily_product_sales(wh: Warehouse, tmp: str) -> int:
    """The rows of ``daily_product_sales`` of the location-days in the key table ``tmp`` (a
    group is one location-day's product, so location-days split into batches sum the same); how
    many rows it wrote."""
    cols = ", ".join(f'"{c}"' for c in DAILY_PRODUCT_SALES.column_names)
    sale = "t.transaction_type = 'sale'"
    refund = "t.transaction_type = 'refund'"
    return wh.execute_count(f"""
            INSERT INTO {SCHEMA}.daily_product_sales ({cols})
            SELECT i.tenant_id, i.pos_provider, i.location_id, i.business_date,
                   coalesce(i.pos_item_id, '(custom)'), max(i.product_name), max(i.mapped_product_id),
                   max(i.currency),
                   coalesce(sum(CASE WHEN {sale} THEN i.quantity END), 0),
                   coalesce(sum(CASE WHEN {refund} THEN i.quantity END), 0),
                   coalesce(sum(CASE WHEN {sale} THEN i.gross_amount END), 0),
                   coalesce(sum(CASE WHEN {sale} THEN i.discount_amount END), 0),
                   coalesce(sum(CASE WHEN {refund} THEN i.line_total END), 0),
                   coalesce(sum(CASE WHEN {sale} THEN i.line_total ELSE -i.line_total END), 0),
                   count(DISTINCT CASE WHEN {sale} THEN i.transaction_id END)
            FROM {SCHEMA}.pos_transaction_items i
            JOIN {SCHEMA}.pos_transactions t ON t.id = i.transaction_id
            JOIN {tmp} k ON k.tenant_id = i.tenant_id AND k.pos_provider = i.pos_provider
                        AND k.location_id = i.location_id AND k.business_date = i.business_date
            WHERE t.status = 'completed' AND t.transaction_type IN ('sale', 'refund')
            GROUP BY i.tenant_id, i.pos_provider, i.location_id, i.business_date,
                     coalesce(i.pos_item_id, '(custom)')
        """)
