"""Group commit for the webhook receivers: one writer per app, owned by its lifespan.

A receiver that verified and parsed an event hands it to :meth:`InboxWriter.store` and waits. The
writer takes what is waiting, up to :attr:`~InboxWriter.max_batch` events; when the receiver is
busy (the event came less than :data:`BUSY_WITHIN_SECONDS` after the one before), it first
waits that long for more, so a busy receiver writes big batches and a delivery alone is not
delayed. It routes the events (answers kept for a few
seconds, a miss read again: :class:`~pos_sync.appstore.routing.RouteCache`) and stores them in one
transaction with one set-based insert that skips ids already in the inbox
(:func:`~pos_sync.appstore.webhooks.record_events`), on its own thread. Only after the commit
does each waiting request learn its own outcome (``accepted``, ``duplicate``, ``unroutable``) and
answer 2xx. If the batch fails, each of its events is stored again on its own (a bad event does
not fail its neighbours); an event whose own transaction fails too gets :class:`StoreFailed` (the
receiver answers 503, so the provider delivers it again) and nothing of it is stored.

:meth:`InboxWriter.close` (the lifespan's end) takes no new event and stores every queued one
before it returns. Without a running writer (an app served with the lifespan off) the receiver
stores each event in a transaction of its own, as before."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from pos_sync.appstore.routing import RouteCache
from pos_sync.appstore.webhooks import NewEvent, record_events
from pos_sync.settings import Settings

log = structlog.get_logger("pos_sync.api.webhooks")

MAX_BATCH = 256
LINGER_SECONDS = 0.02  # a busy receiver's batch waits this long for more events
BUSY_WITHIN_SECONDS = 0.1  # busy: an event came less than this after the one before


class StoreFailed(Exception):
    """The event could not be stored (its transaction failed): nothing of it is in the inbox."""


@dataclass
class _Waiting:
    event: NewEvent
    answer: asyncio.Future[str]
    busy: bool  # it came soon after another one


class InboxWriter:
    def __init__(self, settings: Settings, *, max_batch: int = MAX_BATCH,
                 linger_seconds: float = LINGER_SECONDS) -> None:
        self.settings = settings
        self.max_batch = max_batch
        self.linger_seconds = linger_seconds
        self.routes = RouteCache()
        self.batches = 0  # batches committed (or failed) so far
        self.largest_batch = 0
        self._queue: asyncio.Queue[_Waiting | None] = asyncio.Queue()
        self._last = 0.0  # when the last event came (monotonic)
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-inbox")

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-inbox-writer")

    @property
    def accepting(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        """Take no new event; store every queued one, answer its request, then stop."""
        if self._closing:
            return
        self._closing = True
        self._queue.put_nowait(None)  # after everything already queued
        try:
            if self._task is not None:
                await self._task
        finally:
            self._thread.shutdown(wait=True)

    # ------------------------------------------------------------------ use
    async def store(self, event: NewEvent) -> str:
        """The event's outcome once its batch committed; :class:`StoreFailed` if it could not be."""
        if not self.accepting:
            raise RuntimeError("the inbox writer is not running")
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        now = time.monotonic()
        self._queue.put_nowait(_Waiting(event, answer, busy=now - self._last < BUSY_WITHIN_SECONDS))
        self._last = now
        return await answer

    # ------------------------------------------------------------------ the writer
    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            if first.busy and self._queue.qsize() < self.max_batch:
                await asyncio.sleep(self.linger_seconds)
            while len(batch) < self.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                await self._write(batch)
            except Exception as exc:  # a bug here must not leave requests waiting forever
                self._fail(batch, exc)

    @staticmethod
    def _fail(batch: list[_Waiting], exc: Exception) -> None:
        """Answer every request of ``batch`` :class:`StoreFailed` (503: the provider delivers again),
        then log; nothing here may end the writer (a log line that raises, e.g. a closed stream)."""
        for waiting in batch:
            if not waiting.answer.done():
                waiting.answer.set_exception(StoreFailed(str(exc)))
        with contextlib.suppress(Exception):  # the requests are answered; the writer must go on
            log.exception("webhook_batch_error", events=len(batch))

    async def _write(self, batch: list[_Waiting]) -> None:
        loop = asyncio.get_running_loop()
        events = [w.event for w in batch]
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        results: Sequence[str | Exception]
        try:
            results = await loop.run_in_executor(self._thread, self._store_batch, events)
        except Exception as exc:
            self.routes.forget()  # a kept route may be what failed (an account deleted meanwhile)
            log.warning("webhook_batch_failed", events=len(events), error=type(exc).__name__, detail=str(exc)[:300])
            # even a batch of one: a kept route may be what failed, and each is routed afresh now
            results = await loop.run_in_executor(self._thread, self._store_each, events)
        self._answer(batch, results)

    def _store_batch(self, events: list[NewEvent]) -> list[str]:
        return record_events(events, routes=self.routes, settings=self.settings)

    def _store_each(self, events: list[NewEvent]) -> list[str | Exception]:
        """After a failed batch: each event in a transaction of its own, routed afresh."""
        out: list[str | Exception] = []
        for event in events:
            try:
                out.append(record_events([event], settings=self.settings)[0])
            except Exception as exc:
                log.warning("webhook_store_failed", provider=event.provider, error=type(exc).__name__,
                            detail=str(exc)[:300])
                out.append(StoreFailed(str(exc)))
        return out

    @staticmethod
    def _answer(batch: list[_Waiting], results: Sequence[str | Exception]) -> None:
        for waiting, result in zip(batch, results, strict=True):
            if waiting.answer.done():  # the request went away (its client hung up)
                continue
            if isinstance(result, Exception):
                waiting.answer.set_exception(result if isinstance(result, StoreFailed) else StoreFailed(str(result)))
            else:
                waiting.answer.set_result(result)
