"""Fetch the next page of a paginated query while the current one is being processed, and walk
several queries (one per location) at once.

A historical import alternates two kinds of work: waiting for the API to build a page (the
socket wait releases the GIL) and the source's own work on the page before (shaping rows, the
version guard, dlt writing them to its extract files). Done in turn, the run takes the sum of
both; with one page fetched ahead in a background thread, it takes about the larger of the two.

Cursor pagination cannot fetch further ahead: page N+1's request needs page N's cursor. So one
thread walks the page iterator and hands pages over through a queue of ``depth`` slots.

Semantics kept from iterating the pages directly:

* order and content are identical; an exception raised by the iterator (HTTP errors after
  retries, ``InvalidCursor``…) is re-raised in the consumer at the position it happened;
* closing the consumer early (``break``, an exception in the consumer, ``generator.close()``)
  stops the worker: it closes the underlying iterator in its own thread and sends nothing more.
  A request in flight at that moment finishes (bounded by the HTTP timeout) and is discarded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K")  # what a page's request is made of: a cursor, a version
R = TypeVar("R")  # an answer as it came, not read yet
P = TypeVar("P")  # a page as read

_DONE = object()
_POLL_SECONDS = 0.05


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int = 1, *, name: str = "prefetch") -> Iterator[T]:
    """Iterate ``items`` in a daemon thread, at most ``depth`` items ahead of the consumer
    (``depth < 1``: in the caller's thread, in turn). One source of :func:`fan_in`."""
    if depth < 1:
        yield from items
        return
    yield from fan_in([items], 1, depth=depth, name=name)


def fan_in(sources: Sequence[Iterable[T]], parallel: int, *, depth: int = 1,
           name: str = "fan-in") -> Iterator[T]:
    """The items of several iterators (e.g. one paginated query per location), each walked in a
    worker thread, at most ``parallel`` at a time, interleaved in the order they arrive.

    Each iterator's own items keep their order; across iterators there is no order. The first
    exception of any iterator stops the others and is re-raised in the consumer; closing the
    consumer stops every worker (each closes its current iterator in its own thread).
    ``parallel <= 1`` walks them one after the other (still one page ahead, in one thread).
    At most ``depth`` items per worker wait for the consumer.
    """
    pending = list(sources)
    if not pending:
        return
    workers = max(1, min(parallel, len(pending)))
    slots: queue.Queue[object] = queue.Queue(maxsize=workers * max(1, depth))
    stop = threading.Event()
    lock = threading.Lock()
    upcoming = iter(pending)

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            while not stop.is_set():
                with lock:
                    source = next(upcoming, None)
                if source is None:
                    break
                iterator = iter(source)
                try:
                    for item in iterator:
                        if not offer(item):
                            return
                finally:
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            offer(_Failure(error))  # the consumer raises it and stops the other workers
            return
        offer(_DONE)

    threads = [threading.Thread(target=work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    try:
        finished = 0
        while finished < workers:
            item = slots.get()
            if item is _DONE:
                finished += 1
                continue
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()


def read_ahead(fetch: Callable[[K], R], first: K, guess: Callable[[K, R], K | None],
               read: Callable[[K, R], tuple[P | None, K | None]], *, name: str = "read-ahead") -> Iterator[P]:
    """The pages of a cursor-paginated query whose next request is made before this answer is read.

    Reading an answer (parsing a page of 1 000 objects: tens of milliseconds) is what gives the
    next request's cursor, so the requests waited for it: the API idled while the client parsed.
    When the cursor can be read off the raw answer cheaply — ``guess(key, answer)``, e.g. from the
    body's last bytes, None when it cannot tell — the next request goes out in a thread while
    ``read(key, answer)`` reads the page: ``(page or None to yield nothing, the next request's key or
    None: the end)``. The read decides: an answer fetched for a key the read does not confirm is
    dropped (its result or error unused) and the right request made. So the pages, their order and
    the requests made are those of the query walked in turn (plus, at most, one dropped request per
    wrong guess), and an error of a request is raised after the page before it, as in turn.
    Closing the iterator early leaves a request in flight to finish in its (daemon) thread, unused."""
    key, answer = first, fetch(first)
    while True:
        guessed = guess(key, answer)
        following = _in_daemon_thread(fetch, guessed, name) if guessed is not None else None
        page, after = read(key, answer)
        if page is not None:
            yield page
        if after is None:
            return
        key = after
        answer = following.result() if following is not None and guessed == after else fetch(after)


def _in_daemon_thread(fn: Callable[[K], R], arg: K, name: str) -> Future[R]:
    """``fn(arg)`` in a daemon thread of its own (an answer nobody waits for never holds up the
    interpreter's exit, as an executor's worker would: a request's retries may take minutes)."""
    future: Future[R] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(arg))
        except BaseException as error:  # noqa: BLE001 - handed to whoever asks for the result
            future.set_exception(error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
