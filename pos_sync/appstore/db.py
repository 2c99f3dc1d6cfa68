"""Engines, sessions and schema migrations of the app store.

* ``get_engine(settings_or_url=None)`` -- one cached engine per database URL. SQLite files get
  foreign keys, WAL, a 30 s busy timeout and ``BEGIN IMMEDIATE`` write transactions (so two
  processes never deadlock upgrading a read lock); ``postgresql://`` URLs are normalised to
  ``postgresql+psycopg://`` (psycopg 3).
* ``session_scope(settings_or_url=None)`` -- a Session that commits on success, rolls back on
  error, after making sure the schema is at the Alembic head.
* ``upgrade(settings_or_url=None)`` -- ``alembic upgrade head``, programmatically (no alembic.ini;
  the scripts ship inside this package). Idempotent and safe to run from concurrent processes
  (PostgreSQL advisory lock / SQLite ``BEGIN IMMEDIATE``). The Alembic version table is
  ``pos_appstore_alembic_version`` so the app store can share a database with Dagster's storage.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from pos_sync.settings import Settings, load_settings

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "pos_appstore_alembic_version"
_PG_MIGRATION_LOCK_KEY = 0x706F735F61707073  # "pos_apps"
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0

_lock = threading.RLock()
_engines: dict[str, Engine] = {}
_sessionmakers: dict[str, sessionmaker[Session]] = {}
_at_head: set[str] = set()  # URLs whose schema this process found (or brought) at the head revision
_head: str | None = None

SettingsOrUrl = Settings | str | URL | None


def normalize_url(url: str | URL) -> str:
    """``postgres://`` / ``postgresql://`` → ``postgresql+psycopg://``; everything else unchanged."""
    if isinstance(url, str):
        return _normalize_str(url)
    return _normalize(url)


@functools.lru_cache(maxsize=64)
def _normalize_str(url: str) -> str:  # a pure function of the string, asked on every session
    return _normalize(make_url(url))


def _normalize(parsed: URL) -> str:
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def resolve_url(settings_or_url: SettingsOrUrl = None) -> str:
    if settings_or_url is None:
        settings_or_url = load_settings()
    if isinstance(settings_or_url, Settings):
        return normalize_url(settings_or_url.database_url)
    return normalize_url(settings_or_url)


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


# SQLAlchemy's default is 5 kept + 10 overflow: the overflow connections are closed on return, so a
# process with more than 5 busy threads (the API's thread pool) opened and closed connections all
# the time (on PostgreSQL a backend fork each; bench/README.md "api"). The same 15 at most, all kept
# once opened (lazily: a process that never needs more keeps fewer).
POOL_SIZE = 15
# SQLite reads step row by row, letting go of the GIL at every row: with the API's 40 threads all
# reading at once, the handoffs cost more than the reads (CPU per GET /accounts ×2.5 at 50 clients;
# bench/README.md "api"). read_connection lets this many in at a time per SQLite file; the others
# wait on a semaphore, not for the GIL.
SQLITE_READERS = 2
_read_slots: dict[str, threading.BoundedSemaphore] = {}


def _create_engine(url_str: str) -> Engine:
    url = make_url(url_str)
    kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": url.get_backend_name() != "sqlite"}
    if not _is_sqlite_memory(url):
        kwargs.update(pool_size=POOL_SIZE, max_overflow=0)
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
        if _is_sqlite_memory(url):
            kwargs["poolclass"] = StaticPool
        else:
            Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine, memory=_is_sqlite_memory(url))
    return engine


