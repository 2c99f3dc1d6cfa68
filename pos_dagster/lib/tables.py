"""Table metadata Dagster shows for the warehouse tables: column schemas (from the canonical
model's single column list) and row counts."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA, TABLES, Table

CANONICAL = {t.name: t for t in TABLES}


def column_schema(table: Table) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, sql_type.lower()) for name, sql_type in table.columns],
                          constraints=dg.TableConstraints(other=[f"primary key ({', '.join(table.key)})"]))


def slice_row_counts(wh: Warehouse, provider: str, tables: Iterable[str]) -> dict[str, int]:
    """Rows of ``provider`` in each canonical table, in one statement."""
    names = [t for t in tables if wh.table_exists(SCHEMA, t)]
    if not names:
        return {}
    union = " union all ".join(f"select '{t}' as t, count(*) as n from {SCHEMA}.{t} where pos_provider = %s"
                               for t in names)
    return {r["t"]: int(r["n"]) for r in wh.query(union, tuple(provider for _ in names))}


def table_row_counts(wh: Warehouse, schema: str, tables: Iterable[str]) -> dict[str, int]:
    """Rows in each existing ``schema.table``, in one statement."""
    names = [t for t in tables if wh.table_exists(schema, t)]
    if not names:
        return {}
    union = " union all ".join(f"select '{t}' as t, count(*) as n from {schema}.\"{t}\"" for t in names)
    return {r["t"]: int(r["n"]) for r in wh.query(union)}
