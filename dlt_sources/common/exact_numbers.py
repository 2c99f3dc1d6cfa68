"""JSON numbers parsed as binary floats (``orjson``: several times faster than the stdlib's
``parse_float=Decimal``) yet kept exact — for sources whose money is decimal text (Lightspeed).

A decimal of at most 15 significant digits survives decimal → nearest double → 15 digits (IEEE
754's ``DBL_DIG``): no two such decimals share a double, so the double's shortest text, Python's
``repr`` — at most 15 digits, since such a decimal rounds to it — is that decimal, in value:
``Decimal(repr(x)) == Decimal(text)``. :func:`binary_numbers_are_exact` accepts a body only when
that holds for every float in it, and when ``orjson`` keeps every integer exact (it makes integers
beyond 64 bits floats, silently); otherwise the caller parses the body with ``Decimal`` as before.
The scale of a value is not kept (``4.50`` is ``4.5``): the Arrow path types every decimal column
``decimal(38, 9)`` anyway (:mod:`dlt_sources.common.arrow_nested`, ``exact_numbers``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

# the body with every digit and dot as "0", everything else as " ": runs of 16 or more are looked at
_RUNS = bytes(48 if chr(c) in "0123456789." else 32 for c in range(256))
_LONG_RUN = b"0" * 16  # a float's mantissa of 16 digits, an integer of 16 digits (versions: fine up to 18)
# the body with digits as "0", e/E as "e", "-" kept, what may follow a number as ",", the rest " "
_EXPONENTS = bytes(48 if chr(c).isdigit() and c < 128 else 101 if chr(c) in "eE" else 45 if c == 45
                   else 44 if chr(c) in ",}] \t\r\n" else 32 for c in range(256))
_LOW_EXPONENT = b"0e-000"  # a negative exponent of 3 digits or more: the value may be subnormal or 0.0
LONGEST_EXACT_INTEGER = 18  # digits: every such integer fits int64, which orjson keeps an int
FLOAT_RANGE = (1e-300, 1e300)  # normal doubles far from under- and overflow (checked by the Arrow path)


class Inexact(ValueError):
    """The binary numbers cannot give what their ``Decimal`` parsing gives: take that path."""


def binary_numbers_are_exact(body: bytes) -> bool:
    """Whether ``orjson.loads(body)`` loses nothing that ``json.loads(body, parse_float=Decimal)``
    keeps, once each float is read back as ``Decimal(repr(x))``: no float token with 16 digits or
    more in its mantissa, no integer of more than :data:`LONGEST_EXACT_INTEGER` digits, no negative
    exponent of 3 digits or more (below the normal doubles a double keeps fewer digits, or none:
    ``1e-400`` is 0.0; a positive one that large overflows, which orjson refuses).

    Every number token's mantissa is a run of digits and dots that starts with a digit (not
    preceded by one: JSON puts ``-``, ``:``, ``[``, ``,`` or whitespace there), so none escapes the
    scan; text inside strings can only make it refuse a body that was safe (16 digits in an id)."""
    runs = body.translate(_RUNS)  # in C: the scan below looks only at runs of 16 or more
    at = 0
    while (start := runs.find(_LONG_RUN, at)) >= 0:  # a run's start (an earlier one would be found first)
        end = runs.find(b" ", start + len(_LONG_RUN))
        end = len(body) if end < 0 else end
        run = body[start:end]
        dots = run.count(b".")
        if len(run) - dots >= len(_LONG_RUN) if dots else (len(run) > LONGEST_EXACT_INTEGER
                                                           or body[end:end + 1] in (b"e", b"E")):
            return False  # 16 digits or more in a fraction's run; an integer too long, or a mantissa
        at = end
    marks = body.translate(_EXPONENTS)
    at = 0
    while (start := marks.find(_LOW_EXPONENT, at)) >= 0:
        end = start + len(_LOW_EXPONENT)
        while marks[end:end + 1] == b"0":
            end += 1
        if marks[end:end + 1] in (b",", b""):  # a number's end, not text such as an id's "5e-1234-"
            return False
        at = end
    return True


def loads(body: bytes, *, binary_numbers: bool = False) -> tuple[Any, bool]:
    """``(payload, exact)``: with ``binary_numbers`` and a body :func:`binary_numbers_are_exact`
    accepts, ``orjson``'s parse (floats, ``exact`` False); otherwise ``json.loads(body,
    parse_float=Decimal)`` (``exact`` True; a body that is not JSON raises its ``ValueError``)."""
    if binary_numbers and binary_numbers_are_exact(body):
        try:
            return orjson.loads(body), False
        except orjson.JSONDecodeError:
            pass  # e.g. NaN or a text encoding the stdlib reads: its parse decides
    return json.loads(body, parse_float=Decimal), True


def exact_numbers_of(value: Any, decimal_keys: frozenset[str], key: str | None = None) -> Any:
    """``value`` (parsed by :func:`loads` with binary numbers) with the numbers of the ``Decimal``
    parse — every float as ``Decimal(repr(x))`` — and the integers under a key of ``decimal_keys``
    as ``Decimal`` (a key passes down into its lists); ``Decimal`` values stay as they are."""
    if isinstance(value, dict):
        return {k: exact_numbers_of(v, decimal_keys, k) for k, v in value.items()}
    if isinstance(value, list):
        return [exact_numbers_of(v, decimal_keys, key) for v in value]
    if isinstance(value, float):
        return Decimal(repr(value))
    if key in decimal_keys and isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value
