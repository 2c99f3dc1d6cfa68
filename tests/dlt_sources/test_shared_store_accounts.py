"""A store two tenants linked is two accounts with the same provider objects, loaded into the one
``raw_<provider>`` dataset of the provider: each account keeps its own rows. Keyed on the provider's
id alone, the second account's import replaced the first's rows — their ``_pos_account_id`` became
the other tenant's, and the first account's builds, version guard and re-reads no longer found them
(``dlt_sources.common.rows.merge_key``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lightspeed_support import LightspeedEnv, make_ls_env
from square_support import SquareEnv, make_env
from support.destination import query
from toast_support import ToastEnv, toast_env

__all__ = ["make_env", "make_ls_env", "toast_env"]  # the fixtures, imported for pytest

ACCOUNTS = ("acct-a", "acct-b")


def _per_account(pipeline: Any, table: str, key: str) -> list[tuple[Any, ...]]:
    return query(pipeline, f"select _pos_account_id, count(*), count(distinct {key}) from {table} group by 1 order by 1")


def _both_kept(counts: dict[str, list[tuple[Any, ...]]]) -> None:
    [(_, n, distinct)] = counts["acct-a"]
    assert n == distinct > 0
    assert counts["acct-b"] == [("acct-a", n, n), ("acct-b", n, n)]


def test_square_accounts_of_one_merchant_keep_their_own_rows(make_env: Callable[..., SquareEnv]) -> None:
    env = make_env()
    counts: dict[str, list[tuple[Any, ...]]] = {}
    for account in ACCOUNTS:
        pipeline = env.pipeline(name=f"square_{account.replace('-', '_')}")
        env.run(pipeline, account_id=account)
        counts[account] = _per_account(pipeline, "payments", "id")
        assert _per_account(pipeline, "orders", "id")[-1][0] == account
    _both_kept(counts)
    orders = _per_account(pipeline, "orders", "id")
    assert len(orders) == 2 and orders[0][1:] == orders[1][1:]


def _old_keys(key: Any, account_id: str | None) -> tuple[str, ...]:
    """The release before: the provider's key alone."""
    return (key,) if isinstance(key, str) else tuple(key)


ROOTS = {"square": {"payments": "id", "orders": "id", "catalog": "id", "locations": "id"},
         "toast": {"orders": "guid", "restaurants": "guid", "menus": "restaurant_guid"},
         "lightspeed": {"sales": "id", "products": "id", "outlets": "id"}}


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
    fixture = {"square": "make_env", "toast": "toast_env", "lightspeed": "make_ls_env"}[provider]
    env = request.getfixturevalue(fixture)()
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


def test_toast_accounts_of_one_restaurant_keep_their_own_rows(toast_env: Callable[..., ToastEnv]) -> None:
    env = toast_env()
    counts: dict[str, list[tuple[Any, ...]]] = {}
    for account in ACCOUNTS:
        pipeline = env.pipeline(name=f"toast_{account.replace('-', '_')}")
        env.run(pipeline, account_id=account)
        counts[account] = _per_account(pipeline, "orders", "guid")
        assert [r[0] for r in _per_account(pipeline, "restaurants", "guid")][-1] == account
    _both_kept(counts)
    assert [r[0] for r in _per_account(pipeline, "menus", "restaurant_guid")] == list(ACCOUNTS)


def test_lightspeed_accounts_of_one_retailer_keep_their_own_rows(
        make_ls_env: Callable[..., LightspeedEnv]) -> None:
    env = make_ls_env()
    counts: dict[str, list[tuple[Any, ...]]] = {}
    for account in ACCOUNTS:
        pipeline = env.pipeline(name=f"lightspeed_{account.replace('-', '_')}")
        env.run(pipeline, account_id=account)
        counts[account] = _per_account(pipeline, "sales", "id")
    _both_kept(counts)
    assert [r[0] for r in _per_account(pipeline, "products", "id")] == list(ACCOUNTS)
