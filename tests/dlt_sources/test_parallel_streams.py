"""Streams of one sync paged at once, and a 429 that holds only its own request.

* The client-wide gate after a 429 (``Pacing.gate_after``): Square and Lightspeed close it only
  after several 429s in a row (or, Lightspeed, when its quota headers say the quota is spent),
  so a lone 429 delays only the request that got it; the default still closes it on every 429.
* The sources' resources run in parallel (dlt ``parallelized``): two streams that each meet a 429
  wait out their ``Retry-After`` at the same time. Proved without a clock: the retry's sleep waits
  at a two-party barrier, which only a second stream sleeping at the same time can pass (streams
  read one after the other leave it broken and the sync fails).
* Square's payments span cut into ``updated_at`` slices per location (``query_slices``), paged at
  once; a location's mark after a sync that stopped early (``resume_mark``) never passes a row of
  a slice that was not read to its end.

Every clock and sleep of the unit tests is injected: nothing here asserts on time.
"""

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
from lightspeed_support import LightspeedEnv, make_ls_env
from lightspeed_support import assert_matches_truth as ls_matches_truth
from square_support import HttpLog, SquareEnv, hwm_state, query
from square_support import assert_matches_truth as square_matches_truth
from test_rate_limits import FakeClock, Scripted
from test_storm_syncs import SHORT_BUDGET, Outage, run
from toast_support import ToastEnv, toast_env
from toast_support import assert_matches_truth as toast_matches_truth

from dlt_sources.common import ApiSession, Pacing, RetryPolicy, SyncPace, TokenProvider
from dlt_sources.common.errors import TokenRejected
from dlt_sources.common.http import MAX_REFRESHES_PER_REQUEST
from dlt_sources.lightspeed.settings import LIGHTSPEED_PACING
from dlt_sources.square import query_slices, resume_mark
from dlt_sources.square.helpers import parse_ts
from dlt_sources.square.settings import SQUARE_PACING
from dlt_sources.toast.helpers import parse_ts as toast_parse_ts
from pos_sandbox.faults import FaultPlan

__all__ = ["make_ls_env", "toast_env"]  # fixtures, imported for pytest

T0 = datetime(2026, 1, 4, tzinfo=UTC)


def client(replies: Any, *, pacing: Pacing | None = None) -> tuple[ApiSession, list[float]]:
    """A session whose own sleeps are recorded but do not move its (frozen) clock: the gate it
    closes stays closed for every later request."""
    own_sleeps: list[float] = []
    s = ApiSession(None, policy=RetryPolicy(sleep=own_sleeps.append, clock=FakeClock(), base_delay=0.5),
                   pacing=pacing)
    s.mount("http://", Scripted(lambda _: next(replies)))
    return s, own_sleeps


# ---------------------------------------------------------------------- the gate after 429s
def test_a_lone_429_holds_only_its_own_request() -> None:
    s, own_sleeps = client(iter([(429, {"Retry-After": "3"}), (200, {}), (200, {})]), pacing=Pacing(gate_after=2))
    s.get("http://x/a")  # 429: waits its own 3 s, then 200
    s.get("http://x/b")  # not held: one 429 is not a streak
    assert own_sleeps == [3.0]
    assert s.pace.throttle_wait_seconds == 0 and s.pace.retry_after_seconds == 3.0


def test_429s_in_a_row_hold_every_request_of_the_client() -> None:
    s, own_sleeps = client(iter([(429, {"Retry-After": "3"}), (429, {"Retry-After": "3"}), (200, {}), (200, {})]),
                           pacing=Pacing(gate_after=2))
    s.get("http://x/a")  # two 429s in a row: the second closes the gate (its own wait: no second one)
    assert own_sleeps == [3.0, 3.0]
    s.get("http://x/b")  # the clock has not moved: the gate is still closed
    assert own_sleeps == [3.0, 3.0, 3.0] and s.pace.throttle_wait_seconds == 3.0


def test_a_success_between_429s_starts_the_streak_again() -> None:
    s, own_sleeps = client(iter([(429, {"Retry-After": "3"}), (200, {}), (429, {"Retry-After": "3"}), (200, {}),
                                 (200, {})]), pacing=Pacing(gate_after=2))
    s.get("http://x/a")
    s.get("http://x/b")
    assert s.pacer.streak == 0
    s.get("http://x/c")
    assert own_sleeps == [3.0, 3.0] and s.pace.throttle_wait_seconds == 0


def test_by_default_every_429_still_holds_the_client() -> None:
    s, own_sleeps = client(iter([(429, {"Retry-After": "3"}), (200, {}), (200, {})]))
    s.get("http://x/a")
    s.get("http://x/b")
    assert own_sleeps == [3.0, 3.0] and s.pace.throttle_wait_seconds == 3.0


