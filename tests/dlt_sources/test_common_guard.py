"""The version guard's destination look-ups: one client held while look-ups keep coming."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

from dlt_sources.common import guard
from dlt_sources.common.guard import (
    DestinationLookups,
    GuardColumns,
    VersionGuard,
    destination_known_versions,
)


class FakeClient:
    """A context manager standing in for ``pipeline.sql_client()``: records opens, closes and users."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.threads: set[str] = set()

    def __enter__(self) -> FakeClient:
        self.log.append("open")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.log.append("close")

    def query(self, value: int) -> int:
        self.threads.add(threading.current_thread().name)
        return value * 2


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_burst_of_lookups_from_many_threads_shares_one_client_closed_when_idle() -> None:
    log: list[str] = []
    clients: list[FakeClient] = []

    def open_client() -> FakeClient:
        clients.append(FakeClient(log))
        return clients[-1]

    lookups = DestinationLookups(open_client, idle_seconds=5)
    results: dict[int, int] = {}

    def ask(i: int) -> None:
        results[i] = lookups.run(lambda client: client.query(i))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: 2 * i for i in range(40)}
    assert log == ["open"] and lookups.clients_opened == 1  # still open: no idle pause yet
    assert clients[0].threads == {"pos-destination-lookup"}  # the work ran in the look-up thread

    lookups.idle_seconds = 0.05  # the next idle pause closes it
    assert lookups.run(lambda client: client.query(50)) == 100
    wait_for(lambda: log == ["open", "close"])
    assert lookups.run(lambda client: client.query(1)) == 2  # a new client after the close
    wait_for(lambda: log == ["open", "close", "open", "close"])
    assert lookups.clients_opened == 2


def test_a_failed_lookup_raises_in_the_caller_and_its_client_is_not_reused() -> None:
    log: list[str] = []
    lookups = DestinationLookups(lambda: FakeClient(log), idle_seconds=5)
    assert lookups.run(lambda client: client.query(1)) == 2

    def broken(client: FakeClient) -> int:
        raise ValueError("no such table")

    with pytest.raises(ValueError, match="no such table"):
        lookups.run(broken)
    assert log == ["open", "close"]
    assert lookups.run(lambda client: client.query(3)) == 6
    assert log == ["open", "close", "open"]


def test_a_client_that_cannot_open_fails_the_lookup_and_the_next_one_tries_again() -> None:
    log: list[str] = []
    attempts: list[int] = []

    def open_client() -> FakeClient:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("destination down")
        return FakeClient(log)

    lookups = DestinationLookups(open_client, idle_seconds=5)
    with pytest.raises(ConnectionError):
        lookups.run(lambda client: client.query(1))
    assert lookups.run(lambda client: client.query(2)) == 4
    assert log == ["open"] and len(attempts) == 2


