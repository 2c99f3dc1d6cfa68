"""The version guard: drop fetched rows the destination already holds in the same or a newer version.

Each source names, per table, the row field that identifies a row and the one it compares
(:class:`GuardColumns`). ``known_versions(table, keys)`` returns ``{key: stored value}`` of the
table's guard column; it is asked once per fetched page, so the cost follows the rows fetched,
not the table size. :func:`destination_known_versions` asks the pipeline's destination.
"""

from __future__ import annotations

import threading
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
        known = self.known_versions(table, keys) if keys else {}
        kept = [r for r in rows
                if not is_stale(spec.kind, r.get(spec.field), known.get(str(r.get(spec.key))), self.parse_ts)]
        self.dropped[table] = self.dropped.get(table, 0) + len(rows) - len(kept)
        self.passed[table] = self.passed.get(table, 0) + len(kept)
        return kept


def destination_known_versions(pipeline: Pipeline, columns: ColumnsFor, *, account_id: str | None = None,
                               chunk_size: int = KNOWN_VERSIONS_CHUNK) -> KnownVersions:
    """A ``known_versions`` that asks the pipeline's destination, ``chunk_size`` keys per query.

    Returns ``{}`` for tables or guard columns that do not exist yet (first run). With
    ``account_id`` only rows of that tenant (``_pos_account_id``) count.

    Make one per source (i.e. per run): a table found absent at its first look-up is remembered
    as absent for the rest of the run, since nothing is loaded while a source extracts (asking
    again cost a schema scan and a failing query per page: ~1 ms, 5 % of a historical import).

    Safe to call from parallel resources: the look-ups of one ``known`` run one at a time, each in
    a short-lived thread of its own (:func:`in_own_context`).
    """
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    absent: set[str] = set()
    lock = threading.Lock()

    def known(table: str, keys: list[str]) -> dict[str, Any]:
        if not keys or table in absent:
            return {}
        with lock:
            return in_own_context(lambda: look_up(table, keys))

    def look_up(table: str, keys: list[str]) -> dict[str, Any]:
        spec = columns(table)
        if not column_in_schema(pipeline, table, spec.db_column):
            absent.add(table)
            return {}
        found: dict[str, Any] = {}
        try:
            with pipeline.sql_client() as client:
                qualified = client.make_qualified_table_name(table)
                k, g, a = (client.escape_column_name(c) for c in (spec.db_key, spec.db_column, ACCOUNT_COLUMN))
                for i in range(0, len(keys), chunk_size):
                    chunk = keys[i : i + chunk_size]
                    sql = f"SELECT {k}, {g} FROM {qualified} WHERE {k} IN ({', '.join(['%s'] * len(chunk))})"
                    args: list[Any] = list(chunk)
                    if account_id is not None:
                        sql += f" AND {a} = %s"
                        args.append(account_id)
                    for key, value in client.execute_sql(sql, *args) or []:
                        found[str(key)] = value
        except DatabaseUndefinedRelation:
            absent.add(table)
            return {}
        return found

    return known


def in_own_context(work: Callable[[], T]) -> T:
    """``work()`` in a new thread, its result or its exception here.

    ``pipeline.sql_client()`` injects a configuration section into dlt's context container while it
    builds the client. A parallel resource runs in dlt's extract pool, whose threads share the
    main thread's container context: the client built there overwrote the section the main thread
    had injected for the extract, which then failed ("ContainerInjectableContextMangled"). A thread
    of its own gets a container context of its own."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller
            failure.append(error)

    thread = threading.Thread(target=run, name="pos-destination-lookup")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def column_in_schema(pipeline: Pipeline, table: str, column: str) -> bool:
    """Whether a completed column exists in any of the pipeline's schemas (else it is not loaded yet)."""
    for schema in pipeline.schemas.values():
        cols = schema.tables.get(table, {}).get("columns", {})
        if column in cols and cols[column].get("data_type"):
            return True
    return False
