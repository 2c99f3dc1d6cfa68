"""``pos_accounts.data_version`` (migration 0010): the database gives an account a new, larger
version at every change of the account row, of one of its locations or of one of its sync logs —
whoever writes (here plain SQL on a connection of its own, as another process would), and only
that account's version moves. The API's cached reads are validated against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pos_sync.appstore import AppStore, dispose_engines, get_engine
from pos_sync.settings import load_settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppStore]:
    if request.param == "sqlite":
        monkeypatch.setenv("POS_DATABASE_URL", f"sqlite:///{tmp_path / 'appstore.sqlite'}")
    else:
        monkeypatch.setenv("POS_DATABASE_URL", str(request.getfixturevalue("pg_url")))
    yield AppStore(load_settings())
    dispose_engines()


def _versions(store: AppStore) -> dict[str, int]:
    with get_engine(store.settings).connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, data_version FROM pos_accounts")).tuples().all())


def _sql(store: AppStore, statement: str, **params: object) -> None:
    with get_engine(store.settings).begin() as conn:
        conn.execute(sa.text(statement), params)


def test_every_change_of_an_account_its_locations_or_logs_gives_it_a_new_version(store: AppStore) -> None:
    mine, _ = store.upsert_account(tenant_id="t1", provider="square", merchant_id="M1",
                                   locations=[{"location_id": "L1"}, {"location_id": "L2"}])
    other, _ = store.upsert_account(tenant_id="t2", provider="square", merchant_id="M2",
                                    locations=[{"location_id": "L9"}])
    seen = [_versions(store)]
    assert seen[0][mine] > 0 and seen[0][other] > 0 and seen[0][mine] != seen[0][other]

    log_id = store.start_sync_log(mine, "incremental", "run-1")
    steps = [
        lambda: None,  # the log insert above
        lambda: _sql(store, "UPDATE pos_sync_logs SET status = 'success' WHERE id = :id", id=log_id),
        lambda: _sql(store, "UPDATE pos_locations SET name = 'Centro' WHERE pos_account_id = :a AND location_id = 'L1'",
                     a=mine),
        lambda: _sql(store, "INSERT INTO pos_locations (id, pos_account_id, pos_provider, location_id, tenant_id, "
                            "enabled) VALUES ('loc-x', :a, 'square', 'L3', 't1', true)", a=mine),
        lambda: _sql(store, "DELETE FROM pos_locations WHERE id = 'loc-x'"),
        lambda: _sql(store, "DELETE FROM pos_sync_logs WHERE id = :id", id=log_id),
        lambda: _sql(store, "UPDATE pos_accounts SET account_name = 'Sol' WHERE id = :a", a=mine),
        lambda: _sql(store, "UPDATE pos_accounts SET account_name = 'Sol' WHERE id = :a", a=mine),  # same value
    ]
    for step in steps:
        step()
        now = _versions(store)
        assert now[mine] > seen[-1][mine], step
        assert now[other] == seen[0][other]  # another account's version never moves
        seen.append(now)

    store.remove_account(mine, purge=True)  # the cascades to its logs and locations still work
    assert _versions(store) == {other: seen[0][other]}


def test_one_statement_over_many_accounts_moves_each_of_their_versions(store: AppStore) -> None:
    first, _ = store.upsert_account(tenant_id="t1", provider="square", merchant_id="M1")
    second, _ = store.upsert_account(tenant_id="t1", provider="square", merchant_id="M2")
    untouched, _ = store.upsert_account(tenant_id="t1", provider="square", merchant_id="M3")
    for account in (first, second):
        store.start_sync_log(account, "incremental", "run-1")
    before = _versions(store)
    _sql(store, "DELETE FROM pos_sync_logs")  # as prune_sync_logs does: one DELETE over every account
    after = _versions(store)
    assert after[first] > before[first] and after[second] > before[second]
    assert after[untouched] == before[untouched]
