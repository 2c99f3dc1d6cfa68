"""A page of API objects parsed from its JSON body straight into Arrow, typed as ``pa.array`` types
the same objects parsed as Python dicts — or not at all, and then the caller takes the dict path.

The nested Arrow tables of :mod:`dlt_sources.common.arrow_nested` start from a struct array of the
page's objects. Built from dicts (``orjson.loads`` of the body, then ``pa.array(rows)``: type
inference, then conversion) that costs ~2.5× Arrow's own JSON reader reading the same body in C++
(``pyarrow.json.read_json``; an orders page of 1 000 objects: ~45 ms against ~110 ms of CPU). The
reader's types agree with ``pa.array``'s in what a JSON API sends — absent keys and nulls, empty
lists (``list<null>``), objects without keys (``struct<>``), integers (``int64``) and numbers with
a fraction or exponent (``double``), fields in order of first appearance — except where this module
refuses the page (``None``: parse the body as dicts, as before):

* the reader types a text it can read as an instant or a date (``2026-01-05T10:00:00Z``, without a
  fraction of a second) as a timestamp; ``pa.array`` keeps it as text (``arrow_nested`` casts it
  with dlt's rules later): any timestamp, date or time type refuses the page;
* an integer beyond int64 becomes a double in the reader (``pa.array``: uint64 or an error), and so
  does a large integer in a field where other objects have a fraction (``pa.array`` refuses an
  integer a double cannot hold exactly): a double with a magnitude of 2**53 or more refuses the page;
* a key twice in one object: the reader fails (``orjson`` keeps the last value): refused;
* a body that is not one JSON object with the data key holding a list of objects.

Batches of several pages: :func:`unify` merges their types as ``pa.array``'s inference merges its
values (null with any type, int64 with double → double, lists and structs field by field, new
fields after the known ones) and :func:`conform` brings each page's array to the merged type;
other mixtures (text with numbers, booleans with numbers…) raise :class:`Refused`.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

EXACT_DOUBLE_LIMIT = 2.0**53  # integers from here on are not all exact as doubles
_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


class Refused(ValueError):
    """This page (or batch) cannot be typed as ``pa.array`` would type its dicts: take the dict path."""


def has_numbers(kind: pa.DataType) -> bool:
    """Whether values of ``kind`` hold a number anywhere (integers, doubles, decimals; in structs and
    lists too)."""
    if pa.types.is_struct(kind):
        return any(has_numbers(f.type) for f in kind)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return has_numbers(kind.value_type)
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


# what the Arrow path of a page or a batch raises when it cannot give what ``pa.array`` of the
# dicts would: take the dict path
ARROW_REFUSALS: tuple[type[Exception], ...] = (Refused, pa.ArrowInvalid, pa.ArrowTypeError,
                                               pa.ArrowNotImplementedError)


class ArrowOrDicts:
    """A page whose objects are a struct array (``rows``) or, when the Arrow path refused the page
    (``rows`` None), dicts (:meth:`dicts`, which each kind of page parses its own way)."""

    rows: pa.StructArray | None

    def dicts(self) -> list[Any]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.dicts())

    def values(self, name: str) -> list[Any]:
        """Each object's value of the top-level field ``name`` (None where absent)."""
        if self.rows is None:
            return [row.get(name) for row in self.dicts()]
        if self.rows.type.get_field_index(name) < 0:
            return [None] * len(self.rows)
        return self.rows.field(name).to_pylist()


@dataclass
class JsonPage(ArrowOrDicts):
    """One page's body and, when the reader's types are ``pa.array``'s, its objects as a struct
    array (``rows``; None: refused, read :meth:`dicts`)."""

    body: bytes
    data_key: str
    rows: pa.StructArray | None
    top: dict[str, Any] = field(default_factory=dict)  # the other top-level texts and integers: the cursor
    names: frozenset[str] = frozenset()  # every top-level key the reader saw
    _dicts: list[Any] | None = None

    def dicts(self) -> list[Any]:
        """The page's objects as dicts (``orjson``), as dlt's data selector picks them: the value
        under ``data_key`` (absent or null: none; not a list: that one value)."""
        if self._dicts is None:
            payload = orjson.loads(self.body)
            data = payload.get(self.data_key) if isinstance(payload, dict) else None
            self._dicts = [] if data is None else list(data) if isinstance(data, list) else [data]
        return self._dicts


