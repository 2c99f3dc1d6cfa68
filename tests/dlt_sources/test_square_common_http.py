"""Unit tests of the shared HTTP pieces: retry policy, Retry-After, token refresh, typed errors."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from dlt_sources.common import (
    ApiSession,
    MissingScopes,
    ReauthorizationRequired,
    RetriesExhausted,
    RetryPolicy,
    TokenProvider,
    TokenSet,
    parse_retry_after,
)
from dlt_sources.common.errors import InvalidCursor, ServerUnreachable
from dlt_sources.square.helpers import is_stale, parse_ts, square_error_mapper

Reply = tuple[int, dict[str, Any], dict[str, str]] | Exception


class ScriptedAdapter(BaseAdapter):
    """Answers requests from a script: a list of replies, or a callable(request) -> reply."""

    def __init__(self, script: list[Reply] | Callable[[requests.PreparedRequest], Reply]) -> None:
        super().__init__()
        self.script = script
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request.copy())
        reply = self.script(request) if callable(self.script) else self.script.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body, headers = reply
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers.update({"Content-Type": "application/json", **headers})
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(sleeps: Sleeps, **kw: Any) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, **({"base_delay": 0.01, "max_delay": 0.05} | kw))


def mounted(session: requests.Session, adapter: ScriptedAdapter) -> requests.Session:
    session.mount("http://", adapter)
    return session


def test_parse_retry_after_seconds_date_and_garbage() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_full_jitter_stays_below_the_exponential_cap() -> None:
    p = RetryPolicy(base_delay=1.0, max_delay=8.0)
    for n in range(8):
        for _ in range(50):
            assert 0 <= p.backoff(n) <= min(8.0, 2**n)


def test_retries_429_honouring_retry_after_and_5xx_then_succeeds() -> None:
    sleeps = Sleeps()
    adapter = ScriptedAdapter([(429, {}, {"Retry-After": "2"}), (503, {}, {}), (200, {"ok": 1}, {})])
    session = mounted(ApiSession(TokenProvider.static("t"), policy=policy(sleeps, max_total_sleep=10)), adapter)
    assert session.get("http://x/v2/payments").json() == {"ok": 1}
    assert sleeps[0] == 2.0 and 0 <= sleeps[1] <= 0.05
    assert session.request_count == 3
    assert all(r.headers["Authorization"] == "Bearer t" for r in adapter.requests)


def test_connection_errors_are_retried_and_attempts_are_bounded() -> None:
    sleeps = Sleeps()
    adapter = ScriptedAdapter([requests.exceptions.ConnectionError("boom")] * 3)
    session = mounted(ApiSession(None, policy=policy(sleeps, max_attempts=3)), adapter)
    with pytest.raises(RetriesExhausted, match="3 attempts"):
        session.get("http://x/v2/orders")
    assert len(sleeps) == 2


def test_sleep_budget_stops_a_long_retry_after() -> None:
    sleeps = Sleeps()
    adapter = ScriptedAdapter([(429, {}, {"Retry-After": "120"})])
    session = mounted(ApiSession(None, policy=policy(sleeps, max_total_sleep=30)), adapter)
    with pytest.raises(RetriesExhausted, match="sleep budget"):
        session.get("http://x/v2/orders")
    assert sleeps == []


def _token_reply(access: str) -> Reply:
    return (200, {"access_token": access, "token_type": "bearer", "refresh_token": "r1",
                  "expires_at": "2099-01-01T00:00:00Z", "merchant_id": "M1"}, {})


def test_401_refreshes_once_persists_tokens_and_resends() -> None:
    saved: list[TokenSet] = []

    def script(request: requests.PreparedRequest) -> Reply:
        if request.url and request.url.endswith("/oauth2/token"):
            body = json.loads(request.body or b"{}")
            assert body == {"client_id": "cid", "client_secret": "sec", "grant_type": "refresh_token",
                            "refresh_token": "r1"}
            return _token_reply("fresh")
        if request.headers["Authorization"] == "Bearer stale":
            return (401, {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "ACCESS_TOKEN_EXPIRED"}]}, {})
        return (200, {"ok": True}, {})

    adapter = ScriptedAdapter(script)
    provider = TokenProvider("stale", refresh_token="r1", client_id="cid", client_secret="sec",
                             token_url="http://x/oauth2/token", on_refresh=saved.append,
                             session=mounted(requests.Session(), adapter))
    session = mounted(ApiSession(provider, policy=policy(Sleeps())), adapter)
    assert session.get("http://x/v2/locations").json() == {"ok": True}
    assert provider.refresh_count == 1 and saved[0].access_token == "fresh"
    assert saved[0].expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    # later requests use the new token without refreshing again
    session.get("http://x/v2/locations")
    assert provider.refresh_count == 1


def test_refresh_before_expiry() -> None:
    adapter = ScriptedAdapter(lambda r: _token_reply("new") if r.url and "oauth2" in r.url else (200, {}, {}))
    clock = datetime(2026, 1, 1, tzinfo=UTC)
    provider = TokenProvider("old", refresh_token="r1", client_id="cid", client_secret="s",
                             token_url="http://x/oauth2/token", expires_at=clock + timedelta(minutes=2),
                             clock=lambda: clock, session=mounted(requests.Session(), adapter))
    assert provider.get() == "new"


def test_revoked_refresh_token_raises_reauthorization_required() -> None:
    def script(request: requests.PreparedRequest) -> Reply:
        if request.url and request.url.endswith("/oauth2/token"):
            return (401, {"errors": [{"code": "UNAUTHORIZED", "detail": "refresh token revoked"}]}, {})
        return (401, {"errors": [{"code": "ACCESS_TOKEN_REVOKED"}]}, {})

    adapter = ScriptedAdapter(script)
    provider = TokenProvider("a", refresh_token="r", client_id="c", client_secret="s",
                             token_url="http://x/oauth2/token", session=mounted(requests.Session(), adapter))
    session = mounted(ApiSession(provider, policy=policy(Sleeps())), adapter)
    with pytest.raises(ReauthorizationRequired, match="pos-sync accounts add square"):
        session.get("http://x/v2/payments")


def test_still_401_after_refresh_raises_instead_of_looping() -> None:
    adapter = ScriptedAdapter(lambda r: _token_reply("b") if r.url and "oauth2" in r.url else (401, {}, {}))
    provider = TokenProvider("a", refresh_token="r", client_id="c", client_secret="s",
                             token_url="http://x/oauth2/token", session=mounted(requests.Session(), adapter))
    session = mounted(ApiSession(provider, policy=policy(Sleeps())), adapter)
    with pytest.raises(ReauthorizationRequired, match="right after refreshing"):
        session.get("http://x/v2/payments")
    assert provider.refresh_count == 1


def test_square_error_mapper_types() -> None:
    scopes = {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "INSUFFICIENT_SCOPES", "detail": "x"}]}
    adapter = ScriptedAdapter([(403, scopes, {}), (400, {"errors": [{"code": "INVALID_CURSOR"}]}, {})])
    session = mounted(ApiSession(None, policy=policy(Sleeps()), error_mapper=square_error_mapper), adapter)
    with pytest.raises(MissingScopes, match="ORDERS_READ") as info:
        session.post("http://x/square/v2/orders/search", json={})
    assert info.value.scopes == ("ORDERS_READ",)
    with pytest.raises(InvalidCursor):
        session.get("http://x/v2/payments", params={"cursor": "zzz"})


def test_guard_comparisons() -> None:
    assert is_stale("timestamp", "2026-01-01T00:00:00.000Z", datetime(2026, 1, 1, tzinfo=UTC))
    assert not is_stale("timestamp", "2026-01-01T00:00:00.001Z", datetime(2026, 1, 1, tzinfo=UTC))
    assert is_stale("timestamp", "2026-01-01T00:00:00Z", datetime(2026, 1, 1, 0, 0, 1))  # naive = UTC
    assert is_stale("int", 5, 5) and is_stale("int", 4, 5) and not is_stale("int", 6, 5)
    assert not is_stale("int", None, 5) and not is_stale("timestamp", "2026-01-01T00:00:00Z", None)
    assert is_stale("hash", "ab", "ab") and not is_stale("hash", "ab", "cd")
    assert parse_ts("2019-10-29T17:26:16.808603647Z") == datetime(2019, 10, 29, 17, 26, 16, 808603, tzinfo=UTC)


class TimeoutRecorder(ScriptedAdapter):
    def __init__(self) -> None:
        super().__init__(lambda r: (200, {}, {}))
        self.timeouts: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.timeouts.append(kwargs.get("timeout"))
        return super().send(request, **kwargs)


def test_every_request_carries_the_policy_timeout() -> None:
    """``Session.get`` passes ``timeout=None`` down: it must still get the policy's (a request with
    no timeout waits forever on a provider that never answers)."""
    adapter = TimeoutRecorder()
    session = mounted(ApiSession(None, policy=policy(Sleeps(), timeout=1.5)), adapter)
    session.get("http://x/v2/payments")
    session.get("http://x/v2/payments", timeout=7)
    assert adapter.timeouts == [1.5, 7]


@pytest.fixture
def netrc_for_x(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``~/.netrc`` with credentials for hosts ``x`` and ``y`` (what a plain session then sends)."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine x login someone password secret\nmachine y login other password secret2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert requests.Session().prepare_request(requests.Request("GET", "http://x/")).headers[
        "Authorization"].startswith("Basic ")  # what a plain session does with it


class RedirectingAdapter(ScriptedAdapter):
    """A :class:`ScriptedAdapter` whose answers ``requests`` can follow as redirects."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().send(request, **kwargs)
        response._content_consumed = True
        response.raw = io.BytesIO(b"")
        return response


