"""The version guard: drop fetched rows the destination already holds in the same or a newer version.

Each source names, per table, the row field that identifies a row and the one it compares
(:class:`GuardColumns`). ``known_versions(table, keys)`` returns ``{key: stored value}`` of the
table's guard column; it is asked once per fetched page, so the number of look-ups follows the
rows fetched, not the table size. :func:`destination_known_versions` asks the pipeline's
destination, through one client held while the look-ups keep coming (:class:`DestinationLookups`),
and only for stored values not older than the oldest fetched one (``at_least``: what a scan of the
key column would find beyond it drops no row), so each look-up costs about the same whatever the
table's size. A ``known_versions`` with ``accepts_lower_bound = True`` is passed that bound.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from dlt_sources.common.rows import ACCOUNT_COLUMN, Row

if TYPE_CHECKING:
    from dlt import Pipeline

KnownVersions = Callable[[str, list[str]], Mapping[str, Any]]
T = TypeVar("T")
ParseTs = Callable[[Any], datetime]

KNOWN_VERSIONS_CHUNK = 500  # keys per destination look-up
# the look-up thread closes its destination client after this long without a look-up (a process
# that ends sooner waits for it: the thread is not a daemon, so DuckDB's file is closed cleanly)
LOOKUP_IDLE_SECONDS = 0.5


class GuardColumns(NamedTuple):
    """What the guard compares in one table.

    ``kind``: "timestamp" or "int": the fetched row is dropped when the stored value is the same or
    newer; "hash": when the stored content hash is equal. ``key_column``/``column``: the
    destination's names of ``key``/``field`` (dlt's snake_case) when they differ from the row's.
    """

    key: str
    field: str
    kind: str
    key_column: str | None = None
    column: str | None = None

    @property
    def db_key(self) -> str:
        return self.key_column or self.key

    @property
    def db_column(self) -> str:
        return self.column or self.field


ColumnsFor = Callable[[str], GuardColumns]  # table -> what the guard compares there


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def is_stale(kind: str, fetched: Any, known: Any, parse_ts: ParseTs | None = None) -> bool:
    """True when the stored value ``known`` is the same as or newer than ``fetched``.

    ``parse_ts`` reads the provider's timestamps (needed for kind "timestamp" only)."""
    if known is None or fetched is None:
        return False
    if kind == "hash":
        return bool(fetched == known)
    if kind == "int":
        f, k = _as_int(fetched), _as_int(known)
        return f is not None and k is not None and f <= k
    if parse_ts is None:
        raise TypeError(f"a {kind!r} guard column needs parse_ts")
    try:
        return parse_ts(fetched) <= parse_ts(known)
    except (TypeError, ValueError):
        return False


class VersionGuard:
    """Drops fetched rows the destination already holds in the same or a newer version.

    ``known_versions`` None disables the guard (every row passes). A row without a guard value
    (e.g. a Square POS order without version) is always kept. ``dropped``/``passed`` count rows
    per table.
    """

    def __init__(self, known_versions: KnownVersions | None, columns: ColumnsFor,
                 parse_ts: ParseTs | None = None) -> None:
        self.known_versions = known_versions
        self.columns = columns
        self.parse_ts = parse_ts
        self.dropped: dict[str, int] = {}
        self.passed: dict[str, int] = {}

    def filter(self, table: str, rows: list[Row]) -> list[Row]:
        if not rows:
            return rows
        if self.known_versions is None:
            self.passed[table] = self.passed.get(table, 0) + len(rows)
            return rows
        spec = self.columns(table)
        keys = list(dict.fromkeys(str(r[spec.key]) for r in rows if r.get(spec.key) is not None))
        if not keys:
            known: Mapping[str, Any] = {}
        elif getattr(self.known_versions, "accepts_lower_bound", False):
            known = self.known_versions(table, keys, at_least=self.lower_bound(spec, rows))  # type: ignore[call-arg]
        else:
            known = self.known_versions(table, keys)
        kept = [r for r in rows
                if not is_stale(spec.kind, r.get(spec.field), known.get(str(r.get(spec.key))), self.parse_ts)]
        self.dropped[table] = self.dropped.get(table, 0) + len(rows) - len(kept)
        self.passed[table] = self.passed.get(table, 0) + len(kept)
        return kept

    def lower_bound(self, spec: GuardColumns, rows: list[Row]) -> Any:
        """The oldest guard value among ``rows`` (None: no bound). A stored value older than every
        fetched one drops none of them, so a look-up may leave such values out: with the bound the
        destination can skip the storage blocks that hold only older versions (DuckDB's min/max
        statistics) instead of scanning the whole key column — the same rows are dropped."""
        if spec.kind == "int":
            ints = [v for v in (_as_int(r.get(spec.field)) for r in rows) if v is not None]
            return min(ints) if ints else None
        if spec.kind != "timestamp" or self.parse_ts is None:
            return None  # "hash": equality, no order
        stamps = []
        for row in rows:
            value = row.get(spec.field)
            if value is None:
                continue
            try:
                stamps.append(self.parse_ts(value))
            except (TypeError, ValueError):
                continue  # kept whatever is stored (is_stale), so it needs no bound
        return min(stamps) if stamps else None


