"""Analytics routes: the dashboard and sync health read what the monitoring assets published to
the app store (rows written here as ``sync_health``/``transaction_volume`` would), scoped to the
calling tenant: another tenant sees only its own accounts and numbers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from api_support import Api, add_account


def health_row(account_id: str, tenant: str, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    row = {"pos_account_id": account_id, "tenant_id": tenant, "pos_provider": "square", "account_name": "Centro",
           "account_status": "active", "sync_enabled": True, "sync_frequency_minutes": 15, "last_sync_at": now,
           "last_sync_status": "success", "last_success_at": now, "newest_source_at": now - timedelta(minutes=3),
           "lag_seconds": 180, "error_streak": 0, "syncs_counted": 4, "rows_synced": 120, "rows_last_sync": 10,
           "sync_seconds": 8.0, "api_requests": 40, "api_retries": 2, "api_rate_limited": 1, "api_server_errors": 1,
           "api_transport_errors": 0, "api_waited_seconds": 2.5, "api_response_seconds": 4.0, "freshness": "ok",
           "freshness_age_seconds": 60, "evaluated_at": now}
    return {**row, **changes}


def volume_row(account_id: str, tenant: str, granularity: str, start: datetime, transactions: int, refunds: int,
               cents: int, currency: str = "EUR") -> dict[str, Any]:
    return {"pos_account_id": account_id, "tenant_id": tenant, "pos_provider": "square", "granularity": granularity,
            "bucket_start": start, "currency": currency, "transactions": transactions, "refunds": refunds,
            "revenue_cents": cents}


def publish(api: Api) -> tuple[str, str, str]:
    from pos_sync.appstore.monitoring import publish_sync_health, publish_transaction_volume

    mine = add_account(api)
    failing = add_account(api, provider="toast", merchant="R1")
    theirs = add_account(api, tenant=api.other_tenant, merchant="M9")
    api.store.mark_account_error(failing, "error", "Toast answered 500")
    settings = api.store.settings
    publish_sync_health([
        health_row(mine, api.tenant),
        health_row(failing, api.tenant, pos_provider="toast", account_status="error", last_sync_status="failed",
                   error_streak=3, freshness="error", api_requests=10, api_rate_limited=0, api_server_errors=5,
                   api_retries=5, api_response_seconds=1.0, rows_synced=0, rows_last_sync=0),
        health_row(theirs, api.other_tenant, api_requests=999),
    ], settings=settings)
    today = datetime.combine(datetime.now(UTC).date(), time(), UTC)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    publish_transaction_volume([
        volume_row(mine, api.tenant, "day", today, 30, 1, 12_345),
        volume_row(mine, api.tenant, "day", today - timedelta(days=3), 20, 0, 10_000),
        volume_row(mine, api.tenant, "day", today - timedelta(days=10), 50, 0, 99_999),  # outside 7 days
        volume_row(failing, api.tenant, "day", today, 5, 0, 700, currency="USD"),
        volume_row(mine, api.tenant, "hour", hour, 4, 0, 1_000),
        volume_row(mine, api.tenant, "hour", hour - timedelta(hours=1), 6, 1, 2_000),
        volume_row(theirs, api.other_tenant, "day", today, 1000, 0, 1_000_000),
    ], settings=settings)
    return mine, failing, theirs


def test_the_dashboard_counts_the_tenants_accounts_and_published_volume(api: Api) -> None:
    mine, failing, theirs = publish(api)
    response = api.get("/api/v1/pos/analytics/dashboard")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenant_id"] == api.tenant and body["today"] == datetime.now(UTC).date().isoformat()
    assert body["accounts"] == {"total": 2, "by_status": {"active": 1, "error": 1},
                                "by_provider": {"square": 1, "toast": 1}}
    assert body["transactions_today"] == {"transactions": 35, "refunds": 1,
                                          "revenue_cents": {"EUR": 12_345, "USD": 700}}
    assert body["transactions_7d"] == {"transactions": 55, "refunds": 1, "revenue_cents": {"EUR": 22_345, "USD": 700}}
    last = {s["account_id"]: s for s in body["last_sync"]}
    assert set(last) == {mine, failing}
    assert (last[failing]["status"], last[failing]["last_sync_status"], last[failing]["freshness"]) == (
        "error", "failed", "error")
    daily = body["volume"]["daily"]
    assert [p["transactions"] for p in daily] == [50, 20, 35]  # oldest first, within the 30 days shown
    assert daily[-1]["revenue_cents"] == {"EUR": 12_345, "USD": 700}
    assert [p["transactions"] for p in body["volume"]["hourly"]] == [6, 4]
    assert body["volume_published_at"] is not None
    week = api.get("/api/v1/pos/analytics/dashboard?days=7&hours=1").json()
    assert [p["transactions"] for p in week["volume"]["daily"]] == [20, 35]
    assert [p["transactions"] for p in week["volume"]["hourly"]] == [4]
    assert theirs not in response.text and "1000000" not in response.text


def test_sync_health_lists_the_tenants_accounts_and_each_providers_api_pace(api: Api) -> None:
    mine, failing, theirs = publish(api)
    body = api.get("/api/v1/pos/analytics/sync-health").json()
    assert body["tenant_id"] == api.tenant
    assert body["freshness"] == {"ok": 1, "warn": 0, "error": 1, "disabled": 0}
    accounts = {a["account_id"]: a for a in body["accounts"]}
    assert set(accounts) == {mine, failing}
    ok = accounts[mine]
    assert (ok["rows_per_sync"], ok["avg_sync_seconds"], ok["lag_seconds"], ok["error_streak"]) == (30.0, 2.0, 180, 0)
    assert ok["api"] == {"requests": 40, "retries": 2, "rate_limited": 1, "server_errors": 1, "transport_errors": 0,
                         "error_rate": 0.05, "avg_response_ms": 100.0, "waited_seconds": 2.5}
    assert (accounts[failing]["error_streak"], accounts[failing]["freshness"]) == (3, "error")
    providers = {p["provider"]: p for p in body["providers"]}
    assert providers["toast"]["api"]["error_rate"] == 0.5 and providers["square"]["accounts"] == 1
    # the other tenant sees its own account only; no credential, no data
    other = api.get("/api/v1/pos/analytics/sync-health", key=api.other_key).json()
    assert [a["account_id"] for a in other["accounts"]] == [theirs] and other["accounts"][0]["api"]["requests"] == 999
    other_dash = api.get("/api/v1/pos/analytics/dashboard", key=api.other_key).json()
    assert other_dash["accounts"]["total"] == 1 and other_dash["transactions_today"]["transactions"] == 1000
    assert {s["account_id"] for s in other_dash["last_sync"]} == {theirs}
    for path in ("/api/v1/pos/analytics/sync-health", "/api/v1/pos/analytics/dashboard"):
        assert api.client.get(path).status_code == 401


def test_before_anything_was_published_the_routes_answer_empty(api: Api) -> None:
    add_account(api)
    health = api.get("/api/v1/pos/analytics/sync-health").json()
    assert health["accounts"] == [] and health["freshness"] == {"ok": 0, "warn": 0, "error": 0, "disabled": 0}
    dash = api.get("/api/v1/pos/analytics/dashboard").json()
    assert dash["accounts"]["total"] == 1 and dash["last_sync"][0]["freshness"] is None
    assert dash["transactions_today"] == {"transactions": 0, "refunds": 0, "revenue_cents": {}}
    assert dash["volume"] == {"daily": [], "hourly": []} and dash["volume_published_at"] is None
