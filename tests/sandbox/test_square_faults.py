"""Seeded fault injection: parsing, reproducibility, schedules, 429 headers, slow, token expiry."""

from __future__ import annotations

import time

import pytest
from square_emulator_support import Served, served

from pos_sandbox.faults import Fault, FaultPlan


def test_parse_spec_presets_and_options() -> None:
    plan = FaultPlan.parse("429:0.05,429-noretry:0.02,500:0.02,503:0.02,slow:0.01,expire:0.01,seed=7,slow_ms=150")
    assert plan.probabilities == {"429": 0.05, "429-noretry": 0.02, "500": 0.02, "503": 0.02, "slow": 0.01,
                                  "expire": 0.01}
    assert (plan.seed, plan.slow_ms) == (7, 150)
    assert not FaultPlan.parse("none").active and not FaultPlan.parse("").active
    assert FaultPlan.preset("flaky").active
    storm = FaultPlan.parse("storm", seed=3)
    assert storm.seed == 3 and storm.probabilities["429"] > 0.2
    assert FaultPlan.parse("expire_after=5").expire_after == 5
    for bad in ("418x:0.1", "429:0.9,500:0.9", "bogus", "colour=red"):
        with pytest.raises(ValueError):
            FaultPlan.parse(bad)
    assert Fault.of("429").retry_after == 1 and Fault.of("429-noretry").retry_after is None
    assert Fault.of("429-noretry").status == 429 and Fault.of("503").status == 503


def test_decisions_are_reproducible_and_keyed() -> None:
    keys = [f"GET /v2/payments?cursor={i % 7}" for i in range(400)]
    a = FaultPlan.parse("flaky,seed=9")
    b = FaultPlan.parse("flaky,seed=9")
    first = [a.decide(k)[1] for k in keys]
    assert first == [b.decide(k)[1] for k in keys]
    assert any(f is not None for f in first)
    c = FaultPlan.parse("flaky,seed=10")
    assert first != [c.decide(k)[1] for k in keys]
    a.reset()
    assert [a.decide(k)[1] for k in keys] == first
    assert sum(a.injected.values()) == sum(f is not None for f in first) == len(a.log)


def _statuses(s: Served, n: int) -> list[int]:
    return [s.get("/v2/payments", limit=5).status_code for _ in range(n)]


def test_same_plan_same_requests_same_statuses_over_http() -> None:
    results = []
    for _ in range(2):
        with served(faults=FaultPlan.parse("storm,seed=4")) as s:
            statuses = _statuses(s, 40) + [s.get("/v2/refunds").status_code for _ in range(10)]
            results.append((statuses, dict(s.emulator.faults.injected)))
    assert results[0] == results[1]
    statuses, injected = results[0]
    assert 429 in statuses and 200 in statuses
    assert sum(injected.values()) == sum(1 for x in statuses if x != 200)


def test_schedule_fails_requests_3_and_4_with_square_bodies() -> None:
    with served(faults=FaultPlan(schedule={3: "503", 4: "503", 6: "429", 7: "429-noretry"})) as s:
        responses = [s.get("/v2/locations") for _ in range(8)]
        assert [r.status_code for r in responses] == [200, 200, 503, 503, 200, 429, 429, 200]
        assert responses[2].json() == {"errors": [{"category": "API_ERROR", "code": "SERVICE_UNAVAILABLE",
                                                   "detail": "Service unavailable."}]}
        assert responses[5].headers["retry-after"] == "1"
        assert responses[5].json()["errors"][0]["code"] == "RATE_LIMITED"
        assert responses[5].json()["errors"][0]["category"] == "RATE_LIMIT_ERROR"
        assert "retry-after" not in responses[6].headers
        counters = s.get("/_sandbox/square/faults").json()
        assert counters["injected"] == {"503": 2, "429": 1, "429-noretry": 1}
        assert s.emulator.faults.log[0][0] == 3


def test_slow_fault_delays_then_serves() -> None:
    with served(faults=FaultPlan(schedule={1: "slow"}, slow_ms=300)) as s:
        t0 = time.monotonic()
        resp = s.get("/v2/locations")
        slow = time.monotonic() - t0
        t1 = time.monotonic()
        s.get("/v2/locations")
        fast = time.monotonic() - t1
        assert resp.status_code == 200 and slow >= 0.3 and fast < 0.3


def test_expire_fault_forces_a_refresh() -> None:
    with served(faults=FaultPlan(schedule={2: "expire"})) as s:
        assert s.get("/v2/locations").status_code == 200
        resp = s.get("/v2/locations")
        assert resp.status_code == 401 and resp.json()["errors"][0]["code"] == "ACCESS_TOKEN_EXPIRED"
        assert s.get("/v2/locations").status_code == 401  # stays expired
        token = s.client.post("/oauth2/token", json={
            "client_id": s.creds.client_id, "client_secret": s.creds.client_secret,
            "grant_type": "refresh_token", "refresh_token": s.creds.refresh_token}).json()
        s.client.headers["Authorization"] = f"Bearer {token['access_token']}"
        assert s.get("/v2/locations").status_code == 200


def test_expire_after_n_authorized_requests() -> None:
    with served(faults=FaultPlan(expire_after=3)) as s:
        assert [s.get("/v2/locations").status_code for _ in range(3)] == [200, 200, 200]
        assert s.get("/v2/locations").status_code == 401
        assert s.client.get("/v2/locations", headers={"Authorization": "Bearer nope"}).status_code == 401
        token = s.client.post("/oauth2/token", json={
            "client_id": s.creds.client_id, "client_secret": s.creds.client_secret,
            "grant_type": "refresh_token", "refresh_token": s.creds.refresh_token}).json()
        s.client.headers["Authorization"] = f"Bearer {token['access_token']}"
        assert [s.get("/v2/locations").status_code for _ in range(4)] == [200, 200, 200, 401]
        assert s.emulator.faults.injected["expire"] == 2


def test_faults_leave_oauth_consent_and_sandbox_hooks_alone() -> None:
    with served(faults=FaultPlan.parse("503:1.0")) as s:
        assert s.get("/v2/locations").status_code == 503
        assert s.get("/_sandbox/square/faults").status_code == 200
        assert s.client.get("/oauth2/authorize", params={"client_id": s.creds.client_id}).status_code == 200


def test_reset_drops_the_connection_without_an_answer() -> None:
    import httpx

    with served(faults=FaultPlan(schedule={1: "reset"})) as s:
        with pytest.raises(httpx.TransportError):  # connection reset by peer: no status, no body
            s.get("/v2/payments", limit=5)
        assert s.get("/v2/payments", limit=5).status_code == 200
        assert dict(s.emulator.faults.injected) == {"reset": 1}


def test_cursor_expire_expires_every_cursor_issued_so_far() -> None:
    with served(faults=FaultPlan(schedule={2: "cursor-expire"})) as s:
        first = s.get("/v2/payments", limit=5).json()
        stale = s.get("/v2/payments", limit=5, cursor=first["cursor"])
        assert stale.status_code == 400 and stale.json()["errors"][0]["code"] == "INVALID_CURSOR"
        fresh = s.get("/v2/payments", limit=5).json()
        assert s.get("/v2/payments", limit=5, cursor=fresh["cursor"]).status_code == 200
