"""A thin warehouse adapter for the canonical build: DuckDB (embedded) or PostgreSQL.

Only what the transforms need: parameterised queries returning dicts, DDL from the canonical
specs, key tables for set-based deletes, and fast bulk inserts (Arrow into DuckDB, COPY into
PostgreSQL). SQL is written with ``%s`` placeholders and translated for DuckDB.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pos_sync.settings import Settings, load_settings
from transforms.canonical import SCHEMA, TABLES, Table
from transforms.demand import DEMAND_TABLES

LOG = logging.getLogger(__name__)


class WarehouseUnavailable(Exception):
    """The warehouse cannot be opened: PostgreSQL unreachable or refusing the connection, a DuckDB
    file another process holds or that cannot be read. The message is the driver's reason; a sync
    failing on it is ``warehouse_unavailable`` (:mod:`pos_sync.ingest.bookkeeping`), not an internal
    error — and an app store's own connection error, raised elsewhere, is not mistaken for it."""

ALL_TABLES: tuple[Table, ...] = (*TABLES, *DEMAND_TABLES)  # the canonical model and the demand feed
_DDL_OBJECT = re.compile(r'IF NOT EXISTS (?:\w+\.)?"?(\w+)"?')  # the table or index a DDL statement creates
DDL_LOCK_KEY = 0x706F735F64646C  # 'pos_ddl': the warehouse's schema changes, one session at a time


