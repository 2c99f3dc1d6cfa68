"""The warehouse connection (canonical build, demand feed, reads) is bounded by its own limit,
POS_WAREHOUSE_MEMORY_LIMIT (default 256MB), apart from the raw loads' POS_DUCKDB_MEMORY_LIMIT."""

from __future__ import annotations

from pathlib import Path

from pos_sync.settings import parse_settings
from pos_sync.warehouse.sql import Warehouse


def _limit(env: dict[str, str]) -> str:
    wh = Warehouse(parse_settings(env))
    try:
        return str(wh.conn.execute("select current_setting('memory_limit')").fetchall()[0][0])
    finally:
        wh.close()


def test_warehouse_connection_carries_its_memory_limit(tmp_path: Path) -> None:
    for limit, shown in (("300MB", "286.1 MiB"), ("1GB", "953.6 MiB")):
        assert _limit({"POS_HOME": str(tmp_path / limit), "POS_WAREHOUSE_MEMORY_LIMIT": limit,
                       "POS_DUCKDB_MEMORY_LIMIT": "2GB"}) == shown


def test_the_default_is_256mb_whatever_the_raw_loads_limit(tmp_path: Path) -> None:
    assert _limit({"POS_HOME": str(tmp_path / "a")}) == "244.1 MiB"
    assert _limit({"POS_HOME": str(tmp_path / "b"), "POS_DUCKDB_MEMORY_LIMIT": "1GB"}) == "244.1 MiB"
    assert parse_settings({"POS_HOME": str(tmp_path), "POS_DUCKDB_MEMORY_LIMIT": "1GB"}).duckdb_memory_limit == "1GB"
