"""The canonical build's writes on a thread of their own (``pos_sync.canonical.background``): the
builder goes on while a batch is written, the writer's calls stay in the builder's order, one at a
time, and no write's error is lost — a real build whose write fails is rolled back whole."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from canonical_support import CanonicalEnv, assert_rolled_back_then_built, second_load_pending

from pos_sync.canonical.background import BackgroundWriter
from transforms.canonical import CanonicalBatch

EnvMaker = Callable[..., CanonicalEnv]
WAIT = 10  # seconds: the longest a test waits for a thread (a hang fails, never blocks the suite)


class RecordingWriter:
    """Records its calls; ``write`` blocks until ``release`` is set (when ``hold`` is), and fails
    with ``fail`` when given."""

    def __init__(self, *, hold: bool = False, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.writing = threading.Event()
        self.release = threading.Event()
        self.hold, self.fail = hold, fail
        self.threads: set[str] = set()

    def write(self, batch: CanonicalBatch, stale_ids: tuple[str, ...] = ()) -> None:
        self.threads.add(threading.current_thread().name)
        self.writing.set()
        if self.hold:
            assert self.release.wait(WAIT), "the test never released the write"
        self.calls.append(("write", [t["id"] for t in batch.transactions] + list(stale_ids)))
        if self.fail is not None:
            raise self.fail

    def replace_products(self, products: list[dict[str, Any]], as_of: Any = None) -> None:
        self.calls.append(("replace_products", len(products)))

    def product_versions(self, tenant_id: str) -> list[dict[str, Any]]:
        self.calls.append(("product_versions", tenant_id))
        return [{"version": 1}]

    def replace_locations(self, rows: list[dict[str, Any]]) -> None:
        self.calls.append(("replace_locations", len(rows)))


def batch(*ids: str) -> CanonicalBatch:
    return CanonicalBatch(transactions=[{"id": i} for i in ids])


def test_write_returns_while_the_batch_is_still_being_written() -> None:
    writer = RecordingWriter(hold=True)
    with BackgroundWriter(writer) as sink:  # type: ignore[arg-type]
        sink.write(batch("a"))  # a sequential sink would block here until release: never
        assert writer.writing.wait(WAIT)
        assert writer.calls == []  # still in flight while the builder goes on
        writer.release.set()
    assert writer.calls == [("write", ["a"])]
    assert writer.threads and all(name.startswith("canonical-writer") for name in writer.threads)


def test_calls_run_in_the_builders_order_one_at_a_time() -> None:
    writer = RecordingWriter()
    with BackgroundWriter(writer) as sink:  # type: ignore[arg-type]
        sink.replace_products([{}, {}])
        sink.write(batch("a", "b"), ["stale"])
        assert sink.product_versions("t1") == [{"version": 1}]  # waits for the write first
        sink.write(batch("c"))
        sink.write(batch("d"))
        sink.replace_locations([{}])
    assert writer.calls == [("replace_products", 2), ("write", ["a", "b", "stale"]), ("product_versions", "t1"),
                            ("write", ["c"]), ("write", ["d"]), ("replace_locations", 1)]


def test_a_failed_write_is_raised_by_the_next_call_and_by_close() -> None:
    writer = RecordingWriter(fail=RuntimeError("insert refused"))
    sink = BackgroundWriter(writer)  # type: ignore[arg-type]
    sink.write(batch("a"))
    with pytest.raises(RuntimeError, match="insert refused"):
        sink.replace_locations([])
    assert ("replace_locations", 0) not in writer.calls  # nothing runs after a failed write
    sink.write(batch("b"))
    with pytest.raises(RuntimeError, match="insert refused"):
        sink.close()


def test_leaving_on_the_builders_error_waits_for_the_write_in_flight() -> None:
    writer = RecordingWriter(hold=True, fail=ValueError("and the write failed too"))
    left = threading.Event()

    def build() -> None:
        with BackgroundWriter(writer) as sink:  # type: ignore[arg-type]
            sink.write(batch("a"))
            raise RuntimeError("normaliser failed")

    errors: list[BaseException] = []

    def run() -> None:
        try:
            build()
        except BaseException as exc:  # noqa: BLE001 - kept for the assertions
            errors.append(exc)
        left.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert writer.writing.wait(WAIT)
    # the build raised, but the transaction may not be rolled back while the write still runs
    assert not left.wait(0.3)
    writer.release.set()
    thread.join(WAIT)
    assert left.is_set() and len(errors) == 1
    assert isinstance(errors[0], RuntimeError) and str(errors[0]) == "normaliser failed"
    assert any("and the write failed too" in note for note in getattr(errors[0], "__notes__", []))


def test_a_build_whose_background_write_fails_is_rolled_back_whole(make_env: EnvMaker,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 5 sales, the third write refused by the warehouse: the error reaches the caller,
    the two batches written before it are rolled back with the rest, the loads stay unprocessed."""
    from pos_sync.canonical.writer import CanonicalWriter
    from transforms.build import chunks

    env, before = second_load_pending(make_env)
    real_write = CanonicalWriter.write
    writes: list[int] = []

    def third_fails(self: CanonicalWriter, batch: CanonicalBatch, stale_ids: Any = ()) -> None:
        writes.append(len(batch.transactions))
        if len(writes) == 3:
            raise RuntimeError("write refused")
        real_write(self, batch, stale_ids)

    with monkeypatch.context() as patch:
        # (the module: ``transforms.square`` exports its ``build`` function under the same name)
        patch.setattr(importlib.import_module("transforms.square.build"), "chunks", lambda ids: chunks(ids, 5))
        patch.setattr(CanonicalWriter, "write", third_fails)
        with pytest.raises(RuntimeError, match="write refused"):
            env.build()
    assert len(writes) == 3
    retry = assert_rolled_back_then_built(env, before)  # the first two batches were rolled back too
    assert retry.transactions > 10


def test_an_interrupt_while_waiting_for_the_write_waits_again() -> None:
    """A second Ctrl-C during the wait on leaving must not let the rollback run beside the write."""
    writer = RecordingWriter(hold=True)
    sink = BackgroundWriter(writer)  # type: ignore[arg-type]
    real_shutdown = sink._thread.shutdown
    interrupted: list[bool] = []

    def shutdown(wait: bool = True, **kwargs: Any) -> None:
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt  # as if the second Ctrl-C arrived during the wait
        real_shutdown(wait=wait, **kwargs)

    sink._thread.shutdown = shutdown  # type: ignore[method-assign]
    sink.write(batch("a"))
    assert writer.writing.wait(WAIT)
    threading.Timer(0.3, writer.release.set).start()
    with pytest.raises(RuntimeError, match="normaliser failed"), sink:
        raise RuntimeError("normaliser failed")
    assert interrupted and writer.calls == [("write", ["a"])]  # the write ended before leaving
