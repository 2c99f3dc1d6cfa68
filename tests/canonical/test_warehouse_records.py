"""``Warehouse.records`` (the canonical build's raw reads): on DuckDB the rows come through Arrow
column by column, and must be what ``Warehouse.query`` gives — same keys, Python types and values
(exact Decimals with their scale, dates, naive timestamps) — with the columns named in ``utc``
(naive UTC timestamps) made aware; a result with a type Arrow gives back otherwise (a UUID) is
read by ``query``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from pos_sync.canonical.raw_io import RawReader
from pos_sync.settings import parse_settings
from pos_sync.warehouse.sql import Warehouse


def _warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse(parse_settings({"POS_HOME": str(tmp_path)}))
    wh.execute("create schema raw_probe")
    wh.execute("create table raw_probe.t (id varchar, amount decimal(38,9), n bigint, ok boolean, ratio double, "
               "day date, closed_at timestamp with time zone, note json, key uuid, _pos_account_id varchar)")
    wh.execute("insert into raw_probe.t values "
               "('a', 12.5, 3, true, 0.25, '2026-01-05', '2026-01-05 09:30:15.123456+00', '{\"x\": 1}', "
               "'12345678-1234-5678-1234-567812345678', 'acct'), "
               "('b', null, null, null, null, null, null, null, null, 'acct')")
    return wh


def test_records_equal_query_rows_with_utc_timestamps_made_aware(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path)
    try:
        sql = ("select id, amount, n, ok, ratio, day, timezone('UTC', closed_at) as closed_at, note from raw_probe.t "
               "where _pos_account_id = %s order by id")
        got = wh.records(sql, ("acct",), utc={"closed_at"})
        assert got == wh.query(sql, ("acct",), utc={"closed_at"})
        a = got[0]
        assert [(k, type(v)) for k, v in a.items()] == [
            ("id", str), ("amount", Decimal), ("n", int), ("ok", bool), ("ratio", float), ("day", date),
            ("closed_at", datetime), ("note", str)]
        assert str(a["amount"]) == "12.500000000" and a["day"] == date(2026, 1, 5)
        assert a["closed_at"] == datetime(2026, 1, 5, 9, 30, 15, 123456, tzinfo=UTC) and a["closed_at"].tzinfo is UTC
        assert set(got[1].values()) == {"b", None}
    finally:
        wh.close()


def test_a_result_arrow_would_give_back_otherwise_is_read_by_query(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path)
    try:
        got = wh.records("select id, key from raw_probe.t order by id")
        assert got[0]["key"] == UUID("12345678-1234-5678-1234-567812345678")  # Arrow: its text
    finally:
        wh.close()


def test_raw_reader_reads_timestamps_as_aware_utc_datetimes(tmp_path: Path) -> None:
    """The raw reads select a TIMESTAMPTZ as its naive UTC value and make it aware: the same instant
    as DuckDB's own conversion, in UTC, whatever the session's time zone."""
    wh = _warehouse(tmp_path)
    try:
        wh.execute("set TimeZone = 'Asia/Tokyo'")
        reader = RawReader(wh, "probe", "acct")
        rows = sorted(reader.account_table("t"), key=lambda r: r["id"])
        native = wh.query("select closed_at from raw_probe.t where id = 'a'")[0]["closed_at"]
        assert rows[0]["closed_at"] == native and rows[0]["closed_at"].tzinfo is UTC and native.utcoffset().total_seconds() == 9 * 3600
        assert rows[1]["closed_at"] is None
        assert list(rows[0]) == ["id", "amount", "n", "ok", "ratio", "day", "closed_at", "note", "key", "_pos_account_id"]
        assert [r["id"] for r in reader.roots("t", "id", ["a"], ("id", "closed_at", "absent"))] == ["a"]
    finally:
        wh.close()
