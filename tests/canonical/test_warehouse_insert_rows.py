"""``Warehouse.insert_rows`` on DuckDB builds its Arrow table column by column: the values stored are
the row path's — exact decimals, timestamps, values Arrow does not take as they are (a UUID, an
enum) stored as their text — and a decimal finer than its column is refused, never rounded."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from pos_sync.settings import parse_settings
from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA, Table

T = Table(name="insert_probe", key=("id",), columns=(
    ("id", "TEXT"), ("amount", "NUMERIC(18,2)"), ("qty", "NUMERIC(18,3)"), ("n", "INTEGER"),
    ("at", "TIMESTAMPTZ"), ("day", "DATE"), ("ok", "BOOLEAN"), ("note", "JSON"), ("ratio", "DOUBLE")))


class Kind(enum.Enum):
    SALE = "sale"


def _warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse(parse_settings({"POS_HOME": str(tmp_path)}))
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    wh.execute(T.create_table("duckdb"))
    return wh


def test_insert_rows_stores_exact_values_and_the_text_of_other_objects(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path)
    try:
        key = uuid.UUID("12345678-1234-5678-1234-567812345678")
        at = datetime(2026, 1, 5, 9, 30, 15, 123456, tzinfo=UTC)
        rows = [
            {"id": "a", "amount": Decimal("12345678901234.57"), "qty": Decimal("1.250"), "n": 3, "at": at,
             "day": date(2026, 1, 5), "ok": True, "note": '{"x": 1}', "ratio": 0.5},
            {"id": key, "amount": Decimal("-0.01"), "qty": None, "n": None, "at": None, "day": None, "ok": None,
             "note": None, "ratio": None},
            {"id": Kind.SALE},  # missing columns are NULL
        ]
        assert wh.insert_rows(T, rows) == 3
        got = wh.query(f"select * from {SCHEMA}.insert_probe order by id")
        assert [r["id"] for r in got] == ["12345678-1234-5678-1234-567812345678", "Kind.SALE", "a"]
        a = got[2]
        assert (a["amount"], a["qty"], a["n"], a["day"], a["ok"], a["ratio"]) == (
            Decimal("12345678901234.57"), Decimal("1.250"), 3, date(2026, 1, 5), True, 0.5)
        assert a["at"] == at
        assert got[0]["amount"] == Decimal("-0.01") and a["note"] == '{"x": 1}'
        assert got[1]["amount"] is None and got[1]["note"] is None
    finally:
        wh.close()


def test_a_decimal_finer_than_its_column_is_refused_not_rounded(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path)
    try:
        with pytest.raises(pa.ArrowInvalid):
            wh.insert_rows(T, [{"id": "a", "amount": Decimal("1.005")}])
        assert wh.scalar(f"select count(*) from {SCHEMA}.insert_probe") == 0
    finally:
        wh.close()


def test_rows_inserted_in_a_transaction_are_not_held_as_arrow_buffers_until_it_ends(tmp_path: Path) -> None:
    """The canonical build is one transaction: what it inserted (and its key tables) must not stay
    alive as Arrow buffers until the commit (``conn.register`` kept them: memory grew with history)."""
    wh = _warehouse(tmp_path)
    try:
        with wh.transaction():
            held = pa.total_allocated_bytes()
            for batch in range(5):
                rows = [{"id": f"{batch}-{i}", "amount": Decimal(i) / 100, "note": '{"a": "' + "x" * 40 + '"}'}
                        for i in range(20_000)]
                wh.insert_rows(T, rows)
                wh.temp_keys(["id"], [(r["id"],) for r in rows])
            assert pa.total_allocated_bytes() - held < 1 << 20
        assert wh.scalar(f"select count(*) from {SCHEMA}.insert_probe") == 100_000
    finally:
        wh.close()


def test_columns_given_apart_replace_the_rows_own_and_numeric_columns_keep_every_value(tmp_path: Path) -> None:
    """``insert_rows(…, columns)``: the given values win over the rows' keys; a NUMERIC column of few
    distinct values (converted once each, then taken by index) stores every row's own value."""
    wh = _warehouse(tmp_path)
    try:
        amounts = [Decimal("1.50"), Decimal("1.5"), Decimal("2.00"), None, Decimal("-0.01")] * 200
        rows = [{"id": f"r{i:04d}", "amount": a, "n": 1, "note": '"own"'} for i, a in enumerate(amounts)]
        notes = [f'{{"given": {i}}}' for i in range(len(rows))]
        wh.insert_rows(T, rows, {"note": notes})
        got = wh.query(f"select id, amount, n, note from {SCHEMA}.insert_probe order by id")
        assert [r["amount"] for r in got] == [None if a is None else a.quantize(Decimal("0.01")) for a in amounts]
        assert [r["note"] for r in got] == notes and {r["n"] for r in got} == {1}
    finally:
        wh.close()


def test_columns_given_apart_on_both_warehouses(warehouse: Warehouse) -> None:
    """The writer hands the items' mapping columns apart (``columns``): on DuckDB (Arrow) and on
    PostgreSQL (COPY) alike, the given values are stored, the rows' own keys for them ignored."""
    wh = warehouse
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    wh.execute(T.create_table(wh.dialect))
    rows = [{"id": f"r{i}", "amount": Decimal("1.50"), "n": 7, "ok": True} for i in range(3)]
    wh.insert_rows(T, rows, {"n": [1, None, 3], "ok": [False, None, True]})
    wh.commit()
    got = wh.query(f"select id, amount, n, ok from {SCHEMA}.insert_probe order by id")
    assert [(r["id"], r["amount"], r["n"], r["ok"]) for r in got] == [
        ("r0", Decimal("1.50"), 1, False), ("r1", Decimal("1.50"), None, None), ("r2", Decimal("1.50"), 3, True)]