def read_page(body: bytes, data_key: str) -> JsonPage:
    """``body`` (one JSON object) read by Arrow's JSON reader: the list under ``data_key`` as a
    struct array (empty when the key is absent or null), the other top-level scalars in ``top``."""
    try:
        table = pj.read_json(io.BytesIO(body), read_options=pj.ReadOptions(use_threads=False, block_size=len(body) + 1),
                             parse_options=pj.ParseOptions(newlines_in_values=True))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return JsonPage(body, data_key, None)
    if table.num_rows != 1:
        return JsonPage(body, data_key, None)
    top = {name: table.column(name)[0].as_py() for name in table.column_names
           if name != data_key and (pa.types.is_string(table.schema.field(name).type)
                                    or pa.types.is_integer(table.schema.field(name).type))}
    names = frozenset(table.column_names)
    if data_key not in names:
        return JsonPage(body, data_key, pa.array([], type=pa.struct([])), top, names)
    column = table.column(data_key).combine_chunks()
    if pa.types.is_null(column.type):
        return JsonPage(body, data_key, pa.array([], type=pa.struct([])), top, names)
    if not pa.types.is_list(column.type) or not (pa.types.is_struct(column.type.value_type)
                                                 or pa.types.is_null(column.type.value_type)):
        return JsonPage(body, data_key, None, top, names)
    rows = pc.list_flatten(column)
    if rows.null_count:  # a null in the list: not an object (the dict path fails on it)
        return JsonPage(body, data_key, None, top, names)
    if pa.types.is_null(rows.type):  # []
        rows = pa.array([], type=pa.struct([]))
    try:
        _check(rows)
    except Refused:
        return JsonPage(body, data_key, None, top, names)
    return JsonPage(body, data_key, rows, top, names)


def _check(array: pa.Array) -> None:
    kind = array.type
    if pa.types.is_temporal(kind):
        raise Refused(f"the reader typed a text as {kind}")
    if pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            _check(array.field(i))
    elif pa.types.is_list(kind):
        _check(array.values)
    elif pa.types.is_floating(kind) and len(array) and array.null_count < len(array):
        largest = pc.max(pc.abs(array)).as_py()
        if largest is not None and largest >= EXACT_DOUBLE_LIMIT:
            raise Refused("a number of 2**53 or more (an integer there: pa.array would not make it a double)")


def unify(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type ``pa.array`` infers for values of type ``a`` followed by values of type ``b``."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if {a, b} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(unify(a.value_type, b.value_type))
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {f.name: f.type for f in a}
        for f in b:
            fields[f.name] = unify(fields[f.name], f.type) if f.name in fields else f.type
        return pa.struct(list(fields.items()))
    raise Refused(f"{a} and {b} do not merge as pa.array merges them")


def conform(array: pa.Array, kind: pa.DataType) -> pa.Array:
    """``array`` as type ``kind`` (a :func:`unify` of its type): absent fields null, int64 as double."""
    if array.type == kind:
        return array
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), kind)
    mask = array.is_null() if array.null_count else None
    if pa.types.is_struct(kind):
        names = {f.name for f in array.type}
        children = [conform(array.field(f.name), f.type) if f.name in names else pa.nulls(len(array), f.type)
                    for f in kind]
        return pa.StructArray.from_arrays(children, fields=list(kind), mask=mask)
    if pa.types.is_list(kind):
        return pa.ListArray.from_arrays(array.offsets, conform(array.values, kind.value_type), type=kind, mask=mask)
    return array.cast(kind)


def concat(pages: Sequence[pa.StructArray]) -> pa.StructArray:
    """The pages' objects as one struct array, typed as ``pa.array`` types all their dicts at once."""
    kind = pages[0].type
    for page in pages[1:]:
        kind = unify(kind, page.type)
    return pa.concat_arrays([conform(page, kind) for page in pages])


