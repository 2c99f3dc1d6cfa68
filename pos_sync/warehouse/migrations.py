"""Upgrading an existing warehouse's canonical tables to the current model.

``pos_products`` keeps a row per version of a POS product (:mod:`transforms.catalog`). A warehouse
made before that holds one row per product keyed by (tenant, provider, item):
:func:`version_pos_products` rebuilds it, once, in one transaction, on DuckDB and PostgreSQL
alike — every existing row becomes its product's version 1 and current version (``valid_from`` =
when it was first seen, ``is_archived`` false: what was known), with its version id; the table's
key becomes the version id and its natural key (tenant, provider, item, version).

The natural keys (:attr:`transforms.canonical.Table.unique`) are UNIQUE table constraints on
PostgreSQL, so no code path can store a provider's transaction, line or tender twice, whatever the
checks say. A PostgreSQL warehouse created before them gets them here, once, with ``ALTER TABLE …
ADD CONSTRAINT``; a table that already holds a key twice is not touched: the upgrade stops with one
line saying which table and how many keys, so nothing is dropped silently.

On DuckDB the natural keys are checked by the canonical writer in the build's transaction
(:meth:`pos_sync.canonical.writer.CanonicalWriter.check_natural_keys`) instead of held in ART
indexes, which DuckDB keeps whole in memory — they were half the key indexes of a long history. A
DuckDB warehouse made with the constraints loses them, once (:func:`drop_duckdb_natural_keys`):
DuckDB cannot drop a constraint, so the table is rebuilt in one transaction (a new table with its
primary key only, the rows copied, the old one dropped, the new one renamed).

Columns the model gained since a table was created (``pos_locations.postal_code``: the demand
calendar's holiday region) are added with ``ALTER TABLE … ADD COLUMN`` (NULL in existing rows,
filled by the next build of the account), before the natural keys (a DuckDB rebuild copies every
column of the model). New tables (``demand_*``) are simply created.

On DuckDB the canonical tables have no secondary indexes any more (:meth:`transforms.canonical.Table.ddl`:
DuckDB never read through them, and each was an ART held in memory, built at the commit of every
canonical build); a warehouse created with them has them dropped, once
(:func:`drop_duckdb_secondary_indexes`; rows, keys and PostgreSQL's indexes untouched).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transforms.canonical import POS_PRODUCTS, SCHEMA, TABLES, Table, sql_type
from transforms.catalog import version_id
from transforms.demand import DEMAND_TABLES

if TYPE_CHECKING:
    from pos_sync.warehouse.sql import Warehouse


class WarehouseMigrationError(Exception):
    """The warehouse cannot be upgraded as it is (the message says why and what to do)."""


def has_natural_key(wh: Warehouse, table: Table) -> bool:
    if wh.dialect == "duckdb":
        return bool(wh.scalar("select count(*) from duckdb_constraints() where schema_name = %s and table_name = %s "
                              "and constraint_type = 'UNIQUE'", (SCHEMA, table.name)))
    return bool(wh.scalar("select count(*) from information_schema.table_constraints where table_schema = %s "
                          "and table_name = %s and constraint_name = %s",
                          (SCHEMA, table.name, table.unique_constraint)))


def repeated_keys(wh: Warehouse, table: Table) -> int:
    """How many natural keys the table holds more than once."""
    cols = ", ".join(f'"{c}"' for c in table.unique)
    return int(wh.scalar(f'select count(*) from (select 1 from {SCHEMA}."{table.name}" group by {cols} '
                         f"having count(*) > 1) repeated"))


def _rebuild_duckdb(wh: Warehouse, table: Table) -> None:
    """``table`` made again as the model declares it on DuckDB, its rows copied and the indexes a
    user made on it (not the model's) made again."""
    new = f"{table.name}__rebuilt"
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    own_indexes = [r["sql"] for r in wh.query(
        "select sql from duckdb_indexes() where schema_name = %s and table_name = %s and sql is not null",
        (SCHEMA, table.name))]
    wh.execute(table.create_table("duckdb", new))
    wh.execute(f'INSERT INTO {SCHEMA}."{new}" ({cols}) SELECT {cols} FROM {SCHEMA}."{table.name}"')
    wh.execute(f'DROP TABLE {SCHEMA}."{table.name}"')
    wh.execute(f'ALTER TABLE {SCHEMA}."{new}" RENAME TO "{table.name}"')  # (no secondary index, no UNIQUE on DuckDB)
    for sql in own_indexes:
        wh.execute(sql)


def duckdb_secondary_indexes(wh: Warehouse) -> list[str]:
    """The model's secondary indexes (``ix_…``) an existing DuckDB warehouse still has."""
    if wh.dialect != "duckdb":
        return []
    declared = {name for table in (*TABLES, *DEMAND_TABLES) for name in table.index_names()}
    return sorted(r["index_name"] for r in wh.query(
        "select index_name from duckdb_indexes() where schema_name = %s", (SCHEMA,)) if r["index_name"] in declared)


def drop_duckdb_secondary_indexes(wh: Warehouse) -> list[str]:
    """Drop the secondary indexes an earlier version created on DuckDB (in one transaction); the
    names dropped. Indexes the model does not declare are left alone."""
    names = duckdb_secondary_indexes(wh)
    if names:
        with wh.transaction():
            for name in names:
                wh.execute(f'DROP INDEX IF EXISTS {SCHEMA}."{name}"')
    return names


def add_missing_columns(wh: Warehouse) -> list[str]:
    """Add the model's columns an existing table lacks; the ``table.column`` names added."""
    added = []
    for table in (*TABLES, *DEMAND_TABLES):
        if not wh.table_exists(SCHEMA, table.name):
            continue
        present = wh.columns(SCHEMA, table.name)
        missing = [(c, t) for c, t in table.columns if c not in present]
        if not missing:
            continue
        with wh.transaction():
            for column, type_ in missing:
                wh.execute(f'ALTER TABLE {SCHEMA}."{table.name}" ADD COLUMN "{column}" {sql_type(type_, wh.dialect)}')
        added += [f"{table.name}.{c}" for c, _ in missing]
    return added


def drop_duckdb_natural_keys(wh: Warehouse) -> list[str]:
    """Rebuild the canonical tables of a DuckDB warehouse that still have a natural-key ``UNIQUE``
    without it (each in one transaction, rows and primary key kept); the tables rebuilt."""
    if wh.dialect != "duckdb":
        return []
    rebuilt = []
    for table in TABLES:
        if table.unique and wh.table_exists(SCHEMA, table.name) and has_natural_key(wh, table):
            with wh.transaction():
                _rebuild_duckdb(wh, table)
            rebuilt.append(table.name)
    return rebuilt


def add_natural_keys(wh: Warehouse) -> list[str]:
    """Give every existing canonical table of a PostgreSQL warehouse its natural-key constraint
    (DuckDB: none, the writer checks them); the tables upgraded."""
    if wh.dialect != "postgres":
        return []
    upgraded = []
    for table in TABLES:
        if not table.unique or not wh.table_exists(SCHEMA, table.name) or has_natural_key(wh, table):
            continue
        repeated = repeated_keys(wh, table)
        if repeated:
            raise WarehouseMigrationError(
                f"{SCHEMA}.{table.name} holds {repeated} key(s) ({', '.join(table.unique)}) more than once, so it "
                "cannot get its unique constraint; rebuild the canonical tables from raw (drop schema "
                f"{SCHEMA} and sync again: the raw tables are untouched) or remove the extra rows")
        with wh.transaction():
            cols = ", ".join(f'"{c}"' for c in table.unique)
            wh.execute(f'ALTER TABLE {SCHEMA}."{table.name}" ADD CONSTRAINT {table.unique_constraint} '
                       f"UNIQUE ({cols})")
        upgraded.append(table.name)
    return upgraded


def version_pos_products(wh: Warehouse) -> bool:
    """Give an old-shape ``pos_products`` (no ``valid_from``) its versions; whether it was upgraded."""
    if not wh.table_exists(SCHEMA, POS_PRODUCTS.name) or "valid_from" in wh.columns(SCHEMA, POS_PRODUCTS.name):
        return False
    with wh.transaction():
        rows = wh.query(f"select * from {SCHEMA}.{POS_PRODUCTS.name}")
        for row in rows:
            row.update({
                "id": version_id(row["tenant_id"], row["pos_provider"], row["pos_item_id"], 1),
                "version": 1, "is_archived": bool(row.get("is_archived")),
                "valid_from": row.get("first_seen_at") or row.get("last_seen_at"), "valid_to": None,
                "is_current": True,
            })
        wh.execute(f"DROP TABLE {SCHEMA}.{POS_PRODUCTS.name}")
        wh.execute(POS_PRODUCTS.create_table(wh.dialect))
        wh.insert_rows(POS_PRODUCTS, rows)
    return True
