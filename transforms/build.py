"""What a provider's canonical builder works with: the raw rows it reads and the canonical rows
it writes, as two small protocols, so the builders stay free of connections.

A builder (one per provider, ``transforms/<provider>/build.py``) is a function
``build(raw: RawRows, out: CanonicalSink, job: BuildJob) -> None``: it reads the account's rows
of the raw loads not processed yet through ``raw``, normalises them with the provider's pure
normaliser and hands the canonical rows to ``out``. For many changed objects it may instead hand
``out`` the same rules as SQL text (:class:`SetBasedSales`, ``transforms/<provider>/sales_sql.py``)
when the sink can run it (``set_based``: DuckDB). ``pos_sync.canonical`` implements both
protocols over the warehouse and runs the builder inside one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from transforms.canonical import CanonicalBatch
from transforms.pii import make_pseudonymizer

Row = dict[str, Any]
# objects normalised per batch: a batch's raw and canonical rows are in memory at once (≈ 90 MiB for
# 5 000 Square orders); at chain × 90 days 5 000 peaked ~100 MiB below 10 000, ~6 % slower
CHUNK = 5_000
# changed objects from which a builder with a set-based SQL normalisation uses it (where the sink can):
# below, reading them into Python costs less than the SQL's fixed part (temporary tables, lookups)
SET_BASED_MIN = 2_000


class RawRows(Protocol):
    """One account's rows in its provider's raw dataset (dlt child tables re-attachable)."""

    def account_table(self, table: str) -> list[Row]:
        """Every row of the account in ``table`` ([] when the table does not exist yet)."""
        ...

    def changed_ids(self, table: str, key_column: str, loads: Sequence[str]) -> set[str]:
        """``key_column`` of the account's ``table`` rows written by ``loads``."""
        ...

    def table_changed(self, table: str, loads: Sequence[str]) -> bool:
        ...

    def roots(self, table: str, key_column: str, ids: Iterable[str],
              columns: Sequence[str] | None = None) -> list[Row]:
        """The account's ``table`` rows whose ``key_column`` is one of ``ids``: every column, or only
        ``columns`` (those the table has; a row read whole has no key for a column never filled either)."""
        ...

    def related_ids(self, table: str, key_column: str, column: str, values: Iterable[str]) -> set[str]:
        """``key_column`` of the account's ``table`` rows whose ``column`` is one of ``values``."""
        ...

    def attach(self, root_table: str, roots: list[Row], children: Mapping[str, tuple[str, str]],
               columns: Mapping[str, Sequence[str]] | None = None) -> list[Row]:
        """Child rows (``child_table -> (key in the parent dict, parent table)``) attached as lists
        (of a child table named in ``columns``, only those columns)."""
        ...

    def column_types(self, table: str) -> Mapping[str, str]:
        """The raw table's columns and their SQL types ({} when the table does not exist)."""
        ...

    def qualified(self, table: str) -> str:
        """The raw table's name in the warehouse's SQL (for a set-based build's statements)."""
        ...


@dataclass(frozen=True)
class Lookup:
    """A small table a set-based build joins: ``source`` (SQL) gives the distinct ``keys``, Python gives
    each key its ``values`` (``compute``: pseudonymisation, names, JSON — few distinct values);
    created as the temporary table ``name`` of TEXT columns (keys then values)."""

    name: str
    source: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    compute: Callable[[tuple[Any, ...]], tuple[Any, ...]]


@dataclass(frozen=True)
class SetBasedSales:
    """A provider's sales normalised in the warehouse's SQL (DuckDB), for a build of many of them.

    ``{keys}`` in the SQL is the key table of the changed objects' ids (column ``id``). Run in this
    order: ``prepare`` (intermediate tables), the ``lookups``, then ``transactions``, ``items`` and
    ``tenders`` (SELECTs of the canonical tables' columns, by name) and ``stale_ids`` (SELECT ``id``:
    every transaction id the changed objects may own, so one that yields none now disappears).
    ``left_out`` (SELECT ``id``, after ``prepare``): changed objects the SQL makes no rows of, left
    to the normaliser (Toast's orders with a refund: their refund rows are Python's)."""

    prepare: tuple[str, ...]
    lookups: tuple[Lookup, ...]
    transactions: str
    items: str
    tenders: str
    stale_ids: str
    left_out: str | None = None


class CanonicalSink(Protocol):
    """Where a builder's canonical rows go (replacing what the same source objects gave before)."""

    # whether :meth:`write_set_based` runs here (DuckDB); a builder normalises in Python otherwise
    set_based: bool

    def write_set_based(self, sales: SetBasedSales, ids: Collection[str]) -> list[str]:
        """Like :meth:`write`, with the rows of the objects ``ids`` made by ``sales``' SQL; the ids it
        left to the normaliser (``sales.left_out``). A set ``ids`` is consumed (emptied once the
        ids are in the warehouse: a long history's are ≈ 100 MiB of strings)."""
        ...

    def write(self, batch: CanonicalBatch, stale_ids: Iterable[str] = ()) -> None:
        """Replace the batch's transactions (with their items and tenders) and delete ``stale_ids``
        (transactions whose source object no longer yields one, e.g. a deleted check)."""
        ...

    def replace_products(self, products: list[Row], as_of: datetime | None = None) -> None:
        """The account's POS products, as the catalog now says (``as_of``: the catalog's time).
        Versioned (:mod:`transforms.catalog`): a change opens a new version, an unchanged
        product none, a product no longer listed is kept as archived."""
        ...

    def product_versions(self, tenant_id: str) -> list[Row]:
        """Every version stored of the tenant's products of this provider (``pos_products`` rows)."""
        ...

    def replace_locations(self, rows: list[Row]) -> None:
        ...


@dataclass(frozen=True)
class BuildJob:
    """One canonical build of one account: which loads, and how personal data is treated."""

    tenant_id: str
    account_id: str
    loads: tuple[str, ...]
    first_build: bool  # the account's first build: products and locations are written whatever changed
    pii_key: bytes
    keep_pii_clear: bool = False
    now: datetime | None = None  # the build's time (``updated_at`` of location rows)

    def pseudonymizer(self, normalise: Callable[[str], str] | None = None) -> Callable[[str | None], str | None]:
        if normalise is None:
            return make_pseudonymizer(self.pii_key, keep_clear=self.keep_pii_clear)
        return make_pseudonymizer(self.pii_key, keep_clear=self.keep_pii_clear, normalise=normalise)


Builder = Callable[[RawRows, CanonicalSink, BuildJob], None]


def set_based_first(out: CanonicalSink, ids: set[str], supported: Callable[[], bool],
                    sales: Callable[[], SetBasedSales]) -> set[str]:
    """The changed objects ``ids`` a builder still normalises in Python: all of them, unless there
    are :data:`SET_BASED_MIN` or more, the sink runs set-based SQL and the provider's SQL is exact
    here (``supported()``, asked only then: it reads the raw tables' columns) — then ``sales()``'s
    SQL writes them and only those it left out remain (``ids`` is then emptied: the sink consumes it)."""
    if len(ids) < SET_BASED_MIN or not getattr(out, "set_based", False) or not supported():
        return ids
    return set(out.write_set_based(sales(), ids))


def chunks(items: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    """Sorted ``items`` in lists of at most ``size``."""
    ordered = sorted(items)
    for i in range(0, len(ordered), size):
        yield ordered[i:i + size]
