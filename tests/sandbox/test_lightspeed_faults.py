"""Seeded fault injection on the Lightspeed emulator: reproducible schedules, Lightspeed error
bodies, 429s with an HTTP-date Retry-After, token expiry."""

from __future__ import annotations

import email.utils

from lightspeed_emulator_support import Served, make_world, served

from pos_sandbox.faults import FaultPlan


def statuses(ls: Served, n: int) -> list[int]:
    return [ls.get("/api/2.0/sales", page_size=5).status_code for _ in range(n)]


def test_same_plan_same_requests_same_statuses() -> None:
    results = []
    for _ in range(2):
        with served(make_world(days=1), faults=FaultPlan.parse("storm,seed=4")) as ls:
            got = statuses(ls, 40) + [ls.get("/api/2.0/products").status_code for _ in range(10)]
            results.append((got, dict(ls.emulator.faults.injected)))
    assert results[0] == results[1]
    got, injected = results[0]
    assert 429 in got and 200 in got
    assert sum(injected.values()) == sum(1 for s in got if s != 200)


def test_schedule_with_lightspeed_bodies_and_http_date_retry_after() -> None:
    plan = FaultPlan(schedule={2: "503", 3: "429", 4: "429-noretry", 5: "500"})
    with served(make_world(days=1), faults=plan) as ls:
        responses = [ls.get("/api/2.0/outlets") for _ in range(6)]
        assert [r.status_code for r in responses] == [200, 503, 429, 429, 500, 200]
        assert responses[1].json() == {"error": "Service Unavailable", "message": "Service Unavailable."}
        retry_after = responses[2].headers.get_list("retry-after")
        assert len(retry_after) == 1 and retry_after[0].endswith(" GMT")
        assert email.utils.parsedate_to_datetime(retry_after[0]).tzinfo is not None
        assert responses[2].json()["error"] == "Too Many Requests"
        assert "retry-after" not in responses[3].headers
        counters = ls.get("/_sandbox/lightspeed/faults").json()
        assert counters["injected"] == {"503": 1, "429": 1, "429-noretry": 1, "500": 1}


def test_expire_after_marks_the_token_expired() -> None:
    with served(make_world(days=1), faults=FaultPlan(expire_after=2)) as ls:
        got = [ls.get("/api/2.0/outlets").status_code for _ in range(4)]
        assert got == [200, 200, 401, 401]
        assert ls.emulator.faults.injected["expire"] == 1


def test_sandbox_and_oauth_pages_are_not_subject_to_faults() -> None:
    with served(make_world(days=1), faults=FaultPlan.parse("500:1.0")) as ls:
        assert ls.get("/api/2.0/outlets").status_code == 500
        assert ls.get("/_sandbox/lightspeed/faults").status_code == 200
        assert ls.get("/connect", client_id=ls.creds.client_id).status_code == 200