def test_lightspeed_spent_quota_holds_the_client_at_its_first_429() -> None:
    """The store's documented limit says so in its quota headers: no streak needed."""
    clock, wall = FakeClock(), 1_800_000_000.0
    reset = format_datetime(datetime.fromtimestamp(wall + 7, UTC), usegmt=True)
    pacer = LIGHTSPEED_PACING.pacer(clock=clock, wall=lambda: wall)
    pacer.observe({"Retry-After": reset, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})  # the 429
    assert pacer.rate_limited(7.0) == 0.0  # one 429 is no streak ...
    assert pacer.throttle("/api/2.0/products", {}, clock.sleep) == 7.0  # ... the quota holds the others


def test_square_and_lightspeed_pace_per_request_until_429s_come_in_a_row() -> None:
    assert SQUARE_PACING.gate_after > 1 and LIGHTSPEED_PACING.gate_after > 1
    with pytest.raises(ValueError, match="gate_after"):
        Pacing(gate_after=0)


def test_pace_counters_are_exact_under_concurrency() -> None:
    """Eight threads, 25 requests each, every request answered 429 once then 200 (any thread's
    429 may close the shared gate: nothing may be lost or counted twice)."""
    pace = SyncPace()
    seen: set[str] = set()
    lock = threading.Lock()

    def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str]]:
        with lock:
            first = request.path_url not in seen
            seen.add(request.path_url)
        return (429, {"Retry-After": "0"}) if first else (200, {})

    clock = FakeClock()
    s = ApiSession(None, policy=RetryPolicy(sleep=clock.sleep, clock=clock), pacing=Pacing(gate_after=2), pace=pace)
    s.mount("http://", Scripted(reply))

    def work(thread: int) -> None:
        for i in range(25):
            s.get(f"http://x/{thread}/{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    d = pace.as_dict()
    assert (d["requests"], d["rate_limited"], d["retries"], d["gave_up"]) == (400, 200, 200, 0)
    assert s.request_count == 400 and pace.responses == 400


# ---------------------------------------------------------------------- streams wait at the same time
class OverlapProbe:
    """A retry sleep that proves two streams wait at once: the first ``parties`` sleeps meet at a
    barrier (a timeout breaks it and fails the sync); later sleeps return at once."""

    def __init__(self, parties: int = 2, timeout: float = 20.0) -> None:
        self.barrier = threading.Barrier(parties, timeout=timeout)
        self.parties = parties
        self.threads: set[int] = set()  # thread idents (names repeat: each fan-in names its threads -0, -1, …)
        self._calls = 0
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._calls += 1
            meet = self._calls <= self.parties
            if meet:
                self.threads.add(threading.get_ident())
        if meet:
            self.barrier.wait()


def test_lightspeed_feeds_wait_out_their_429s_at_the_same_time(make_ls_env: Callable[..., LightspeedEnv]) -> None:
    env = make_ls_env(faults=FaultPlan(schedule={1: "429", 2: "429"}))  # the first two API requests
    probe = OverlapProbe()
    pipeline = env.pipeline()
    pace = run(env, pipeline, retry_policy=RetryPolicy(sleep=probe.sleep, base_delay=0.01, timeout=20.0))
    assert len(probe.threads) == 2 and not probe.barrier.broken  # two streams slept at once
    assert pace.rate_limited == 2 and pace.gave_up == 0
    ls_matches_truth(pipeline, env.truth())


def test_square_streams_wait_out_their_429s_at_the_same_time(make_env: Callable[..., SquareEnv]) -> None:
    env = make_env(faults=FaultPlan(schedule={1: "429", 2: "429"}, retry_after=0.01))
    probe = OverlapProbe()
    pipeline = env.pipeline()
    pace = run(env, pipeline, retry_policy=RetryPolicy(sleep=probe.sleep, base_delay=0.01, timeout=20.0))
    assert len(probe.threads) == 2 and not probe.barrier.broken
    assert pace.rate_limited == 2 and pace.gave_up == 0
    square_matches_truth(pipeline, env.truth())


# ---------------------------------------------------------------------- Square's payments slices
def test_a_long_span_is_cut_into_day_slices_and_a_short_one_is_not() -> None:
    four_days = query_slices(T0, T0 + timedelta(days=4))
    assert four_days == [(T0 + timedelta(days=i), T0 + timedelta(days=i + 1)) for i in range(4)]
    ninety = query_slices(T0, T0 + timedelta(days=90))
    assert len(ninety) == 4 and ninety[0][0] == T0 and ninety[-1][1] == T0 + timedelta(days=90)
    assert all(a[1] == b[0] for a, b in zip(ninety, ninety[1:], strict=False))  # no gap, no overlap
    assert query_slices(T0, T0 + timedelta(hours=30)) == [(T0, T0 + timedelta(hours=30))]
    assert query_slices(T0, T0 + timedelta(minutes=20)) == [(T0, T0 + timedelta(minutes=20))]


def test_the_mark_stops_at_the_first_slice_not_read_to_its_end() -> None:
    day = [T0 + timedelta(days=i, hours=12) for i in range(4)]
    assert resume_mark(day, [True, True, True, True]) == day[3]
    assert resume_mark(day, [True, False, True, True]) == day[1]  # slices 2 and 3 are read again
    assert resume_mark([day[0], None, day[2], day[3]], [True, False, True, True]) == day[0]
    assert resume_mark([None, day[1], day[2], None], [False, True, True, False]) is None
    assert resume_mark([None, None, day[2], day[3]], [True, True, True, True]) == day[3]


def test_square_sliced_payments_budget_out_resumes_with_no_gap(
        make_env: Callable[..., SquareEnv], http_log: HttpLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dlt_sources.square.source.PAYMENTS_PAGE_SIZE", 10)
    outage = Outage("/v2/payments", after=6)
    env = make_env(faults=outage)
    pipeline = env.pipeline()
    acct = env.account["account_id"]

    pace = run(env, pipeline, retry_policy=SHORT_BUDGET)
    assert pace.partial and [s.stream for s in pace.stopped_early] == ["Square payments"]
    begins = {s.params["updated_at_begin_time"] for s in http_log.sent
              if s.path.endswith("/v2/payments") and "cursor" not in s.params}
    assert len(begins) > 2  # the span was read as several slices
    loaded = dict(query(pipeline, "select location_id, max(updated_at) from payments group by 1"))
    marks = hwm_state(pipeline, "payments", acct).get("hwm", {})
    for loc, mark in marks.items():
        assert parse_ts(mark) <= parse_ts(loaded[loc])  # never past what was loaded

    outage.end()
    run(env, pipeline)
    square_matches_truth(pipeline, env.truth())  # no gap, no duplicate


# ---------------------------------------------------------------------- a token refreshed by another stream
class TokenScript:
    """A token endpoint issuing T1, T2, … and an API whose first re-send of ``/a`` after a refresh
    finds its token already used up by another request (``/other``, sent meanwhile, accepted) —
    what parallel streams see when the provider expires a token after a number of uses."""

    def __init__(self, used_up: tuple[str, ...] = ("T2",)) -> None:
        self.issued = 1
        self.session: ApiSession | None = None
        self.expired: set[str] = {"T1"}
        self.used_up = used_up  # the tokens another request wears out just before ``/a`` re-sends with them
        self.log: list[str] = []

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str]] | Any:
        if request.path_url == "/token":
            self.issued += 1
            return 200, {"X-Token": f"T{self.issued}"}
        token = str(request.headers.get("Authorization", "")).removeprefix("Bearer ")
        self.log.append(f"{request.path_url} {token}")
        if request.path_url == "/a" and token in self.used_up and token not in self.expired:
            assert self.session is not None
            self.session.get("http://x/other")  # another stream uses the token (accepted) ...
            self.expired.add(token)  # ... and with that, its last use
        return (401, {}) if token in self.expired else (200, {})


