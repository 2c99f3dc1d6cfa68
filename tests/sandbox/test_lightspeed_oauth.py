"""Lightspeed OAuth in the emulator: consent page, code exchange, rotating refresh tokens with and
without a grace period, lost refresh responses, form-encoded token requests only."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from lightspeed_emulator_support import Served, make_world, served


def refresh(ls: Served, token: str) -> httpx.Response:
    return ls.client.post("/api/1.0/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                                  "client_id": ls.creds.client_id,
                                                  "client_secret": ls.creds.client_secret})


def api_ok(ls: Served, access_token: str) -> bool:
    resp = ls.client.get("/api/2.0/outlets", headers={"Authorization": f"Bearer {access_token}"})
    return resp.status_code == 200


def test_consent_page_then_code_exchange() -> None:
    with served(make_world(days=1)) as ls:
        params = {"response_type": "code", "client_id": ls.creds.client_id, "redirect_uri": "https://app.example/cb",
                  "state": "xyz"}
        page = ls.client.get("/connect", params=params)
        assert page.status_code == 200 and 'id="allow"' in page.text and ls.creds.account_id in page.text
        denied = ls.client.get("/connect/decision", params={**params, "decision": "deny"})
        assert denied.status_code == 302
        assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]
        allowed = ls.client.get("/connect/decision", params={**params, "decision": "allow"})
        query = parse_qs(urlsplit(allowed.headers["location"]).query)
        assert query["state"] == ["xyz"] and query["domain_prefix"] == [ls.creds.account_id]
        form = {"grant_type": "authorization_code", "code": query["code"][0], "client_id": ls.creds.client_id,
                "client_secret": ls.creds.client_secret, "redirect_uri": "https://app.example/cb"}
        token = ls.client.post("/api/1.0/token", data=form)
        assert token.status_code == 200, token.text
        body = token.json()
        assert body["domain_prefix"] == ls.creds.account_id and body["expires"] > time.time()
        assert api_ok(ls, body["access_token"])
        again = ls.client.post("/api/1.0/token", data=form)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_auto_approve_without_redirect_shows_the_code() -> None:
    with served(make_world(days=1)) as ls:
        page = ls.client.get("/connect", params={"client_id": ls.creds.client_id, "auto_approve": "true"})
        assert page.status_code == 200 and 'id="code"' in page.text


def test_token_endpoint_wants_a_form_body() -> None:
    with served(make_world(days=1)) as ls:
        resp = ls.client.post("/api/1.0/token", json={"grant_type": "refresh_token", "client_id": ls.creds.client_id,
                                                      "client_secret": ls.creds.client_secret,
                                                      "refresh_token": ls.creds.refresh_token})
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


def test_refresh_rotates_and_the_old_token_dies_with_grace_0() -> None:
    with served(make_world(days=1)) as ls:
        first = refresh(ls, ls.creds.refresh_token)
        assert first.status_code == 200
        r1 = first.json()["refresh_token"]
        assert r1 != ls.creds.refresh_token
        old = refresh(ls, ls.creds.refresh_token)
        assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
        assert "rotate" in old.json()["message"]
        second = refresh(ls, r1)
        assert second.status_code == 200 and second.json()["refresh_token"] not in (r1, ls.creds.refresh_token)
        assert refresh(ls, r1).status_code == 400
        # access tokens issued before stay valid until they expire
        assert api_ok(ls, first.json()["access_token"]) and api_ok(ls, second.json()["access_token"])


def test_grace_period_returns_the_same_successor_then_expires() -> None:
    with served(make_world(days=1), refresh_grace_seconds=0.6) as ls:
        first = refresh(ls, ls.creds.refresh_token).json()
        retry = refresh(ls, ls.creds.refresh_token)
        assert retry.status_code == 200
        assert retry.json()["refresh_token"] == first["refresh_token"]
        assert retry.json()["access_token"] != first["access_token"]
        assert ls.emulator.store.grace_retries == 1
        time.sleep(0.7)
        assert refresh(ls, ls.creds.refresh_token).status_code == 400
        # the successor still works (once), then the chain moves on
        nxt = refresh(ls, first["refresh_token"])
        assert nxt.status_code == 200


def test_grace_period_ends_when_the_successor_was_used() -> None:
    with served(make_world(days=1), refresh_grace_seconds=30) as ls:
        first = refresh(ls, ls.creds.refresh_token).json()
        assert refresh(ls, first["refresh_token"]).status_code == 200
        assert refresh(ls, ls.creds.refresh_token).status_code == 400


def lose_next(ls: Served, count: int = 1) -> Any:
    return ls.client.post("/_sandbox/lightspeed/lose_refresh", json={"count": count}).json()


def test_lost_refresh_response_is_recoverable_only_within_the_grace_period() -> None:
    for grace, recovers in ((0, False), (30, True)):
        with served(make_world(days=1), refresh_grace_seconds=grace) as ls:
            lose_next(ls)
            lost = refresh(ls, ls.creds.refresh_token)
            assert lost.status_code == 504  # the token was rotated, the answer never arrived
            retry = refresh(ls, ls.creds.refresh_token)
            assert (retry.status_code == 200) is recovers, retry.text
            if recovers:
                assert api_ok(ls, retry.json()["access_token"])
                assert refresh(ls, retry.json()["refresh_token"]).status_code == 200


def test_expired_access_token_gives_401_and_refresh_fixes_it() -> None:
    with served(make_world(days=1)) as ls:
        assert ls.client.post("/_sandbox/lightspeed/tokens/expire",
                              json={"access_token": ls.creds.access_token}).status_code == 200
        resp = ls.client.get("/api/2.0/outlets")
        assert resp.status_code == 401 and "expired" in resp.json()["message"]
        assert api_ok(ls, refresh(ls, ls.creds.refresh_token).json()["access_token"])


def test_short_lived_access_tokens_expire_on_the_real_clock() -> None:
    with served(make_world(days=1), access_token_ttl_seconds=1) as ls:
        token = refresh(ls, ls.creds.refresh_token).json()
        assert token["expires_in"] == 1 and api_ok(ls, token["access_token"])
        time.sleep(1.1)
        assert not api_ok(ls, token["access_token"])
