"""Unit tests of rate-limit handling: the time-budgeted retry policy, the client's shared cool-down
gate, the client-side rate limiters, quota headers, the run's counters (``SyncPace``) and how a
stream stops early. Every clock and sleep is injected: nothing here really sleeps."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from dlt_sources.common import (
    SYNC_RETRY_POLICY,
    ApiError,
    ApiSession,
    Pacing,
    RateLimit,
    RetriesExhausted,
    RetryPolicy,
    SyncPace,
    TokenProvider,
    sync_pace,
)
from dlt_sources.common.discovery import DISCOVERY_RETRY_POLICY
from dlt_sources.common.pace import stops_early
from dlt_sources.common.pacing import CoolDown, RateLimiter
from dlt_sources.lightspeed import lightspeed_source
from dlt_sources.lightspeed.settings import LIGHTSPEED_PACING
from dlt_sources.square import square_source
from dlt_sources.toast import toast_source, toast_tokens
from dlt_sources.toast.settings import TOAST_PACING

Reply = tuple[int, dict[str, str]] | Exception


class FakeClock:
    """Monotonic seconds that only move when told (``advance``) or when ``sleep`` is called."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


class Scripted(BaseAdapter):
    """Answers from a callable(request) -> (status, headers) or an exception; counts the sends."""

    def __init__(self, script: Callable[[requests.PreparedRequest], Reply]) -> None:
        super().__init__()
        self.script = script
        self.sent: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append(request.path_url)
        reply = self.script(request)
        if isinstance(reply, Exception):
            raise reply
        status, headers = reply
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps({"ok": status < 400}).encode()
        response.headers.update({"Content-Type": "application/json", **headers})
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def session(script: Callable[[requests.PreparedRequest], Reply], clock: FakeClock, *,
            pacing: Pacing | None = None, pace: SyncPace | None = None, **policy: Any) -> tuple[ApiSession, Scripted]:
    options = {"base_delay": 0.5, "max_delay": 4.0} | policy
    s = ApiSession(TokenProvider.static("t"), policy=RetryPolicy(sleep=clock.sleep, clock=clock, **options),
                   pacing=pacing, pace=pace)
    adapter = Scripted(script)
    s.mount("http://", adapter)
    return s, adapter


def failing(times: int, reply: Reply) -> Callable[[requests.PreparedRequest], Reply]:
    count = [0]

    def script(_: requests.PreparedRequest) -> Reply:
        count[0] += 1
        return reply if count[0] <= times else (200, {})
    return script


# ---------------------------------------------------------------------- the policy
def test_a_long_storm_slows_a_request_down_instead_of_killing_it() -> None:
    clock = FakeClock()
    s, adapter = session(failing(30, (429, {"Retry-After": "1"})), clock, max_elapsed=60.0)
    assert s.get("http://x/orders").json() == {"ok": True}
    assert len(adapter.sent) == 31  # the old policy gave up after 6 attempts
    pace = s.pace.as_dict()
    assert pace["retries"] == 30 and pace["rate_limited"] == 30 and pace["gave_up"] == 0
    assert pace["retry_wait_seconds"] == pace["retry_after_seconds"] == 30.0 and clock.now == 30.0
    # every attempt's time to its answer is measured on the real clock (the fake one only sleeps)
    assert 0.0 <= pace["response_seconds"] < 5.0


def test_the_backoff_grows_only_with_failures_that_had_no_retry_after() -> None:
    clock = FakeClock()
    replies = iter([(429, {"Retry-After": "2"}), (429, {"Retry-After": "2"}), (503, {}), (503, {}), (200, {})])
    s, _ = session(lambda _: next(replies), clock, base_delay=0.5, max_delay=30.0)
    s.get("http://x/orders")
    assert clock.slept[:2] == [2.0, 2.0]
    assert 0 <= clock.slept[2] <= 0.5 and 0 <= clock.slept[3] <= 1.0  # draws 0 and 1, not 2 and 3
    assert s.pace.retry_after_seconds == 4.0


def test_the_budget_is_elapsed_time_and_a_wait_past_it_is_not_started() -> None:
    clock = FakeClock()
    s, adapter = session(lambda _: (429, {"Retry-After": "10"}), clock, max_elapsed=35.0)
    with pytest.raises(RetriesExhausted, match="retry budget of 35s") as raised:
        s.get("http://x/orders")
    assert raised.value.status == 429
    assert clock.slept == [10.0, 10.0, 10.0] and len(adapter.sent) == 4
    assert s.pace.gave_up == 1 and s.pace.budget_spent


