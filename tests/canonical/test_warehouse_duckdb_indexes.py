"""On DuckDB the canonical tables carry their primary keys and no secondary index (nor natural-key
UNIQUE: the writer checks those, test_warehouse_natural_keys): DuckDB never read through them, and each was an ART held in memory, built at the
commit of every canonical build. PostgreSQL keeps them. A DuckDB warehouse created with them has
them dropped by the next ``ensure_schema`` (every build runs it first): rows and keys kept."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from transforms.canonical import POS_TENDERS, POS_TRANSACTION_ITEMS, POS_TRANSACTIONS, SCHEMA, TABLES, Table

INDEXED = [t for t in TABLES if t.indexes]


def _secondary_indexes(wh: Any) -> set[str]:
    if wh.dialect == "duckdb":
        names = [r["index_name"] for r in wh.query("select index_name from duckdb_indexes() where schema_name = %s",
                                                     (SCHEMA,))]
    else:
        names = [r["indexname"] for r in wh.query("select indexname from pg_indexes where schemaname = %s",
                                                    (SCHEMA,))]
    return {n for n in names if n.startswith("ix_")}


def _row(table: Table, n: int, **given: Any) -> dict[str, Any]:
    base = dict.fromkeys(table.column_names) | {"id": f"{table.name}-{n}", "tenant_id": "t", "pos_provider": "square",
                                                "pos_account_id": "acct"}
    if table is POS_TRANSACTIONS:
        base |= {"pos_transaction_id": f"order-{n}", "total_amount": Decimal("2.50")}
    elif table is POS_TRANSACTION_ITEMS:
        base |= {"transaction_id": "tx-1", "pos_line_id": f"line-{n}", "line_number": n}
    elif table is POS_TENDERS:
        base |= {"transaction_id": "tx-1", "pos_tender_id": f"tender-{n}"}
    else:
        base |= {"pos_item_id": f"item-{n}", "version": 1}
    return base | given


def test_duckdb_gets_keys_and_no_secondary_index_postgres_keeps_them(warehouse: Any) -> None:
    wh = warehouse
    wh.ensure_schema()
    declared = {name for t in INDEXED for name in t.index_names()}
    assert declared and len(declared) == sum(len(t.indexes) for t in TABLES)
    assert _secondary_indexes(wh) == ({n[:63] for n in declared} if wh.dialect == "postgres" else set())  # PG: 63 chars
    for table in INDEXED:  # another row with a stored id fails on both, with a stored natural key on PostgreSQL
        wh.insert_rows(table, [_row(table, 1)])
        wh.commit()
        twins = [_row(table, 2, id=f"{table.name}-1")]
        if wh.dialect == "postgres":
            twins.append(_row(table, 1, id=f"{table.name}-other"))
        for twin in twins:
            with pytest.raises(Exception, match="(?i)unique|duplicate|constraint|primary key"), wh.transaction():
                wh.insert_rows(table, [twin])
        assert wh.scalar(f"select count(*) from {SCHEMA}.{table.name}") == 1


def test_an_existing_duckdb_warehouse_loses_its_secondary_indexes_and_keeps_rows_and_keys(tmp_path: Any) -> None:
    from pos_sync.settings import parse_settings
    from pos_sync.warehouse.migrations import duckdb_secondary_indexes
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse(parse_settings({"POS_HOME": str(tmp_path)}))
    try:
        # the canonical tables as the previous version made them on DuckDB: keys and ix_ indexes
        wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        for table in TABLES:
            wh.execute(table.create_table("duckdb"))
            for stmt in table.index_ddl():
                wh.execute(stmt)
        wh.execute(f"CREATE INDEX my_own_index ON {SCHEMA}.pos_transactions (business_date)")  # not the model's
        wh.commit()
        for table in INDEXED:
            wh.insert_rows(table, [_row(table, 1), _row(table, 2)])
        wh.commit()
        declared = {name for t in INDEXED for name in t.index_names()}
        assert _secondary_indexes(wh) == declared and set(duckdb_secondary_indexes(wh)) == declared

        wh.ensure_schema()  # what every canonical build does first

        assert _secondary_indexes(wh) == set() and duckdb_secondary_indexes(wh) == []
        assert wh.scalar("select count(*) from duckdb_indexes() where index_name = 'my_own_index'") == 1
        for table in INDEXED:
            assert wh.scalar(f"select count(*) from {SCHEMA}.{table.name}") == 2  # rows kept
            for twin in (_row(table, 3, id=f"{table.name}-1"),):
                with pytest.raises(Exception, match="(?i)unique|duplicate|constraint|primary key"), wh.transaction():
                    wh.insert_rows(table, [twin])
        assert wh.scalar(f"select total_amount from {SCHEMA}.pos_transactions where id = 'pos_transactions-1'") \
            == Decimal("2.50")
        wh.ensure_schema()  # a second time: nothing to do
        assert _secondary_indexes(wh) == set()
    finally:
        wh.close()
