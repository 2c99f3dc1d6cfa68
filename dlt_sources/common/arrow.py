"""Pages of flat-enough API objects as Arrow tables: dlt's fast path around its row normaliser.

dlt normalises Python dicts row by row (flattening nested objects, inferring and coercing every
value: ~25 µs per row here). An Arrow table skips that step: extract writes it to parquet as is,
and normalize only adds the dlt columns. For objects whose nested lists are not wanted as child
tables (Square payments and refunds), the source can build that table itself, in Arrow's C++,
with exactly the columns the dict path would have made:

* nested objects become ``parent__child`` columns (dlt's path separator; keys are already
  snake_case, which dlt's naming keeps);
* the named lists become one JSON text column each (declare them ``data_type: json`` on the
  resource); the named timestamps become timestamp[us, UTC];
* ``None`` gives no value, as in dlt's dict path; a column that is ``None`` in every row of a
  batch is left out of it (Arrow would type it ``null``), and dlt fills it in when the table has
  it; ``int`` -> int64 (money is integer minor units, never a float), ``str`` -> string, ``bool``.

The dlt columns of dict rows: ``_dlt_load_id`` is added to Arrow items by dlt's extract after
:func:`prepare_arrow_resources` (dlt's default for Arrow is none); ``_dlt_id`` comes with each
table (:func:`arrow_batches` adds it; dlt's own option would add a second one to the tables of
``dlt_sources.common.arrow_nested``, which carry theirs to link child rows to parents).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa
from dlt.common.normalizers.utils import generate_dlt_ids

from dlt_sources.common.tuning import set_dlt_config

SEPARATOR = "__"
UTC_MICROS = pa.timestamp("us", tz="UTC")

# dlt's config for Arrow items: ``_dlt_load_id`` added by dlt (the canonical build reads it);
# ``_dlt_id`` brought by every Arrow table itself (see the module's docstring).
DLT_COLUMNS_SETTINGS = {
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "false",
}
DLT_ID = "_dlt_id"


def prepare_arrow_resources(resources: Iterable[str]) -> None:
    """Before a run with Arrow items from ``resources``:

    * make dlt add ``_dlt_load_id`` to Arrow items and leave their own ``_dlt_id`` (process
      environment; set unconditionally: the tables rely on them, and dict rows always get them);
    * declared JSON columns arrive as Arrow strings (Arrow has no JSON type dlt reads), so dlt
      warns on every item that the resource's ``json`` hint differs from the Arrow type and that
      the destination will coerce the text — which is what is wanted. That one warning is muted for
      these resources (the per-column details stay at INFO level).
    """
    set_dlt_config(DLT_COLUMNS_SETTINGS, override=True)
    import_frame_modules()
    _HINT_WARNING_FILTER.resources.update(resources)
    dlt_logger = logging.getLogger("dlt")
    if _HINT_WARNING_FILTER not in dlt_logger.filters:
        dlt_logger.addFilter(_HINT_WARNING_FILTER)


def import_frame_modules() -> None:
    """Import the data-frame modules that pyarrow and dlt import lazily, now, in the calling thread.

    With parallel resources (dlt's ``parallelized``) a worker thread's first Arrow conversion
    imports pandas while dlt's extract, in the main thread, asks ``sys.modules`` whether an item is
    a pandas frame: it met the half-imported module ("partially initialized module 'pandas' has no
    attribute 'DataFrame'") and the run failed. Called by every source factory with parallel
    resources, before the extract starts."""
    for name in ("pandas",):
        try:
            importlib.import_module(name)
        except ImportError:  # not installed: nothing can half-import it either
            continue


class _JsonHintWarningFilter(logging.Filter):
    """Drops dlt's "when merging arrow schema with dlt schema, several column hints were different"
    warning of the resources registered by :func:`prepare_arrow_resources`."""

    MARKER = ", when merging arrow schema with dlt schema"

    def __init__(self) -> None:
        super().__init__()
        self.resources: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith("In resource: ") or self.MARKER not in message:
            return True
        return message[len("In resource: "):].split(self.MARKER, 1)[0] not in self.resources


_HINT_WARNING_FILTER = _JsonHintWarningFilter()


def to_arrow(rows: Sequence[Mapping[str, Any]], *, json_columns: Collection[str] = (),
             timestamp_columns: Collection[str] = (), not_null: Collection[str] = ()) -> pa.Table:
    """The rows as one flat Arrow table, built column by column in Arrow's C++ (~10 µs per
    payment, against ~45 µs flattening and parsing in Python).

    * ``json_columns``: top-level lists (or objects) kept as one JSON text column each;
    * nested objects: Arrow infers a struct over all rows, then ``Table.flatten`` splits it into
      ``parent__child`` columns until none is left;
    * ``timestamp_columns`` (flattened names): RFC 3339 text cast to timestamp[us, UTC] (an offset
      is required; finer than microseconds is truncated);
    * columns ``None`` in every row are left out (Arrow types them ``null``); ``not_null`` columns
      (the primary key) are typed non-nullable, as in dlt's schema.
    """
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    arrays: dict[str, pa.Array] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name in json_columns:
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        arrays[name] = pa.array(values)
    table = pa.table(arrays)
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()  # "parent.child"
    columns: list[pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_null(field.type):
            continue
        name = field.name.replace(".", SEPARATOR)
        if name in timestamp_columns and pa.types.is_string(field.type):
            column = _to_timestamp(column)
        columns.append(column)
        fields.append(pa.field(name, column.type, nullable=name not in not_null))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _to_timestamp(column: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        return column.cast(UTC_MICROS)
    except pa.ArrowInvalid:  # nanoseconds (Square's catalog writes them): parse, then truncate
        return column.cast(pa.timestamp("ns", tz="UTC")).cast(UTC_MICROS, safe=False)


def arrow_batches(pages: Iterable[Sequence[Mapping[str, Any]]], rows_per_batch: int,
                  **columns: Collection[str]) -> Iterator[pa.Table]:
    """Pages of rows regrouped into Arrow tables of about ``rows_per_batch`` rows (dlt handles
    each item with a fixed cost of a few milliseconds, so one table per API page of 100 rows
    would cost more than the normalisation it saves). ``columns``: see :func:`to_arrow`. Each
    table carries a random ``_dlt_id`` per row (as dlt's dict path gives root rows)."""
    pending: list[Mapping[str, Any]] = []
    for page in pages:
        pending.extend(page)
        if len(pending) >= rows_per_batch:
            yield with_dlt_id(to_arrow(pending, **columns))
            pending = []
    if pending:
        yield with_dlt_id(to_arrow(pending, **columns))


def with_dlt_id(table: pa.Table) -> pa.Table:
    """``table`` with a random ``_dlt_id`` per row (dlt's generator), unless it has one."""
    if DLT_ID in table.column_names:
        return table
    return table.append_column(pa.field(DLT_ID, pa.string(), nullable=False),
                               pa.array(generate_dlt_ids(table.num_rows), type=pa.string()))