def test_a_netrc_entry_for_the_host_never_replaces_the_bearer_token(netrc_for_x: None) -> None:
    """``requests`` reads ``~/.netrc`` for a request without auth, and on every redirect: an entry
    for the provider's host would send its HTTP Basic credentials instead of the source's bearer
    token (and the lookup ran on every page). The session's requests go out with the header the
    source set, redirected ones too."""
    adapter = RedirectingAdapter([(200, {}, {}), (302, {}, {"Location": "http://x/v2/payments?cursor=2"}),
                                  (200, {}, {})])
    session = mounted(ApiSession(None, policy=policy(Sleeps())), adapter)
    session.get("http://x/v2/payments", headers={"Authorization": "Bearer token-1"})
    session.get("http://x/v2/payments", headers={"Authorization": "Bearer token-1"})
    assert [r.headers["Authorization"] for r in adapter.requests] == ["Bearer token-1"] * 3


def test_a_redirect_to_another_host_carries_no_credentials(netrc_for_x: None) -> None:
    """A redirect to another host drops the ``Authorization`` header (``requests``' rule): the
    session neither puts its bearer token back on it nor takes the new host's ``~/.netrc`` entry."""
    adapter = RedirectingAdapter([(302, {}, {"Location": "http://y/elsewhere"}), (200, {}, {})])
    session = mounted(ApiSession(TokenProvider.static("t"), policy=policy(Sleeps())), adapter)
    session.get("http://x/v2/payments")
    assert adapter.requests[0].headers["Authorization"] == "Bearer t"
    assert adapter.requests[1].url == "http://y/elsewhere" and "Authorization" not in adapter.requests[1].headers


