"""``make test``'s file scheduling (``tests/support/scheduling.py``): with ``--dist loadfile`` the suite's
conftest hands pytest-xdist a scheduler that gives the long files out first, longest first, and then
the rest in xdist's own order; the long files it names exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.scheduling import LONG_FILES, LongestFirstScheduling
from xdist.remote import Producer

REPO = Path(__file__).resolve().parents[1]


class FakeWorker:
    """What the scheduler asks of a worker: the indexes of the tests to run (each file given out is
    noted in ``given``), and shutting down."""

    def __init__(self, name: str, collection: list[str], given: list[str]) -> None:
        self.gateway = type("Gateway", (), {"id": name})()
        self.collection, self.given = collection, given
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.given.append(self.collection[indexes[0]].split("::", 1)[0])
        self.sent += indexes

    def shutdown(self) -> None:
        self.shutting_down = True


def files_in_order(collection: list[str], workers: int = 2) -> list[str]:
    """The files the scheduler gives out, in order, while the workers finish their tests."""
    config = pytest.Config.__new__(pytest.Config)  # what the scheduler reads: the number of workers
    config.option = type(
        "Options", (), {"tx": [f"{workers}*popen"], "dist": "loadfile", "loadscopereorder": True}
    )()  # type: ignore[attr-defined]
    config.getvalue = lambda name: getattr(config.option, name)  # type: ignore[method-assign]
    sched = LongestFirstScheduling(config, Producer("test", enabled=False))
    given: list[str] = []
    nodes = [FakeWorker(f"gw{i}", collection, given) for i in range(workers)]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, collection)
    sched.schedule()
    while any(node.sent for node in nodes):
        for node in nodes:
            if node.sent:
                sched.mark_test_complete(node, node.sent.pop(0))
    return given


def test_the_long_files_go_first_longest_first_then_xdist_order() -> None:
    many = [f"tests/a/test_many.py::t{i}" for i in range(30)]  # xdist's first: the most tests
    some = [f"tests/b/test_some.py::t{i}" for i in range(10)]
    collection = [
        *many,
        *some,
        "tests/live/test_live_stack.py::t0",
        "tests/live/test_live_stack.py::t1",
        "tests/deploy/test_topology.py::t0",
        "tests/c/test_one.py::t0",
        "tests/api/test_webhooks_end_to_end.py::t0",
    ]
    assert files_in_order(collection) == [
        "tests/deploy/test_topology.py",
        "tests/live/test_live_stack.py",
        "tests/api/test_webhooks_end_to_end.py",
        "tests/a/test_many.py",
        "tests/b/test_some.py",
        "tests/c/test_one.py",
    ]


def test_the_suite_s_conftest_picks_it_for_loadfile_only(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = request.config
    monkeypatch.setattr(config.option, "dist", "loadfile", raising=False)
    monkeypatch.setattr(config.option, "tx", ["2*popen"], raising=False)
    assert isinstance(
        config.hook.pytest_xdist_make_scheduler(config=config, log=Producer("t", enabled=False)),
        LongestFirstScheduling,
    )
    monkeypatch.setattr(config.option, "dist", "load")
    chosen = config.hook.pytest_xdist_make_scheduler(config=config, log=Producer("t", enabled=False))
    assert not isinstance(chosen, LongestFirstScheduling)


def test_every_long_file_named_exists() -> None:
    assert [path for path in LONG_FILES if not (REPO / path).is_file()] == []