class TokenAdapter(Scripted):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().send(request, **kwargs)
        if "X-Token" in response.headers:
            response._content = json.dumps({"access_token": response.headers["X-Token"]}).encode()
        return response


def scripted_session(script: TokenScript) -> tuple[ApiSession, TokenProvider]:
    """An API session whose requests and token refreshes are all answered by ``script``."""
    adapter = TokenAdapter(script)
    refresh_session = requests.Session()
    refresh_session.mount("http://", adapter)
    tokens = TokenProvider("T1", refresh_token="r", client_id="c", client_secret="s", token_url="http://x/token",
                           session=refresh_session, policy=RetryPolicy(base_delay=0.0))
    s = ApiSession(tokens, policy=RetryPolicy(base_delay=0.0))
    s.mount("http://", adapter)
    return s, tokens


def test_a_token_expired_after_other_requests_used_it_is_refreshed_again() -> None:
    script = TokenScript()
    s, tokens = scripted_session(script)
    script.session = s
    assert s.get("http://x/a").status_code == 200
    # T1 refused → T2; T2 refused after /other used it → T3 (before: "still 401 right after refreshing")
    assert script.log == ["/a T1", "/a T2", "/other T2", "/a T3"] and tokens.refresh_count == 2


def test_a_request_that_keeps_losing_fresh_tokens_to_other_streams_goes_on() -> None:
    """Under load, one request may lose the race for several fresh tokens in a row (each worn out by
    the other streams before its re-send): the refreshes work — others use every token — so it
    refreshes again instead of giving up after three (what a loaded suite run once hit)."""
    script = TokenScript(used_up=("T2", "T3", "T4", "T5", "T6"))
    s, tokens = scripted_session(script)
    script.session = s
    assert s.get("http://x/a").status_code == 200
    assert script.log[-1] == "/a T7" and tokens.refresh_count == 6

    # the loop still ends: past MAX_REFRESHES_PER_REQUEST lost races the request gives up, saying why
    script = TokenScript(used_up=tuple(f"T{n}" for n in range(2, 2 + MAX_REFRESHES_PER_REQUEST + 1)))
    s, tokens = scripted_session(script)
    script.session = s
    with pytest.raises(TokenRejected, match=f"after {MAX_REFRESHES_PER_REQUEST} refreshes of its own"):
        s.get("http://x/a")