def test_token_requests_never_take_netrc_credentials(netrc_for_x: None) -> None:
    """A token refresh carries the client's credentials in its body; a ``~/.netrc`` entry for the
    token host must not add HTTP Basic ones (a provider may refuse two client authentications)."""
    adapter = ScriptedAdapter([_token_reply("fresh")])
    provider = TokenProvider("stale", refresh_token="r1", client_id="cid", client_secret="sec",
                             token_url="http://x/oauth2/token")
    mounted(provider._session, adapter)
    assert provider.refresh().access_token == "fresh"
    assert "Authorization" not in adapter.requests[0].headers


def test_a_refused_loopback_connection_fails_at_once_only_before_the_first_answer() -> None:
    """Nothing listening from the start: the sandbox is not running (at once). Refused after the
    server answered in this run: it is restarting: retried."""
    refused = requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
    url = "http://127.0.0.1:9/v2/payments"
    cold = mounted(ApiSession(None, policy=policy(Sleeps())), ScriptedAdapter([refused]))
    with pytest.raises(ServerUnreachable):
        cold.get(url)
    sleeps = Sleeps()
    warm = mounted(ApiSession(None, policy=policy(sleeps)),
                   ScriptedAdapter([(200, {}, {}), refused, refused, (200, {"ok": 1}, {})]))
    warm.get(url)
    assert warm.get(url).json() == {"ok": 1} and len(sleeps) == 2
    assert warm.pace.transport_errors == 2
