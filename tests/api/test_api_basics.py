"""The API's shape and its walls: health and readiness, the OpenAPI documents every spec route,
authentication (API keys rotated and revoked, the platform's JWTs), tenant isolation on every
route, one problem-details error shape, and secrets never in an answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from api_support import Api, add_account

SPEC_ROUTES = {
    ("get", "/api/v1/pos/accounts"), ("post", "/api/v1/pos/accounts"), ("get", "/api/v1/pos/accounts/{account_id}"),
    ("put", "/api/v1/pos/accounts/{account_id}"), ("delete", "/api/v1/pos/accounts/{account_id}"),
    ("post", "/api/v1/pos/accounts/{account_id}/reconnect"),
    ("get", "/api/v1/pos/oauth/square/authorize"), ("get", "/api/v1/pos/oauth/square/callback"),
    ("get", "/api/v1/pos/oauth/toast/authorize"), ("get", "/api/v1/pos/oauth/toast/callback"),
    ("get", "/api/v1/pos/oauth/lightspeed/authorize"), ("get", "/api/v1/pos/oauth/lightspeed/callback"),
    ("post", "/api/v1/pos/sync/{account_id}"), ("post", "/api/v1/pos/sync/{account_id}/historical"),
    ("get", "/api/v1/pos/sync/{account_id}/status"), ("get", "/api/v1/pos/sync/{account_id}/history"),
    ("get", "/api/v1/pos/analytics/dashboard"), ("get", "/api/v1/pos/analytics/sync-health"),
}
SECRETS = ("secret-access-token", "secret-refresh-token", "secret-client-secret")


def test_health_readiness_and_every_spec_route_documented(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    doc = api.client.get("/openapi.json").json()
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert documented >= SPEC_ROUTES
    assert "text/html" in api.client.get("/docs").headers["content-type"]
    response = api.client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    assert response.headers["X-Request-ID"] == "req-12345678"


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"] and body["request_id"]
    assert "Traceback" not in response.text
    return dict(body)


def test_credentials_are_required_and_keys_rotate_and_revoke(api: Api) -> None:
    assert "Bearer" in _problem(api.client.get("/api/v1/pos/accounts"), 401)["detail"]
    _problem(api.get("/api/v1/pos/accounts", key="pos_not-a-real-key"), 401)
    _problem(api.get("/api/v1/pos/accounts", key="not-a-jwt-either"), 401)
    assert api.get("/api/v1/pos/accounts").status_code == 200
    new = api.store.rotate_key(api.tenant)
    _problem(api.get("/api/v1/pos/accounts"), 401)  # the rotated-out key stopped working
    assert api.get("/api/v1/pos/accounts", key=new).status_code == 200
    assert api.store.revoke_keys(api.tenant) == 1
    _problem(api.get("/api/v1/pos/accounts", key=new), 401)


def test_platform_jwts_are_verified(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient
    from joserfc import jwt
    from joserfc.jwk import OctKey

    from pos_sync.api.app import create_app
    from pos_sync.settings import load_settings

    secret = "a-shared-platform-secret-of-enough-length"
    monkeypatch.setenv("POS_JWT_SECRET", secret)
    client = TestClient(create_app(load_settings()), raise_server_exceptions=False)
    add_account(sqlite_api, tenant="jwt-tenant")

    def token(claims: dict, key: str = secret) -> str:
        return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(key.encode()))

    good = token({"tenant_id": "jwt-tenant", "exp": int(time.time()) + 60})
    listed = client.get("/api/v1/pos/accounts", headers={"Authorization": f"Bearer {good}"}).json()
    assert [a["tenant_id"] for a in listed] == ["jwt-tenant"]
    for bad in (token({"tenant_id": "jwt-tenant", "exp": int(time.time()) - 120}),  # expired
                token({"tenant_id": "jwt-tenant", "exp": int(time.time()) + 60}, key="another-secret-entirely-x"),
                token({"exp": int(time.time()) + 60})):  # no tenant
        _problem(client.get("/api/v1/pos/accounts", headers={"Authorization": f"Bearer {bad}"}), 401)


def test_another_tenants_account_is_not_found_on_every_route(api: Api) -> None:
    theirs = add_account(api, tenant=api.other_tenant, merchant="THEIRS")
    mine = add_account(api)
    assert [a["id"] for a in api.get("/api/v1/pos/accounts").json()] == [mine]
    calls = [("get", f"/api/v1/pos/accounts/{theirs}", None), ("put", f"/api/v1/pos/accounts/{theirs}", {"name": "x"}),
             ("delete", f"/api/v1/pos/accounts/{theirs}", None),
             ("post", f"/api/v1/pos/accounts/{theirs}/reconnect", None), ("post", f"/api/v1/pos/sync/{theirs}", None),
             ("post", f"/api/v1/pos/sync/{theirs}/historical", {"start_date": "2026-01-01", "end_date": "2026-01-02"}),
             ("get", f"/api/v1/pos/sync/{theirs}/status", None), ("get", f"/api/v1/pos/sync/{theirs}/history", None)]
    for method, path, body in calls:
        response = getattr(api, method)(path, **({"json": body} if body is not None else {}))
        detail = _problem(response, 404)["detail"]
        assert "THEIRS" not in response.text and "Centro" not in response.text, (method, path, detail)
    assert api.get(f"/api/v1/pos/accounts/{theirs}", key=api.other_key).status_code == 200  # still theirs
    assert api.store.pending_sync_requests() == []  # nothing was asked for on their behalf


def test_accounts_read_update_and_delete_without_secrets(api: Api) -> None:
    account_id = add_account(api)
    got = api.get(f"/api/v1/pos/accounts/{account_id}")
    assert got.status_code == 200 and got.json()["has_refresh_token"] is True
    assert not any(secret in got.text for secret in SECRETS)
    changed = api.put(f"/api/v1/pos/accounts/{account_id}",
                      json={"name": "Sol Centro", "sync_frequency_minutes": 30, "sync_enabled": False,
                            "location_ids": ["M1-L2"]}).json()
    assert (changed["name"], changed["sync_frequency_minutes"], changed["sync_enabled"]) == ("Sol Centro", 30, False)
    assert {loc["location_id"]: loc["enabled"] for loc in changed["locations"]} == {"M1-L1": False, "M1-L2": True}
    assert "M1-L9" in _problem(api.put(f"/api/v1/pos/accounts/{account_id}", json={"location_ids": ["M1-L9"]}),
                               422)["detail"]
    assert api.get(f"/api/v1/pos/accounts/{account_id}").json()["sync_frequency_minutes"] == 30  # unchanged
    _problem(api.put(f"/api/v1/pos/accounts/{account_id}", json={"sync_frequency_minutes": 0}), 422)
    removed = api.delete(f"/api/v1/pos/accounts/{account_id}").json()
    assert removed == {"id": account_id, "provider": "square", "removed": True, "purged": False,
                       "warehouse_data": "kept"}
    _problem(api.get(f"/api/v1/pos/accounts/{account_id}"), 404)


def test_bad_input_gets_a_clear_error_and_changes_nothing(api: Api) -> None:
    assert "clover" in _problem(api.post("/api/v1/pos/accounts", json={"provider": "clover"}), 422)["detail"]
    missing = _problem(api.post("/api/v1/pos/accounts", json={"provider": "toast"}), 422)["detail"]
    assert "client_id" in missing and "client_secret" in missing
    _problem(api.post("/api/v1/pos/accounts", content=b"{not json", headers={"Content-Type": "application/json"}),
             422)
    assert "shoe_size" in _problem(api.post("/api/v1/pos/accounts", json={"provider": "toast", "shoe_size": 3}),
                                   422)["detail"]
    _problem(api.post("/api/v1/pos/accounts", json={"provider": "square", "access_token": "-"}), 422)
    _problem(api.get("/api/v1/pos/accounts/no-such-account"), 404)
    _problem(api.get("/api/v1/pos/sync/no-such-account/history?limit=0"), 422)
    assert api.get("/api/v1/pos/accounts").json() == []


def test_rs256_jwts_are_verified_with_the_public_key(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from pos_sync.api.app import create_app
    from pos_sync.settings import load_settings

    platform, stranger = RSAKey.generate_key(2048), RSAKey.generate_key(2048)
    monkeypatch.setenv("POS_JWT_PUBLIC_KEY", platform.as_pem(private=False).decode())
    client = TestClient(create_app(load_settings()), raise_server_exceptions=False)
    add_account(sqlite_api, tenant="rs-tenant")
    claims = {"tenant_id": "rs-tenant", "exp": int(time.time()) + 60}
    good = jwt.encode({"alg": "RS256"}, claims, platform)
    assert [a["tenant_id"] for a in client.get("/api/v1/pos/accounts",
                                               headers={"Authorization": f"Bearer {good}"}).json()] == ["rs-tenant"]
    forged = jwt.encode({"alg": "RS256"}, claims, stranger)
    _problem(client.get("/api/v1/pos/accounts", headers={"Authorization": f"Bearer {forged}"}), 401)
    # the algorithm-confusion attack: HS256 "signed" with the public key as the shared secret (crafted
    # by hand: joserfc itself refuses to make such a key)
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(platform.as_pem(private=False), signing.encode(), hashlib.sha256).digest()
    hs_confusion = f"{signing}.{b64(mac)}"
    _problem(client.get("/api/v1/pos/accounts", headers={"Authorization": f"Bearer {hs_confusion}"}), 401)
