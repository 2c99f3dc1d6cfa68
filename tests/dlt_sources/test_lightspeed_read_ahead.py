"""The Lightspeed version feed requests page N+1 while page N is parsed (its ``version.max`` read off
the body's last bytes), and uses what it fetched only when the parse agrees."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from dlt_sources.common.errors import ApiError
from dlt_sources.lightspeed.helpers import tail_version_max, version_feed


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"data":[{"id":"a","version":5}],"version":{"min":3,"max":99}}', 99),
    (b'{"data": [], "version": {"min": 3, "max": 3}}\n', 3),
    (b'{"data":[],"version":{"max":12,"min":3}}', 12),
    # envelope first: not at the end, no guess
    (b'{"version":{"min":3,"max":7},"data":[{"id":"a","version":7}]}', None),
    # a nested "version" object at the end of the last row is not the envelope
    (b'{"data":[{"id":"a","x":{"version":{"min":1,"max":2}}}]}', None),
    (b'{"data":[{"id":"a","version":4}]}', None),  # /taxes: no envelope
    (b'{"data":[],"version":{"min":3,"max":"9"}}', None),
    (b'not json', None),
])
def test_tail_version_max_reads_only_a_trailing_envelope(body: bytes, expected: int | None) -> None:
    assert tail_version_max(body) == expected


class _Response:
    def __init__(self, content: bytes) -> None:
        self.content = content
        self.status_code = 200
        self.text = content.decode()


def _page(rows: list[int], *, top: int | None = None, tail: int | None = None) -> bytes:
    """A sales page of rows with these versions; ``tail``: a trailing envelope whose max differs from
    ``top``, the one the parse reads (a body that is not what its last bytes seemed)."""
    body: dict[str, Any] = {"data": [{"id": str(v), "version": v} for v in rows]}
    if top is not None:
        body["version"] = {"min": rows[0] if rows else top, "max": top}
    text = json.dumps(body)
    if tail is not None:
        text = text[:-1] + f', "padding": 0, "version": {{"min": 0, "max": {tail}}}}}'
    return text.encode()


class FakeClient:
    """Answers ``after`` from a dict of bodies; records the order of fetches and parses, and can hold
    a parse until the next page's request has started (proof the two overlap)."""

    def __init__(self, bodies: dict[int, bytes | Exception], *, hold_parse: bool = False,
                 parsed_top: dict[int, int] | None = None) -> None:
        self.bodies = bodies
        self.hold_parse = hold_parse
        self.parsed_top = parsed_top or {}
        self.events: list[str] = []
        self.fetched = threading.Condition()

    def fetch(self, path: str, params: Mapping[str, Any] | None = None) -> _Response:
        after = int((params or {})["after"])
        with self.fetched:
            self.events.append(f"fetch {after}")
            self.fetched.notify_all()
        answer = self.bodies[after]
        if isinstance(answer, Exception):
            raise answer
        resp = _Response(answer)
        resp.after = after  # type: ignore[attr-defined]
        return resp

    def parse(self, path: str, response: _Response, *, binary_numbers: bool = False) -> tuple[Any, bool]:
        after = response.after  # type: ignore[attr-defined]
        body = json.loads(response.content)
        if after in self.parsed_top:
            body["version"] = {"min": 0, "max": self.parsed_top[after]}
        if self.hold_parse and body.get("data"):
            nxt = int(body["version"]["max"])
            with self.fetched:  # the next page's request starts before this parse ends
                assert self.fetched.wait_for(lambda: f"fetch {nxt}" in self.events, timeout=10), self.events
        with self.fetched:
            self.events.append(f"parsed {after}")
        return body, True


def test_next_page_is_requested_while_this_one_is_parsed() -> None:
    client = FakeClient({0: _page([1, 2], top=2), 2: _page([3, 4], top=4), 4: _page([], top=4)}, hold_parse=True)
    pages = list(version_feed(client, "/sales", 0, 2))  # type: ignore[arg-type]
    assert [([r["version"] for r in rows], top) for rows, top, _ in pages] == [([1, 2], 2), ([3, 4], 4)]
    assert client.events.index("fetch 2") < client.events.index("parsed 0")
    assert client.events.index("fetch 4") < client.events.index("parsed 2")
    assert client.events.count("fetch 4") == 1  # the last (empty) page: once, and nothing after it


def test_a_guess_the_parse_contradicts_is_dropped_and_the_right_page_fetched() -> None:
    # page 0's last bytes say max 50, its parse says 2: the request for after=50 is made and dropped
    client = FakeClient({0: _page([1, 2], top=2, tail=50), 2: _page([3], top=3), 3: _page([], top=3),
                         50: _page([99], top=99)}, parsed_top={0: 2})
    pages = list(version_feed(client, "/sales", 0, 2))  # type: ignore[arg-type]
    assert [[r["version"] for r in rows] for rows, _, _ in pages] == [[1, 2], [3]]
    assert [top for _, top, _ in pages] == [2, 3]
    assert "fetch 2" in client.events  # the right request was made after the wrong guess


def test_a_failed_read_ahead_raises_after_the_page_before_it_as_without_it() -> None:
    client = FakeClient({0: _page([1, 2], top=2), 2: ApiError("Lightspeed GET /sales: HTTP 500", status=500)})
    feed = version_feed(client, "/sales", 0, 2)  # type: ignore[arg-type]
    rows, top, _ = next(feed)
    assert top == 2 and [r["version"] for r in rows] == [1, 2]
    with pytest.raises(ApiError, match="HTTP 500"):
        next(feed)


def test_a_wrong_guess_that_failed_is_not_raised() -> None:
    client = FakeClient({0: _page([1, 2], top=2, tail=50), 2: _page([], top=2),
                         50: ApiError("never used", status=500)}, parsed_top={0: 2})
    pages = list(version_feed(client, "/sales", 0, 2))  # type: ignore[arg-type]
    assert [top for _, top, _ in pages] == [2]


def test_a_page_without_envelope_is_fetched_after_its_parse() -> None:
    # /taxes: no version envelope (its rows' largest version is the next after): no guess, no overlap
    client = FakeClient({0: _page([1, 5]), 5: _page([])})
    pages = list(version_feed(client, "/taxes", 0, 2))  # type: ignore[arg-type]
    assert [top for _, top, _ in pages] == [5]
    assert client.events == ["fetch 0", "parsed 0", "fetch 5", "parsed 5"]
