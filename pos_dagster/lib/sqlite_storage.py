"""Dagster's SQLite event log storage, with its connections kept open instead of opened per call.

Dagster's ``SqliteEventLogStorage._connect`` builds a SQLAlchemy engine with ``NullPool`` for every
call — every stored event (its run shard ``history/runs/<run_id>.db``) and again for the index
shard (``history/runs/index.db``: asset, asset-check and run-status events are mirrored there) —
connects, commits, closes and disposes it. Closing the last connection of a WAL database makes
SQLite checkpoint the WAL into the database and delete it: tens of milliseconds per event, about
90 events per run, seconds of every run.

``PooledSqliteEventLogStorage`` is that class with one change: ``_connect`` takes its connection
from an engine kept per shard (one connection each: ``QueuePool`` of size 1). Everything else is
Dagster's: the same files and layout (an existing ``DAGSTER_HOME`` keeps its history, and the
default storage reads what this one writes), ``_initdb`` once per shard (on a throw-away
``NullPool`` engine, as Dagster does it), one transaction per call (``conn.begin()``), the
``_db_lock`` around each call (the connections are shared between threads —
``check_same_thread=False`` — only under that lock), the same busy timeout, WAL. Other processes
on the same home see each write at its commit (WAL readers take a new snapshot per transaction).

* **Bounded.** The index shard's engine is kept for the storage's life; run shards are an LRU of
  ``max_run_shards`` (default 4: a run writes its own shard, a webserver reads a few), the evicted
  one disposed.
* **Fork-safe.** A forked child (the warm run launcher forks run workers, ``multiprocessing`` may
  fork) must never use, nor close, a SQLite handle of its parent: closing it could checkpoint and
  delete the parent's WAL. After a fork the child drops its inherited engines without closing
  them (they are parked for the child's life, so garbage collection does not close them either),
  takes a new lock (the parent's could have been held by another thread at the fork) and opens
  its own connections. Both an ``os.register_at_fork`` hook and a pid check in ``_connect`` do it.
* **Watched through the WAL.** Dagster's event watcher (the webserver's live run logs) waits for
  the run shard's ``.db`` file to change — with a connection per event it does at every close,
  when SQLite checkpoints the WAL into it. A kept connection leaves the commits in
  ``<run_id>.db-wal`` until an automatic checkpoint, so this storage's watcher reacts to either
  file, and reads once more shortly after a WAL change (the write it saw may land in the WAL
  index a moment later: the read is by cursor, so a second look never repeats an event).
* **Released.** ``dispose()`` (the instance's close) disposes every engine; ``wipe()`` closes
  the run shards before it deletes their files, ``delete_events`` the deleted run's shard.
* **Home-relative.** ``base_dir`` may be left out of the config: the storage then lives in
  ``<instance root>/history/runs`` — exactly where Dagster's default ``storage: sqlite`` puts its
  event logs — resolved when the instance registers itself, so one ``dagster.yaml`` serves any
  ``DAGSTER_HOME`` (``$POS_HOME/dagster`` or the checkout).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dagster._check as check
from dagster import Field, IntSource, StringSource
from dagster._config.config_schema import UserConfigSchema
from dagster._core.event_api import EventHandlerFn
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool
from watchdog.events import FileSystemEvent
from watchdog.observers import Observer

if TYPE_CHECKING:
    from dagster._core.instance import DagsterInstance

DEFAULT_MAX_RUN_SHARDS = 4

# engines a forked child inherited: kept referenced for the child's life so that garbage collection
# never closes (checkpoints, deletes the WAL of) a SQLite handle that belongs to the parent
_INHERITED_ACROSS_FORK: list[object] = []
_LIVE_STORAGES: weakref.WeakSet[PooledSqliteEventLogStorage] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for storage in list(_LIVE_STORAGES):
        storage._forget_inherited_engines()  # noqa: SLF001


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def event_log_directory(instance_root: str) -> str:
    """Where Dagster's default ``storage: sqlite`` keeps the event logs of a home."""
    return os.path.join(instance_root, "history", "runs", "")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` keeping one open connection per shard (module docstring).

    .. code-block:: YAML

        event_log_storage:
          module: pos_dagster.lib.sqlite_storage
          class: PooledSqliteEventLogStorage
          # config: {base_dir: /path/to/history/runs, max_run_shards: 4}  (both optional)
    """

    def __init__(
        self,
        base_dir: str | None = None,
        inst_data: ConfigurableClassData | None = None,
        max_run_shards: int = DEFAULT_MAX_RUN_SHARDS,
    ):
        self._max_run_shards = check.int_param(max_run_shards, "max_run_shards")
        check.invariant(self._max_run_shards >= 1, "max_run_shards must be at least 1")
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._resolved = False
        self._pending_inst_data = check.opt_inst_param(inst_data, "inst_data", ConfigurableClassData)
        _LIVE_STORAGES.add(self)
        if base_dir is not None:
            self._resolve(base_dir)
        else:
            # the instance's root is known at registration; until then the storage has no directory
            self._inst_data = self._pending_inst_data
            self._instance_weakref = None

    def _resolve(self, base_dir: str) -> None:
        # Dagster's constructor: base dir, lock, the index shard created (and reindexed) if missing
        SqliteEventLogStorage.__init__(self, base_dir, inst_data=self._pending_inst_data)
        self._resolved = True

    def register_instance(self, instance: DagsterInstance) -> None:
        if not self._resolved:
            self._resolve(event_log_directory(instance.root_directory))
        super().register_instance(instance)

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {
            "base_dir": Field(StringSource, is_required=False,
                              description="the event logs' directory (default: <DAGSTER_HOME>/history/runs)"),
            "max_run_shards": Field(IntSource, is_required=False, default_value=DEFAULT_MAX_RUN_SHARDS,
                                    description="run shards whose connection is kept open (LRU)"),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    # --- connections -------------------------------------------------------------------------

    def _forget_inherited_engines(self) -> None:
        """In a forked child: drop the parent's engines without closing them, take a fresh lock."""
        if self._engines:
            _INHERITED_ACROSS_FORK.append(self._engines)
        self._engines = OrderedDict()
        self._engines_pid = os.getpid()
        if self._resolved:
            self._db_lock = threading.Lock()

    def _engine_for(self, shard: str) -> Engine:
        """The shard's kept engine (created, and its database initialized, on first use)."""
        if self._engines_pid != os.getpid():  # forked without the hook (it runs for os.fork only)
            self._forget_inherited_engines()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        conn_string = self.conn_string_for_shard(shard)
        if shard not in self._initialized_dbs:
            # Dagster's _initdb inspects the schema on a second connection: a throw-away engine
            init_engine = create_engine(conn_string, poolclass=NullPool,
                                        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            try:
                self._initdb(init_engine)
            finally:
                init_engine.dispose()
            self._initialized_dbs.add(shard)
        engine = create_engine(
            conn_string,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        self._engines[shard] = engine
        self._evict()
        return engine

    def _evict(self) -> None:
        run_shards = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in run_shards[: max(0, len(run_shards) - self._max_run_shards)]:
            self._engines.pop(name).dispose()

    def _close_shard(self, shard: str) -> None:
        engine = self._engines.pop(shard, None)
        if engine is not None:
            engine.dispose()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:  # type: ignore[override]
        with self._db_lock:
            check.str_param(shard, "shard")
            engine = self._engine_for(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    # --- the event watcher ----------------------------------------------------------------------

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watchdog = WalAwareWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watchdog,
            self._obs.schedule(watchdog, self._base_dir, recursive=True),
        )

    def end_watch(self, run_id: str, handler: EventHandlerFn) -> None:
        watched = self._watchers[run_id].get(handler)
        super().end_watch(run_id, handler)
        if watched is not None:
            watched[0].stop()

    # --- lifecycle ---------------------------------------------------------------------------

    def _close_all(self) -> None:
        if self._engines_pid != os.getpid():
            self._forget_inherited_engines()
            return
        engines, self._engines = self._engines, OrderedDict()
        for engine in engines.values():
            engine.dispose()

    def dispose(self) -> None:
        for watches in list(self._watchers.values()) if self._resolved else []:
            for watchdog, _watch in list(watches.values()):
                watchdog.stop()
        super().dispose()
        if self._resolved:
            with self._db_lock:
                self._close_all()

    def wipe(self) -> None:
        with self._db_lock:
            for shard in [name for name in self._engines if name != INDEX_SHARD_NAME]:
                self._close_shard(shard)
        super().wipe()

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        with self._db_lock:
            self._close_shard(run_id)

    def upgrade(self) -> None:
        with self._db_lock:
            self._close_all()  # the migration may change the schema under open connections
        super().upgrade()
        with self._db_lock:
            self._close_all()


class WalAwareWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's run-shard watcher, woken by the shard's WAL as well as its database file.

    The observer's thread only signals; the reads (and the callback) run on one thread per watch,
    so a watch never reads twice at once, and a callback that ends the watch (a finished run) never
    waits for the observer that is waiting for it."""

    RECHECK_SECONDS = 0.2

    def __init__(self, storage: PooledSqliteEventLogStorage, run_id: str,
                 callback: EventHandlerFn, cursor: str | None):
        super().__init__(storage, run_id, callback, cursor)
        self._wal_path = f"{self._log_path}-wal"
        self._patterns = [self._log_path, self._wal_path]
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._wal_changed = False
        self._worker = threading.Thread(target=self._work, name=f"event-log-watch-{run_id}", daemon=True)
        self._worker.start()

    def _read(self) -> None:
        try:
            self._process_log()
        except Exception:
            logging.exception("Exception reading the event log of run %s.", self._run_id)

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            wal_changed, self._wal_changed = self._wal_changed, False
            self._read()
            if wal_changed and not self._stop.wait(self.RECHECK_SECONDS):
                self._read()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def on_modified(self, event: FileSystemEvent) -> None:
        path = os.fsdecode(event.src_path)
        if path == self._wal_path:
            self._wal_changed = True
        elif path != self._log_path:
            return
        self._wake.set()
