"""The canonical model's functions in DuckDB SQL, for the set-based builds (pure: SQL text only).

:data:`CANONICAL_ID_MACRO` is :func:`transforms.canonical.canonical_id` as a DuckDB macro: the
UUIDv5 text of the namespace and the ``|``-joined parts, byte for byte the same id (a test compares
the two over ids of every kind). :func:`canonical_id_sql` writes its call over SQL expressions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from transforms.canonical import ID_NAMESPACE
from transforms.money import MINOR_UNITS
from transforms.times import zone_names

# a raw table's columns and their SQL types as the warehouse reports them ({} when it does not exist)
Types = Callable[[str], Mapping[str, str]]

MACRO = "pos_canonical_id"
_NAMESPACE_LITERAL = "".join(f"\\x{b:02x}" for b in ID_NAMESPACE.bytes)

# sha1 of namespace bytes + the UTF-8 name, as the hex text of a version-5, RFC 4122 variant UUID:
# hex digit 13 becomes 5, digit 17 keeps its low two bits under the variant bits 10 (8, 9, a or b)
CANONICAL_ID_MACRO = f"""
CREATE OR REPLACE TEMP MACRO {MACRO}(name) AS (
  WITH h AS (SELECT sha1('{_NAMESPACE_LITERAL}'::BLOB || encode(name)) AS x)
  SELECT substr(x, 1, 8) || '-' || substr(x, 9, 4) || '-5' || substr(x, 14, 3) || '-'
         || substr('89ab89ab89ab89ab', strpos('0123456789abcdef', substr(x, 17, 1)), 1)
         || substr(x, 18, 3) || '-' || substr(x, 21, 12)
  FROM h
)
"""


def canonical_id_sql(*parts: str) -> str:
    """The macro's call over SQL expressions (each TEXT or NULL: NULL is the empty part, as
    :func:`~transforms.canonical.canonical_id` takes None)."""
    return f"{MACRO}(" + " || '|' || ".join(f"coalesce({p}, '')" for p in parts) + ")"


def text_literal(value: str) -> str:
    """A SQL string literal of ``value``."""
    return "'" + value.replace("'", "''") + "'"


def types_match(columns: Mapping[str, Mapping[str, str]], types: Types) -> bool:
    """Whether every raw column the SQL reads (``columns``: table -> column -> type) is absent or of
    the type the SQL was written for."""
    return all(types(table).get(c, t) == t for table, cols in columns.items() for c, t in cols.items())


def relation(columns: Mapping[str, Mapping[str, str]], table: str, types: Types, name: Callable[[str], str]) -> str:
    """The raw table as a subquery of the columns the SQL reads: NULL for one dlt never created (no
    value seen yet: a missing key for the normaliser), no rows when the table does not exist."""
    present = types(table)
    cols = ", ".join(f'"{c}"' if c in present else f'NULL::{t} AS "{c}"' for c, t in columns[table].items())
    return f"(SELECT {cols} FROM {name(table)})" if present else f"(SELECT {cols} WHERE false)"


def minor_units_sql(currency: str) -> str:
    """The currency's minor units (:data:`transforms.money.MINOR_UNITS`, else 2) of a SQL text expression."""
    cases = " ".join(f"WHEN '{c}' THEN {n}" for c, n in MINOR_UNITS.items() if n != 2)
    return f"(CASE upper({currency}) {cases} ELSE 2 END)"


def unit_price_sql(gross: str, quantity: str) -> str:
    """A line's unit price: ``gross / quantity`` rounded half-even to the cent, as Python's
    ``Decimal.quantize`` does by default (``gross`` when the quantity is 0) — in integers
    (``HUGEINT``), exactly: cents × 10⁹ over the quantity × 10⁹ (quantities of up to 9 decimals)."""
    num, den = f"(({gross}) * 100)::HUGEINT * 1000000000", f"(({quantity}) * 1000000000)::HUGEINT"
    whole, rest = f"(abs({num}) // abs({den}))", f"(abs({num}) % abs({den}))"
    cents = (f"sign({num}) * sign({den}) * ({whole} + CASE WHEN 2 * {rest} > abs({den}) THEN 1 "
             f"WHEN 2 * {rest} = abs({den}) THEN {whole} % 2 ELSE 0 END)")
    return f"(CASE WHEN ({quantity}) <> 0 THEN ({cents})::DECIMAL(38,0) * 0.01 ELSE ({gross}) END)"


