"""The hot reads' answers (``GET /api/v1/pos/accounts``, ``GET /api/v1/pos/sync/{id}/history``),
kept in memory per process and **validated against the database on every request** — never stale.

Every request makes one query, on the event loop (no thread-pool hop): the API key's tenant (not
revoked) together with the data versions the answer depends on (``pos_accounts.data_version``,
which the database's own triggers move at every change of an account, its locations or its sync
logs — whoever writes: this process, a Dagster run, the CLI; migration 0010). A kept answer is
sent when it was built from exactly these versions; otherwise (and the first time) the answer is
read from the tables (the Core selects of :mod:`pos_sync.appstore.reads` — on PostgreSQL through
SQLAlchemy's async engine on the loop, on SQLite in a worker thread), serialised once with orjson,
sent and kept. The versions are read *before* the rows an answer is built from,
so a kept answer is never older than the versions it is filed under.

* an unknown or revoked key: no row → 401 at once, whatever is kept;
* another tenant's account (or none): the join finds no account → 404;
* JWT callers: the tenant from the token, then the versions alone.

PostgreSQL: psycopg 3's async connections (autocommit, kept in a small pool of this event loop;
psycopg prepares the two statements after a few uses). SQLite: the query runs on the loop through
the standard library (a handful of microseconds on a WAL database, where a reader does not wait
for writers); should it ever find the file busy, it runs in a thread with the usual busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from anyio import to_thread
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.requests import Request
from starlette.responses import Response

from pos_sync.api.auth import KEY_HINT, _jwt_tenant, tenant_on
from pos_sync.api.problems import Problem
from pos_sync.appstore import AccountNotFound, read_connection, reads
from pos_sync.appstore.db import SQLITE_BUSY_TIMEOUT_SECONDS, _at_head, resolve_url
from pos_sync.appstore.tenants import KEY_PREFIX, hash_key
from pos_sync.settings import Settings

ENTRIES = 1024  # answers kept per process (≈ 25 KB each for a 20-account tenant's list)…
MAX_BYTES = 64 * 1024 * 1024  # …and at most this many bytes of them (a 200-log history page ≈ 100 KB)
PG_CONNECTIONS = 8  # async connections per process; a query holds one for one round trip

_KEY_ACCOUNTS = ("SELECT k.tenant_id, a.id, a.data_version FROM pos_api_keys k "
                 "LEFT JOIN pos_accounts a ON a.tenant_id = k.tenant_id "
                 "WHERE k.key_hash = {p} AND k.revoked_at IS NULL ORDER BY a.id")
_TENANT_ACCOUNTS = "SELECT id, data_version FROM pos_accounts WHERE tenant_id = {p} ORDER BY id"
_KEY_ACCOUNT = ("SELECT k.tenant_id, a.data_version FROM pos_api_keys k "
                "LEFT JOIN pos_accounts a ON a.id = {p} AND a.tenant_id = k.tenant_id "
                "WHERE k.key_hash = {p} AND k.revoked_at IS NULL")
_TENANT_ACCOUNT = "SELECT data_version FROM pos_accounts WHERE id = {p} AND tenant_id = {p}"

Rows = list[tuple[Any, ...]]
Key = tuple[Any, ...]


def _json(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_UTC_Z)


class _PgConnections:
    """psycopg async connections (autocommit) of one event loop, opened on demand, at most ``size``."""

    def __init__(self, conninfo: str, size: int) -> None:
        self.conninfo = conninfo
        self.idle: list[Any] = []
        self.slots = asyncio.Semaphore(size)

    async def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        import psycopg

        async with self.slots:
            fresh = not self.idle
            conn = self.idle.pop() if self.idle else await psycopg.AsyncConnection.connect(self.conninfo,
                                                                                           autocommit=True)
            try:
                cur = await conn.execute(sql, params)
                rows = await cur.fetchall()
            except psycopg.OperationalError:
                await conn.close()
                if fresh:
                    raise
                # a kept connection the server dropped (restart, idle timeout): once more on a new one
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                cur = await conn.execute(sql, params)
                rows = await cur.fetchall()
            except BaseException:
                await conn.close()
                raise
            self.idle.append(conn)
            return rows

    async def close(self) -> None:
        while self.idle:
            await self.idle.pop().close()


class _SqliteConnection:
    """A read connection used on the event loop only (autocommit: each SELECT its own snapshot)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def _open(self, timeout: float) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)

    def _fetch_waiting(self, sql: str, params: Sequence[Any]) -> Rows:
        conn = self._open(SQLITE_BUSY_TIMEOUT_SECONDS)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    async def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        if self.conn is None:
            self.conn = self._open(0)
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # busy (WAL recovery, a checkpoint's reset): wait in a thread
            return await to_thread.run_sync(self._fetch_waiting, sql, params)

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def of(request: Request) -> ReadCache:
    """The app's read cache (made by its lifespan; made here when the app runs without one)."""
    cache: ReadCache | None = getattr(request.app.state, "read_cache", None)
    if cache is None:
        cache = request.app.state.read_cache = ReadCache(request.app.state.settings)
    return cache


def json_response(body: bytes) -> Response:
    return Response(body, media_type="application/json")


