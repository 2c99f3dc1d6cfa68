"""Fetch the next page of a paginated query while the current one is being processed.

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
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.05


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int = 1, *, name: str = "prefetch") -> Iterator[T]:
    """Iterate ``items`` in a daemon thread, at most ``depth`` items ahead of the consumer."""
    if depth < 1:
        yield from items
        return
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            offer(_Failure(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
