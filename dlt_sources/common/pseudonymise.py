"""Personal data pseudonymised in the source, before dlt sees it (GDPR: privacy by default).

Every provider names its personal fields in ``settings.PII_FIELDS``: per resource, a path in the
API object (``.`` between keys, ``[]`` after a list: lists are walked wherever they are) and what
the value is (``id``, ``email``, ``phone``, ``name``, ``text``). A path that ends on an object
covers every text value below it (an address). :func:`pseudonymise_resources` adds one map step to
those resources that replaces each value with ``pseudonymize(value, kind)`` — the caller's keyed
hash (the service passes ``transforms.pii.Pseudonymizer``: HMAC-SHA256 with the tenant's key, the
same function the canonical layer applies, which leaves pseudonyms as they are).

* dict rows (pages of API objects): the named paths are rewritten in place;
* Arrow tables (Square payments and refunds, ``common/arrow.py``): the flattened columns
  (``card_details__card__cardholder_name``) are rewritten column-wise: the column is dictionary
  encoded, each **distinct** value is hashed once, and the hashed dictionary is gathered back with
  the indices (``pyarrow.compute.take``), so nothing runs per row in Python.

``pseudonymize=None`` (a tenant that opted in to clear storage, or a caller without a key) adds no
step. :func:`pii_columns` gives the warehouse columns the rules become (erasure looks there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dlt_sources.common.arrow import SEPARATOR

Pseudonymize = Callable[[Any, str], Any]  # (value, kind) -> pseudonym (None for an empty value)
PiiFields = Mapping[str, Mapping[str, str]]  # resource -> {path: kind}
KINDS = frozenset({"id", "email", "phone", "name", "text"})


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p.removesuffix("[]") for p in path.split("."))


def _snake(name: str) -> str:
    """dlt's snake_case of an API key (``firstName`` -> ``first_name``)."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class _Rules:
    """One resource's rules, ready for dict rows and Arrow tables."""

    def __init__(self, fields: Mapping[str, str], pseudonymize: Pseudonymize) -> None:
        unknown = {kind for kind in fields.values() if kind not in KINDS}
        if unknown:
            raise ValueError(f"unknown PII kinds {sorted(unknown)} (known: {sorted(KINDS)})")
        self.paths = [(_parts(path), kind) for path, kind in fields.items()]
        self.columns = [(SEPARATOR.join(_snake(p) for p in parts), kind) for parts, kind in self.paths]
        self.fn = pseudonymize

    # ------------------------------------------------------------------ dict rows
    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        for parts, kind in self.paths:
            self._walk(row, parts, kind)
        return row

    def _walk(self, node: Any, parts: tuple[str, ...], kind: str) -> None:
        if isinstance(node, list):
            for element in node:
                self._walk(element, parts, kind)
            return
        if not isinstance(node, dict) or parts[0] not in node:
            return
        if len(parts) == 1:
            node[parts[0]] = self._leaves(node[parts[0]], kind)
        else:
            self._walk(node[parts[0]], parts[1:], kind)

    def _leaves(self, value: Any, kind: str) -> Any:
        if isinstance(value, str):
            return self.fn(value, kind)
        if isinstance(value, list):
            return [self._leaves(v, kind) for v in value]
        if isinstance(value, dict):
            return {k: self._leaves(v, kind) for k, v in value.items()}
        return value  # numbers, booleans, None: no personal text

    # ------------------------------------------------------------------ Arrow tables
    def table(self, table: pa.Table) -> pa.Table:
        for name, kind in self.columns:
            for i, field in enumerate(table.schema):
                if field.name != name and not field.name.startswith(name + SEPARATOR):
                    continue
                if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
                    continue
                table = table.set_column(i, field, self._column(table.column(i), kind, field.type))
        return table

    def _column(self, column: pa.ChunkedArray, kind: str, type_: pa.DataType) -> pa.Array:
        encoded = pc.dictionary_encode(column.combine_chunks())
        distinct = encoded.dictionary.to_pylist()
        hashed = pa.array([self.fn(value, kind) for value in distinct], type=type_)
        return pc.take(hashed, encoded.indices)

    def __call__(self, item: Any) -> Any:
        if isinstance(item, dict):
            return self.row(item)
        if isinstance(item, pa.Table):
            return self.table(item)
        if isinstance(item, pa.RecordBatch):
            if not item.num_rows:
                return item
            return self.table(pa.Table.from_batches([item])).combine_chunks().to_batches()[0]
        return item


def pseudonymise_resources(resources: Sequence[Any], fields: PiiFields,
                           pseudonymize: Pseudonymize | None) -> list[Any]:
    """``resources`` (dlt resources), each named in ``fields`` with a pseudonymising map step
    added (none when ``pseudonymize`` is None)."""
    out = list(resources)
    if pseudonymize is None:
        return out
    for resource in out:
        rules = fields.get(resource.name)
        if rules:
            resource.add_map(_Rules(rules, pseudonymize))
    return out


def pseudonymise_rows(rows: Iterable[dict[str, Any]], fields: Mapping[str, str],
                      pseudonymize: Pseudonymize) -> list[dict[str, Any]]:
    """The rule set applied to plain rows (tests, one-off tools)."""
    rules = _Rules(fields, pseudonymize)
    return [rules.row(row) for row in rows]


def row_pseudonymiser(fields: Mapping[str, str], pseudonymize: Pseudonymize | None) -> Callable[[dict[str, Any]], Any]:
    """The rule set as a function of one dict row, rewriting it in place (identity when
    ``pseudonymize`` is None): for sources that turn rows into Arrow themselves (Square orders,
    ``common/arrow_nested.py``) before dlt, where the rules' list paths still exist."""
    if pseudonymize is None:
        return lambda row: row
    return _Rules(fields, pseudonymize).row


def pseudonymise_table(table: pa.Table, fields: Mapping[str, str], pseudonymize: Pseudonymize) -> pa.Table:
    """The rule set applied to one flat Arrow table (the Square payments path)."""
    return _Rules(fields, pseudonymize).table(table)


def pii_columns(resource: str, fields: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Where the rules land in the warehouse: ``{table: {column or column prefix: kind}}``, a
    list (``[]``) starting a dlt child table (``orders__checks``), the keys in dlt's snake_case.
    A column prefix (an object: an address) covers every ``prefix__…`` column."""
    out: dict[str, dict[str, str]] = {}
    for path, kind in fields.items():
        table, column = [resource], []
        for part in path.split("."):
            column.append(_snake(part.removesuffix("[]")))
            if part.endswith("[]"):
                table.append(SEPARATOR.join(column))
                column = []
        out.setdefault(SEPARATOR.join(table), {})[SEPARATOR.join(column)] = kind
    return out
