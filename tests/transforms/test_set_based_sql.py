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
    known_zones,
    quantity_sql,
)
from transforms.lightspeed.normalize import LightspeedContext
from transforms.lightspeed.sales_sql import COLUMNS, supported

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
    ctx = LightspeedContext(tenant_id="t", account_id="a", outlets={"O1": {"currency": "EUR", "time_zone": "europe/madrid"}})
    assert not supported(ctx, lambda table: dict(COLUMNS[table]))
