"""The set-based builds' SQL pieces against their Python originals: the canonical id macro gives
:func:`transforms.canonical.canonical_id`'s ids byte for byte (text, NULL and non-ASCII parts), and
Lightspeed's SQL declines what it does not do exactly (currencies without two decimals, raw
columns of another type), leaving those builds to the normaliser."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from transforms.canonical import canonical_id
from transforms.canonical_sql import (
    CANONICAL_ID_MACRO,
    canonical_id_sql,
    cents_sql,
    decimal_text_sql,
    known_zones,
    quantity_sql,
)
from transforms.lightspeed.normalize import LightspeedContext
from transforms.lightspeed.sales_sql import COLUMNS, supported
from transforms.money import from_major
from transforms.toast.sales_sql import _money as toast_money

PARTS = [
    ("tenant-1", "lightspeed", "sale", "0a1b2c3d-0000-4000-8000-000000000001"),
    ("t", "square", "order", ""),
    ("t", "toast", "check", None),
    ("Ñandú €", "lightspeed", "return", "línea|con|barras"),
    *[("b8f0e6c2", "lightspeed", "line", str(n)) for n in range(500)],
]


def test_the_id_macro_gives_canonical_ids_byte_for_byte() -> None:
    con = duckdb.connect()
    con.execute(CANONICAL_ID_MACRO)
    con.execute("create table parts (a varchar, b varchar, c varchar, d varchar, n integer)")
    con.executemany("insert into parts values (?, ?, ?, ?, ?)", [(*p, i) for i, p in enumerate(PARTS)])
    got = [r[0] for r in con.execute(f"select {canonical_id_sql('a', 'b', 'c', 'd')} from parts order by n").fetchall()]
    assert got == [canonical_id(*p) for p in PARTS]
    assert len(set(got)) == len(PARTS)


def _context(currency: str) -> LightspeedContext:
    return LightspeedContext(tenant_id="t", account_id="a",
                             outlets={"O1": {"id": "O1", "currency": "EUR"}, "O2": {"id": "O2", "currency": currency}})


def test_lightspeed_sql_declines_what_it_would_not_do_exactly() -> None:
    def types(table: str) -> dict[str, str]:
        return dict(COLUMNS[table])

    assert supported(_context("USD"), types)
    assert not supported(_context("JPY"), types)  # no decimals: rounded elsewhere than to the cent
    assert not supported(_context("KWD"), types)
    assert supported(_context("EUR"), lambda table: {} if table == "sales__adjustments" else types(table))
    assert supported(_context("EUR"), lambda table: {c: t for c, t in types(table).items() if c != "return_for"})
    as_double = {**COLUMNS["sales__line_items"], "total_price": "DOUBLE"}
    assert not supported(_context("EUR"), lambda table: as_double if table == "sales__line_items" else types(table))


def test_the_sql_refuses_what_the_canonical_columns_would_refuse() -> None:
    """A quantity of more than three decimals or an amount of more than two fails the build, as the
    normaliser's insert into NUMERIC(14,3)/(14,2) does (never rounded quietly)."""
    con = duckdb.connect()
    assert con.execute(f"select {quantity_sql('2.000000000::DECIMAL(38,9)')}").fetchone()[0] == Decimal("2")
    assert con.execute(f"select {cents_sql('1.230::DECIMAL(38,3)')}").fetchone()[0] == Decimal("1.23")
    with pytest.raises(duckdb.Error, match="more than three decimals"):
        con.execute(f"select {quantity_sql('0.3335::DECIMAL(38,9)')}").fetchall()
    with pytest.raises(duckdb.Error, match="more than two decimals"):
        con.execute(f"select {cents_sql('1.235::DECIMAL(38,3)')}").fetchall()


def test_zone_names_only_as_python_spells_them() -> None:
    """DuckDB's ICU takes spellings zoneinfo refuses: those builds stay with the normaliser."""
    assert known_zones(["Europe/Madrid", "Atlantic/Canary", "UTC"])
    assert not known_zones(["europe/madrid"])
    assert not known_zones(["GMT+5"])
    assert not known_zones(["localtime"])  # the host's, in zoneinfo's list; DuckDB refuses it mid-build
    ctx = LightspeedContext(tenant_id="t", account_id="a", outlets={"O1": {"currency": "EUR", "time_zone": "europe/madrid"}})
    assert not supported(ctx, lambda table: dict(COLUMNS[table]))


# Toast's amounts are the decimal text of doubles: a double's leftover has 30 decimals and more
TOAST_AMOUNTS = ["0.000000000000014210854715202004", "-0.000000000000000444089209850062616169452667236328125",
                 "0.00499999999999999999999", "0.004999999999999999999999999", "0.005000000000000000000001",
                 "-2.67499999999999999999999", "+12.345000000000000000000001", ".0050000000000000000000000",
                 "4.739999999999999", "-2.675", "1.5", "", None, "123456789012345678.994999999999999999999999"]


@pytest.mark.parametrize("text", TOAST_AMOUNTS)
def test_toast_amounts_of_any_length_round_as_the_normaliser_rounds_them(text: str | None) -> None:
    """More than 20 decimals are cut, not rounded (DuckDB's cast to 20 decimals would round
    …0049999…9 up to a half-cent): the cent is the normaliser's, and one such value no longer
    fails a whole set-based build that the normaliser would have made."""
    con = duckdb.connect()
    got = con.execute(f"select {toast_money('v')} from (select ?::VARCHAR as v)", [text]).fetchone()[0]
    assert got == from_major(text, "EUR")


def test_an_amount_with_an_exponent_after_20_decimals_still_fails_the_build() -> None:
    with pytest.raises(duckdb.Error, match="more than 20 decimals"):
        duckdb.connect().execute(f"select {toast_money(repr('1.0000000000000000000000001e2'))}").fetchall()


def test_a_quantity_text_of_more_than_20_decimals_fails_as_the_normalisers_insert_does() -> None:
    """The cast to DECIMAL(38,20) would round ``1.0000000000000000000001`` to 1 and the build would
    take it; the normaliser's Decimal keeps the digit and the NUMERIC(14,3) column refuses it."""
    con = duckdb.connect()

    def quantity(text: str) -> Decimal:
        return con.execute(f"select {quantity_sql(decimal_text_sql(repr(text)))}").fetchone()[0]

    assert quantity("2.5") == Decimal("2.5")
    assert quantity("1.000000000000000000000000000") == Decimal(1)  # zeros only: the same value
    assert quantity("3") == Decimal(3)
    assert quantity(" 2.5 ") == Decimal("2.5")
    for text in ("1.0000000000000000000001", "0.333333333333333333333333", "1.0000000000000000000001 "):
        with pytest.raises(duckdb.Error, match="more than 20 decimals"):
            quantity(text)
    assert quantity("2E0") == Decimal(2)
    assert quantity("25e-1") == Decimal("2.5")
    for text in ("1e-25", "1.0e-22"):  # the cast would round them to 0; the normaliser's insert refuses them
        with pytest.raises(duckdb.Error, match="exponent notation"):
            quantity(text)
