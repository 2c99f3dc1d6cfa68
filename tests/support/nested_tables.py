"""Nested Arrow tables made comparable: the random ``_dlt`` ids replaced by each row's place."""

from __future__ import annotations

from typing import Any

from dlt_sources.common.arrow_nested import NestedTable


def comparable(tables: list[NestedTable]) -> list[tuple[Any, ...]]:
    """Name, parent, schema, JSON columns and rows of every table, the random ``_dlt`` ids replaced
    by each row's place (root position, then each level's table and list index)."""
    keys: dict[str, str] = {}
    out = []
    for t in tables:
        rows = t.table.to_pylist()
        for i, row in enumerate(rows):
            key = f"{i}" if t.parent is None else f"{keys[row['_dlt_parent_id']]}/{t.name}[{row['_dlt_list_idx']}]"
            keys[row["_dlt_id"]] = key
        for row in rows:
            for name in ("_dlt_id", "_dlt_parent_id", "_dlt_root_id"):
                if name in row:
                    row[name] = keys[row[name]]
        out.append((t.name, t.parent, t.table.schema, t.json_columns, rows))
    return out