class ReadCache:
    """The kept answers of one process and the connections that validate them (one event loop)."""

    def __init__(self, settings: Settings, entries: int = ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.settings = settings
        self.url = resolve_url(settings)
        self.entries, self.max_bytes = entries, max_bytes
        self.size = 0  # bytes kept
        self.kept: OrderedDict[Key, tuple[Any, bytes]] = OrderedDict()
        self.building: dict[tuple[Key, Any], asyncio.Future[bytes]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        parsed = make_url(self.url)
        self.backend = parsed.get_backend_name()
        self.db: _PgConnections | _SqliteConnection | None = None
        self.engine: AsyncEngine | None = None  # PostgreSQL: a miss's reads, on the loop too
        self.placeholder = "%s"
        if self.backend == "postgresql":
            self.db = _PgConnections(parsed.set(drivername="postgresql").render_as_string(hide_password=False),
                                     PG_CONNECTIONS)
        elif self.backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
            self.db = _SqliteConnection(str(Path(parsed.database or "").expanduser()))
            self.placeholder = "?"
        self.sql = {name: sql.format(p=self.placeholder) for name, sql in (
            ("key_accounts", _KEY_ACCOUNTS), ("tenant_accounts", _TENANT_ACCOUNTS),
            ("key_account", _KEY_ACCOUNT), ("tenant_account", _TENANT_ACCOUNT))}

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    # ------------------------------------------------------------------ the two answers
    async def accounts(self, token: str) -> bytes:
        """The ``GET /api/v1/pos/accounts`` body of the tenant the token names."""
        if not self._ready():
            return await to_thread.run_sync(self._accounts_uncached, token)
        if token.startswith(KEY_PREFIX):
            rows = await self._fetch("key_accounts", (hash_key(token),))
            if not rows:
                raise Problem(401, f"unknown or revoked API key: {KEY_HINT}")
            tenant = rows[0][0]
            versions = tuple((r[1], r[2]) for r in rows if r[1] is not None)
        else:
            tenant = _jwt_tenant(token, self.settings)
            versions = tuple((r[0], r[1]) for r in await self._fetch("tenant_accounts", (tenant,)))
        return await self._answer(("accounts", tenant), versions, self._build_accounts, tenant)

    async def history(self, token: str, account_id: str, limit: int, offset: int) -> bytes:
        """The ``GET /api/v1/pos/sync/{account_id}/history`` body (404: not the tenant's account)."""
        if not self._ready():
            return await to_thread.run_sync(self._history_uncached, token, account_id, limit, offset)
        if token.startswith(KEY_PREFIX):
            rows = await self._fetch("key_account", (account_id, hash_key(token)))
            if not rows:
                raise Problem(401, f"unknown or revoked API key: {KEY_HINT}")
            tenant, version = rows[0]
        else:
            tenant = _jwt_tenant(token, self.settings)
            rows = await self._fetch("tenant_account", (account_id, tenant))
            version = rows[0][0] if rows else None
        if version is None:
            raise AccountNotFound(f"no POS account {account_id} for tenant {tenant}")
        return await self._answer(("history", tenant, account_id, limit, offset), version,
                                  self._build_history, tenant, account_id, limit, offset)

    # ------------------------------------------------------------------ keeping
    def _ready(self) -> bool:
        """Fast path: a database this process already found at the schema head (the first request
        goes the long way, which brings it there), on this event loop."""
        if self.db is None or self.url not in _at_head:
            return False
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        return self.loop is loop

    async def _fetch(self, name: str, params: Sequence[Any]) -> Rows:
        assert self.db is not None
        return await self.db.fetch(self.sql[name], params)

    async def _answer(self, key: Key, versions: Any, build: Callable[..., bytes], *args: Any) -> bytes:
        kept = self.kept.get(key)
        if kept is not None and kept[0] == versions:
            self.kept.move_to_end(key)
            return kept[1]
        pending = self.building.get((key, versions))
        if pending is not None:  # the same answer is being read already: wait for it
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.building[(key, versions)] = future
        try:
            body = await self._read(build, *args)
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            else:
                future.cancel()
            raise
        finally:
            del self.building[(key, versions)]
        future.set_result(body)
        replaced = self.kept.pop(key, None)
        if replaced is not None:
            self.size -= len(replaced[1])
        self.kept[key] = (versions, body)
        self.size += len(body)
        while len(self.kept) > self.entries or self.size > self.max_bytes:  # the least recently used out
            self.size -= len(self.kept.popitem(last=False)[1][1])
        return body

    # ------------------------------------------------------------------ reading a miss
    async def _read(self, build: Callable[..., bytes], *args: Any) -> bytes:
        """``build(conn, *args)`` with a connection: on PostgreSQL an async engine's, the same Core
        reads run on the loop through SQLAlchemy's greenlet bridge (no worker thread to win the GIL
        back from the busy loop at every round trip); on SQLite in a worker thread."""
        if self.backend != "postgresql":
            def in_thread() -> bytes:
                with read_connection(self.settings) as conn:
                    return build(conn, *args)
            return await to_thread.run_sync(in_thread)
        if self.engine is None:
            self.engine = create_async_engine(self.url, pool_size=PG_CONNECTIONS // 2, max_overflow=0,
                                              pool_pre_ping=True)
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await conn.run_sync(build, *args)

    @staticmethod
    def _build_accounts(conn: Connection, tenant: str) -> bytes:
        return _json(reads.account_dicts(conn, tenant))

    @staticmethod
    def _build_history(conn: Connection, tenant: str, account_id: str, limit: int, offset: int) -> bytes:
        items = reads.history_dicts(conn, account_id, tenant, limit, offset)
        return _json({"account_id": account_id, "limit": limit, "offset": offset, "items": items})

    def _accounts_uncached(self, token: str) -> bytes:
        with read_connection(self.settings) as conn:
            return self._build_accounts(conn, tenant_on(conn, token, self.settings))

    def _history_uncached(self, token: str, account_id: str, limit: int, offset: int) -> bytes:
        with read_connection(self.settings) as conn:
            return self._build_history(conn, tenant_on(conn, token, self.settings), account_id, limit, offset)
