"""API objects with nested lists as Arrow tables: the root table and one child table per list,
shaped as dlt's relational normaliser shapes dict rows, built in Arrow's C++ instead of per row
in Python (the cost of an orders import was mostly dlt's per-row normaliser: ~25 µs per row over
the root and child tables).

What dlt makes of a dict row, and what :func:`nested_tables` makes of it alike:

* nested objects become ``parent__child`` columns, down to ``max_nesting`` levels (the source's
  ``max_table_nesting``); an object or list met at or below level 0 stays one JSON text column;
* each list of objects becomes a child table ``<table>__<path>`` (a list of scalars: a child table
  with a ``value`` column), its rows carrying ``_dlt_parent_id`` (the parent row's ``_dlt_id``),
  ``_dlt_root_id`` (the root row's) and ``_dlt_list_idx`` (position in the list); each level down
  a list counts one nesting level, as in dlt;
* every row gets a random ``_dlt_id`` (dlt's own id generator; the root ids of a delete-insert
  merge are random in dlt too); ``_dlt_load_id`` is added by dlt's extract to every table;
* ``None`` values give no column (a column ``None`` in every row of a batch is left out; dlt fills
  it in when the table has it); text whose first value is an RFC 3339 instant
  (``2026-01-05T10:00:00Z``) becomes timestamp[us, UTC] — dlt's ISO-timestamp detection of the
  dict path — when every value of the batch parses, otherwise it stays text; ``Decimal`` values
  become decimal(38, 9), dlt's decimal type (exact; more than 9 decimal places fail loudly).

**Binary numbers, exact decimals** (``exact_numbers``): a source whose money is exact ``Decimal``
text (Lightspeed) may hand :func:`nested_tables` the rows as ``orjson`` parses them — every JSON
number with a fraction or exponent a ``float``, integers ``int`` — when the page's numbers are
safe for it (:func:`dlt_sources.common.exact_numbers.binary_numbers_are_exact`). The tables are then the ones the ``Decimal`` rows would give: each ``float``
is the double nearest to a decimal of at most 15 significant digits, and that decimal is the one
``repr`` prints (any such decimal survives decimal → double → 15 digits, so two cannot share a
double, and the shortest text of the double is at most 15 digits long): ``Decimal(repr(x))``,
for each *distinct* double of a column (``dictionary_encode``), then gathered back into
``decimal(38, 9)`` in C++. Integers under a key of ``exact_numbers`` become decimals too. What the
``Decimal`` rows could type otherwise — numbers inside a JSON column or in a list (a child table's
``value``), values ``pa.array`` cannot type — raises :class:`Inexact`: the caller converts the rows with
:func:`~dlt_sources.common.exact_numbers.exact_numbers_of` and builds them again without ``exact_numbers`` (the ``Decimal`` path).

:func:`nested_tables_of` does the same from a struct array typed as ``pa.array`` types the rows
(:mod:`dlt_sources.common.arrow_json` reads one from a page's JSON body without making dicts).

:func:`nested_items` wraps the tables for dlt: the root with the resource's table hints, each
child table as a *nested* table of its parent (``parent`` in dlt's schema, with the row/parent/
root key hints of dlt's own nested tables), so dlt's delete-insert merge replaces an object's
child rows with the object, exactly as on the dict path.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import dlt
import dlt.extract.extract as dlt_extract
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.utils import generate_dlt_ids

from dlt_sources.common.arrow import SEPARATOR, UTC_MICROS
from dlt_sources.common.arrow_json import has_numbers
from dlt_sources.common.exact_numbers import FLOAT_RANGE, Inexact

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
DLT_DECIMAL = pa.decimal128(38, 9)  # dlt's default precision and scale of a ``decimal`` column
DLT_ID, PARENT_ID, ROOT_ID, LIST_IDX, VALUE = "_dlt_id", "_dlt_parent_id", "_dlt_root_id", "_dlt_list_idx", "value"

# the hints dlt's relational normaliser gives the key columns of its tables
ROW_KEY = {"data_type": "text", "nullable": False, "unique": True, "row_key": True}
NESTED_COLUMNS: dict[str, Any] = {
    # dlt's extract adds the load id to every Arrow table, child tables included (dict rows' child
    # tables have none): nullable, so that it can be added to child tables that already hold rows
    "_dlt_load_id": {"data_type": "text", "nullable": True},
    ROOT_ID: {"data_type": "text", "nullable": False, "root_key": True},
    PARENT_ID: {"data_type": "text", "nullable": False, "parent_key": True},
    LIST_IDX: {"data_type": "bigint", "nullable": False},
    DLT_ID: ROW_KEY,
}


def _exact_doubles(array: pa.Array) -> pa.Array:
    """Doubles parsed from decimal texts of at most 15 significant digits, as those decimals in
    ``decimal(38, 9)``: ``Decimal(repr(x))`` once per distinct value."""
    encoded = pc.dictionary_encode(array)
    distinct = encoded.dictionary.to_pylist()
    low, high = FLOAT_RANGE
    if any(not math.isfinite(x) or (x and not low < abs(x) < high) for x in distinct):
        raise Inexact("a double out of the normal range")
    try:
        exact = pa.array([Decimal(repr(x)) for x in distinct], type=DLT_DECIMAL)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # more than 9 places: the Decimal path fails alike
        raise Inexact(str(exc)) from exc
    return pc.take(exact, encoded.indices)


@dataclass
class NestedTable:
    name: str
    parent: str | None  # None: the root table
    table: pa.Table
    json_columns: tuple[str, ...] = ()  # objects/lists kept whole (dlt types them ``json``)


def _ids(n: int) -> pa.Array:
    return pa.array(generate_dlt_ids(n), type=pa.string())


def _json(array: pa.Array) -> pa.Array:
    """Objects/lists kept whole (below the nesting limit): JSON text, keys of absent values left out."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return pa.array([None if v is None else orjson.dumps(clean(v)).decode() for v in array.to_pylist()],
                    type=pa.string())


