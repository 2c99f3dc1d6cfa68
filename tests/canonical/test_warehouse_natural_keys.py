"""The canonical tables' natural keys: UNIQUE constraints on PostgreSQL (a warehouse created before
them is upgraded in place, rows kept — or, when a key is already stored twice, left untouched with
one line saying so); on DuckDB no index but the canonical writer's check before the build commits
(a warehouse made with the constraints loses them, rows, primary keys and a user's own indexes
kept)."""

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


def _with_old_duckdb_keys(table: Table) -> str:
    """``CREATE TABLE`` of ``table`` as the previous version made it on DuckDB: with its natural-key UNIQUE."""
    cols = ", ".join(f'"{c}"' for c in table.unique)
    return table.create_table("duckdb").removesuffix("\n)") + f",\n  CONSTRAINT {table.unique_constraint} UNIQUE ({cols})\n)"


def test_natural_keys_are_constraints_on_postgres_and_old_warehouses_are_upgraded_with_their_rows(
        warehouse: Any) -> None:
    wh = warehouse
    _old_shape(wh)
    for table in KEYED:
        wh.insert_rows(table, [_row(table, 1), _row(table, 2)])
    wh.commit()
    assert _natural_keys(wh) == dict.fromkeys(_natural_keys(wh), False)

    wh.ensure_schema()  # what every canonical build does first
    constrained = wh.dialect == "postgres"  # DuckDB: the writer checks them (test_the_writer_refuses_…)
    assert _natural_keys(wh) == dict.fromkeys(_natural_keys(wh), constrained)
    for table in KEYED:
        assert wh.scalar(f"select count(*) from {SCHEMA}.{table.name}") == 2  # rows kept
        twin = _row(table, 1) | {"id": f"{table.name}-other-id"}  # another id, the same natural key
        if constrained:
            with pytest.raises(Exception, match="(?i)unique|duplicate|constraint"), wh.transaction():
                wh.insert_rows(table, [twin])
    indexes = wh.scalar("select count(*) from duckdb_indexes() where schema_name = 'pos'" if wh.dialect == "duckdb"
                        else "select count(*) from pg_indexes where schemaname = 'pos' and indexname like 'ix_%%'")
    # the rebuilt tables got their indexes back on PostgreSQL; DuckDB has none (test_warehouse_duckdb_indexes)
    assert indexes == (sum(len(t.indexes) for t in TABLES) if wh.dialect == "postgres" else 0)
    wh.ensure_schema()  # a second time: nothing to do
    assert _natural_keys(wh) == dict.fromkeys(_natural_keys(wh), constrained)


def test_a_key_stored_twice_stops_the_postgres_upgrade_with_one_line_and_changes_nothing(warehouse: Any) -> None:
    from pos_sync.warehouse.migrations import WarehouseMigrationError

    wh = warehouse
    _old_shape(wh)
    wh.insert_rows(POS_TRANSACTIONS, [_row(POS_TRANSACTIONS, 1), _row(POS_TRANSACTIONS, 1, id="copy")])
    wh.commit()
    if wh.dialect == "duckdb":  # no constraint to add there: nothing stops, nothing changes
        wh.ensure_schema()
        assert wh.scalar("select count(*) from pos.pos_transactions") == 2
        return
    with pytest.raises(WarehouseMigrationError) as failed:
        wh.ensure_schema()
    message = str(failed.value)
    assert "pos.pos_transactions holds 1 key(s)" in message and "\n" not in message
    assert wh.scalar("select count(*) from pos.pos_transactions") == 2
    assert not _natural_keys(wh)["pos_transactions"]


def test_a_duckdb_warehouse_made_with_the_unique_constraints_loses_them_and_keeps_rows_keys_and_own_indexes(
        tmp_path: Any) -> None:
    from pos_sync.settings import parse_settings
    from pos_sync.warehouse.migrations import drop_duckdb_natural_keys
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse(parse_settings({"POS_HOME": str(tmp_path)}))
    try:
        wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        for table in TABLES:
            wh.execute(_with_old_duckdb_keys(table) if table.unique else table.create_table("duckdb"))
        wh.execute(f"CREATE INDEX my_own_index ON {SCHEMA}.pos_transactions (business_date)")
        wh.commit()
        for table in KEYED:
            wh.insert_rows(table, [_row(table, 1), _row(table, 2)])
        wh.commit()
        assert _natural_keys(wh) == dict.fromkeys(_natural_keys(wh), True)

        wh.ensure_schema()  # what every canonical build does first

        assert _natural_keys(wh) == dict.fromkeys(_natural_keys(wh), False)
        assert wh.scalar("select count(*) from duckdb_indexes() where index_name = 'my_own_index' "
                         "and table_name = 'pos_transactions'") == 1
        for table in KEYED:
            assert wh.scalar(f"select count(*) from {SCHEMA}.{table.name}") == 2  # rows kept
            with pytest.raises(Exception, match="(?i)primary key|duplicate|constraint"), wh.transaction():
                wh.insert_rows(table, [_row(table, 3, id=f"{table.name}-1")])  # the primary key holds
        assert wh.scalar(f"select total_amount from {SCHEMA}.pos_transactions where id = 'pos_transactions-1'") \
            == Decimal("2.50")
        assert drop_duckdb_natural_keys(wh) == []  # a second time: nothing to do
    finally:
        wh.close()


