"""The canonical build's DuckDB connection is bounded like the raw loads' (POS_DUCKDB_MEMORY_LIMIT)."""

from __future__ import annotations

from pathlib import Path

from pos_sync.settings import parse_settings
from pos_sync.warehouse.sql import Warehouse


def test_warehouse_connection_carries_the_memory_limit(tmp_path: Path) -> None:
    for limit, shown in (("300MB", "286.1 MiB"), ("1GB", "953.6 MiB")):
        wh = Warehouse(parse_settings({"POS_HOME": str(tmp_path / limit), "POS_DUCKDB_MEMORY_LIMIT": limit}))
        try:
            assert wh.conn.execute("select current_setting('memory_limit')").fetchall() == [(shown,)]
        finally:
            wh.close()
