"""The hot reads keep their answers in memory (``pos_sync/api/read_cache.py``), validated against
the database on every request: whatever another process writes to the app store — here plain SQL
on a connection of its own, as a Dagster run or the CLI would — shows in the very next answer, and
a key revoked or rotated out elsewhere is refused at the very next request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import Api, add_account
from pydantic import TypeAdapter
from sqlalchemy.pool import NullPool

from pos_sync.api.schemas import AccountOut, SyncHistory, SyncLogOut
from pos_sync.appstore.db import normalize_url
from pos_sync.appstore.models import PosApiKey, PosSyncLog


@pytest.fixture()
def other_process(api: Api) -> Iterator[sa.Engine]:
    """A writer that is not this app: its own engine, no pool, plain SQL."""
    engine = sa.create_engine(normalize_url(api.store.settings.database_url), poolclass=NullPool)
    yield engine
    engine.dispose()


def _write(engine: sa.Engine, statement: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def _expected_history(api: Api, account: str) -> bytes:
    logs = api.store.sync_history(account, 20, tenant_id=api.tenant)
    return TypeAdapter(SyncHistory).dump_json(SyncHistory(
        account_id=account, limit=20, offset=0, items=[SyncLogOut.model_validate(log.to_dict()) for log in logs]))


def _expected_accounts(api: Api) -> bytes:
    return TypeAdapter(list[AccountOut]).dump_json(
        [AccountOut.model_validate(a.to_dict()) for a in api.store.list_accounts(api.tenant)])


def test_answers_are_kept_and_never_stale(api: Api, other_process: sa.Engine) -> None:
    account = add_account(api)
    history = f"/api/v1/pos/sync/{account}/history"
    first = api.get(history)
    assert first.status_code == 200 and first.json()["items"] == []
    cache = api.client.app.state.read_cache  # type: ignore[attr-defined]
    assert len(cache.kept) == 1  # kept…
    assert api.get(history).content == first.content  # …and answered again

    # a sync log another process writes is in the next answer
    with other_process.begin() as conn:
        conn.execute(sa.insert(PosSyncLog.__table__).values(
            id="log-1", tenant_id=api.tenant, pos_account_id=account, sync_type="incremental", status="in_progress",
            sync_started_at=datetime(2026, 4, 5, 6, 0, tzinfo=UTC)))
    page = api.get(history)
    assert [item["id"] for item in page.json()["items"]] == ["log-1"]
    assert page.content == _expected_history(api, account)
    _write(other_process, "UPDATE pos_sync_logs SET status = 'success' WHERE id = 'log-1'")
    assert api.get(history).json()["items"][0]["status"] == "success"

    # the accounts list: a location renamed, an account changed, an account added, one removed
    accounts = api.get("/api/v1/pos/accounts")
    assert accounts.content == _expected_accounts(api)
    _write(other_process, "UPDATE pos_locations SET name = 'Puerto' WHERE pos_account_id = :a AND location_id = "
                          "'M1-L1'", a=account)
    assert api.get("/api/v1/pos/accounts").json()[0]["locations"][0]["name"] == "Puerto"
    _write(other_process, "UPDATE pos_accounts SET status = 'error', error_message = 'token expired' WHERE id = :a",
           a=account)
    changed = api.get("/api/v1/pos/accounts")
    assert changed.json()[0]["status"] == "error" and changed.content == _expected_accounts(api)
    second = add_account(api, provider="lightspeed", merchant="LS1")
    assert [a["id"] for a in api.get("/api/v1/pos/accounts").json()] == [second, account]
    _write(other_process, "DELETE FROM pos_accounts WHERE id = :a", a=second)
    assert [a["id"] for a in api.get("/api/v1/pos/accounts").json()] == [account]
    _write(other_process, "DELETE FROM pos_accounts WHERE id = :a", a=account)
    assert api.get("/api/v1/pos/accounts").json() == []
    gone = api.get(history)  # its kept history is not answered any more
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"


def test_a_key_revoked_elsewhere_is_refused_at_once(api: Api, other_process: sa.Engine) -> None:
    account = add_account(api)
    history = f"/api/v1/pos/sync/{account}/history"
    for path in (history, "/api/v1/pos/accounts"):
        assert api.get(path).status_code == 200
        assert api.get(path).status_code == 200  # answered from memory
    assert api.get(history, key=api.other_key).status_code == 404  # kept or not: another tenant's account
    with other_process.begin() as conn:
        conn.execute(sa.update(PosApiKey.__table__).where(PosApiKey.__table__.c.tenant_id == api.tenant)
                     .values(revoked_at=datetime(2026, 4, 5, 6, 0, tzinfo=UTC)))
    for path in (history, "/api/v1/pos/accounts"):
        refused = api.get(path)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert api.get("/api/v1/pos/accounts", key=api.other_key).json() == []  # the other tenant is unaffected


def test_platform_jwt_callers_get_kept_answers_validated_too(api: Api, other_process: sa.Engine,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from fastapi.testclient import TestClient
    from joserfc import jwt
    from joserfc.jwk import OctKey

    from pos_sync.api.app import create_app
    from pos_sync.settings import load_settings

    secret = "a-shared-platform-secret-of-enough-length"
    monkeypatch.setenv("POS_JWT_SECRET", secret)
    mine, theirs = add_account(api), add_account(api, tenant=api.other_tenant, merchant="THEIRS")
    claims = {"tenant_id": api.tenant, "exp": int(time.time()) + 60}
    auth = {"Authorization": f"Bearer {jwt.encode({'alg': 'HS256'}, claims, OctKey.import_key(secret.encode()))}"}
    with TestClient(create_app(load_settings()), raise_server_exceptions=False) as client:
        for _ in range(2):  # the second answer is the kept one
            assert [a["id"] for a in client.get("/api/v1/pos/accounts", headers=auth).json()] == [mine]
            assert client.get(f"/api/v1/pos/sync/{mine}/history", headers=auth).json()["items"] == []
            assert client.get(f"/api/v1/pos/sync/{theirs}/history", headers=auth).status_code == 404
        assert len(client.app.state.read_cache.kept) == 2  # type: ignore[attr-defined]
        _write(other_process, "UPDATE pos_accounts SET account_name = 'Sol' WHERE id = :a", a=mine)
        with other_process.begin() as conn:
            conn.execute(sa.insert(PosSyncLog.__table__).values(
                id="log-1", tenant_id=api.tenant, pos_account_id=mine, sync_type="incremental", status="in_progress",
                sync_started_at=datetime(2026, 4, 5, 6, 0, tzinfo=UTC)))
        assert client.get("/api/v1/pos/accounts", headers=auth).json()[0]["name"] == "Sol"
        assert [i["id"] for i in client.get(f"/api/v1/pos/sync/{mine}/history", headers=auth).json()["items"]] == [
            "log-1"]


def test_the_kept_answers_are_bounded_least_recently_used_out(sqlite_api: Api) -> None:
    api = sqlite_api
    accounts = [add_account(api, merchant=f"M{i}") for i in range(4)]
    cache = api.client.app.state.read_cache  # type: ignore[attr-defined]
    cache.entries = 3
    for account in accounts:
        assert api.get(f"/api/v1/pos/sync/{account}/history").status_code == 200
    assert [key[2] for key in cache.kept] == accounts[1:]  # the first one out
    assert cache.size == sum(len(body) for _, body in cache.kept.values())
    history = len(next(iter(cache.kept.values()))[1])
    cache.entries, cache.max_bytes = 10, 2 * history
    assert api.get(f"/api/v1/pos/sync/{accounts[0]}/history").json()["account_id"] == accounts[0]  # read again
    assert [key[2] for key in cache.kept] == [accounts[3], accounts[0]]  # within the bytes: the two newest
    assert cache.size == 2 * history
