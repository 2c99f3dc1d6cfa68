"""``dlt_sources.common.prefetch``: pages fetched one ahead keep order, errors and early stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from dlt_sources.common.prefetch import fan_in, prefetched, read_ahead


def test_items_arrive_in_order_and_the_worker_runs_ahead_while_the_consumer_works() -> None:
    produced: list[int] = []

    def pages() -> Iterator[int]:
        for i in range(5):
            produced.append(i)
            yield i

    it = prefetched(pages(), depth=1)
    assert next(it) == 0
    deadline = time.monotonic() + 5
    while len(produced) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert produced[:2] == [0, 1]  # page 1 was fetched while page 0 was still being worked on
    time.sleep(0.05)
    assert len(produced) <= 3  # at most depth pages wait in the queue, plus the one being fetched
    assert [0, *it] == [0, 1, 2, 3, 4]


def test_an_error_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("INVALID_CURSOR")

    got: list[int] = []
    with pytest.raises(ValueError, match="INVALID_CURSOR"):
        for item in prefetched(pages()):
            got.append(item)
    assert got == [1, 2]


def test_closing_the_consumer_early_stops_and_closes_the_underlying_iterator() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def pages() -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    it = prefetched(pages(), depth=1)
    assert next(it) == 0
    it.close()
    assert closed.wait(5)
    assert len(produced) <= 3


def test_depth_zero_iterates_in_turn_in_the_callers_thread() -> None:
    threads: set[str] = set()

    def pages() -> Iterator[int]:
        for i in range(3):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetched(pages(), depth=0)) == [0, 1, 2]
    assert threads == {threading.current_thread().name}


def test_fan_in_keeps_each_sources_order_and_runs_at_most_parallel_at_once() -> None:
    active: list[int] = []
    most = [0]
    lock = threading.Lock()

    def source(name: str, n: int) -> Iterator[tuple[str, int]]:
        with lock:
            active.append(1)
            most[0] = max(most[0], len(active))
        try:
            for i in range(n):
                time.sleep(0.002)
                yield name, i
        finally:
            with lock:
                active.pop()

    sources = [source(f"loc{k}", 20 + k) for k in range(5)]
    got = list(fan_in(sources, 2))
    assert most[0] == 2
    for k in range(5):
        assert [i for name, i in got if name == f"loc{k}"] == list(range(20 + k))
    assert len(got) == sum(20 + k for k in range(5))


def test_fan_in_raises_the_first_error_and_stops_the_other_sources() -> None:
    closed: list[str] = []

    def good() -> Iterator[int]:
        try:
            for i in range(10_000):
                time.sleep(0.001)
                yield i
        finally:
            closed.append("good")

    def bad() -> Iterator[int]:
        yield -1
        raise RuntimeError("401 after refresh")

    with pytest.raises(RuntimeError, match="401 after refresh"):
        list(fan_in([good(), bad()], 2))
    deadline = time.monotonic() + 5
    while "good" not in closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed == ["good"]


def test_fan_in_closed_early_stops_every_worker() -> None:
    closed: list[int] = []

    def source(k: int) -> Iterator[int]:
        try:
            while True:
                yield k
        finally:
            closed.append(k)

    it = fan_in([source(k) for k in range(3)], 3)
    assert next(it) in (0, 1, 2)
    it.close()
    deadline = time.monotonic() + 5
    while len(closed) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(closed) == [0, 1, 2]
    assert list(fan_in([], 2)) == []


def test_read_ahead_closed_early_leaves_its_request_in_a_daemon_thread() -> None:
    """A request made ahead that nobody will use (the consumer stopped) finishes in a daemon thread:
    a request's retries may take minutes, and the process's exit must not wait for them."""
    release = threading.Event()
    started = threading.Event()

    def fetch(key: int) -> int:
        if key == 2:
            started.set()
            release.wait(10)
        return key

    pages = read_ahead(fetch, 1, lambda key, answer: answer + 1, lambda key, answer: (answer, answer + 1),
                       name="test-read-ahead")
    assert next(pages) == 1
    assert started.wait(5)
    pages.close()
    waiting = [t for t in threading.enumerate() if t.name.startswith("test-read-ahead")]
    try:
        assert waiting and all(t.daemon for t in waiting)
    finally:
        release.set()