def _arrow_type(sql_type: str) -> Any:
    import pyarrow as pa

    if sql_type.startswith("NUMERIC"):
        precision, scale = (int(x) for x in re.findall(r"\d+", sql_type))
        return pa.decimal128(precision, scale)
    return {
        "TEXT": pa.string(), "JSON": pa.string(), "BOOLEAN": pa.bool_(), "INTEGER": pa.int64(),
        "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
        "DATE": pa.date32(), "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    }[sql_type]


# DuckDB types whose values Arrow's ``to_pylist`` gives as DuckDB's ``fetchall`` does (same Python
# types and values: str, int, float, bool, Decimal of the same scale, date, naive datetime); not
# UUID, HUGEINT, INTERVAL, TIMESTAMPTZ (Arrow's zone object), nested types
_ARROW_AS_FETCHALL = {"varchar", "bigint", "integer", "smallint", "tinyint", "double", "float", "boolean",
                      "decimal", "date", "timestamp"}

_UNITS = {"bytes": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
          "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}


def _bytes(text: str) -> int:
    """DuckDB's rendering of a size (``244.1 MiB``, ``18.7 GiB``, ``0 bytes``) in bytes."""
    number, _, unit = text.strip().partition(" ")
    return int(float(number) * _UNITS[unit.strip().lower() or "bytes"])


# DuckDB's ART over the canonical tables' text ids: 95-110 bytes per key, measured at chain x 90 days
# (275 MiB for 2.97 M keys of transactions, items and tenders: bench/results/canonical_build_chain90.json)
KEY_INDEX_BYTES_PER_KEY = 100


class Warehouse:
    def __init__(self, settings: Settings | None = None, *, duckdb_connection: Any = None) -> None:
        """A connection to the warehouse ``settings`` name (``duckdb_connection``: one already open to
        that DuckDB file, used as it is — see :meth:`companion`)."""
        self.settings = settings or load_settings()
        self.dialect = "postgres" if self.settings.warehouse_url else "duckdb"
        if duckdb_connection is not None:
            self.conn: Any = duckdb_connection
        elif self.dialect == "duckdb":
            import duckdb

            self.settings.pos_home.mkdir(parents=True, exist_ok=True)
            try:
                self.conn = duckdb.connect(str(self.settings.warehouse_path))
            except duckdb.IOException as exc:  # held by another process (its lock), unreadable
                raise WarehouseUnavailable(str(exc)) from exc
            # POS_WAREHOUSE_MEMORY_LIMIT (DuckDB's default is 80 % of the machine's RAM): the canonical
            # build is one transaction, and what it wrote stays in DuckDB's memory up to this limit
            self.conn.execute("set memory_limit = ?", [self.settings.warehouse_memory_limit])
        else:
            import psycopg

            try:
                self.conn = psycopg.connect(self.settings.warehouse_libpq_url, autocommit=False)
            except psycopg.OperationalError as exc:  # refused, unreachable, authentication, no database
                raise WarehouseUnavailable(str(exc)) from exc
        self._tmp = 0

    # ------------------------------------------------------------------ basics
    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.dialect == "duckdb" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.dialect == "duckdb":
            self.conn.execute(self._sql(sql), list(params))
        else:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """:meth:`execute` of an INSERT, UPDATE or DELETE, returning how many rows it changed."""
        if self.dialect == "duckdb":
            row = self.conn.execute(self._sql(sql), list(params)).fetchone()
            return int(row[0]) if row else 0
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return max(cur.rowcount, 0)

    def query(self, sql: str, params: Sequence[Any] = (), *, utc: Collection[str] = ()) -> list[dict[str, Any]]:
        """The rows as dicts; ``utc`` (DuckDB): columns the query selects as naive UTC timestamps,
        returned as aware UTC datetimes."""
        if self.dialect == "duckdb":
            cur = self.conn.execute(self._sql(sql), list(params))
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
            if utc and (aware := [i for i, n in enumerate(names) if n in utc]):
                rows = [_aware(row, aware) for row in rows]
            return [dict(zip(names, row, strict=True)) for row in rows]
        from psycopg.rows import dict_row

        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def records(self, sql: str, params: Sequence[Any] = (), *, utc: Collection[str] = ()) -> list[dict[str, Any]]:
        """:meth:`query`'s rows, on DuckDB read through Arrow column by column (each column turned
        into Python values in one call, then zipped into the dicts): 40 % less time than DuckDB's
        row-wise ``fetchall`` for the wide raw rows the canonical build reads. Only for results whose
        every column Arrow gives back as ``fetchall`` does (:data:`_ARROW_AS_FETCHALL`), else
        :meth:`query`."""
        if self.dialect != "duckdb":
            return self.query(sql, params)
        relation = self.conn.sql(self._sql(sql), params=list(params))
        if not all(t.id in _ARROW_AS_FETCHALL for t in relation.types):
            return self.query(sql, params, utc=utc)
        table = relation.to_arrow_table()
        names = table.column_names
        columns = [column.to_pylist() for column in table.columns]
        for i, name in enumerate(names):
            if name in utc:
                columns[i] = [None if v is None else v.replace(tzinfo=UTC) for v in columns[i]]
        return [dict(zip(names, values, strict=False)) for values in zip(*columns, strict=False)]  # one length

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The first column of the result, as a list: no dict per row (a build's first read of the
        ids its loads touched is the whole history — 364 k orders at chain × 90 days)."""
        if self.dialect == "duckdb":
            return [row[0] for row in self.conn.execute(self._sql(sql), list(params)).fetchall()]
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return [row[0] for row in cur.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def companion(self) -> Warehouse:
        """A second connection to the same warehouse, with its own transactions, for reading beside
        this one while it writes (from another thread): on DuckDB a cursor of this connection's
        database instance (its settings, ``memory_limit`` among them, are the instance's), on
        PostgreSQL a new connection. Its key tables (:meth:`temp_keys`) are its own. Close it."""
        if self.dialect == "duckdb":
            return Warehouse(self.settings, duckdb_connection=self.conn.cursor())
        return Warehouse(self.settings)

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ DuckDB memory
    def memory_limit_bytes(self) -> int:
        """The DuckDB connection's ``memory_limit`` in bytes."""
        return _bytes(str(self.conn.execute("select current_setting('memory_limit')").fetchall()[0][0]))

    def set_memory_limit(self, limit: int) -> None:
        """Set the DuckDB connection's ``memory_limit`` to ``limit`` bytes."""
        self.conn.execute(f"set memory_limit = '{int(limit)}B'")

    def raise_memory_limit(self) -> int | None:
        """Double the DuckDB connection's ``memory_limit``, at most to DuckDB's own default (80 % of
        the machine's RAM); the new limit in bytes, or None when it is there already. (What needs
        the memory: the canonical tables' key indexes, which DuckDB keeps in memory while a
        transaction writes them — they grow with the warehouse's history.)"""
        return self._raise_memory_limit_to(2 * self.memory_limit_bytes())

    def _raise_memory_limit_to(self, target: int) -> int | None:
        """Raise ``memory_limit`` to ``target`` bytes, at most to DuckDB's own default; the new limit
        in bytes, or None when that is no higher than the current one (which then stays)."""
        current = self.memory_limit_bytes()
        self.conn.execute("reset memory_limit")
        ceiling = self.memory_limit_bytes()
        new = min(target, ceiling)
        if new <= current or current >= ceiling * 0.99:  # (DuckDB shows sizes rounded to 0.1 of their unit)
            self.set_memory_limit(current)
            return None
        self.set_memory_limit(new)
        return self.memory_limit_bytes()

    def key_index_bytes(self) -> int:
        """What the canonical tables' key indexes take in DuckDB's memory while a transaction writes
        them, estimated: :data:`KEY_INDEX_BYTES_PER_KEY` per key of each primary key (DuckDB ARTs over
        our text ids, loaded whole and unable to spill; the natural keys have none on DuckDB). 0 on PostgreSQL."""
        if self.dialect != "duckdb":
            return 0
        from transforms.canonical import SCHEMA, TABLES

        keyed = {t.name for t in TABLES}  # a key a row: its primary key
        rows = self.query("select table_name, estimated_size from duckdb_tables() where schema_name = %s", (SCHEMA,))
        return sum(int(r["estimated_size"] or 0) for r in rows if r["table_name"] in keyed) * KEY_INDEX_BYTES_PER_KEY

    def fit_memory_limit_to_keys(self, pending_keys: int = 0) -> int | None:
        """Raise the connection's ``memory_limit`` to twice the key indexes — :meth:`key_index_bytes`
        of the committed history and ``pending_keys`` more, the keys a transaction inserts — when they
        would take more than half of it (a long history: chain × 90 days needs ≈ 275 MiB of them, more
        than the 256MB default — every build then failed once and ran again); at most DuckDB's own
        default. The new limit in bytes, or None when the limit leaves them room."""
        if self.dialect != "duckdb":
            return None
        needed = 2 * (self.key_index_bytes() + pending_keys * KEY_INDEX_BYTES_PER_KEY)
        if needed <= self.memory_limit_bytes():
            return None
        return self._raise_memory_limit_to(-(-needed // (1 << 20)) << 20)  # whole MiB

    @contextmanager
    def transaction(self) -> Any:
        if self.dialect == "duckdb":
            self.conn.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    # ------------------------------------------------------------------ metadata
    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self.scalar(
            "select count(*) from information_schema.tables where table_schema = %s and table_name = %s",
            (schema, table)))

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        """``{column: data type}`` in the table's order (``information_schema``'s spelling)."""
        rows = self.query("select column_name, data_type from information_schema.columns where table_schema = %s "
                          "and table_name = %s order by ordinal_position", (schema, table))
        return {r["column_name"]: r["data_type"] for r in rows}

    def columns(self, schema: str, table: str) -> set[str]:
        rows = self.query("select column_name from information_schema.columns where table_schema = %s "
                          "and table_name = %s", (schema, table))
        return {r["column_name"] for r in rows}

    def ensure_schema(self) -> None:
        """The canonical and demand tables as the model declares them: created when missing, and an
        existing warehouse upgraded (:mod:`pos_sync.warehouse.migrations`). On PostgreSQL one build at
        a time (a session advisory lock): ``CREATE … IF NOT EXISTS`` is not safe against a concurrent
        identical statement there — the loser fails on the catalog's unique index (``pg_namespace``,
        ``pg_type``) — and the first syncs of many accounts start together."""
        from pos_sync.warehouse.migrations import (
            add_missing_columns,
            add_natural_keys,
            drop_duckdb_natural_keys,
            drop_duckdb_secondary_indexes,
            version_pos_products,
        )
        from pos_sync.warehouse.redate import redate_business_days

        with self._ddl_lock():
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            self.commit()
            version_pos_products(self)
            existing = self._relations()
            for table in ALL_TABLES:
                for stmt in table.ddl(self.dialect):
                    created = _DDL_OBJECT.search(stmt)
                    if created is None or created.group(1)[:63] not in existing:  # PostgreSQL cuts names at 63
                        self.execute(stmt)
            self.commit()
            drop_duckdb_secondary_indexes(self)
            add_missing_columns(self)  # (before the rebuilds: they copy every column of the model)
            drop_duckdb_natural_keys(self)
            add_natural_keys(self)
            try:  # once per warehouse (pos_sync/warehouse/redate.py); a failure never stops a build
                redate_business_days(self)
            except Exception as exc:  # noqa: BLE001 — rolled back whole; the next build tries again
                LOG.warning("could not re-date the sales of an older tz database (%s: %s); the next build tries "
                            "again", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")

    def _relations(self) -> set[str]:
        """The tables and indexes of the canonical schema that exist (PostgreSQL). A ``CREATE INDEX IF
        NOT EXISTS`` of an index that exists still takes a SHARE lock on its table first, so running
        the DDL of a built schema again made the demand step wait on — and with a canonical build
        writing two tables in the other order, deadlock with — other accounts' builds (seen in the
        topology test); statements whose object exists are skipped. DuckDB: none skipped (one writer)."""
        if self.dialect != "postgres":
            return set()
        return {r["relname"] for r in self.query(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s",
            (SCHEMA,))}

    @contextmanager
    def _ddl_lock(self) -> Any:
        if self.dialect != "postgres":  # DuckDB: one writer process at a time already
            yield
            return
        self.execute("SELECT pg_advisory_lock(%s)", (DDL_LOCK_KEY,))
        self.commit()
        try:
            yield
        finally:
            self.rollback()  # a failed statement leaves the transaction aborted: the unlock needs a fresh one
            self.execute("SELECT pg_advisory_unlock(%s)", (DDL_LOCK_KEY,))
            self.commit()

    # ------------------------------------------------------------------ bulk
    def _from_arrow(self, data: Any, statement: str) -> None:
        """Run ``statement`` (DuckDB) with the Arrow table ``data`` as ``_pos_src``: DuckDB's
        replacement scan finds it among this frame's local variables. Not ``conn.register``: a
        registered table stays alive until the transaction ends even once unregistered, so the
        canonical build (one transaction) held every row it had inserted as Arrow buffers — 225 MiB
        at chain × 30 days, growing with the history imported. (A relation's ``query`` frees them
        too, but reports a constraint violation as "transaction is aborted".)"""
        _pos_src = data  # noqa: F841 - read by the statement's replacement scan
        self.conn.execute(statement)

    def temp_key_column(self, column: str, values: Iterable[str]) -> str:
        """A temporary table of one TEXT column of ``values``: :meth:`temp_keys` of 1-tuples, without
        a tuple a value on DuckDB (the values go in as one Arrow column)."""
        values = values if isinstance(values, list) else list(values)
        if self.dialect != "duckdb":
            return self.temp_keys([column], [(v,) for v in values])
        return self._temp_from_columns({column: values}, self._fresh_temp_name())

    def _fresh_temp_name(self) -> str:
        self._tmp += 1
        return f"tmp_keys_{self._tmp}"

    def _temp_from_columns(self, columns: Mapping[str, list[Any]], name: str) -> str:
        """DuckDB: the temporary table ``name`` of ``columns`` (name → values), through Arrow."""
        import pyarrow as pa

        def array(values: list[Any]) -> Any:  # a column of Nones only is TEXT too, not Arrow's null type
            return pa.array(values, pa.string()) if all(v is None or isinstance(v, str) for v in values) \
                else pa.array(values)

        table = pa.table({c: array(values) for c, values in columns.items()})
        self._from_arrow(table, f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _pos_src")
        return name

    def temp_keys(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], name: str | None = None) -> str:
        """A temporary table of key tuples (all TEXT/DATE as given) for set-based joins (``name``:
        its name, else a fresh one)."""
        name = name or self._fresh_temp_name()
        rows = list(rows)
        if self.dialect == "duckdb":
            self._temp_from_columns({c: [r[i] for r in rows] for i, c in enumerate(columns)}, name)
        else:
            types = ", ".join(f'"{c}" {"DATE" if rows and isinstance(rows[0][i], date) and not isinstance(rows[0][i], datetime) else "TEXT"}'
                              for i, c in enumerate(columns))
            with self.conn.cursor() as cur:
                cur.execute(f"CREATE TEMP TABLE {name} ({types}) ON COMMIT DROP")
                with cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        return name

    def local_time(self, zone: str, instant: str) -> str:
        """SQL of the local wall time (a naive timestamp) of the TIMESTAMPTZ expression ``instant`` in
        the zone named by the expression ``zone``, by the database's own zone rules (DuckDB's ICU,
        PostgreSQL's tz database)."""
        return f"timezone({zone}, {instant})" if self.dialect == "duckdb" else f"({instant} at time zone {zone})"

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` as tuples (no dict per row)."""
        if self.dialect == "duckdb":
            return self.conn.execute(self._sql(sql), list(params)).fetchall()
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def insert_rows(self, table: Table, rows: list[dict[str, Any]],
                    columns: Mapping[str, list[Any]] | None = None) -> int:
        """Insert ``rows`` (dicts by column name; a missing key is NULL); ``columns``: values of some
        columns given apart, one per row, in place of the rows' own."""
        if not rows:
            return 0
        cols = table.column_names
        given = columns or {}
        quoted = ", ".join(f'"{c}"' for c in cols)
        if self.dialect == "duckdb":
            import pyarrow as pa

            try:
                data = _arrow_table(table, rows, given)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # a value Arrow does not take as it is
                data = pa.Table.from_arrays([_arrow_column(given[c] if c in given else [r.get(c) for r in rows],
                                                           _arrow_type(t)) for c, t in table.columns], names=cols)
            self._from_arrow(data, f'INSERT INTO {SCHEMA}."{table.name}" ({quoted}) SELECT {quoted} FROM _pos_src')
        else:
            apart = [(i, given[c]) for i, c in enumerate(cols) if c in given]
            with self.conn.cursor() as cur, cur.copy(
                    f'COPY {SCHEMA}."{table.name}" ({quoted}) FROM STDIN') as copy:
                for n, r in enumerate(rows):
                    values = [r.get(c) for c in cols]
                    for i, column in apart:
                        values[i] = column[n]
                    copy.write_row(values)
        return len(rows)

    def delete_by_keys(self, table: Table, key_columns: Sequence[str], keys: Iterable[Sequence[Any]]) -> None:
        keys = list(keys)
        if not keys:
            return
        self.delete_in(table, self.temp_keys(key_columns, keys), {c: c for c in key_columns})

    def delete_in(self, table: Table, tmp: str, columns: Mapping[str, str]) -> None:
        """Delete the rows of ``table`` whose ``columns`` (the table's column -> the key table's)
        match a row of the key table ``tmp`` (:meth:`temp_keys`). One key table serves several
        deletes: on DuckDB a temporary table made inside a transaction is kept, even once dropped,
        until the transaction ends — and the canonical build is one transaction."""
        cond = " AND ".join(f't."{c}" = k."{k}"' for c, k in columns.items())
        self.execute(f'DELETE FROM {SCHEMA}."{table.name}" t WHERE EXISTS (SELECT 1 FROM {tmp} k WHERE {cond})'
                     if self.dialect == "postgres" else
                     f'DELETE FROM {SCHEMA}."{table.name}" AS t WHERE EXISTS (SELECT 1 FROM {tmp} k WHERE {cond})')


def _aware(row: tuple[Any, ...], indexes: Sequence[int]) -> tuple[Any, ...]:
    """``row`` with its naive UTC timestamps at ``indexes`` made aware (UTC)."""
    values = list(row)
    for i in indexes:
        if values[i] is not None:
            values[i] = values[i].replace(tzinfo=UTC)
    return tuple(values)


def _arrow_table(table: Table, rows: list[dict[str, Any]], given: Mapping[str, list[Any]]) -> Any:
    """The rows as an Arrow table of ``table``'s columns: every column but the NUMERIC ones (and
    those ``given``) in one conversion of the dicts to a struct array, which looks the keys up in
    C++ (a missing key is NULL) — half the time of reading the dicts column by column in Python;
    NUMERIC columns by :func:`_decimal_column`. Raises when a value is not of its column's type
    (the caller then converts column by column, coercing as :func:`_arrow_column` does)."""
    import pyarrow as pa

    types = {c: _arrow_type(t) for c, t in table.columns}
    plain = [c for c in table.column_names if c not in given and not pa.types.is_decimal(types[c])]
    struct = pa.array(rows, type=pa.struct([(c, types[c]) for c in plain]))
    arrays = {c: struct.field(c) for c in plain}
    for c in table.column_names:
        if c not in arrays:
            values = given[c] if c in given else [r.get(c) for r in rows]
            arrays[c] = _decimal_column(values, types[c]) if pa.types.is_decimal(types[c]) else pa.array(values, types[c])
    return pa.Table.from_arrays([arrays[c] for c in table.column_names], names=table.column_names)


def _arrow_column(values: list[Any], arrow_type: Any) -> Any:
    """One column of an insert as an Arrow array: column by column (``pa.array`` converts a whole
    list in C++), not row dicts through ``pa.Table.from_pylist`` — 3–4× less time for the
    canonical build's inserts. A value Arrow does not take as it is (a UUID, an enum, a dict in a
    TEXT column) goes through :func:`_coerce` first, exactly what the row path did; a Decimal that does not
    fit the column's NUMERIC scale still fails (never rounded)."""
    import pyarrow as pa

    try:
        if pa.types.is_decimal(arrow_type):
            return _decimal_column(values, arrow_type)
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([_coerce(v) for v in values], type=arrow_type)


def _decimal_column(values: list[Any], arrow_type: Any) -> Any:
    """A NUMERIC column: each distinct value converted once, then taken by index. Arrow converts
    ``Decimal``s one by one in Python (~0.5 µs each); the canonical rows' amounts are few distinct
    values (prices, totals) repeated. Values equal as numbers share a key (``1.0``, ``1.00``): they
    are one value of the column's scale (one that does not fit it still fails, as a whole column)."""
    import pyarrow as pa

    seen: dict[Any, int] = {}
    codes = [seen.setdefault(v, len(seen)) for v in values]
    if len(seen) * 2 > len(values):  # mostly distinct: no gain
        return pa.array(values, type=arrow_type)
    return pa.array(list(seen), type=arrow_type).take(pa.array(codes, pa.int32()))


def _coerce(value: Any) -> Any:
    if isinstance(value, Decimal | datetime | date | bool | int | float | str) or value is None:  # float: DOUBLE only
        return value
    return str(value)