def _maybe_timestamp(array: pa.Array) -> pa.Array:
    first = next((v for v in array.drop_null().slice(0, 1).to_pylist()), None)
    if first is None or not INSTANT.match(first):
        return array
    try:
        return array.cast(UTC_MICROS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        try:  # nanoseconds: parse, then truncate
            return array.cast(pa.timestamp("ns", tz="UTC")).cast(UTC_MICROS, safe=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return array  # not every value is an instant: text, as dlt leaves it


class _Builder:
    def __init__(self, max_nesting: int, not_null: Sequence[str], naming: Callable[[str], str],
                 exact_numbers: frozenset[str] | None = None) -> None:
        self.max_nesting = max_nesting
        self.exact = exact_numbers
        self.naming = naming
        self.not_null = set(not_null)
        self.out: list[NestedTable] = []

    def table(self, name: str, parent: str | None, rows: pa.StructArray, level: int,
              keys: dict[str, pa.Array]) -> None:
        """One table's rows (``keys``: its ``_dlt_*`` columns, ``_dlt_id`` included); their lists
        become child tables, listed after it."""
        columns: dict[str, pa.Array] = {}
        lists: list[tuple[str, str, pa.ListArray]] = []
        json_columns: list[str] = []
        self._columns(rows, "", level, columns, lists, json_columns)
        columns.update(keys)
        fields = [pa.field(n, a.type, nullable=n not in self.not_null and n not in keys) for n, a in columns.items()]
        self.out.append(NestedTable(name, parent, pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields)),
                                    tuple(json_columns)))
        for path, key, values in lists:
            self._children(f"{name}{SEPARATOR}{path}", name, key, values, level - 1, keys[DLT_ID],
                           keys.get(ROOT_ID, keys[DLT_ID]))

    def _columns(self, struct: pa.StructArray, prefix: str, level: int, columns: dict[str, pa.Array],
                 lists: list[tuple[str, str, pa.ListArray]], json_columns: list[str]) -> None:
        for field, array in zip(struct.type, struct.flatten(), strict=True):  # flatten: parent nulls applied
            name = prefix + self.naming(field.name)
            kind = field.type
            if pa.types.is_null(kind):
                continue
            nested = pa.types.is_struct(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)
            if nested and level <= 0:
                if self.exact is not None and has_numbers(kind):
                    raise Inexact(f"numbers inside the JSON column {name}")
                columns[name] = _json(array)
                json_columns.append(name)
            elif pa.types.is_struct(kind):
                self._columns(array, name + SEPARATOR, level - 1, columns, lists, json_columns)
            elif nested:
                lists.append((name, field.name, array))
            elif pa.types.is_string(kind):
                columns[name] = _maybe_timestamp(array)
            elif pa.types.is_decimal(kind):
                columns[name] = array.cast(DLT_DECIMAL)
            else:
                columns[name] = self._number(field.name, array)

    def _number(self, key: str, array: pa.Array) -> pa.Array:
        """A scalar column; with ``exact_numbers``, binary numbers as the decimals they were."""
        kind = array.type
        if self.exact is None:
            return array
        if pa.types.is_floating(kind):  # every JSON fraction is a Decimal on that path, whatever its key
            return _exact_doubles(array)
        if pa.types.is_integer(kind) and key in self.exact:
            return array.cast(DLT_DECIMAL)
        return array

    def _children(self, name: str, parent: str, key: str, values: pa.ListArray, level: int, parent_ids: pa.Array,
                  root_ids: pa.Array) -> None:
        lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy(zero_copy_only=False)
        total = int(lengths.sum())
        if total == 0:
            return
        owner = pa.array(np.repeat(np.arange(len(values)), lengths))
        starts = np.cumsum(lengths) - lengths
        keys = {
            ROOT_ID: pc.take(root_ids, owner),
            PARENT_ID: pc.take(parent_ids, owner),
            LIST_IDX: pa.array(np.arange(total) - np.repeat(starts, lengths), type=pa.int64()),
            DLT_ID: _ids(total),
        }
        items = pc.list_flatten(values)
        if pa.types.is_struct(items.type):
            self.table(name, parent, items, level, keys)
        elif pa.types.is_list(items.type) or pa.types.is_large_list(items.type):
            raise ValueError(f"{name}: lists of lists are not supported on the Arrow path")
        else:  # scalars: dlt's {"value": v} rows
            if self.exact is not None and has_numbers(items.type):  # their key is the list's, not "value"
                raise Inexact(f"a list of numbers under {key!r}")
            self.table(name, parent, pa.StructArray.from_arrays([items], names=[VALUE]), level, keys)


