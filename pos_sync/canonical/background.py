"""The canonical build's writes on a thread of their own: while one batch is written, the builder
reads and normalises the next.

A build is a loop of three parts per batch of objects: read the raw rows, normalise them (Python),
write the canonical rows (Arrow conversion, then the warehouse's deletes and insert). The
warehouse's part runs in DuckDB's or libpq's C code, without the GIL, so it can go on beside the
next batch's reading and normalising. :class:`BackgroundWriter` is the
:class:`transforms.build.CanonicalSink` that does this around the one
:class:`~pos_sync.canonical.writer.CanonicalWriter`:

* ``write`` hands the batch to the writer thread and returns; at most one write is in flight (the
  next ``write`` waits for it first), so memory holds one batch more than a sequential build;
* every other call (products, versions, locations) waits for the write in flight, then runs on
  the caller's thread: the writer's calls stay in the builder's order, one at a time, on the
  build's connection and in its transaction;
* an error of a write is raised by the next call (or by :meth:`close`), never lost: the build
  fails and its transaction is rolled back whole, as before;
* the builder reads through another connection (:meth:`~pos_sync.warehouse.sql.Warehouse.companion`):
  the build's connection is the writer thread's while a write is in flight.

Same rows, same order of statements on the build's connection as a sequential build: only when
they run changes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any

from pos_sync.canonical.writer import CanonicalWriter
from transforms.build import SetBasedSales
from transforms.canonical import CanonicalBatch


class BackgroundWriter:
    """A :class:`transforms.build.CanonicalSink` writing each batch through ``writer`` on one
    thread while the caller goes on. Use it as a context manager (or call :meth:`close`): leaving
    waits for the write in flight, so nothing runs on the build's connection afterwards."""

    def __init__(self, writer: CanonicalWriter) -> None:
        self.writer = writer
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="canonical-writer")
        self._in_flight: Future[None] | None = None

    def _settle(self) -> None:
        """Wait for the write in flight; raise its error."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def write(self, batch: CanonicalBatch, stale_ids: Iterable[str] = ()) -> None:
        self._settle()
        self._in_flight = self._thread.submit(self.writer.write, batch, tuple(stale_ids))

    @property
    def set_based(self) -> bool:
        return self.writer.set_based

    def write_set_based(self, sales: SetBasedSales, ids: Collection[str]) -> list[str]:
        """In the warehouse, on the caller's thread (its statements run in DuckDB's own threads)."""
        self._settle()
        return self.writer.write_set_based(sales, ids)

    def replace_products(self, products: list[dict[str, Any]], as_of: datetime | None = None) -> None:
        self._settle()
        self.writer.replace_products(products, as_of)

    def product_versions(self, tenant_id: str) -> list[dict[str, Any]]:
        self._settle()
        return self.writer.product_versions(tenant_id)

    def replace_locations(self, rows: list[dict[str, Any]]) -> None:
        self._settle()
        self.writer.replace_locations(rows)

    def close(self) -> None:
        """Wait for the write in flight (raising its error) and stop the thread."""
        try:
            self._settle()
        finally:
            self._thread.shutdown(wait=True)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
            return
        # the build failed: a write not started yet is not run; one running still has to end before
        # the transaction is rolled back on its connection — waited for again if a second interrupt
        # (Ctrl-C) cuts the wait short. The build's error is raised, the write's (if any) noted on it.
        if self._in_flight is not None and self._in_flight.cancel():
            self._in_flight = None
        while True:
            try:
                self.close()
            except Exception as write_error:  # noqa: BLE001 - recorded on the error being raised
                exc.add_note(f"a canonical write in flight failed too: {write_error!r}")
            except BaseException:  # noqa: BLE001 - an interrupt while waiting: wait again, then raise the build's
                continue
            return
