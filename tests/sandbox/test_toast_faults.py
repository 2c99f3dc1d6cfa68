"""Seeded fault injection on the Toast emulator: Toast error bodies, reproducible schedules,
token expiry and re-login, and the same behaviour when mounted at ``/toast`` by SandboxServer."""

from __future__ import annotations

import httpx
from toast_emulator_support import make_world, served, validate_error, window_params

from pos_sandbox.faults import FaultPlan
from pos_sandbox.server import SandboxServer


def test_scheduled_status_faults_use_toasts_error_shape() -> None:
    world = make_world()
    # request #1 is the login of `served`
    with served(world, faults=FaultPlan(schedule={2: "503", 3: "429", 4: "429-noretry", 5: "500"})) as s:
        statuses = []
        for _ in range(5):
            resp = s.get("/orders/v2/ordersBulk", **window_params(world), pageSize=5)
            statuses.append(resp.status_code)
            if resp.status_code != 200:
                body = resp.json()
                validate_error(body)
                assert body["status"] == resp.status_code
            if resp.status_code == 429:
                assert resp.headers["X-Toast-RateLimit-By"] == "GLOBAL"
                assert resp.headers.get("Retry-After") in ("1", None)
        assert statuses == [503, 429, 429, 500, 200]
        log = s.emulator.faults.log
        assert [kind for _, _, kind in log] == ["503", "429", "429-noretry", "500"]


def test_random_faults_are_reproducible() -> None:
    world = make_world()

    def run() -> list[int]:
        # ordersBulk's own limit off: the statuses are the fault plan's alone, not the clock's
        with served(world, faults=FaultPlan.parse("429:0.2,503:0.2,seed=5"), orders_bulk_rate_limit=None) as s:
            s.emulator.faults.reset()
            out = []
            for page in range(1, 30):
                out.append(s.get("/orders/v2/ordersBulk", **window_params(world), pageSize=3, page=page).status_code)
            return out

    first = run()
    assert first == run()
    assert {429, 503, 200} <= set(first)


def test_expired_token_gives_401_and_a_new_login_gives_a_new_token() -> None:
    world = make_world()
    with served(world, faults=FaultPlan(expire_after=2)) as s:
        assert s.get("/menus/v2/metadata").status_code == 200
        assert s.get("/menus/v2/metadata").status_code == 200
        expired = s.get("/menus/v2/metadata")  # the 3rd authorized request: the token is marked expired
        assert expired.status_code == 401
        validate_error(expired.json())
        fresh = s.login().json()["token"]["accessToken"]
        assert fresh != s.token
        ok = s.client.get("/menus/v2/metadata", headers=s.headers(token=fresh))
        assert ok.status_code == 200
        assert s.emulator.faults.injected["expire"] == 1


def test_faults_apply_when_mounted_by_the_sandbox_server() -> None:
    world = make_world()
    plan = FaultPlan(schedule={2: "503"})
    with SandboxServer(world, faults=plan) as server:
        acct = server.manifest()["accounts"][0]
        base = acct["base_url"]
        assert base.endswith("/toast")
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post("/authentication/v1/authentication/login", json={
                "clientId": acct["client_id"], "clientSecret": acct["client_secret"],
                "userAccessType": "TOAST_MACHINE_CLIENT"})
            assert login.status_code == 200
            headers = {"Authorization": "Bearer " + login.json()["token"]["accessToken"],
                       "Toast-Restaurant-External-ID": acct["location_ids"][0]}
            assert client.get("/menus/v2/metadata", headers=headers).status_code == 503
            assert client.get("/menus/v2/metadata", headers=headers).status_code == 200
            assert client.get("/_sandbox/toast/faults").json()["injected"] == {"503": 1}
