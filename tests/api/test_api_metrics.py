"""``GET /metrics`` over real HTTP from ``pos-sync api serve`` in its own process, parsed with
prometheus_client's parser: the spec's five families are there (names, help, types, labels,
buckets) before any sync; after syncs closed by another process the values equal what the app
store's sync logs and accounts say; pruning the logs lowers no counter; no label carries a secret;
the API's own requests and webhook deliveries are counted by route template. On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from metrics_support import expected_from_logs, labels, scrape, served_api, values
from prometheus_client.parser import text_string_to_metric_families

from pos_sync.metrics import spec

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
SECRETS = ("secret-access-token", "secret-refresh-token", "secret-client-secret")
# (tenant, provider, merchant) → the syncs its runs close: (status, error_type, seconds, processed, unmapped)
PLAN = {
    ("sol", "square", "M1"): [("success", None, 3.0, 12, 2), ("failed", "rate_limited", 40.0, 0, 0),
                              ("success", None, 7.5, 5, 1)],
    ("sol", "toast", "T1"): [("partial", "provider_unavailable", 130.0, 4, 3)],
    ("luna", "lightspeed", "store1"): [("failed", "authentication_failed", 2.0, 0, 0),
                                       ("failed", None, 400.0, 1, 0)],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from pos_sync.appstore import dispose_engines

    if request.param == "postgres":
        monkeypatch.setenv("POS_DATABASE_URL", str(request.getfixturevalue("pg_url")))
    yield request.param
    dispose_engines()


def _run_syncs(store: object) -> dict[tuple[str, str], str]:
    """What the Dagster runs would have done, through the same app store calls (in this test's
    process, not the API's): link the accounts, open and close their sync logs."""
    from pos_sync.appstore import AppStore, finish_sync_log, start_sync_log

    assert isinstance(store, AppStore)
    accounts = {}
    for (tenant, provider, merchant), syncs in PLAN.items():
        account_id, _ = store.upsert_account(tenant_id=tenant, provider=provider, merchant_id=merchant,
                                             access_token="secret-access-token", refresh_token="secret-refresh-token",
                                             client_id="cid", client_secret="secret-client-secret")
        accounts[(tenant, provider)] = account_id
        for n, (status, error_type, seconds, processed, unmapped) in enumerate(syncs):
            start = T0 + timedelta(hours=n)
            log = start_sync_log(account_id, started_at=start, settings=store.settings)
            finish_sync_log(log, status, error_type=error_type, processed=processed, fetched=processed,
                            unmapped_products=unmapped, error_message="boom" if error_type else None,
                            completed_at=start + timedelta(seconds=seconds), settings=store.settings)
    store.mark_account_error(accounts[("luna", "lightspeed")], "reauth_required", "the merchant revoked access")
    start_sync_log(accounts[("sol", "square")], started_at=T0 + timedelta(hours=5), settings=store.settings)
    return accounts


def _app_store_says(store: object) -> tuple[dict[str, dict], dict, dict]:
    """Counters and histogram from the sync log rows; accounts by status; each account's latest
    closed log's unmapped counter."""
    from pos_sync.appstore import session_scope
    from pos_sync.appstore.models import PosAccount, PosSyncLog

    with session_scope(store.settings, readonly=True) as s:  # type: ignore[attr-defined]
        rows = s.execute(sa.select(PosSyncLog.tenant_id, PosAccount.pos_provider, PosSyncLog.status,
                                   PosSyncLog.error_type, PosSyncLog.sync_duration_seconds,
                                   PosSyncLog.transactions_processed, PosSyncLog.pos_account_id,
                                   PosSyncLog.unmapped_products_count, PosSyncLog.sync_started_at)
                         .join(PosAccount, PosAccount.id == PosSyncLog.pos_account_id)).all()
        accounts = s.execute(sa.select(PosAccount.tenant_id, PosAccount.pos_provider, PosAccount.status)).all()
    by_status: dict = {}
    for tenant, provider, status in accounts:
        key = labels(tenant_id=tenant, pos_provider=provider, status=status)
        by_status[key] = by_status.get(key, 0) + 1
    latest: dict = {}
    for r in sorted((r for r in rows if r.status != "in_progress"), key=lambda r: r.sync_started_at):
        latest[labels(tenant_id=r.tenant_id, pos_account_id=r.pos_account_id)] = float(r.unmapped_products_count)
    counters = expected_from_logs([tuple(r[:6]) for r in rows], spec.SYNC_DURATION_BUCKETS)
    return counters, by_status, latest


def _sync_series(families: dict) -> dict[str, dict]:
    return {
        "synced": values(families, "pos_transactions_synced"),
        "count": values(families, "pos_sync_duration_seconds", "pos_sync_duration_seconds_count"),
        "sum": values(families, "pos_sync_duration_seconds", "pos_sync_duration_seconds_sum"),
        "bucket": values(families, "pos_sync_duration_seconds", "pos_sync_duration_seconds_bucket"),
        "errors": values(families, "pos_sync_errors"),
    }


def test_metrics_equal_the_app_store_after_syncs_of_another_process(backend: str) -> None:
    from pos_sync.appstore import AppStore, prune_sync_logs
    from pos_sync.settings import load_settings

    store = AppStore(load_settings())
    tenant, key = store.create_tenant("Panadería Sol", "sol")
    store.create_tenant("Hornos Luna", "luna")
    with served_api() as url:
        # ---------------------------------------------------------------- before any sync
        text, families = scrape(url)
        for family in spec.SPEC_FAMILIES:
            assert f"# TYPE {family.name} {family.type}\n" in text
            assert f"# HELP {family.name} {family.help}\n" in text
        assert values(families, "pos_transactions_synced") == {} and values(families, "pos_accounts_total") == {}
        assert values(families, "pos_metrics_appstore_up") == {labels(): 1.0}

        # ---------------------------------------------------------------- syncs closed elsewhere
        accounts = _run_syncs(store)
        text, families = scrape(url)
        counters, by_status, latest_unmapped = _app_store_says(store)
        assert _sync_series(families) == counters
        assert counters["synced"][labels(tenant_id="sol", pos_provider="square")] == 17  # the plan, by hand
        assert counters["errors"][labels(tenant_id="luna", pos_provider="lightspeed", error_type="unknown")] == 1
        assert values(families, "pos_accounts_total") == by_status
        assert by_status[labels(tenant_id="luna", pos_provider="lightspeed", status="reauth_required")] == 1
        assert values(families, "pos_unmapped_products_total") == latest_unmapped
        assert latest_unmapped[labels(tenant_id="sol", pos_account_id=accounts[("sol", "square")])] == 1

        # the spec's labels and buckets, exactly
        for family in spec.SPEC_FAMILIES:
            parsed = families[family.name.removesuffix("_total") if family.type == "counter" else family.name]
            assert parsed.type == family.type and parsed.documentation == family.help
            assert parsed.samples
            for sample in parsed.samples:
                extra = {"le"} if sample.name.endswith("_bucket") else set()
                assert set(sample.labels) == set(family.labels) | extra, sample
        les = [s.labels["le"] for s in families["pos_sync_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["pos_provider"] == "square"]
        assert les == ["5.0", "10.0", "30.0", "60.0", "120.0", "300.0", "+Inf"]

        # no secret anywhere, and the tenant label is the tenant's id
        assert not [secret for secret in (*SECRETS, key) if secret in text]
        assert "gAAAA" not in text  # no Fernet token either
        tenants = {s.labels["tenant_id"] for f in spec.SPEC_FAMILIES
                   for s in families[f.name.removesuffix("_total") if f.type == "counter" else f.name].samples}
        assert tenants == {"sol", "luna"}

        # ---------------------------------------------------------------- retention prunes the logs
        before = _sync_series(families)
        # square's two logs before its latest success go; lightspeed's failure streak is kept whole
        assert prune_sync_logs(T0 + timedelta(days=1), settings=store.settings) == 2
        assert _app_store_says(store)[0] != counters  # the logs no longer add up to the totals …
        _, families = scrape(url)
        assert _sync_series(families) == before  # … and no counter went down
        assert values(families, "pos_unmapped_products_total") == latest_unmapped  # latest logs are kept

        # ---------------------------------------------------------------- the API's own series
        with httpx.Client(base_url=url, timeout=10) as client:
            account = accounts[("sol", "square")]
            assert client.get(f"/api/v1/pos/accounts/{account}",
                              headers={"Authorization": f"Bearer {key}"}).status_code == 200
            assert client.get(f"/api/v1/pos/accounts/{account}").status_code == 401
            assert client.get("/no/such/page").status_code == 404
            assert client.post("/api/v1/pos/webhooks/square", content=b"{}").status_code == 401  # no key
        text, families = scrape(url)
    requests = values(families, "pos_api_requests")
    route = "/api/v1/pos/accounts/{account_id}"
    assert requests[labels(method="GET", route=route, status_code="200")] == 1
    assert requests[labels(method="GET", route=route, status_code="401")] == 1
    assert requests[labels(method="GET", route="unmatched", status_code="404")] == 1
    assert requests[labels(method="GET", route="/metrics", status_code="200")] == 3  # the earlier scrapes
    assert not [k for k in requests if account in dict(k)["route"]]  # the path typed is never a label
    latency = values(families, "pos_api_request_duration_seconds", "pos_api_request_duration_seconds_count")
    assert latency == {k: v for k, v in requests.items()}
    assert values(families, "pos_webhooks_received") == {labels(pos_provider="square", outcome="no_key"): 1}


def test_an_unreachable_app_store_still_describes_the_families(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from pos_sync.api.app import create_app
    from pos_sync.appstore import dispose_engines
    from pos_sync.settings import load_settings

    settings = load_settings({"POS_HOME": str(tmp_path / "home"),
                              "POS_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})  # closed port
    try:
        with TestClient(create_app(settings)) as client:
            response = client.get("/metrics")
    finally:
        dispose_engines()
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert values(families, "pos_metrics_appstore_up") == {labels(): 0.0}  # said, not hidden
    for family in spec.SPEC_FAMILIES:  # described, with no sample (stale, not zero)
        assert f"# TYPE {family.name} {family.type}\n" in response.text
        parsed = families[family.name.removesuffix("_total") if family.type == "counter" else family.name]
        assert parsed.samples == []
    assert "pos_api_requests_total" in response.text  # the API's own series are still there
