"""Schema: Alembic migrations vs models, on SQLite and PostgreSQL; URLs; timestamps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pos_sync.appstore import (
    add_account,
    current_revision,
    dispose_engines,
    get_engine,
    head_revision,
    normalize_url,
    remove_account,
    session_scope,
    start_sync_log,
    upgrade,
)
from pos_sync.appstore.db import MIGRATIONS_DIR, VERSION_TABLE
from pos_sync.appstore.models import Base, PosAccount, PosLocation, PosSyncLog, PosWebhook

TABLES = {"pos_accounts", "pos_locations", "pos_sync_logs", "pos_webhooks"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store' / 'appstore.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
        assert url.startswith("postgresql://")
    monkeypatch.setenv("POS_DATABASE_URL", url)
    yield url
    dispose_engines()


def test_upgrade_creates_schema_matching_models(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()

    engine = get_engine(db_url)
    inspector = sa.inspect(engine)
    assert TABLES | {VERSION_TABLE} <= set(inspector.get_table_names())
    assert "alembic_version" not in inspector.get_table_names()  # never clashes with Dagster's

    indexes = {ix["name"] for table in TABLES for ix in inspector.get_indexes(table)}
    assert {"idx_pos_accounts_tenant", "idx_pos_sync_logs_account_date", "idx_pos_locations_account"} <= indexes
    uniques = {
        tuple(uc["column_names"]) for table in TABLES for uc in inspector.get_unique_constraints(table)
    }
    assert ("tenant_id", "pos_provider", "merchant_id") in uniques
    assert ("tenant_id", "pos_provider", "location_id") in uniques
    assert ("pos_provider", "webhook_event_id", "tenant_id") in uniques  # a row per tenant (0011)
    fks = {(fk["referred_table"], fk["options"].get("ondelete")) for fk in inspector.get_foreign_keys("pos_sync_logs")}
    assert fks == {("pos_accounts", "CASCADE")}

    # The migration and the models describe the same schema.
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, reflected, compare_to: type_ != "table"
                or name in Base.metadata.tables,
            },
        )
        diffs = compare_metadata(ctx, Base.metadata)
    assert diffs == []


def test_upgrade_is_idempotent_and_keeps_data(db_url: str) -> None:
    upgrade(db_url)
    account_id = add_account(tenant_id="t1", provider="toast", merchant_id="c1", locations=[{"location_id": "r1"}])
    upgrade(db_url)
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    with get_engine(db_url).connect() as conn:
        assert conn.execute(sa.text(f"select count(*) from {VERSION_TABLE}")).scalar() == 1
        assert conn.execute(sa.text("select id from pos_accounts")).scalars().all() == [account_id]


def test_repository_upgrades_a_fresh_store_itself(db_url: str) -> None:
    assert current_revision(db_url) is None
    add_account(tenant_id="t1", provider="toast", merchant_id="c1")
    assert current_revision(db_url) == head_revision()


def test_concurrent_upgrades_do_not_collide(db_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(db_url)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert current_revision(db_url) == head_revision()


def test_foreign_keys_cascade(db_url: str) -> None:
    account_id = add_account(
        tenant_id="t1", provider="toast", merchant_id="c1", locations=[{"location_id": "r1"}, {"location_id": "r2"}]
    )
    start_sync_log(account_id)
    with session_scope() as s:
        s.add(PosWebhook(tenant_id="t1", pos_account_id=account_id, pos_provider="toast", event_type="x", event_data={"a": 1}))
    remove_account(account_id)
    with session_scope() as s:
        for model in (PosLocation, PosSyncLog, PosWebhook):
            assert s.scalar(sa.select(sa.func.count()).select_from(model)) == 0

    # The database itself enforces the FK (SQLite: PRAGMA foreign_keys=ON on every connection).
    with pytest.raises(sa.exc.IntegrityError), session_scope() as s:
        s.add(PosLocation(tenant_id="t1", pos_account_id="no-such-account", pos_provider="toast", location_id="x"))


def test_timestamps_read_back_as_aware_utc(db_url: str) -> None:
    madrid = timezone(timedelta(hours=2))
    aware = datetime(2026, 6, 1, 12, 30, 15, 123456, tzinfo=madrid)
    naive_utc = datetime(2026, 6, 2, 8, 0, 0)
    add_account(tenant_id="t1", provider="toast", merchant_id="c1")
    with session_scope() as s:
        acc = s.execute(sa.select(PosAccount)).scalar_one()
        acc.token_expires_at = aware
        acc.next_sync_at = naive_utc
    dispose_engines()  # force a real round trip through the database
    with session_scope() as s:
        acc = s.execute(sa.select(PosAccount)).scalar_one()
        for value in (acc.token_expires_at, acc.next_sync_at, acc.created_at, acc.updated_at):
            assert value is not None and value.tzinfo is not None
            assert value.utcoffset() == timedelta(0)
        assert acc.token_expires_at == aware
        assert acc.token_expires_at.hour == 10
        assert acc.next_sync_at == naive_utc.replace(tzinfo=UTC)


def test_webhook_inbox_deduplicates_provider_event_ids(db_url: str) -> None:
    account_id = add_account(tenant_id="t1", provider="square", merchant_id="M1")
    with session_scope() as s:
        s.add(PosWebhook(tenant_id="t1", pos_account_id=account_id, pos_provider="square",
                         webhook_event_id="evt-1", event_type="payment.created", event_data={"id": "p1"}))
    with pytest.raises(sa.exc.IntegrityError), session_scope() as s:
        s.add(PosWebhook(tenant_id="t1", pos_account_id=account_id, pos_provider="square",
                         webhook_event_id="evt-1", event_type="payment.created", event_data={"id": "p1"}))
    with session_scope() as s:  # same event id from another provider is a different event
        s.add(PosWebhook(tenant_id="t1", pos_provider="toast", webhook_event_id="evt-1",
                         event_type="order.updated", event_data={"nested": {"k": [1, 2]}}))
    other = add_account(tenant_id="t2", provider="square", merchant_id="M1")
    with session_scope() as s:  # the same store linked by another tenant: that tenant's row
        s.add(PosWebhook(tenant_id="t2", pos_account_id=other, pos_provider="square",
                         webhook_event_id="evt-1", event_type="payment.created", event_data={"id": "p1"}))
    with session_scope() as s:
        rows = s.execute(sa.select(PosWebhook).order_by(PosWebhook.pos_provider, PosWebhook.tenant_id)).scalars().all()
        assert [(r.pos_provider, r.tenant_id, r.processing_status, r.retry_count) for r in rows] == [
            ("square", "t1", "pending", 0),
            ("square", "t2", "pending", 0),
            ("toast", "t1", "pending", 0),
        ]
        assert rows[2].event_data == {"nested": {"k": [1, 2]}}


def test_webhook_rows_per_tenant_migrate_up_and_down(db_url: str) -> None:
    """0011 keeps an event's row per tenant; its downgrade keeps each event's first row only."""
    from alembic import command

    from pos_sync.appstore.db import alembic_config

    upgrade(db_url, "0010")
    first = add_account(tenant_id="t1", provider="square", merchant_id="M1")
    with session_scope() as s:
        s.add(PosWebhook(tenant_id="t1", pos_account_id=first, pos_provider="square", webhook_event_id="evt-1",
                         event_type="payment.created", event_data={}, received_at=datetime(2026, 3, 1, tzinfo=UTC)))
    upgrade(db_url)
    second = add_account(tenant_id="t2", provider="square", merchant_id="M1")
    with session_scope() as s:
        s.add(PosWebhook(tenant_id="t2", pos_account_id=second, pos_provider="square", webhook_event_id="evt-1",
                         event_type="payment.created", event_data={}, received_at=datetime(2026, 3, 2, tzinfo=UTC)))
    engine = get_engine(db_url)
    with engine.begin() as conn:
        cfg = alembic_config(db_url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    with session_scope() as s:
        assert [r.tenant_id for r in s.execute(sa.select(PosWebhook)).scalars()] == ["t1"]
    with pytest.raises(sa.exc.IntegrityError), session_scope() as s:  # the old key holds again
        s.add(PosWebhook(tenant_id="t2", pos_account_id=second, pos_provider="square", webhook_event_id="evt-1",
                         event_type="payment.created", event_data={}))
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.sqlite", "sqlite:////tmp/x.sqlite"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_default_store_is_sqlite_under_pos_home(tmp_path: Path) -> None:
    add_account(tenant_id="t1", provider="toast", merchant_id="c1")
    store = tmp_path / "pos-home" / "appstore.sqlite"
    assert store.exists()
    engine = get_engine()
    assert engine.url.get_backend_name() == "sqlite"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    dispose_engines()


def test_migration_scripts_live_inside_the_package() -> None:
    package_dir = Path(__file__).resolve().parents[2] / "pos_sync"
    assert MIGRATIONS_DIR.is_relative_to(package_dir.resolve())
    for name in ("env.py", "script.py.mako", "versions/0001_initial.py"):
        assert (MIGRATIONS_DIR / name).is_file(), name