def _configure_sqlite(engine: Engine, *, memory: bool) -> None:
    """Foreign keys on, WAL, busy timeout, and real (explicit) transactions.

    pysqlite's legacy transaction handling starts transactions lazily and never for SELECTs; we
    take over (``isolation_level=None`` + our own ``BEGIN``) as the SQLAlchemy docs recommend.
    Transactions are ``BEGIN IMMEDIATE`` unless the connection has the execution option
    ``sqlite_begin="DEFERRED"`` (read-only sessions): a read that later writes can then never fail
    with SQLITE_BUSY when another process committed in between.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")).upper()
        if mode not in {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}:
            raise ValueError(f"invalid sqlite_begin mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _refuse_empty_sqlite_file(url_str: str) -> None:
    """A SQLite app store file that exists with 0 bytes lost its accounts (truncated, or copied
    half): opening it would silently start a new, empty store. Refuse, saying what to do."""
    from pos_sync.appstore.errors import AppStoreError

    url = make_url(url_str)
    if url.get_backend_name() != "sqlite" or _is_sqlite_memory(url):
        return
    path = Path(url.database or "").expanduser()
    if path.is_file() and path.stat().st_size == 0:
        raise AppStoreError(f"the app store file {path} is empty (0 bytes): its accounts are gone — restore it "
                            "from a backup, or delete the file to start again with no accounts")


def get_engine(settings_or_url: SettingsOrUrl = None) -> Engine:
    """The (cached) engine of the app store: ``settings.database_url`` unless a URL is given."""
    url = resolve_url(settings_or_url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            _refuse_empty_sqlite_file(url)
            engine = _create_engine(url)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Dispose every cached engine (tests, forked processes)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _sessionmakers.clear()
        _at_head.clear()


def alembic_config(url: str | None = None) -> Any:
    """An ``alembic.config.Config`` pointing at the packaged migrations (no alembic.ini)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    global _head
    if _head is None:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - the package always ships a revision
            raise RuntimeError("the app store has no Alembic revision")
        _head = head
    return _head


def current_revision(settings_or_url: SettingsOrUrl = None) -> str | None:
    """The revision the database is at (None when the app store was never created)."""
    engine = get_engine(settings_or_url)
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="DEFERRED")
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(settings_or_url: SettingsOrUrl = None, revision: str = "head") -> None:
    """Run ``alembic upgrade <revision>`` on the app store (default: settings.database_url).

    Idempotent: at head it changes nothing. Concurrent callers are serialised (PostgreSQL
    transaction advisory lock; SQLite ``BEGIN IMMEDIATE``), and the whole upgrade is one
    transaction (both backends have transactional DDL here).
    """
    from alembic import command

    url = resolve_url(settings_or_url)
    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    logger.debug("app store at %s upgraded to %s", safe_url(url), revision)


def ensure_schema(settings_or_url: SettingsOrUrl = None) -> None:
    """Upgrade to head unless the database already is there (one cheap query the first time this
    process opens it; none afterwards — :func:`dispose_engines` forgets what was checked)."""
    url = resolve_url(settings_or_url)
    if url in _at_head:
        return
    engine = get_engine(url)
    version: str | None
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="DEFERRED")
            version = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except DBAPIError:  # no version table yet
        version = None
    if version != head_revision():
        upgrade(url)
    _at_head.add(url)


def _sessionmaker(url: str) -> sessionmaker[Session]:
    with _lock:
        maker = _sessionmakers.get(url)
        if maker is None:
            maker = sessionmaker(bind=get_engine(url), expire_on_commit=False, future=True)
            _sessionmakers[url] = maker
        return maker


@contextmanager
def read_connection(settings_or_url: SettingsOrUrl = None) -> Iterator[Connection]:
    """One connection for a few reads (no ORM session), the schema made sure of first: what the
    API's hot reads share within one request (the API key lookup and the query). PostgreSQL:
    autocommit (no BEGIN/ROLLBACK round trips; each SELECT sees committed data, as it would under
    READ COMMITTED); SQLite: ``BEGIN DEFERRED``, rolled back when the connection goes back, at most
    :data:`SQLITE_READERS` at a time per file. Not to be nested (one per thread at a time)."""
    url = resolve_url(settings_or_url)
    ensure_schema(url)
    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            # each statement its own snapshot, as under READ COMMITTED anyway: no BEGIN and no
            # ROLLBACK round trips for a few SELECTs
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
        return
    slot = _read_slots.get(url)
    if slot is None:
        with _lock:
            slot = _read_slots.setdefault(url, threading.BoundedSemaphore(SQLITE_READERS))
    with slot, engine.connect() as conn:
        yield conn.execution_options(sqlite_begin="DEFERRED")


@contextmanager
def session_scope(settings_or_url: SettingsOrUrl = None, *, readonly: bool = False) -> Iterator[Session]:
    """A transactional Session: commit on success, rollback on exception, always closed.

    The schema is upgraded to head first, so callers work on a fresh ``POS_HOME``. ``readonly``
    only relaxes SQLite locking (``BEGIN DEFERRED``); it does not forbid writes.
    """
    url = resolve_url(settings_or_url)
    ensure_schema(url)
    session = _sessionmaker(url)()
    if readonly:
        session.connection(execution_options={"sqlite_begin": "DEFERRED"})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