def destination_known_versions(pipeline: Pipeline, columns: ColumnsFor, *, account_id: str | None = None,
                               chunk_size: int = KNOWN_VERSIONS_CHUNK,
                               idle_seconds: float = LOOKUP_IDLE_SECONDS) -> KnownVersions:
    """A ``known_versions`` that asks the pipeline's destination, ``chunk_size`` keys per query.

    Returns ``{}`` for tables or guard columns that do not exist yet (first run). With
    ``account_id`` only rows of that tenant (``_pos_account_id``) count.

    Make one per source (i.e. per run): a table found absent at its first look-up is remembered
    as absent for the rest of the run, since nothing is loaded while a source extracts (asking
    again cost a schema scan and a failing query per page: ~1 ms, 5 % of a historical import);
    a table found present keeps its guard column's schema for the run (reading it from dlt's
    schema storage cost 15–20 ms per look-up at load 12: dlt re-reads and re-hashes the schema).

    Its ``at_least`` (passed by :class:`VersionGuard`: the oldest fetched version) leaves out the
    stored values below it, which could drop no fetched row anyway; on DuckDB that turns a scan of
    the whole key column (20–35 ms for Square's 365 000 payments of chain × 90 days) into a look at
    the newest blocks (~2 ms). Only on timestamp (with time zone) and bigint columns.

    Safe to call from parallel resources: the look-ups run one at a time in a thread of their own
    (:class:`DestinationLookups`), which keeps **one** destination client open while look-ups keep
    coming and closes it once none came for ``idle_seconds``. Opening a client per look-up (dlt's
    configuration resolved, DuckDB's file opened and closed) cost 50–150 ms each: a no-change sync
    of a Square account makes ~10 look-ups (one per stream and page), most of its extract.
    """
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    absent: set[str] = set()
    present: dict[str, Mapping[str, Any]] = {}  # table -> its guard column's schema, read once per run
    # dlt's pipeline is not thread-safe where its schemas are read: ``pipeline.schemas[name]`` (and
    # ``sql_client()``, which reads it) replaces the live schema's content in place when it is
    # committed, its naming None for a moment, so a client built meanwhile in another thread failed
    # ("'NoneType' object has no attribute 'max_length'"). Every read of the pipeline's schemas by
    # the guard (the callers' column look-ups, the look-up thread's client and its queries, which
    # name tables through that schema) takes this lock.
    schemas_lock = threading.Lock()

    def open_client() -> Any:
        with schemas_lock:
            return pipeline.sql_client()

    lookups = DestinationLookups(open_client, idle_seconds=idle_seconds)

    def known(table: str, keys: list[str], at_least: Any = None) -> dict[str, Any]:
        if not keys or table in absent:
            return {}
        # the column's schema first, in the caller's thread: a table not loaded yet needs no client
        # (and a pipeline with no schema yet must not open one: dlt would name a schema after the
        # pipeline, which a re-read's long name makes invalid)
        column = present.get(table)
        if column is None:
            with schemas_lock:
                column = column_schema(pipeline, table, columns(table).db_column)
        if column is None:
            absent.add(table)
            return {}
        present[table] = column
        return lookups.run(lambda client: locked_look_up(client, table, keys, at_least, column))

    known.accepts_lower_bound = True  # type: ignore[attr-defined]  # VersionGuard passes at_least
    known.lookups = lookups  # type: ignore[attr-defined]  # diagnostics (bench/no_change_sync.py)

    def locked_look_up(client: Any, *args: Any) -> dict[str, Any]:
        with schemas_lock:  # the client names tables through the live schema
            return look_up(client, *args)

    def look_up(client: Any, table: str, keys: list[str], at_least: Any, column: Mapping[str, Any]) -> dict[str, Any]:
        spec = columns(table)
        found: dict[str, Any] = {}
        try:
            qualified = client.make_qualified_table_name(table)
            k, g, a = (client.escape_column_name(c) for c in (spec.db_key, spec.db_column, ACCOUNT_COLUMN))
            # the bound only where the column orders like the values compared (a timestamp column
            # with its time zone, an integer one): never against text, whose order is another
            bounded = at_least is not None and (
                (spec.kind == "timestamp" and column.get("data_type") == "timestamp"
                 and column.get("timezone", True) is not False)
                or (spec.kind == "int" and column.get("data_type") == "bigint"))
            for i in range(0, len(keys), chunk_size):
                chunk = keys[i : i + chunk_size]
                sql = f"SELECT {k}, {g} FROM {qualified} WHERE {k} IN ({', '.join(['%s'] * len(chunk))})"
                args: list[Any] = list(chunk)
                if account_id is not None:
                    sql += f" AND {a} = %s"
                    args.append(account_id)
                if bounded:
                    sql += f" AND {g} >= %s"
                    args.append(at_least)
                for key, value in client.execute_sql(sql, *args) or []:
                    found[str(key)] = value
        except DatabaseUndefinedRelation:
            absent.add(table)
            return {}
        return found

    return known