def first_object_keys(body: bytes, data_key: str) -> list[str] | None:
    """The keys of the first object of the list under ``data_key``, in their order (None: no such
    object). Reads the body's top level only as far as that object, with the stdlib's decoder."""
    text = body.decode()
    decoder = json.JSONDecoder()
    i = _WS.match(text).end()  # type: ignore[union-attr]
    if text[i:i + 1] != "{":
        return None
    i += 1
    while True:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] != '"':
            return None
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] != ":":
            return None
        i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
        if key == data_key and text[i:i + 1] == "[":
            i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
            if text[i:i + 1] != "{":
                return None
            first, _ = decoder.raw_decode(text, i)
            return list(first)
        _, i = decoder.raw_decode(text, i)  # another top-level value: skipped
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] != ",":
            return None
        i += 1


def add_after_first_keys(rows: pa.StructArray, first_keys: Sequence[str], name: str, value: str) -> pa.StructArray:
    """``rows`` with the field ``name`` = ``value`` where ``pa.array`` places a key every dict got
    last (``row[name] = value``): after the first dict's own keys, before the keys that first
    appear in later dicts."""
    names = [f.name for f in rows.type]
    if name in names or names[:len(first_keys)] != list(first_keys):
        raise Refused("the first object's keys are not the first fields")
    fields = list(rows.type)
    children = [rows.field(i) for i in range(len(fields))]
    at = len(first_keys)
    fields.insert(at, pa.field(name, pa.string()))
    children.insert(at, pa.array([value] * len(rows), type=pa.string()))
    return pa.StructArray.from_arrays(children, fields=fields, mask=rows.is_null() if rows.null_count else None)


def pseudonymise(rows: pa.StructArray, fields: Mapping[str, str], fn: Callable[[Any, str], Any]) -> pa.StructArray:
    """:mod:`dlt_sources.common.pseudonymise`'s rules on a struct array: each path's texts replaced by
    ``fn(text, kind)`` (one call per distinct text), lists walked wherever they are, a path ending
    on an object covering every text below it. A field whose values all become null is typed null,
    as ``pa.array`` types it."""
    for path, kind in fields.items():
        parts = tuple(p.removesuffix("[]") for p in path.split("."))
        rows = _walk(rows, parts, kind, fn)
    return rows


def _walk(array: pa.Array, parts: tuple[str, ...], kind: str, fn: Callable[[Any, str], Any]) -> pa.Array:
    mask = array.is_null() if array.null_count else None
    if pa.types.is_list(array.type):
        values = _walk(array.values, parts, kind, fn)
        return pa.ListArray.from_arrays(array.offsets, values, mask=mask)
    if not pa.types.is_struct(array.type) or array.type.get_field_index(parts[0]) < 0:
        return array
    fields = list(array.type)
    children = [array.field(i) for i in range(len(fields))]
    at = array.type.get_field_index(parts[0])
    child = _leaves(children[at], kind, fn) if len(parts) == 1 else _walk(children[at], parts[1:], kind, fn)
    fields[at] = pa.field(fields[at].name, child.type)
    children[at] = child
    return pa.StructArray.from_arrays(children, fields=fields, mask=mask)


def _leaves(array: pa.Array, kind: str, fn: Callable[[Any, str], Any]) -> pa.Array:
    mask = array.is_null() if array.null_count else None
    if pa.types.is_string(array.type):
        encoded = pc.dictionary_encode(array)
        mapped = [fn(value, kind) for value in encoded.dictionary.to_pylist()]
        if any(v is not None and not isinstance(v, str) for v in mapped):
            raise Refused("a pseudonym that is not text")
        out = pc.take(pa.array(mapped, type=pa.string()), encoded.indices)
        return pa.nulls(len(out)) if out.null_count == len(out) else out
    if pa.types.is_list(array.type):
        values = _leaves(array.values, kind, fn)
        return pa.ListArray.from_arrays(array.offsets, values, mask=mask)
    if pa.types.is_struct(array.type):
        children = [_leaves(array.field(i), kind, fn) for i in range(array.type.num_fields)]
        fields = [pa.field(f.name, c.type) for f, c in zip(array.type, children, strict=True)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask)
    return array
