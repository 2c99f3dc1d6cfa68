"""The canonical tables' natural keys are enforced by the database (UNIQUE constraints) on DuckDB
and PostgreSQL, and a warehouse created before them is upgraded in place, rows kept — or, when a
key is already stored twice, left untouched with one line saying so."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from transforms.canonical import (
    POS_PRODUCTS,
    POS_TENDERS,
    POS_TRANSACTION_ITEMS,
    POS_TRANSACTIONS,
    SCHEMA,
    TABLES,
    Table,
)

KEYED = [t for t in TABLES if t.unique]


def _old_shape(wh: Any) -> None:
    """The canonical tables as an earlier version created them: no natural-key constraint."""
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table in TABLES:
        for stmt in dataclasses.replace(table, unique=()).ddl(wh.dialect):
            wh.execute(stmt)
    wh.commit()


def _row(table: Table, n: int, **given: Any) -> dict[str, Any]:
    base = dict.fromkeys(table.column_names) | {"id": f"{table.name}-{n}", "tenant_id": "t", "pos_provider": "square"}
    if table is POS_TRANSACTIONS:
        base |= {"pos_transaction_id": f"order-{n}", "total_amount": Decimal("2.50")}
    elif table is POS_TRANSACTION_ITEMS:
        base |= {"transaction_id": "tx-1", "pos_line_id": f"line-{n}", "line_number": n}
    elif table is POS_TENDERS:
        base |= {"transaction_id": "tx-1", "pos_tender_id": f"tender-{n}"}
    elif table is POS_PRODUCTS:
        base |= {"pos_item_id": f"item-{n}", "version": 1}
    return base | given


def _natural_keys(wh: Any) -> dict[str, bool]:
    from pos_sync.warehouse.migrations import has_natural_key

    return {t.name: has_natural_key(wh, t) for t in KEYED}


def test_natural_keys_are_constraints_and_old_warehouses_are_upgraded_with_their_rows(warehouse: Any) -> None:
    wh = warehouse
    _old_shape(wh)
    for table in KEYED:
        wh.insert_rows(table, [_row(table, 1), _row(table, 2)])
    wh.commit()
    assert _natural_keys(wh) == dict.fromkeys(_natural_keys(wh), False)

    wh.ensure_schema()  # what every canonical build does first
    assert _natural_keys(wh) == dict.fromkeys(_natural_keys(wh), True)
    for table in KEYED:
        assert wh.scalar(f"select count(*) from {SCHEMA}.{table.name}") == 2  # rows kept
        twin = _row(table, 1) | {"id": f"{table.name}-other-id"}  # another id, the same natural key
        with pytest.raises(Exception, match="(?i)unique|duplicate|constraint"), wh.transaction():
            wh.insert_rows(table, [twin])
    indexes = wh.scalar("select count(*) from duckdb_indexes() where schema_name = 'pos'" if wh.dialect == "duckdb"
                        else "select count(*) from pg_indexes where schemaname = 'pos' and indexname like 'ix_%%'")
    # the rebuilt tables got their indexes back on PostgreSQL; DuckDB has none (test_warehouse_duckdb_indexes)
    assert indexes == (sum(len(t.indexes) for t in TABLES) if wh.dialect == "postgres" else 0)
    wh.ensure_schema()  # a second time: nothing to do
    assert _natural_keys(wh) == dict.fromkeys(_natural_keys(wh), True)


def test_a_key_stored_twice_stops_the_upgrade_with_one_line_and_changes_nothing(warehouse: Any) -> None:
    from pos_sync.warehouse.migrations import WarehouseMigrationError

    wh = warehouse
    _old_shape(wh)
    wh.insert_rows(POS_TRANSACTIONS, [_row(POS_TRANSACTIONS, 1), _row(POS_TRANSACTIONS, 1, id="copy")])
    wh.commit()
    with pytest.raises(WarehouseMigrationError) as failed:
        wh.ensure_schema()
    message = str(failed.value)
    assert "pos.pos_transactions holds 1 key(s)" in message and "\n" not in message
    assert wh.scalar("select count(*) from pos.pos_transactions") == 2
    assert not _natural_keys(wh)["pos_transactions"]