def test_the_attempt_cap_is_only_a_safety_net_far_above_a_storm() -> None:
    assert SYNC_RETRY_POLICY.max_attempts >= 50 and SYNC_RETRY_POLICY.max_elapsed >= 300
    assert DISCOVERY_RETRY_POLICY.max_elapsed is not None and DISCOVERY_RETRY_POLICY.max_elapsed <= 30
    clock = FakeClock()
    s, _ = session(lambda _: (503, {}), clock, max_elapsed=None, max_attempts=5, base_delay=0.01)
    with pytest.raises(RetriesExhausted, match="gave up after 5 attempts"):
        s.get("http://x/orders")


def test_once_a_request_gave_up_the_runs_other_requests_try_once() -> None:
    clock = FakeClock()
    s, adapter = session(lambda r: (503, {}) if "a" in r.path_url else (429, {}), clock, max_elapsed=5.0)
    with pytest.raises(RetriesExhausted):
        s.get("http://x/a")
    sent = len(adapter.sent)
    with pytest.raises(RetriesExhausted, match="one attempt per request"):
        s.get("http://x/b")
    assert len(adapter.sent) == sent + 1 and s.pace.gave_up == 2


def test_transport_errors_and_5xx_are_counted_apart_from_429s() -> None:
    clock = FakeClock()
    replies = iter([requests.exceptions.ConnectionError("refused"), (503, {}), (429, {}), (200, {})])
    s, _ = session(lambda _: next(replies), clock)
    s.get("http://x/orders")
    d = s.pace.as_dict()
    assert (d["transport_errors"], d["server_errors"], d["rate_limited"], d["retries"]) == (1, 1, 1, 3)
    assert d["requests"] == 4 and d["waited_seconds"] == pytest.approx(sum(clock.slept), abs=1e-3)


# ---------------------------------------------------------------------- the gate
def test_a_429_holds_every_request_of_the_client_until_its_retry_after() -> None:
    clock = FakeClock()
    own_sleeps: list[float] = []
    replies = iter([(429, {"Retry-After": "3"}), (200, {}), (200, {})])
    s = ApiSession(None, policy=RetryPolicy(sleep=own_sleeps.append, clock=clock))  # its sleeps do not move time
    s.mount("http://", Scripted(lambda _: next(replies)))
    s.get("http://x/a")  # 429, waits its own 3 s, then 200 (the gate is its own: no second wait)
    assert own_sleeps == [3.0]
    s.get("http://x/b")  # another request: the clock has not moved, the gate is still closed
    assert own_sleeps == [3.0, 3.0]
    assert s.pace.throttle_wait_seconds == 3.0 and s.pace.retry_wait_seconds == 3.0


def test_an_http_date_retry_after_is_honoured_lightspeed_style() -> None:
    clock = FakeClock()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    s, _ = session(failing(1, (429, {"Retry-After": when})), clock)
    s.get("http://x/sales")
    assert 118.0 < clock.slept[0] <= 120.0


def test_5xx_waits_only_for_itself() -> None:
    clock = FakeClock()
    own_sleeps: list[float] = []
    replies = iter([(503, {}), (200, {}), (200, {})])
    s = ApiSession(None, policy=RetryPolicy(sleep=own_sleeps.append, clock=clock, base_delay=2.0))
    s.mount("http://", Scripted(lambda _: next(replies)))
    s.get("http://x/a")
    s.get("http://x/b")
    assert len(own_sleeps) == 1 and s.pace.throttle_wait_seconds == 0


def test_the_gate_only_ever_moves_later() -> None:
    clock = FakeClock()
    gate = CoolDown(clock)
    assert gate.hold(5.0) == 5.0 and gate.hold(2.0) == 2.0  # each hold's own end ...
    assert gate.until == 5.0 and gate.remaining() == 5.0  # ... the gate keeps the later one
    clock.now = 4.0
    assert gate.remaining() == 1.0