def nested_tables(rows: Sequence[Mapping[str, Any]], table: str, *, max_nesting: int,
                  not_null: Sequence[str] = ("id",), naming: Callable[[str], str] | None = None,
                  exact_numbers: frozenset[str] | None = None) -> list[NestedTable]:
    """``rows`` as the root table ``table`` and its child tables (parents before children); see
    the module's docstring. ``not_null``: root columns typed non-nullable (the primary key);
    ``naming``: the key -> column name of dlt's naming convention (``snake_case``:
    ``businessDate`` -> ``business_date``), for APIs whose keys are not snake_case already; it runs
    once per key of a batch, not per row. ``exact_numbers``: the rows' numbers are orjson's of a
    body ``exact_numbers.binary_numbers_are_exact`` accepted, and these keys' numbers are exact decimals (see
    the module's docstring; raises :class:`Inexact` where the ``Decimal`` rows would differ)."""
    if not rows:
        return []
    if exact_numbers is None:
        struct = pa.array(list(rows))
    else:
        try:
            struct = pa.array(list(rows))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:  # e.g. an int beyond a double
            raise Inexact(f"pa.array refused the binary rows: {exc}") from exc
    return nested_tables_of(struct, table, max_nesting=max_nesting, not_null=not_null, naming=naming,
                            exact_numbers=exact_numbers)


