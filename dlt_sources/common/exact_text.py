"""JSON numbers as their exact decimal text, read in Arrow's C++ — for sources whose raw tables keep
each number's text with the source's scale (Toast: ``4.50`` stays ``"4.50"``), as
``json.loads(parse_float=Decimal)`` then ``format(value, "f")`` keeps it.

Arrow's JSON reader (:func:`dlt_sources.common.arrow_json.read_page`) parses every number with a
fraction or exponent as a double, which has lost the text. :func:`number_texts` gets it back from
the body: one C-level regular-expression scan lists each number with a fraction or an exponent
that follows ``":`` (a key's end: a quote inside a JSON string is escaped), and each distinct
double maps to the one decimal text it came from (``format(Decimal(token), "f")``).
:func:`exact_text_struct` then replaces every double column of the struct array by those texts
(one look-up per distinct double of the column) and every integer column under a key of
``decimal_keys`` by its decimal text (``str(int)``, in C++) — what the ``Decimal`` parse and
``exact_numbers`` give the dict rows.

It refuses (:class:`~dlt_sources.common.arrow_json.Refused`: parse the page as dicts, as before)
whenever the texts could be wrong:

* two texts give the same double (``4.5`` and ``4.50``, ``0.0`` and ``-0.0``, digits beyond a
  double's): no single text per double;
* the values of the double columns are not as many as the tokens the scan found: an integer mixed
  into a double column (``2`` beside ``2.5``: the dict path makes it ``"2"`` or fails), or a number
  the scan did not see (after whitespace); a double that no token gave;
* ``\\":`` in the body (a key's end inside a string: the scan would count its number);
* a list of numbers (their key is the list's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from dlt_sources.common.arrow_json import Refused, has_numbers

# a key's end and a number with a fraction or an exponent: the literal '":' lets the scan skip ahead in C
_FRACTION = re.compile(rb'":(-?[0-9]+[.eE][0-9.eE+-]*)')


@dataclass(frozen=True)
class NumberTexts:
    """What one body's non-integer numbers were: each double's decimal text, and how many."""

    floats: dict[float, str]
    count: int


def number_texts(body: bytes) -> NumberTexts:
    """The numbers of ``body`` with a fraction or an exponent after a key (see the module's
    docstring); raises :class:`Refused` when a double's text is not unique."""
    if b'\\":' in body:
        raise Refused('\\": in the body: a key and a number inside a string')
    tokens = _FRACTION.findall(body)
    floats: dict[float, str] = {}
    for token in set(tokens):
        try:
            text = format(Decimal(token.decode()), "f")
            value = float(token)
        except (ArithmeticError, ValueError):  # not a number: the reader would not have read the body
            raise Refused(f"not a number: {token!r}") from None
        if floats.setdefault(value, text) != text:
            raise Refused(f"two texts give the double {value!r}")
    return NumberTexts(floats, len(tokens))


def exact_text_struct(rows: pa.StructArray, texts: NumberTexts, decimal_keys: frozenset[str]) -> pa.StructArray:
    """``rows`` (read from the bodies ``texts`` came from) with every double as its decimal text and
    every integer under a key of ``decimal_keys`` as its decimal text; raises :class:`Refused`."""
    counted = [0]
    out = _convert(rows, "", texts, decimal_keys, counted)
    if counted[0] != texts.count:
        raise Refused(f"{counted[0]} values in double columns, {texts.count} numbers with a fraction in the body")
    return out


def _convert(array: pa.Array, key: str, texts: NumberTexts, decimal_keys: frozenset[str],
             counted: list[int]) -> pa.Array:
    kind = array.type
    if pa.types.is_struct(kind):
        given = [array.field(i) for i in range(kind.num_fields)]
        children = [_convert(c, f.name, texts, decimal_keys, counted) for c, f in zip(given, kind, strict=True)]
        if all(c is g for c, g in zip(children, given, strict=True)):
            return array
        fields = [pa.field(f.name, c.type) for f, c in zip(kind, children, strict=True)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=array.is_null() if array.null_count else None)
    if pa.types.is_list(kind):
        if not pa.types.is_struct(kind.value_type) and has_numbers(kind.value_type):
            raise Refused(f"a list of numbers under {key!r}")
        given = array.values
        values = _convert(given, key, texts, decimal_keys, counted)
        if values is given:
            return array
        return pa.ListArray.from_arrays(array.offsets, values, mask=array.is_null() if array.null_count else None)
    if pa.types.is_floating(kind):
        counted[0] += len(array) - array.null_count
        return _doubles(array, key, texts.floats)
    if pa.types.is_integer(kind) and key in decimal_keys:
        return array.cast(pa.string())
    if pa.types.is_decimal(kind) or pa.types.is_large_list(kind):
        raise Refused(f"{kind} under {key!r}")  # not what the reader gives
    return array


def _doubles(array: pa.Array, key: str, texts: dict[float, str]) -> pa.Array:
    encoded = pc.dictionary_encode(array)
    mapped: list[str] = []
    for value in encoded.dictionary.to_pylist():
        text = texts.get(value)
        if text is None:
            raise Refused(f"{key!r}: no token gave the double {value!r}")
        mapped.append(text)
    return pc.take(pa.array(mapped, type=pa.string()), encoded.indices)
