"""Repository semantics: upsert, tenant isolation, locations, tokens, errors, sync logs, removal."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pos_sync.appstore import (
    STALE_SYNC_MESSAGE,
    AccountNotFound,
    AppStoreError,
    LocationConflict,
    PurgeFailed,
    PurgeUnavailable,
    account_credentials,
    add_account,
    dispose_engines,
    find_account,
    finish_sync_log,
    get_account,
    list_accounts,
    mark_account_error,
    mark_account_ok,
    remove_account,
    save_tokens,
    set_locations,
    start_sync_log,
    sync_history,
    upsert_account,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'appstore.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("POS_DATABASE_URL", url)
    yield url
    dispose_engines()


def _square(tenant: str = "t1", merchant: str = "M1", **kwargs: Any) -> str:
    kwargs.setdefault("locations", [{"location_id": f"{merchant}-L1", "name": "Centro", "currency": "EUR"}])
    return add_account(tenant_id=tenant, provider="square", merchant_id=merchant, access_token="tok", **kwargs)


def test_add_defaults_and_upsert_semantics(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_SYNC_FREQUENCY_MINUTES", "7")
    account_id, created = upsert_account(
        tenant_id="t1", provider="Square", merchant_id="M1", account_name="Bakery", access_token="a1",
        refresh_token="r1", extra={"a": 1}, locations=[{"location_id": "L1"}, {"location_id": "L2"}],
    )
    assert created
    info = get_account(account_id)
    assert (info.provider, info.name, info.status, info.sync_enabled) == ("square", "Bakery", "active", True)
    assert info.sync_frequency_minutes == 7 and info.historical_import_days == 90
    assert info.location_ids == ["L1", "L2"]
    mark_account_error(account_id, "reauth_required", "token revoked")

    again, created = upsert_account(
        tenant_id="t1", provider="square", merchant_id="M1", access_token="a2", extra={"b": 2},
        locations=[{"location_id": "L2", "name": "Norte"}],
    )
    assert (again, created) == (account_id, False)
    info = get_account(account_id)
    assert info.name == "Bakery"  # None keeps
    assert info.extra == {"a": 1, "b": 2}  # merged
    assert (info.status, info.error_message, info.error_count) == ("active", None, 0)  # reconnect
    assert [loc.to_dict()["name"] for loc in info.locations] == ["Norte"]  # replaced
    creds = account_credentials(account_id)
    assert (creds.access_token, creds.refresh_token) == ("a2", "r1")
    assert find_account("t1", "square", "M1") is not None
    assert find_account("t2", "square", "M1") is None
    assert len(list_accounts()) == 1


def test_invalid_input_is_rejected(db_url: str) -> None:
    with pytest.raises(AppStoreError, match="unknown POS provider"):
        add_account(tenant_id="t1", provider="clover", merchant_id="M1")
    with pytest.raises(AppStoreError, match="merchant_id is required"):
        add_account(tenant_id="t1", provider="square", merchant_id=" ")
    with pytest.raises(AppStoreError, match="positive"):
        add_account(tenant_id="t1", provider="square", merchant_id="M", sync_frequency_minutes=0)
    account_id = _square()
    with pytest.raises(AppStoreError, match="unknown sync type"):
        start_sync_log(account_id, "nightly")
    with pytest.raises(AppStoreError, match="status must be one of"):
        mark_account_error(account_id, "active", "x")


def test_tenant_isolation(db_url: str) -> None:
    a = _square("tenant-a", "MA")
    b = _square("tenant-b", "MB")
    same_merchant_other_tenant = _square("tenant-b", "MA", locations=[])
    assert same_merchant_other_tenant != a

    assert [acc.id for acc in list_accounts("tenant-a")] == [a]
    assert {acc.id for acc in list_accounts("tenant-b")} == {b, same_merchant_other_tenant}
    assert len(list_accounts()) == 3
    assert get_account(a, tenant_id="tenant-a").id == a
    with pytest.raises(AccountNotFound):
        get_account(a, tenant_id="tenant-b")
    with pytest.raises(AccountNotFound):
        account_credentials(a, tenant_id="tenant-b")
    with pytest.raises(AccountNotFound):
        sync_history(a, tenant_id="tenant-b")
    with pytest.raises(AccountNotFound):
        remove_account(a, tenant_id="tenant-b")
    assert get_account(a).id == a  # still there
    # the same location id may exist for two tenants
    set_locations(b, [{"location_id": "MA-L1"}])
    assert get_account(b).location_ids == ["MA-L1"]


def test_set_locations_replaces_and_detects_conflicts(db_url: str) -> None:
    a = _square("t1", "MA", locations=[{"location_id": "L1", "name": "One"}, {"location_id": "L2"}])
    b = _square("t1", "MB", locations=[{"location_id": "L9"}])
    assert set_locations(a, [{"location_id": "L2", "timezone": "Europe/Madrid"}, {"location_id": "L3"}]) == ["L2", "L3"]
    info = get_account(a)
    assert info.location_ids == ["L2", "L3"]
    assert info.locations[0].timezone == "Europe/Madrid"
    with pytest.raises(LocationConflict, match="L9"):
        set_locations(a, [{"location_id": "L9"}])
    assert get_account(a).location_ids == ["L2", "L3"]  # unchanged
    assert get_account(b).location_ids == ["L9"]


def test_save_tokens(db_url: str) -> None:
    account_id = _square(refresh_token="r0")
    mark_account_error(account_id, "reauth_required", "401 from Square")
    expires = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    save_tokens(account_id, "a1", None, expires)
    creds = account_credentials(account_id)
    assert (creds.access_token, creds.refresh_token, creds.token_expires_at) == ("a1", "r0", expires)
    assert get_account(account_id).status == "active"
    save_tokens(account_id, "a2", "r2", None)
    creds = account_credentials(account_id)
    assert (creds.access_token, creds.refresh_token, creds.token_expires_at) == ("a2", "r2", None)
    with pytest.raises(AccountNotFound):
        save_tokens("missing", "a", "r", None)


def test_mark_account_error_and_ok(db_url: str) -> None:
    account_id = _square()
    mark_account_error(account_id, "error", "boom 1")
    mark_account_error(account_id, "reauth_required", "boom 2")
    info = get_account(account_id)
    assert (info.status, info.error_message, info.error_count) == ("reauth_required", "boom 2", 2)
    assert info.last_error_at is not None and info.last_error_at.tzinfo is not None
    mark_account_ok(account_id)
    info = get_account(account_id)
    assert (info.status, info.error_message, info.error_count) == ("active", None, 0)
    with pytest.raises(AccountNotFound):
        mark_account_error("missing", "error", "x")


def test_sync_log_lifecycle_and_stale_runs(db_url: str) -> None:
    account_id = _square()
    other = _square("t1", "M2")
    t0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    stale = start_sync_log(account_id, "historical", dagster_run_id="run-1", started_at=t0)
    other_log = start_sync_log(other, started_at=t0)

    fresh = start_sync_log(account_id, "incremental", dagster_run_id="run-2", started_at=t0 + timedelta(minutes=5))
    history = {log.id: log for log in sync_history(account_id)}
    assert history[stale].status == "failed"
    assert history[stale].error_message == STALE_SYNC_MESSAGE
    assert history[stale].sync_completed_at == t0 + timedelta(minutes=5)
    assert history[stale].sync_duration_seconds == 300
    assert history[fresh].status == "in_progress"
    assert sync_history(other)[0].id == other_log and sync_history(other)[0].status == "in_progress"

    done = finish_sync_log(
        fresh, "success", fetched=10, processed=9, failed=1, new_products=2, unmapped_products=3,
        completed_at=t0 + timedelta(minutes=5, seconds=12.5),
    )
    assert (done.status, done.transactions_fetched, done.transactions_processed) == ("success", 10, 9)
    assert done.sync_duration_seconds == pytest.approx(12.5)
    info = get_account(account_id)
    assert info.last_sync_at == t0 + timedelta(minutes=5, seconds=12.5)
    assert info.last_successful_sync_at == t0 + timedelta(minutes=5)  # start of the successful sync
    assert info.next_sync_at == info.last_sync_at + timedelta(minutes=15)
    assert info.historical_import_done_at is None

    failed = start_sync_log(account_id, "historical", started_at=t0 + timedelta(hours=1))
    finish_sync_log(failed, "failed", error_message="HTTP 500", completed_at=t0 + timedelta(hours=1, minutes=1))
    info = get_account(account_id)
    assert info.last_sync_at == t0 + timedelta(hours=1, minutes=1)
    assert info.last_successful_sync_at == t0 + timedelta(minutes=5)  # unchanged by a failure

    hist = start_sync_log(account_id, "historical", started_at=t0 + timedelta(hours=2))
    finish_sync_log(hist, "success", completed_at=t0 + timedelta(hours=2, minutes=3))
    assert get_account(account_id).historical_import_done_at == t0 + timedelta(hours=2, minutes=3)

    statuses = [log.status for log in sync_history(account_id, limit=10)]
    assert statuses == ["success", "failed", "success", "failed"]  # newest first
    assert len(sync_history(account_id, limit=2)) == 2
    with pytest.raises(AppStoreError):
        finish_sync_log(hist, "in_progress")


def test_remove_keeps_or_purges_warehouse_data(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _square("t1", "MA", locations=[{"location_id": "L1"}, {"location_id": "L2"}])
    start_sync_log(a)

    # hook missing: refuse, nothing removed
    monkeypatch.setitem(sys.modules, "pos_sync.warehouse.purge", None)
    with pytest.raises(PurgeUnavailable, match="nothing was removed"):
        remove_account(a, purge=True)
    assert get_account(a).id == a

    # hook failing: nothing removed
    calls: list[tuple[Any, ...]] = []
    module = types.ModuleType("pos_sync.warehouse.purge")

    def broken(*args: Any) -> None:
        raise RuntimeError("warehouse locked")

    module.purge_account_data = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pos_sync.warehouse.purge", module)
    with pytest.raises(PurgeFailed, match="warehouse locked"):
        remove_account(a, purge=True)
    assert get_account(a).id == a

    def purge(account_id: str, provider: str, location_ids: list[str]) -> dict[str, int]:
        calls.append((account_id, provider, location_ids))
        return {"rows_deleted": 42}

    module.purge_account_data = purge  # type: ignore[attr-defined]
    removed = remove_account(a, purge=True)
    assert calls == [(a, "square", ["L1", "L2"])]
    assert (removed.purged, removed.purge_result, removed.location_ids) == (True, {"rows_deleted": 42}, ("L1", "L2"))
    with pytest.raises(AccountNotFound):
        get_account(a)

    b = _square("t1", "MB")
    removed = remove_account(b)
    assert removed.purged is False and len(calls) == 1
    assert list_accounts() == []
    with pytest.raises(AccountNotFound):
        remove_account(b)