def nested_tables_of(struct: pa.Array, table: str, *, max_nesting: int, not_null: Sequence[str] = ("id",),
                     naming: Callable[[str], str] | None = None,
                     exact_numbers: frozenset[str] | None = None) -> list[NestedTable]:
    """:func:`nested_tables` of rows already in a struct array, typed as ``pa.array`` types the
    rows' dicts (e.g. read from the page's JSON by :mod:`dlt_sources.common.arrow_json`)."""
    if not len(struct):
        return []
    if not pa.types.is_struct(struct.type):
        raise TypeError(f"{table}: rows must be objects")
    builder = _Builder(max_nesting, not_null, functools.cache(naming) if naming else _same, exact_numbers)
    builder.table(table, None, struct, max_nesting, {DLT_ID: _ids(len(struct))})
    return builder.out


def _same(name: str) -> str:
    return name


def nested_items(tables: Iterable[NestedTable], root_hints: Mapping[str, Any]) -> Iterator[Any]:
    """dlt items of :func:`nested_tables`: the root with ``root_hints`` (``dlt.mark.make_hints``
    arguments: write disposition, primary key, columns), each child table as a nested table of its
    parent. The resource itself must carry no primary key or column hints (dlt would apply them to
    the child tables too): they belong in ``root_hints``. Each child table gets the root's write
    disposition explicitly, so that a load never writes into a child table's schema another
    disposition than its root's (an account's first load appends, later ones merge); in a load
    that merges, so do the root's nested tables that get no rows (:func:`merge_appended_nested_tables`)."""
    disposition = root_hints.get("write_disposition")
    for item in tables:
        json_hints = {name: {"data_type": "json"} for name in item.json_columns}
        if item.parent is None:
            if disposition != "append":
                merge_appended_nested_tables(item.name)
            columns = {**dict(root_hints.get("columns") or {}), **json_hints, DLT_ID: ROW_KEY}
            hints = dlt.mark.make_hints(table_name=item.name, **{**root_hints, "columns": columns})
        else:
            hints = dlt.mark.make_hints(table_name=item.name, parent_table_name=item.parent,
                                        columns={**json_hints, **NESTED_COLUMNS}, write_disposition=disposition)
        yield dlt.mark.with_hints(item.table, hints, create_table_variant=True)


def merge_appended_nested_tables(root: str) -> None:
    """In the schema this extract writes, ``root``'s nested tables an account's first load appended
    merge, as ``root`` does: also those that get no rows in this load.

    dlt keeps in a nested table's schema the disposition of the last rows it got. A nested table that
    gets none in a later load stays ``append`` while its root merges; dlt then stages only the
    tables that merge, yet its merge statement for the root names every nested table — the load
    failed on a staging table dlt had not made. Done here, in the extract, because only here is the
    schema the one the load uses: dagster-dlt drops the pipeline's working folder before every run,
    and dlt then restores the destination's newest schema of the name, which every account of the
    provider shares (another account's first load, its tables appended; a change stored before
    the run did not survive a sync killed before storing it: ``tests/dlt_sources/
    test_first_load_repeats.py``, ``tests/deploy/test_topology.py``)."""
    from dlt.common.schema.utils import get_root_table

    schema = dlt.current.source_schema()
    for table in list(schema.tables.values()):
        if (table.get("parent") and table.get("write_disposition") == "append"
                and get_root_table(schema.tables, table["name"])["name"] == root):
            table["write_disposition"] = "merge"


def count_nested_by_root_resource() -> None:
    """dlt 1.31's extract sums its metrics per resource by ``schema.get_table(t)["resource"]``,
    which a nested table has not (on the dict path nested tables appear only after normalise):
    count a nested table's files under its root table's resource. Idempotent."""
    aggregate = dlt_extract.aggregate_job_metrics
    if getattr(aggregate, "_nested_aware", False):
        return

    def nested_aware(job_metrics: Any, key: Callable[[Any], str]) -> Any:
        def resolved(name: Any) -> str:
            while True:
                try:
                    return key(name)
                except KeyError:
                    if not isinstance(name, str) or SEPARATOR not in name:
                        raise
                    name = name.rsplit(SEPARATOR, 1)[0]
        return aggregate(job_metrics, resolved)

    nested_aware._nested_aware = True  # type: ignore[attr-defined]
    dlt_extract.aggregate_job_metrics = nested_aware