class DestinationLookups:
    """Runs ``work(client)`` calls one at a time in a thread of its own that holds one client.

    ``open_client()`` (e.g. ``pipeline.sql_client``) returns a context manager; the thread enters it
    at its first call and exits it (closing the connection) once no call came for
    ``idle_seconds``; the next call starts a new thread and client. The work's result or exception
    is handed back to the caller; a client whose work failed is closed, the next call opens another.
    The thread is not a daemon: a process ending right after a run waits (at most ``idle_seconds``)
    for the client to be closed, rather than leaving DuckDB's file open at exit.

    Why a thread of its own: ``pipeline.sql_client()`` injects a configuration section into dlt's
    context container while it builds the client. A parallel resource runs in dlt's extract pool,
    whose threads share the main thread's container context: the client built there overwrote the
    section the main thread had injected for the extract, which then failed
    ("ContainerInjectableContextMangled"). A thread of its own gets a container context of its own.
    """

    def __init__(self, open_client: Callable[[], Any], *, idle_seconds: float = LOOKUP_IDLE_SECONDS) -> None:
        self.open_client = open_client
        self.idle_seconds = idle_seconds
        self._calls: queue.Queue[_Call] = queue.Queue()
        self._serial = threading.Lock()  # one call at a time
        self._state = threading.Lock()  # guards _running against the idle exit
        self._running = False
        self.clients_opened = 0  # how many times a client was opened (tests, diagnostics)
        self.calls = 0  # diagnostics: calls served and the seconds the thread spent on them
        self.busy_seconds = 0.0

    def run(self, work: Callable[[Any], T]) -> T:
        call = _Call(work)
        with self._serial:
            with self._state:
                self._calls.put(call)
                if not self._running:
                    self._running = True
                    threading.Thread(target=self._serve, name="pos-destination-lookup").start()
            call.done.wait()
        if call.failure is not None:
            raise call.failure
        return call.outcome  # type: ignore[no-any-return]

    def _serve(self) -> None:
        client_cm: Any = None
        client: Any = None
        try:
            while True:
                try:
                    call = self._calls.get(timeout=self.idle_seconds)
                except queue.Empty:
                    with self._state:
                        if self._calls.empty():
                            self._running = False
                            return
                    continue
                started = time.perf_counter()
                try:
                    if client_cm is None:
                        client_cm = self.open_client()
                        client = client_cm.__enter__()
                        self.clients_opened += 1
                    call.outcome = call.work(client)
                except BaseException as error:  # noqa: BLE001 - re-raised in the caller
                    call.failure = error
                    if client_cm is not None:  # a failed client is not reused
                        _close(client_cm, error)
                        client_cm = client = None
                finally:
                    self.calls += 1
                    self.busy_seconds += time.perf_counter() - started
                    call.done.set()
        finally:
            if client_cm is not None:
                _close(client_cm, None)


def _close(client_cm: Any, error: BaseException | None) -> None:
    with contextlib.suppress(Exception):  # closing after the work is done or failed: nothing to hand back
        client_cm.__exit__(type(error) if error else None, error, error.__traceback__ if error else None)


class _Call:
    __slots__ = ("work", "done", "outcome", "failure")

    def __init__(self, work: Callable[[Any], Any]) -> None:
        self.work = work
        self.done = threading.Event()
        self.outcome: Any = None
        self.failure: BaseException | None = None


def column_schema(pipeline: Pipeline, table: str, column: str) -> Mapping[str, Any] | None:
    """The completed column (dlt's column schema: ``data_type``, ``timezone`` …) in the first of the
    pipeline's schemas that has it; None: not loaded yet."""
    for schema in pipeline.schemas.values():
        cols = schema.tables.get(table, {}).get("columns", {})
        if column in cols and cols[column].get("data_type"):
            return cols[column]  # type: ignore[no-any-return]
    return None