def test_quota_headers_close_the_gate_until_the_reset() -> None:
    clock = FakeClock()
    wall = 1_800_000_000.0
    reset = format_datetime(datetime.fromtimestamp(wall + 7, UTC), usegmt=True)
    pacer = LIGHTSPEED_PACING.pacer(clock=clock, wall=lambda: wall)
    pacer.observe({"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": reset})
    assert pacer.gate.remaining() == 0
    pacer.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    assert pacer.gate.remaining() == 7.0
    assert pacer.reset_in(str(wall + 12)) == 12.0 and pacer.reset_in("3") == 3.0  # Unix time, delta-seconds
    assert pacer.throttle("/api/2.0/sales", {}, clock.sleep) == 7.0


# ---------------------------------------------------------------------- the limiters
def test_a_rate_limit_holds_in_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(3, 1.0), clock)
    sends = []
    for _ in range(8):
        wait = limiter.reserve()
        clock.sleep(wait)
        sends.append(clock.now)
    assert sends == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    for t in sends:
        assert sum(t <= s < t + 1.0 for s in sends) <= 3


def test_concurrent_callers_queue_up_without_exceeding_the_limit() -> None:
    clock = FakeClock()  # frozen: every caller books at time 0 or later
    limiter = RateLimiter(RateLimit(10, 1.0), clock)
    waits: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(25):
            wait = limiter.reserve("restaurant-1")
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(waits) == {float(second): 10 for second in range(20)}


def test_toast_limits_are_per_restaurant_ordersbulk_five_and_menus_one_a_second() -> None:
    clock = FakeClock()
    pacer = TOAST_PACING.pacer(clock=clock)
    a, b = {"Toast-Restaurant-External-ID": "A"}, {"Toast-Restaurant-External-ID": "B"}
    waited = [pacer.throttle("/orders/v2/ordersBulk", a, clock.sleep) for _ in range(5)]
    assert sum(waited) == 0 and clock.now == 0  # ordersBulk: 5 per second per restaurant
    assert pacer.throttle("/orders/v2/ordersBulk", b, clock.sleep) == 0  # another restaurant: its own budget
    assert pacer.throttle("/orders/v2/ordersBulk", a, clock.sleep) == 1.0  # A's 6th ordersBulk in that second
    assert pacer.throttle("/menus/v2/menus", b, clock.sleep) == 0
    assert pacer.throttle("/menus/v2/metadata", b, clock.sleep) == 0  # only /menus has the 1/s limit
    assert pacer.throttle("/menus/v2/menus", b, clock.sleep) == 1.0
    # the 20 per second count every call: 5 ordersBulk and 15 others go at once, the 21st waits
    clock = FakeClock()
    pacer = TOAST_PACING.pacer(clock=clock)
    sent = [pacer.throttle("/orders/v2/ordersBulk", a, clock.sleep) for _ in range(5)]
    sent += [pacer.throttle("/orders/v2/orders/x", a, clock.sleep) for _ in range(15)]
    assert sum(sent) == 0 and pacer.throttle("/restaurants/v1/restaurants/A", a, clock.sleep) == 1.0


# ---------------------------------------------------------------------- the run's counters
def test_stops_early_absorbs_only_an_exhausted_budget() -> None:
    pace = SyncPace()
    with stops_early(pace, "orders") as mark:
        raise RetriesExhausted("Toast GET /orders: gave up", status=429)
    assert mark.early and pace.partial
    assert pace.as_dict()["stopped_early"] == [{"stream": "orders", "reason": "Toast GET /orders: gave up"}]
    with pytest.raises(ApiError), stops_early(pace, "menus"):
        raise ApiError("HTTP 400: bad request", status=400)
    assert [s.stream for s in pace.stopped_early] == ["orders"]
    assert "stopped early: orders" in pace.summary()


def test_every_source_hands_its_pace_to_the_caller() -> None:
    provider = TokenProvider.static("t")
    built = [
        square_source(provider, ["L1"], base_url="http://127.0.0.1:9"),
        toast_source(toast_tokens("c", "s", "http://127.0.0.1:9"), ["R1"], base_url="http://127.0.0.1:9"),
        lightspeed_source(provider, "store", [], base_url="http://127.0.0.1:9"),
    ]
    paces = [sync_pace(source) for source in built]
    assert all(isinstance(p, SyncPace) for p in paces) and len({id(p) for p in paces}) == 3
    mine = SyncPace()
    assert sync_pace(square_source(provider, ["L1"], base_url="http://127.0.0.1:9", pace=mine)) is mine
    with pytest.raises(ValueError, match="carries no SyncPace"):
        sync_pace(built[0].with_resources("payments"))
