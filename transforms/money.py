"""Exact money: decimals in the currency's major units, rounded half-up once, on read.

Never floats. Square reports integer minor units; Toast major-unit doubles (round the *decimal
text* of the double, not the binary value); Lightspeed major units with up to 5 decimals.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

MINOR_UNITS: dict[str, int] = {"EUR": 2, "USD": 2, "GBP": 2, "CAD": 2, "AUD": 2, "JPY": 0, "CLP": 0, "KWD": 3}


def exponent(currency: str) -> int:
    return MINOR_UNITS.get(currency.upper(), 2)


@lru_cache(maxsize=256)
def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


@lru_cache(maxsize=1 << 13)
def _from_minor(amount: int, currency: str) -> Decimal:
    # a Decimal is immutable: the same amount in the same currency is one shared value (a build
    # converts the same few prices and totals hundreds of thousands of times: chain x 14 days of
    # Square, 1.04 M conversions of 2 983 amounts); at most 8 192 kept, ≈ 2.5 MB
    return Decimal(amount).scaleb(-exponent(currency)).quantize(quantum(currency))


def from_minor(amount: int | str | None, currency: str) -> Decimal:
    """Square-style integer minor units → major units (``1250`` EUR → ``12.50``)."""
    if amount is None or amount == "":
        return quantum(currency) * 0
    return _from_minor(int(amount), currency)


def from_major(amount: float | int | str | Decimal | None, currency: str) -> Decimal:
    """Major units as the provider wrote them → rounded half-up to the minor unit, once.

    A float goes through ``repr`` (the shortest text that round-trips), so ``2.675`` stays
    ``2.675`` and rounds to ``2.68`` — not the binary ``2.67499999…``.
    """
    if amount is None or amount == "":
        return Decimal(0).quantize(quantum(currency))
    if isinstance(amount, float):
        amount = repr(amount)
    # the same text (or Decimal) in the same currency is one shared, immutable value: a build
    # rounds the same few prices and totals again and again. Texts and Decimals are remembered
    # apart: a float's repr and its exact binary value as a Decimal compare equal as keys of one
    # cache, yet round apart (2.675 → 2.68, its binary value → 2.67)
    if amount.__class__ is str:
        return _major_text(amount, currency)
    if amount.__class__ is Decimal and amount.is_finite():
        return _major_decimal(amount, currency)
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


@lru_cache(maxsize=1 << 14)
def _major_text(amount: str, currency: str) -> Decimal:
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


@lru_cache(maxsize=1 << 14)
def _major_decimal(amount: Decimal, currency: str) -> Decimal:
    # equal Decimals of other exponents (1.5, 1.500000000) share an entry: they round alike
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def quantity(value: str | int | float | Decimal | None) -> Decimal:
    """Quantities are exact decimals (Square sends strings like ``"0.350"``)."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, float):
        value = repr(value)
    return Decimal(value)


def to_cents(amount: Decimal | int) -> int:
    """Hundredths of the major unit as an integer (``12.50`` → ``1250``; canonical amounts carry at
    most two decimals, so this is exact)."""
    return int((Decimal(amount) * 100).to_integral_value(rounding=ROUND_HALF_UP))