def quantity_sql(expr: str) -> str:
    """A quantity as the canonical NUMERIC(14,3) takes it, or the build fails as the normaliser's
    does (a quantity of more than three decimals does not fit the column and is never rounded)."""
    return (f"(CASE WHEN ({expr}) = round(({expr}), 3) THEN ({expr})::DECIMAL(38,9) "
            f"ELSE error('a quantity of more than three decimals: ' || ({expr})::VARCHAR) END)")


def decimal_text_sql(text: str) -> str:
    """A decimal text as ``DECIMAL(38,20)``, or the build fails when the cast could lose what the
    normaliser's ``Decimal`` keeps (whose insert then refuses the value): more than 20 decimals that
    are not all zeros (``1.0000000000000000000001`` → 1), or an exponent whose value the cast
    rounds (``1e-25`` → 0; ``2E0`` is 2, as for ``Decimal``; a rounding below a double's precision,
    ``1.0000000000000000000001e0``, is not seen — no source writes such a quantity). Spaces around
    the text are ignored, as ``Decimal`` ignores them."""
    plain = f"trim({text})"
    return (f"(CASE WHEN regexp_matches({plain}, '[eE]') "
            f"AND CAST(CAST({plain} AS DECIMAL(38,20)) AS DOUBLE) <> CAST({plain} AS DOUBLE) "
            f"THEN error('a number in exponent notation the cast would round: ' || {text}) "
            f"WHEN length(regexp_extract(rtrim({plain}, '0'), '\\.([0-9]*)$', 1)) > 20 "
            f"AND regexp_matches({plain}, '\\.[0-9]*$') "
            f"THEN error('a number of more than 20 decimals: ' || {text}) ELSE {plain}::DECIMAL(38,20) END)")


def cents_sql(expr: str) -> str:
    """An amount as the canonical NUMERIC(14,2) takes it, or the build fails as the normaliser's does
    (an amount of more decimals, e.g. a 3-decimal currency's, does not fit and is never rounded)."""
    return (f"(CASE WHEN ({expr}) = round(({expr}), 2) THEN ({expr}) "
            f"ELSE error('an amount of more than two decimals: ' || ({expr})::VARCHAR) END)")


def known_zones(names: Iterable[str]) -> bool:
    """Whether every zone name is one of the ``tzdata`` package's, spelt as it spells them
    (:func:`transforms.times.zone`, the normaliser's rules): DuckDB's ICU also takes other spellings
    (``europe/madrid``, ``GMT+5``) that the normaliser refuses, and the host's ``localtime``, which
    DuckDB refuses. DuckDB's own rules agree with the package's (``tests/transforms/test_times.py``)."""
    return all(name in zone_names() for name in names)


def modifier_json(name: str | None, quantity: str | None, price: str, modifier_id: str | None) -> str:
    """One modifier as the normalisers write it in an item's ``modifiers`` (``json.dumps`` of the
    dict, non-ASCII kept): an element of :func:`json_list_sql`'s list."""
    return json.dumps({"name": name, "quantity": str(quantity or "1"), "price": price, "pos_modifier_id": modifier_id},
                      ensure_ascii=False)


def json_list_sql(element: str, order: str) -> str:
    """The JSON list of the texts ``element`` in ``order`` (an aggregate), byte for byte the text
    ``json.dumps`` gives a list of them (its separator ``, ``)."""
    return f"'[' || string_agg({element}, ', ' ORDER BY {order}) || ']'"