def test_destination_known_versions_reads_every_table_through_one_duckdb_connection(tmp_path: Path) -> None:
    """Against a real DuckDB destination: the stored guard values of the tenant's rows, ``{}`` for a
    table not loaded yet, one connection for all the look-ups, and the file closed after the idle
    pause (another process can then open it read-write)."""
    import duckdb

    db = tmp_path / "w.duckdb"
    pipeline = dlt.pipeline(pipeline_name="guard_lookups", destination=dlt.destinations.duckdb(str(db)),
                            dataset_name="raw", pipelines_dir=str(tmp_path / "pipelines"))
    rows = [{"id": f"p{i}", "version": i, "_pos_account_id": "a" if i % 2 else "b"} for i in range(1200)]
    pipeline.run(rows, table_name="payments")
    pipeline.run([{"id": "c1", "version": 7, "_pos_account_id": "a"}], table_name="catalog")

    columns = {"payments": GuardColumns("id", "version", "int"), "catalog": GuardColumns("id", "version", "int"),
               "orders": GuardColumns("id", "version", "int")}
    opened: list[int] = []
    original = duckdb.connect

    def counting_connect(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return original(*args, **kwargs)

    known = destination_known_versions(pipeline, columns.__getitem__, account_id="a", chunk_size=500,
                                       idle_seconds=0.3)
    schema_reads: list[str] = []
    read_schema = guard.column_schema

    def counting_schema(pipeline: Any, table: str, column: str) -> Any:
        schema_reads.append(table)
        return read_schema(pipeline, table, column)

    duckdb.connect = counting_connect
    guard.column_schema = counting_schema  # type: ignore[assignment]
    try:
        keys = [f"p{i}" for i in range(1100)] + ["p-missing"]
        found = known("payments", keys)  # three chunks of at most 500 keys
        assert found == {f"p{i}": i for i in range(1100) if i % 2}
        assert known("catalog", ["c1", "c2"]) == {"c1": 7}
        assert known("orders", ["o1"]) == {}  # not loaded yet
        assert known("payments", ["p1"]) == {"p1": 1}
        assert known("orders", ["o2"]) == {}
    finally:
        duckdb.connect = original
        guard.column_schema = read_schema  # type: ignore[assignment]
    assert len(opened) == 1
    assert schema_reads == ["payments", "catalog", "orders"]  # each table's column read once per run
    time.sleep(0.3)
    wait_for(lambda: not [t for t in threading.enumerate() if t.name == "pos-destination-lookup"])
    # no connection of this process holds the file: another process can open it read-write
    opens = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(db)!r}).close()"],
                           capture_output=True, text=True, timeout=60)
    assert opens.returncode == 0, opens.stderr[-2000:]


def parse_ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def test_the_guard_passes_the_oldest_fetched_version_as_the_lookups_lower_bound() -> None:
    asked: list[Any] = []

    def bounded(table: str, keys: list[str], at_least: Any = None) -> dict[str, Any]:
        asked.append(at_least)
        return {}

    bounded.accepts_lower_bound = True  # type: ignore[attr-defined]
    columns = {"p": GuardColumns("id", "updated_at", "timestamp"), "o": GuardColumns("id", "version", "int"),
               "l": GuardColumns("id", "_pos_content_hash", "hash")}
    guard = VersionGuard(bounded, columns.__getitem__, parse_ts)
    guard.filter("p", [{"id": "a", "updated_at": "2026-01-05T10:00:00Z"}, {"id": "b", "updated_at": None},
                       {"id": "c", "updated_at": "2026-01-05T09:59:59.5Z"}, {"id": "d", "updated_at": "not a time"}])
    guard.filter("o", [{"id": "a", "version": 7}, {"id": "b", "version": "3"}, {"id": "c", "version": "x"}])
    guard.filter("l", [{"id": "a", "_pos_content_hash": "ab"}])
    guard.filter("o", [{"id": "a"}])  # no guard value at all: no bound
    assert asked == [datetime(2026, 1, 5, 9, 59, 59, 500000, tzinfo=UTC), 3, None, None]

    plain: list[list[str]] = []
    guard = VersionGuard(lambda table, keys: plain.append(keys) or {}, columns.__getitem__, parse_ts)
    guard.filter("o", [{"id": "a", "version": 7}])  # a known_versions without the flag: two arguments
    assert plain == [["a"]]


