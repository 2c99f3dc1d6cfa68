"""Exact JSON for events: a :class:`~decimal.Decimal` is written as the number literal it is
(``Decimal("125.50")`` → ``125.50``), never through a float; floats are refused (money is never a
float, and nothing else in an event needs one). :func:`loads` reads numbers with a fraction back
as ``Decimal``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


class EventEncodingError(TypeError):
    """A value an event cannot carry exactly (a float, a non-finite Decimal, an unknown type)."""


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise EventEncodingError(f"{value} is not a finite number")
    text = format(value, "f")
    return "0" if text in ("-0", "+0") else text


def dumps(value: Any) -> str:
    """Compact JSON of ``value`` (dicts, lists, str, int, bool, None, Decimal)."""
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, float):
        raise EventEncodingError(f"float {value!r} in an event: use Decimal (exact) or int")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise EventEncodingError(f"cannot write {type(value).__name__} in an event")


def loads(text: str | bytes) -> Any:
    """Parse event JSON; numbers with a fraction or exponent become ``Decimal``."""
    return json.loads(text, parse_float=Decimal)
