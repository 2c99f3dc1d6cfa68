"""Square OAuth in the emulator: consent page, code grant, refresh, revoke, token status, PKCE."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from square_emulator_support import Served, served

import pos_sandbox.square_oauth as square_oauth

REDIRECT = "https://app.example/callback"


@pytest.fixture()
def sq() -> Iterator[Served]:
    with served() as s:
        yield s


def _code(s: Served, scope: str = "PAYMENTS_READ ORDERS_READ MERCHANT_PROFILE_READ", **extra: str) -> str:
    resp = s.client.get("/oauth2/authorize", params={"client_id": s.creds.client_id, "scope": scope,
                                                     "state": "xyz", "redirect_uri": REDIRECT, "session": "false",
                                                     "auto_approve": "true", **extra})
    assert resp.status_code == 302
    location = urlsplit(resp.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["response_type"] == ["code"] and query["state"] == ["xyz"]
    return query["code"][0]


def _token(s: Served, **body: object) -> dict:
    resp = s.client.post("/oauth2/token", json={"client_id": s.creds.client_id, **body})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _err(resp) -> str:  # noqa: ANN001
    return resp.json()["errors"][0]["code"]


def test_consent_page_allow_and_deny_links(sq: Served) -> None:
    params = {"client_id": sq.creds.client_id, "scope": "PAYMENTS_READ ITEMS_READ", "state": "s1", "redirect_uri": REDIRECT}
    page = sq.client.get("/oauth2/authorize", params=params)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "PAYMENTS_READ" in page.text and 'id="allow"' in page.text and 'id="deny"' in page.text
    deny_href = page.text.split('id="deny" href="')[1].split('"')[0].replace("&amp;", "&")
    denied = sq.client.get(deny_href)
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["location"]).query) == {
        "error": ["access_denied"], "error_description": ["user_denied"], "state": ["s1"]}
    allow_href = page.text.split('id="allow" href="')[1].split('"')[0].replace("&amp;", "&")
    allowed = sq.client.get(allow_href)
    assert allowed.status_code == 302 and "code" in parse_qs(urlsplit(allowed.headers["location"]).query)
    assert sq.client.get("/oauth2/authorize", params={"client_id": "unknown"}).status_code == 400


def test_code_refresh_revoke_flow(sq: Served) -> None:
    code = _code(sq)
    granted = _token(sq, client_secret=sq.creds.client_secret, code=code, grant_type="authorization_code",
                     redirect_uri=REDIRECT)
    assert granted["token_type"] == "bearer" and granted["merchant_id"] == sq.creds.account_id
    assert granted["expires_at"].endswith("Z") and granted["short_lived"] is False
    access, refresh = granted["access_token"], granted["refresh_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    assert sq.client.get("/v2/payments", headers=bearer).status_code == 200
    assert sq.client.get("/v2/catalog/list", headers=bearer).status_code == 403  # ITEMS_READ not granted

    status = sq.client.post("/oauth2/token/status", headers=bearer).json()
    assert set(status["scopes"]) == {"PAYMENTS_READ", "ORDERS_READ", "MERCHANT_PROFILE_READ"}
    assert status["merchant_id"] == sq.creds.account_id and status["client_id"] == sq.creds.client_id

    again = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "client_secret": sq.creds.client_secret,
                                                  "code": code, "grant_type": "authorization_code"})
    assert again.status_code == 401 and _err(again) == "UNAUTHORIZED"  # codes are single-use

    refreshed = _token(sq, client_secret=sq.creds.client_secret, refresh_token=refresh, grant_type="refresh_token")
    assert refreshed["refresh_token"] == refresh and refreshed["access_token"] != access
    narrowed = _token(sq, client_secret=sq.creds.client_secret, refresh_token=refresh, grant_type="refresh_token",
                      scopes=["PAYMENTS_READ"])
    narrow_status = sq.client.post("/oauth2/token/status",
                                   headers={"Authorization": f"Bearer {narrowed['access_token']}"}).json()
    assert narrow_status["scopes"] == ["PAYMENTS_READ"]
    # the old access token keeps working until it expires
    assert sq.client.get("/v2/payments", headers=bearer).status_code == 200

    bad_secret = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "client_secret": "nope",
                                                       "refresh_token": refresh, "grant_type": "refresh_token"})
    assert bad_secret.status_code == 401 and bad_secret.json()["errors"][0]["category"] == "AUTHENTICATION_ERROR"
    bad_refresh = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "client_secret":
                                                        sq.creds.client_secret, "refresh_token": "EQAAlnope",
                                                        "grant_type": "refresh_token"})
    assert bad_refresh.status_code == 401

    no_client = sq.client.post("/oauth2/revoke", json={"client_id": sq.creds.client_id, "access_token": access},
                               headers={"Authorization": "Client wrong"})
    assert no_client.status_code == 401
    revoked = sq.client.post("/oauth2/revoke", json={"client_id": sq.creds.client_id, "access_token": access},
                             headers={"Authorization": f"Client {sq.creds.client_secret}"})
    assert revoked.status_code == 200 and revoked.json() == {"success": True}
    for tok in (access, refreshed["access_token"], sq.creds.access_token):
        resp = sq.client.get("/v2/payments", headers={"Authorization": f"Bearer {tok}"})
        assert resp.status_code == 401 and _err(resp) == "ACCESS_TOKEN_REVOKED"
    after = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "client_secret": sq.creds.client_secret,
                                                  "refresh_token": refresh, "grant_type": "refresh_token"})
    assert after.status_code == 401  # refresh tokens are revoked too

    fresh = _token(sq, client_secret=sq.creds.client_secret, code=_code(sq), grant_type="authorization_code")
    assert sq.client.get("/v2/payments", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200


def test_revoke_only_access_token_keeps_refresh_working(sq: Served) -> None:
    granted = _token(sq, client_secret=sq.creds.client_secret, code=_code(sq), grant_type="authorization_code")
    resp = sq.client.post("/oauth2/revoke", headers={"Authorization": f"Client {sq.creds.client_secret}"},
                          json={"client_id": sq.creds.client_id, "access_token": granted["access_token"],
                                "revoke_only_access_token": True})
    assert resp.status_code == 200
    assert sq.client.get("/v2/payments", headers={"Authorization": f"Bearer {granted['access_token']}"}).status_code == 401
    assert sq.client.get("/v2/payments").status_code == 200  # the demo token is untouched
    _token(sq, client_secret=sq.creds.client_secret, refresh_token=granted["refresh_token"], grant_type="refresh_token")


def test_code_expires_after_five_minutes(sq: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    code = _code(sq)
    real = time.monotonic
    monkeypatch.setattr(square_oauth.time, "monotonic", lambda: real() + 301)
    resp = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "client_secret": sq.creds.client_secret,
                                                 "code": code, "grant_type": "authorization_code"})
    assert resp.status_code == 401 and "expired" in resp.json()["errors"][0]["detail"]


def test_pkce_refresh_tokens_are_single_use(sq: Served) -> None:
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    code = _code(sq, code_challenge=challenge)
    granted = _token(sq, code=code, grant_type="authorization_code", code_verifier=verifier)
    assert "refresh_token_expires_at" in granted
    renewed = _token(sq, refresh_token=granted["refresh_token"], grant_type="refresh_token")
    assert renewed["refresh_token"] != granted["refresh_token"]
    reused = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "grant_type": "refresh_token",
                                                   "refresh_token": granted["refresh_token"]})
    assert reused.status_code == 401


def test_token_endpoint_validation(sq: Served) -> None:
    resp = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "grant_type": "password"})
    assert resp.status_code == 400 and _err(resp) == "INVALID_VALUE"
    resp = sq.client.post("/oauth2/token", json={"client_id": sq.creds.client_id, "grant_type": "refresh_token",
                                                 "refresh_token": "x", "expires_in": 5})
    assert resp.status_code == 400 and _err(resp) == "BAD_REQUEST"
    resp = sq.client.post("/oauth2/token", json={"grant_type": "refresh_token"})
    assert resp.status_code == 400 and _err(resp) == "MISSING_REQUIRED_PARAMETER"
    resp = sq.client.post("/oauth2/token", content=b"not json", headers={"content-type": "application/json"})
    assert resp.status_code == 400 and _err(resp) == "EXPECTED_JSON_BODY"