def test_a_token_refused_right_after_its_refresh_is_still_an_error() -> None:
    script = TokenScript()
    script.expired |= {"T2", "T3"}  # every new token refused at once: the refresh is broken
    s, tokens = scripted_session(script)
    with pytest.raises(TokenRejected, match="still 401"):
        s.get("http://x/a")
    assert tokens.refresh_count == 1


class WatchedInFlight(Counter[str]):
    """The session's in-flight counts, recording every moment a token that the provider had just
    answered (not 401) was neither accepted nor in flight: what a parallel request refused right
    after its own refresh would have seen (and taken for a broken refresh)."""

    def __init__(self, session: ApiSession) -> None:
        super().__init__()
        self.session, self.gaps = session, []  # type: list[str]

    def __setitem__(self, token: str, count: int) -> None:
        super().__setitem__(token, count)
        if count == 0 and token not in self.session._accepted_tokens:
            self.gaps.append(token)


def test_an_accepted_token_never_looks_unused_between_its_answer_and_its_accept() -> None:
    s = ApiSession(TokenProvider("T1"), policy=RetryPolicy(base_delay=0.0))
    s.mount("http://", Scripted(lambda _: (200, {})))
    watched = WatchedInFlight(s)
    s._tokens_in_flight = watched
    assert s.get("http://x/a").status_code == 200
    assert watched.gaps == [] and s._token_in_use("T1")


# ---------------------------------------------------------------------- the quota with requests in flight
def test_requests_in_flight_book_the_quota_left() -> None:
    """Parallel streams: the quota an answer announces is shared with the requests still in flight,
    and an older (higher) count arriving late does not give it back."""
    clock, wall = FakeClock(), 1_800_000_000.0
    reset = format_datetime(datetime.fromtimestamp(wall + 5, UTC), usegmt=True)
    pacer = LIGHTSPEED_PACING.pacer(clock=clock, wall=lambda: wall)

    def answer(remaining: int) -> dict[str, str]:
        return {"X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": reset}

    assert [pacer.throttle("/api/2.0/sales", {}, clock.sleep) for _ in range(3)] == [0.0, 0.0, 0.0]  # in flight
    # the store counts them 4, 3, 2 left; the answers come back as 4, 2, 3
    pacer.settle(answer(4))  # 4 left, of which the 2 requests in flight may take 2
    pacer.settle(answer(2))  # 2 left, 1 in flight: 1
    pacer.settle(answer(3))  # late, the same window: an older count, it gives nothing back
    assert pacer.throttle("/api/2.0/sales", {}, clock.sleep) == 0.0
    assert pacer.throttle("/api/2.0/sales", {}, clock.sleep) == 5.0  # the quota is booked: wait for the reset
    assert clock.now == 5.0
    assert pacer.throttle("/api/2.0/sales", {}, clock.sleep) == 0.0  # a new window: free until its first answer


# ---------------------------------------------------------------------- Toast's windows at once
def test_toast_windows_paged_at_once_resume_by_whole_windows(
        toast_env: Callable[..., ToastEnv], http_log: HttpLog) -> None:
    outage = Outage("/orders/v2/ordersBulk", after=3)
    env = toast_env(faults=outage)
    pipeline = env.pipeline()
    acct = env.account["account_id"]
    guid = env.restaurants[0]

    pace = run(env, pipeline, retry_policy=SHORT_BUDGET)
    assert pace.partial and [s.stream for s in pace.stopped_early] == [f"Toast orders of restaurant {guid}"]
    windows = sorted({s.params["startDate"] for s in http_log.sent if s.path.endswith("/orders/v2/ordersBulk")})
    assert len(windows) > 1  # more than one window was asked for before the outage ended the stream
    state = pipeline.state["sources"]["toast"]["resources"]["orders"]["accounts"][acct]
    mark = state.get("hwm", {}).get(guid)
    if mark is not None:  # only whole windows, each with every window before it read to its end
        assert toast_parse_ts(mark) < env.world.now

    outage.end()
    http_log.clear()
    run(env, pipeline)
    toast_matches_truth(pipeline, env.truth())  # no gap, no duplicate
