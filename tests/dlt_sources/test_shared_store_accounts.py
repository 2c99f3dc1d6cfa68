"""A store two tenants linked is two accounts with the same provider objects, loaded into the one
``raw_<provider>`` dataset of the provider: each account keeps its own rows. Keyed on the provider's
id alone, the second account's import replaced the first's rows — their ``_pos_account_id`` became
the other tenant's, and the first account's builds, version guard and re-reads no longer found them
(``dlt_sources.common.rows.merge_key``)."""

from __future__ import annotations

from typing import Any

import pytest
from lightspeed_support import make_ls_env
from square_support import make_env
from support.destination import query
from toast_support import toast_env

__all__ = ["make_env", "make_ls_env", "toast_env"]  # the fixtures, imported for pytest

ACCOUNTS = ("acct-a", "acct-b")


def _per_account(pipeline: Any, table: str, key: str) -> list[tuple[Any, ...]]:
    return query(pipeline, f"select _pos_account_id, count(*), count(distinct {key}) from {table} group by 1 order by 1")


def _old_keys(key: Any, account_id: str | None) -> tuple[str, ...]:
    """The release before: the provider's key alone."""
    return (key,) if isinstance(key, str) else tuple(key)


ROOTS = {"square": {"payments": "id", "orders": "id", "catalog": "id", "locations": "id"},
         "toast": {"orders": "guid", "restaurants": "guid", "menus": "restaurant_guid"},
         "lightspeed": {"sales": "id", "products": "id", "outlets": "id"}}
FIXTURES = {"square": "make_env", "toast": "toast_env", "lightspeed": "make_ls_env"}


@pytest.mark.parametrize("provider", ["square", "toast", "lightspeed"])
def test_accounts_of_one_store_keep_their_own_rows(request: pytest.FixtureRequest, provider: str) -> None:
    """Two accounts of one store, each through its own pipeline: after the second's import every
    table holds both accounts' rows, as many each, no id twice within an account."""
    env = request.getfixturevalue(FIXTURES[provider])()
    first: dict[str, list[tuple[Any, ...]]] = {}
    for account in ACCOUNTS:
        pipeline = env.pipeline(f"{provider}_{account.replace('-', '_')}")
        env.run(pipeline, account_id=account)
        first = first or {t: _per_account(pipeline, t, k) for t, k in ROOTS[provider].items()}
    for rows in first.values():
        [(account, n, distinct)] = rows
        assert account == "acct-a" and n == distinct > 0
    after = {t: _per_account(pipeline, t, k) for t, k in ROOTS[provider].items()}
    assert after == {t: [*rows, ("acct-b", *rows[0][1:])] for t, rows in first.items()}


@pytest.mark.parametrize("destination", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("provider", ["square", "toast", "lightspeed"])
def test_an_install_keyed_on_the_id_alone_merges_on_with_the_account(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, provider: str, destination: str) -> None:
    """Raw tables loaded by the release before (keyed on the provider's id alone) take the account
    into the key at the next load — plain resources, nested Arrow ones (orders, sales) and their
    child tables: the same account's rows are replaced, not doubled; another account's are added."""
    import importlib

    from support.postgres import postgres_destination

    module = importlib.import_module(f"dlt_sources.{provider}.source")
    env = request.getfixturevalue(FIXTURES[provider])()
    target = postgres_destination(request.getfixturevalue("pg_url")) if destination == "postgres" else None
    pipeline = env.pipeline(f"{provider}_upgraded", destination=target)
    with monkeypatch.context() as old_release:
        old_release.setattr(module, "merge_key", _old_keys)
        env.run(pipeline, account_id="acct-a")
    before = {t: _per_account(pipeline, t, k) for t, k in ROOTS[provider].items()}
    children = query(pipeline, f"select count(*) from {_child(provider)}")
    assert all(rows and rows[0][0] == "acct-a" for rows in before.values()), before
    env.run(pipeline, account_id="acct-a", known_versions=None)  # no guard: every row loaded again
    assert {t: _per_account(pipeline, t, k) for t, k in ROOTS[provider].items()} == before
    assert query(pipeline, f"select count(*) from {_child(provider)}") == children  # children replaced too
    env.run(pipeline, account_id="acct-b")
    after = {t: _per_account(pipeline, t, k) for t, k in ROOTS[provider].items()}
    assert after == {t: [*rows, ("acct-b", *rows[0][1:])] for t, rows in before.items()}


def _child(provider: str) -> str:
    return {"square": "orders__line_items", "toast": "orders__checks", "lightspeed": "sales__line_items"}[provider]
