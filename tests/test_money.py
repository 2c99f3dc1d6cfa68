from decimal import Decimal

import pytest

from transforms.money import from_major, from_minor, quantity


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    (1250, "EUR", "12.50"), (-5, "USD", "-0.05"), (0, "EUR", "0.00"), (1000, "JPY", "1000"), (None, "EUR", "0.00"),
])
def test_from_minor(amount: int | None, currency: str, expected: str) -> None:
    assert from_minor(amount, currency) == Decimal(expected)
    assert str(from_minor(amount, currency)) == expected


@pytest.mark.parametrize(("amount", "expected"), [
    (2.675, "2.68"), (1.005, "1.01"), (0.125, "0.13"), (4.30435, "4.30"), (-2.675, "-2.68"), ("12.345", "12.35"),
])
def test_from_major_rounds_half_up_once_on_the_decimal_text(amount: float | str, expected: str) -> None:
    assert from_major(amount, "EUR") == Decimal(expected)


def test_quantity_is_exact() -> None:
    assert quantity("0.350") == Decimal("0.350")
    assert quantity(1.5) == Decimal("1.5")
    assert quantity(None) == 0


def test_from_major_remembers_texts_and_decimals_apart() -> None:
    """A float rounds on its shortest text (2.675 → 2.68); its exact binary value as a Decimal
    (2.67499…) compares equal to the float yet rounds to 2.67 — whichever is converted first, the
    other is not answered from its cached result."""
    binary = Decimal(2.675)
    assert binary == 2.675
    for order in ((2.675, binary), (binary, 2.675)):
        from_major.__globals__["_major_text"].cache_clear()
        from_major.__globals__["_major_decimal"].cache_clear()
        got = {repr(a): str(from_major(a, "EUR")) for a in order}
        assert got == {repr(2.675): "2.68", repr(binary): "2.67"}
    # equal Decimals of other exponents share one result, of the currency's exponent
    assert str(from_major(Decimal("1.500000000"), "EUR")) == str(from_major(Decimal("1.5"), "EUR")) == "1.50"
    assert str(from_major("7", "JPY")) == "7" and str(from_major("7", "KWD")) == "7.000"
