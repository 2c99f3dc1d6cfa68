"""The running totals behind the Prometheus counters: each sync log adds to them once, in the
transaction that closes it; re-closing adds only new transactions; pruning logs (by call, or as
the account's next sync starts) never lowers them; concurrent closes lose nothing; the migration
seeds them from the logs already stored. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from pos_sync.appstore import (
    add_account,
    dispose_engines,
    finish_sync_log,
    get_engine,
    prune_sync_logs,
    start_sync_log,
    sync_history,
    upgrade,
)
from pos_sync.appstore.metric_reads import MetricsSnapshot, metrics_snapshot
from pos_sync.appstore.models import PosAccount, PosSyncLog
from pos_sync.settings import SettingsError, load_settings

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'appstore.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("POS_DATABASE_URL", url)
    yield url
    dispose_engines()


def _account(tenant: str = "t1", provider: str = "square", merchant: str = "M1") -> str:
    return add_account(tenant_id=tenant, provider=provider, merchant_id=merchant, access_token="tok",
                       client_id="cid", client_secret="sec")


def _sync(account_id: str, start: datetime, seconds: float, status: str = "success", processed: int = 0,
          error_type: str | None = None, unmapped: int = 0) -> str:
    log = start_sync_log(account_id, started_at=start)
    finish_sync_log(log, status, processed=processed, error_type=error_type, unmapped_products=unmapped,
                    completed_at=start + timedelta(seconds=seconds))
    return log


def _totals(snap: MetricsSnapshot) -> dict[tuple[str, str], tuple[int, int, float, dict[float, int]]]:
    return {(r.tenant_id, r.provider): (r.syncs, r.transactions_synced, r.duration_sum, dict(r.buckets))
            for r in snap.sync_totals}


def _errors(snap: MetricsSnapshot) -> dict[tuple[str, str, str], int]:
    return {(t, p, e): n for t, p, e, n in snap.errors}


def test_each_closed_log_adds_once_to_the_totals(db_url: str) -> None:
    square, toast = _account(), _account(provider="toast", merchant="T1")
    _sync(square, T0, 4, processed=10)
    _sync(square, T0 + timedelta(hours=1), 45, processed=7)
    _sync(square, T0 + timedelta(hours=2), 301, status="failed", error_type="rate_limited", processed=2)
    _sync(square, T0 + timedelta(hours=3), 10, status="partial", error_type="provider_unavailable", processed=1)
    _sync(toast, T0, 9, status="failed")  # names no kind of error
    open_log = start_sync_log(toast, started_at=T0 + timedelta(hours=1))  # in progress: not counted yet

    snap = metrics_snapshot()
    assert _totals(snap) == {
        ("t1", "square"): (4, 20, 360.0, {5: 1, 10: 2, 30: 2, 60: 3, 120: 3, 300: 3}),
        ("t1", "toast"): (1, 0, 9.0, {5: 0, 10: 1, 30: 1, 60: 1, 120: 1, 300: 1}),
    }
    assert _errors(snap) == {("t1", "square", "rate_limited"): 1, ("t1", "square", "provider_unavailable"): 1,
                             ("t1", "toast", "unknown"): 1}
    assert sorted(snap.accounts) == [("t1", "square", "active", 1), ("t1", "toast", "active", 1)]
    assert set(snap.unmapped) == {("t1", square, 0), ("t1", toast, 0)}

    finish_sync_log(open_log, "success", processed=5, unmapped_products=4,
                    completed_at=T0 + timedelta(hours=1, seconds=20))
    snap = metrics_snapshot()
    assert _totals(snap)[("t1", "toast")][:3] == (2, 5, 29.0)
    assert ("t1", toast, 4) in snap.unmapped  # the latest closed log's counter


def test_a_stale_log_counts_once_and_a_late_real_outcome_adds_only_new_transactions(db_url: str) -> None:
    account = _account()
    killed = start_sync_log(account, started_at=T0)
    finish_sync_log(start_sync_log(account, started_at=T0 + timedelta(seconds=50)), "success", processed=3,
                    completed_at=T0 + timedelta(seconds=60))  # the start closed `killed` as failed
    snap = metrics_snapshot()
    assert _totals(snap)[("t1", "square")][:3] == (2, 3, 60.0)  # 50 s (stale) + 10 s
    assert _errors(snap) == {("t1", "square", "interrupted"): 1}  # a stale log is `interrupted`

    finish_sync_log(killed, "success", processed=8, completed_at=T0 + timedelta(seconds=70))  # it was alive
    snap = metrics_snapshot()
    assert _totals(snap)[("t1", "square")][:3] == (2, 11, 60.0)  # its 8 transactions, no second sync
    assert _errors(snap) == {("t1", "square", "interrupted"): 1}
    finish_sync_log(killed, "success", processed=8, completed_at=T0 + timedelta(seconds=80))  # closed again
    assert _totals(metrics_snapshot())[("t1", "square")][:3] == (2, 11, 60.0)


def test_pruning_keeps_each_accounts_latest_log_and_the_totals(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _account(), _account(merchant="M2")
    for day in range(5):
        _sync(a, T0 + timedelta(days=day), 6, processed=1)
    _sync(b, T0, 3, status="failed", error_type="authentication_failed", unmapped=2)
    running = start_sync_log(b, started_at=T0 + timedelta(days=1))
    before = metrics_snapshot()

    assert prune_sync_logs(T0 + timedelta(days=3), account_id=b) == 0  # b's only closed log is its latest
    assert prune_sync_logs(T0 + timedelta(days=3)) == 3  # a's first three
    assert [log.sync_started_at for log in sync_history(a)] == [T0 + timedelta(days=4), T0 + timedelta(days=3)]
    assert {log.id for log in sync_history(b)} >= {running}
    after = metrics_snapshot()
    assert after.sync_totals == before.sync_totals and after.errors == before.errors
    assert sorted(after.unmapped) == sorted(before.unmapped)

    # the account's next sync prunes its own logs older than the retention
    monkeypatch.setenv("POS_SYNC_LOG_RETENTION_DAYS", "1")
    _sync(a, T0 + timedelta(days=30), 6, processed=1)
    assert [log.sync_started_at for log in sync_history(a)] == [T0 + timedelta(days=30), T0 + timedelta(days=4)]
    assert _totals(metrics_snapshot())[("t1", "square")][:2] == (7, 6)
    assert prune_sync_logs(T0 + timedelta(days=31)) == 1  # a's days=4 log; its latest and b's stay
    assert len(sync_history(a)) == 1 and len(sync_history(b)) == 2


def test_retention_setting_is_validated() -> None:
    assert load_settings({"POS_SYNC_LOG_RETENTION_DAYS": "7"}).sync_log_retention_days == 7
    assert load_settings({}).sync_log_retention_days == 90
    with pytest.raises(SettingsError, match="POS_SYNC_LOG_RETENTION_DAYS"):
        load_settings({"POS_SYNC_LOG_RETENTION_DAYS": "0"})


def test_concurrent_closes_lose_no_update(db_url: str) -> None:
    accounts = [_account(merchant=f"M{i}") for i in range(6)]
    logs = [start_sync_log(a, started_at=T0) for a in accounts]
    barrier = threading.Barrier(len(logs))
    errors: list[BaseException] = []

    def close(log_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            finish_sync_log(log_id, "failed", processed=5, error_type="rate_limited",
                            completed_at=T0 + timedelta(seconds=20))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=close, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    snap = metrics_snapshot()
    assert _totals(snap)[("t1", "square")][:3] == (6, 30, 120.0)
    assert _errors(snap) == {("t1", "square", "rate_limited"): 6}


def test_the_migration_seeds_the_totals_from_stored_logs(db_url: str) -> None:
    upgrade(db_url, "0004")
    account_id = str(uuid.uuid4())
    logs = [("success", 4.0, 10, None), ("failed", 12.0, 0, "rate_limited"), ("failed", 400.0, 1, None),
            ("in_progress", None, 0, None)]
    with get_engine(db_url).begin() as conn:
        conn.execute(sa.insert(PosAccount.__table__), [{"id": account_id, "tenant_id": "t9", "pos_provider": "toast",
                                                        "merchant_id": "X", "extra": {}}])
        conn.execute(sa.insert(PosSyncLog.__table__), [
            {"id": str(uuid.uuid4()), "tenant_id": "t9", "pos_account_id": account_id, "sync_type": "incremental",
             "sync_started_at": T0 + timedelta(hours=i), "status": status, "sync_duration_seconds": seconds,
             "transactions_processed": processed, "error_type": error_type}
            for i, (status, seconds, processed, error_type) in enumerate(logs)])
    upgrade(db_url)
    snap = metrics_snapshot()
    assert _totals(snap) == {("t9", "toast"): (3, 11, 416.0, {5: 1, 10: 1, 30: 2, 60: 2, 120: 2, 300: 2})}
    assert _errors(snap) == {("t9", "toast", "rate_limited"): 1, ("t9", "toast", "unknown"): 1}