def test_bounded_destination_lookups_drop_exactly_the_rows_an_unbounded_scan_drops(tmp_path: Path) -> None:
    """Against DuckDB: timestamp, integer and text guard columns, stored versions older, equal and
    newer than the fetched ones, another tenant's rows: the bound changes what is read, never
    which rows the guard drops; on a text column (whose order is not the values') it is not applied."""
    pipeline = dlt.pipeline(pipeline_name="guard_bound", destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name="raw", pipelines_dir=str(tmp_path / "pipelines"))
    base = datetime(2026, 1, 5, 12, tzinfo=UTC)
    stored = [{"id": f"r{i}", "updated_at": base + timedelta(minutes=i), "version": i,
               "stamp_text": (base + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"), "_pos_account_id": "a"}
              for i in range(0, 300, 3)]
    stored += [{"id": "r1", "updated_at": base + timedelta(days=9), "version": 999,
                "stamp_text": "2026-01-14T12:00:00Z", "_pos_account_id": "other"}]
    pipeline.run(stored, table_name="things", columns={"stamp_text": {"data_type": "text"}})

    def row(i: int, minutes: int) -> dict[str, Any]:
        stamp = (base + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        return {"id": f"r{i}", "updated_at": stamp, "version": minutes, "stamp_text": stamp}

    # ids 100–139 fetched in a version far newer than stored (kept: their stored versions are older
    # than every fetched one, the bound leaves them out); ids 150–199 one older, the same or one newer
    fetched = [row(i, i + 500) for i in range(100, 140)]
    fetched += [row(i, i + shift) for i in range(150, 200) for shift in (-1, 0, 1) if (i + shift) % 5]
    fetched.append(row(147, 147))  # the oldest fetched version, the same as stored: at the bound, dropped
    for field, kind, db_type in (("updated_at", "timestamp", "timestamp"), ("version", "int", "bigint"),
                                 ("stamp_text", "timestamp", "text")):
        columns = GuardColumns("id", field, kind)
        assert pipeline.default_schema.tables["things"]["columns"][field]["data_type"] == db_type
        known = destination_known_versions(pipeline, lambda table, c=columns: c, account_id="a", idle_seconds=5)
        reads: list[int] = []

        def counting(table: str, keys: list[str], known: Any = known, reads: list[int] = reads,
                     **bound: Any) -> Any:
            found = known(table, keys, **bound)
            reads.append(len(found))
            return found

        counting.accepts_lower_bound = True  # type: ignore[attr-defined]
        bounded = VersionGuard(counting, lambda table, c=columns: c, parse_ts).filter("things", fetched)
        unbounded = VersionGuard(lambda table, keys, known=known: known(table, keys), lambda table, c=columns: c,
                                 parse_ts).filter("things", fetched)
        assert [r["id"] for r in bounded] == [r["id"] for r in unbounded], field
        assert 0 < len(bounded) < len(fetched), field  # some dropped, some kept
        assert "r147" not in {r["id"] for r in bounded}, field
        full = len(known("things", [r["id"] for r in fetched]))
        if db_type == "text":
            assert reads == [full]  # not bounded
        else:
            assert reads[0] < full  # the stored versions older than every fetched one were not read


def test_lookups_from_many_threads_while_columns_are_read_never_see_a_schema_being_replaced(tmp_path: Path) -> None:
    """dlt replaces a pipeline's live schema in place whenever ``pipeline.schemas[name]`` is read
    (its naming None for a moment): the guard's column reads in the callers' threads and its
    client's opening and queries in the look-up thread must not interleave. 20 tables, each first
    looked up from its own thread, with a client re-opened for nearly every look-up (no idle
    wait): every look-up answers (a failure here was "'NoneType' object has no attribute
    'max_length'", seen in a sync under load)."""
    db = tmp_path / "w.duckdb"
    pipeline = dlt.pipeline(pipeline_name="guard_race", destination=dlt.destinations.duckdb(str(db)),
                            dataset_name="raw", pipelines_dir=str(tmp_path / "pipelines"))
    tables = [f"t{i}" for i in range(20)]

    @dlt.source
    def many() -> Any:
        return [dlt.resource([{"id": f"{t}-{k}", "version": k, "_pos_account_id": "a"} for k in range(3)],
                             name=t) for t in tables]

    pipeline.run(many())
    spec = GuardColumns("id", "version", "int")
    failures: list[BaseException] = []
    answers: dict[str, dict[str, Any]] = {}

    def look(table: str, known: Any) -> None:
        try:
            for _ in range(3):
                answers[table] = known(table, [f"{table}-1", f"{table}-2"])
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch every few bytecodes: an interleaving shows at once
    try:
        known = destination_known_versions(pipeline, lambda table: spec, account_id="a", idle_seconds=0)
        threads = [threading.Thread(target=look, args=(t, known)) for t in tables]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(switch)
    assert not failures, repr(failures[:3])
    assert answers == {t: {f"{t}-1": 1, f"{t}-2": 2} for t in tables}
