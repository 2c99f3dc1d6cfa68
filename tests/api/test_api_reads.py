"""The hot reads (``GET /accounts``, ``GET /sync/{id}/history``) answer from Core selects serialised
once with orjson: their bodies must be byte for byte what the ORM path and the response models
give (same rows, order, tenant scoping, timestamps, JSON), and their credentials are checked on
every request (a key revoked between two requests is refused at the second)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_support import Api, add_account
from pydantic import TypeAdapter

from pos_sync.api.schemas import AccountOut, SyncHistory, SyncLogOut


def _fill(api: Api) -> tuple[str, str]:
    """Two accounts with awkward values (no name, extra, None timestamps, microseconds, a running
    sync, a partial one with API stats) and another tenant's account with logs of its own."""
    square = add_account(api)
    light = add_account(api, provider="lightspeed", merchant="LS1")
    api.store.upsert_account(tenant_id=api.tenant, provider="lightspeed", merchant_id="LS1",
                             extra={"domain_prefix": "ls1", "ñ": [1, 2.5]}, account_name="Sol — Málaga",
                             token_expires_at=datetime(2026, 5, 1, 8, 30, 0, 123456, tzinfo=UTC))
    api.store.update_account(square, enabled_location_ids=["M1-L2"], sync_frequency_minutes=30)
    theirs = add_account(api, tenant=api.other_tenant, merchant="THEIRS")
    started = datetime(2026, 4, 5, 6, 0, 0, 250000, tzinfo=UTC)
    for n, account in enumerate([square, square, square, light, theirs]):
        log_id = api.store.start_sync_log(account, "historical" if n == 0 else "incremental", f"run-{n}")
        if n == 2:
            continue  # still running
        api.store.finish_sync_log(log_id, "partial" if n == 1 else "success", fetched=10 + n, processed=9,
                                  completed_at=started + timedelta(seconds=n * 7.5))
        if n == 1:
            api.store.record_sync_counts(log_id, api_stats={"requests": 12, "retries": 1, "waited_s": 0.75},
                                         partial_reason="orders stopped early")
    return square, light


def test_hot_reads_answer_byte_for_byte_what_the_models_give(api: Api) -> None:
    square, light = _fill(api)
    accounts = api.get("/api/v1/pos/accounts")
    assert accounts.status_code == 200 and accounts.headers["content-type"] == "application/json"
    expected = TypeAdapter(list[AccountOut]).dump_json(
        [AccountOut.model_validate(a.to_dict()) for a in api.store.list_accounts(api.tenant)])
    assert accounts.content == expected
    assert [a["id"] for a in accounts.json()] == [light, square]  # lightspeed before square; not theirs
    for account in (square, light):
        for params in ({}, {"limit": 2, "offset": 1}, {"limit": 200}):
            page = api.get(f"/api/v1/pos/sync/{account}/history", params=params)
            assert page.status_code == 200, page.text
            limit, offset = params.get("limit", 20), params.get("offset", 0)
            logs = api.store.sync_history(account, limit, offset=offset, tenant_id=api.tenant)
            model = SyncHistory(account_id=account, limit=limit, offset=offset,
                                items=[SyncLogOut.model_validate(log.to_dict()) for log in logs])
            assert page.content == TypeAdapter(SyncHistory).dump_json(model)
    assert len(api.get(f"/api/v1/pos/sync/{square}/history").json()["items"]) == 3
    assert api.get(f"/api/v1/pos/accounts/{square}", key=api.other_key).status_code == 404


def test_hot_reads_check_the_key_on_every_request(sqlite_api: Api) -> None:
    api = sqlite_api
    account = add_account(api)
    history = f"/api/v1/pos/sync/{account}/history"
    assert api.get(history).status_code == 200
    assert api.get(history, key=api.other_key).status_code == 404  # another tenant's account
    new = api.store.rotate_key(api.tenant)
    for path in (history, "/api/v1/pos/accounts"):
        refused = api.get(path)  # the rotated-out key, right after a request that it passed
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["request_id"] == refused.headers["x-request-id"]
        assert api.get(path, key=new).status_code == 200
    api.store.revoke_keys(api.tenant)
    assert api.get(history, key=new).status_code == 401
    assert api.client.get(history).status_code == 401  # no credentials at all
