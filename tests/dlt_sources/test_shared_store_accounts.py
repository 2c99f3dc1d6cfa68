"""A store two tenants linked is two accounts with the same provider objects, loaded into the one
``raw_<provider>`` dataset of the provider: each account keeps its own rows. Keyed on the provider's
id alone, the second account's import replaced the first's rows — their ``_pos_account_id`` became
the other tenant's, and the first account's builds, version guard and re-reads no longer found them
(``dlt_sources.common.rows.merge_key``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def test_an_install_keyed_on_the_id_alone_merges_on_with_the_account(make_env: Callable[..., SquareEnv]) -> None:
    """Raw tables loaded by the release before (their key: the id alone) take the account into the
    key at the next load: the same account's rows are replaced, not doubled; another's are added."""
    env = make_env()
    pipeline = env.pipeline(name="square_upgraded")
    old = env.source(pipeline, account_id="acct-a")
    old.resources["payments"].apply_hints(primary_key="id")  # as the release before loaded it
    pipeline.run(old.with_resources("payments"), loader_file_format="parquet").raise_on_failed_jobs()
    [(_, n, _)] = _per_account(pipeline, "payments", "id")
    env.run(pipeline, account_id="acct-a", known_versions=None)  # no guard: every payment loaded again
    assert _per_account(pipeline, "payments", "id") == [("acct-a", n, n)]
    env.run(pipeline, account_id="acct-b")
    assert _per_account(pipeline, "payments", "id") == [("acct-a", n, n), ("acct-b", n, n)]


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