def _transaction(n: int, **given: Any) -> dict[str, Any]:
    return _row(POS_TRANSACTIONS, n, pos_account_id="acc", location_id="L1", **given)


@pytest.mark.parametrize("part_rows", [100_000, 1], ids=["one-part", "a-part-a-transaction"])
def test_the_writer_refuses_a_natural_key_stored_twice_and_the_build_stores_nothing(
        warehouse: Any, part_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A transaction, a line or a tender under a new id with the natural key of one stored: on
    DuckDB the writer's check (in one part, or in parts of the written transactions as a long
    history's), on PostgreSQL the constraint — either way the transaction rolls back."""
    from pos_sync.canonical.writer import CanonicalWriter, NaturalKeyRepeated
    from transforms.canonical import CanonicalBatch

    monkeypatch.setattr("pos_sync.canonical.writer.CHECK_PART_ROWS", part_rows)
    others = [_transaction(n, id=f"tx-{n}") for n in range(2, 9)]  # written beside it: several parts
    wh = warehouse
    wh.ensure_schema()
    tx = _transaction(1, id="tx-1")
    item = _row(POS_TRANSACTION_ITEMS, 1, transaction_id="tx-1", pos_account_id="acc")
    tender = _row(POS_TENDERS, 1, transaction_id="tx-1", pos_account_id="acc")
    # lines and tenders without the provider's id: keys with a NULL are never equal (as under UNIQUE)
    anonymous = [_row(POS_TRANSACTION_ITEMS, n, transaction_id="tx-1", pos_line_id=None) for n in (7, 8)]
    unnamed = [_row(POS_TENDERS, n, transaction_id="tx-1", pos_tender_id=None) for n in (7, 8)]
    with wh.transaction():
        writer = CanonicalWriter(wh, "acc", "square")
        writer.write(CanonicalBatch(transactions=[tx], items=[item, *anonymous], tenders=[tender, *unnamed]))
        writer.check_natural_keys()  # one of each, and the NULL keys: nothing repeated
    wh.execute(f"delete from {SCHEMA}.pos_transaction_items where pos_line_id is null")
    wh.execute(f"delete from {SCHEMA}.pos_tenders where pos_tender_id is null")
    wh.commit()
    repeats = {
        "transaction": CanonicalBatch(transactions=[*others, _transaction(1, id="tx-again")]),  # order-1 again
        "line": CanonicalBatch(transactions=[*others, tx], items=[item, item | {"id": "line-again"}]),
        "tender": CanonicalBatch(transactions=[tx, *others], items=[item],
                                 tenders=[tender, tender | {"id": "tender-again"}]),
    }
    for name, batch in repeats.items():
        with pytest.raises((NaturalKeyRepeated, Exception), match="(?i)natural key|unique|duplicate") as refused, \
                wh.transaction():
            writer = CanonicalWriter(wh, "acc", "square")
            writer.write(batch)
            writer.check_natural_keys()
        if wh.dialect == "duckdb":
            assert refused.type is NaturalKeyRepeated, name
            assert "\n" not in str(refused.value) and "twice" in str(refused.value), name
        assert [wh.scalar(f"select count(*) from {SCHEMA}.{t.name}") for t in (POS_TRANSACTIONS, POS_TRANSACTION_ITEMS,
                POS_TENDERS)] == [1, 1, 1], name  # rolled back: what was stored, as it was
    assert wh.scalar(f"select id from {SCHEMA}.pos_transactions") == "tx-1"


def test_the_writer_refuses_a_product_version_stored_twice(warehouse: Any) -> None:
    from pos_sync.canonical.writer import CanonicalWriter
    from transforms.catalog import version_id

    wh = warehouse
    wh.ensure_schema()
    with wh.transaction():  # a version stored under an id that is not the one the catalog derives
        wh.insert_rows(POS_PRODUCTS, [_row(POS_PRODUCTS, 1, pos_item_id="item-1", id="not-derived",
                                           tenant_id="t", pos_account_id="acc", is_current=False)])
    assert version_id("t", "square", "item-1", 1) != "not-derived"
    product = {"tenant_id": "t", "pos_account_id": "acc", "pos_provider": "square", "pos_item_id": "item-1",
               "name": "Barra"}
    with pytest.raises(Exception, match="(?i)natural key|unique|duplicate"), wh.transaction():
        writer = CanonicalWriter(wh, "acc", "square")
        writer.replace_products([product])
        writer.check_natural_keys()
    assert wh.column(f"select id from {SCHEMA}.pos_products") == ["not-derived"]
