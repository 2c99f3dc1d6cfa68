"""The Lightspeed source against the real sandbox on loopback, loading into DuckDB in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from lightspeed_support import (
    STREAMS,
    HttpLog,
    LightspeedEnv,
    assert_matches_truth,
    changed_between,
    ls_http_log,
    make_ls_env,
    resource_state,
    seed_with_late_changes,
)
from support.destination import data_row_counts, query

from dlt_sources.common import TokenSet
from dlt_sources.common.errors import ReauthorizationRequired
from dlt_sources.lightspeed import lightspeed_source
from pos_sandbox.faults import FaultPlan

__all__ = ["ls_http_log", "make_ls_env"]  # fixtures


def test_full_import_equals_ledger_and_a_noop_sync_is_one_request_per_stream(
        make_ls_env: Callable[..., LightspeedEnv], ls_http_log: HttpLog) -> None:
    env = make_ls_env()
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    types = dict(query(pipeline, "select column_name, data_type from information_schema.columns "
                                 "where table_name = 'sales__line_items'"))
    assert types["total_price"].startswith("DECIMAL") and types["quantity"].startswith("DECIMAL")
    assert types["unit_price"].startswith("DECIMAL")
    # sales reach dlt as nested Arrow tables: dlt's own nested tables of ``sales``, no orphans
    schema = pipeline.default_schema
    children = [t for t in schema.tables if t.startswith("sales__")]
    assert {"sales__line_items", "sales__line_items__tax_components", "sales__payments"} <= set(children)
    for name in children:
        assert schema.tables[name]["parent"] == name.rsplit("__", 1)[0] and "resource" not in schema.tables[name]
        assert query(pipeline, f"select count(*) from {name} c left join sales s on c._dlt_root_id = s._dlt_id "
                               "where s._dlt_id is null") == [(0,)], name
    assert query(pipeline, "select count(*) from sales__line_items li join sales s "
                           "on li._dlt_parent_id = s._dlt_id")[0][0] > 0
    assert query(pipeline, "select count(*) from sales where _pos_account_id is distinct from "
                           f"'{env.account['account_id']}'")[0][0] == 0
    state = resource_state(pipeline, "sales", env.account["account_id"])
    assert state["after"] == query(pipeline, "select max(version) from sales")[0][0]

    ls_http_log.clear()
    env.run(pipeline)
    assert data_row_counts(pipeline) == {}
    per_stream = ls_http_log.per_stream()
    assert per_stream == {s: 1 for s in STREAMS}, per_stream
    for sent in ls_http_log.api():
        if sent.path.endswith("/sales"):
            assert int(sent.params["after"]) == state["after"]
        if sent.path.endswith(("/products", "/outlets", "/registers")):
            assert sent.params["deleted"] == "true"


def test_tip_edit_late_return_and_soft_delete_arrive_through_the_change_feed(
        make_ls_env: Callable[..., LightspeedEnv]) -> None:
    env = make_ls_env(seed=seed_with_late_changes())
    world = env.world
    now1 = world.window_end_utc - timedelta(hours=30)
    world.set_now(now1)
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    deleted_before = query(pipeline, "select count(*) from products where deleted_at is not null")[0][0]

    now2 = world.window_end_utc + timedelta(days=7)
    world.set_now(now2)
    expected = changed_between(world, now1, now2)
    info = env.run(pipeline)
    load_id = info.loads_ids[-1]
    got = {t: query(pipeline, f"select count(*) from {t} where _dlt_load_id = '{load_id}'")[0][0]
           for t in ("sales", "products")}
    assert got == expected
    assert not {"outlets", "users", "taxes", "payment_types", "registers", "product_categories"} & set(
        data_row_counts(pipeline))
    assert_matches_truth(pipeline, env.truth())
    # the late events are really in: a return dated days after its sale, a tip edit, a soft delete
    late = [s for loc in world.locations for s in world.iter_sales(loc.location_id)
            if s.refund is not None and now1 < s.refund.created_at and s.closed_at <= now1]
    assert late, "the seed should have a return after now1 of a sale before it"
    for sale in late:
        ret = query(pipeline, f"select status, return_for from sales where id = '{sale.refund.return_order_id}'")  # type: ignore[union-attr]
        assert ret == [("CLOSED", sale.id)]
    edits = [s for loc in world.locations for s in world.iter_sales(loc.location_id)
             if s.tip_edit is not None and now1 < s.tip_edit.at <= now2]
    assert edits
    for sale in edits:
        tip = query(pipeline, "select a.value from sales__adjustments a join sales s on a._dlt_parent_id = s._dlt_id "
                              f"where s.id = '{sale.id}' and a.type = 'TIP'")
        assert [int(v * 100) for (v,) in tip] == [sale.tip_edit.new_tip_cents]  # type: ignore[union-attr]
    assert query(pipeline, "select count(*) from products where deleted_at is not null")[0][0] == deleted_before + 1
    # a no-change sync after the advance loads nothing again
    env.run(pipeline)
    assert data_row_counts(pipeline) == {}


def test_faults_429_http_date_5xx_and_token_expiry_leave_counts_exact(
        make_ls_env: Callable[..., LightspeedEnv], ls_http_log: HttpLog) -> None:
    plan = FaultPlan(schedule={2: "429", 4: "503", 5: "502", 9: "500"}, expire_after=5)
    env = make_ls_env(faults=plan)
    persisted_at: list[int] = []  # requests sent when each refresh was handed to the callback
    persist = env.persist

    def recording(tokens: TokenSet) -> None:
        persisted_at.append(len(ls_http_log.sent))
        persist(tokens)

    env.persist = recording  # type: ignore[method-assign]
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    assert plan.injected["429"] == 1 and plan.injected["503"] == 1 and plan.injected["expire"] >= 1
    # every refresh rotated the refresh token and was persisted before the new access token was used
    assert env.saved and len({t.refresh_token for t in env.saved}) == len(env.saved)
    for tokens, mark in zip(env.saved, persisted_at, strict=True):
        uses = [i for i, s in enumerate(ls_http_log.sent) if s.authorization == f"Bearer {tokens.access_token}"]
        assert uses and min(uses) >= mark
    # the last persisted refresh token is the live one
    assert env.emulator.store.refresh_tokens[env.saved[-1].refresh_token].successor is None


def test_rate_limit_of_the_store_is_waited_out(make_ls_env: Callable[..., LightspeedEnv]) -> None:
    env = make_ls_env(days=1, rate_limit=(12, 1.0))
    pipeline = env.pipeline()
    env.run(pipeline)
    # the client reads X-RateLimit-Remaining/-Reset and waits for the reset before the limit is hit
    # (tests/dlt_sources/test_rate_limits.py: without that pacing a 429's Retry-After date is waited out)
    assert env.emulator.limiter.rejected == 0
    assert_matches_truth(pipeline, env.truth())


def test_lost_refresh_response_with_grace_is_recovered(make_ls_env: Callable[..., LightspeedEnv]) -> None:
    env = make_ls_env(refresh_grace_seconds=60)
    env.sandbox_post("/_sandbox/lightspeed/tokens/expire", {"access_token": env.tokens["access_token"]})
    env.sandbox_post("/_sandbox/lightspeed/lose_refresh", {"count": 1})
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    store = env.emulator.store
    assert store.lost_responses == 1 and store.grace_retries == 1
    assert len(env.saved) == 1 and store.refresh_tokens[env.saved[0].refresh_token].successor is None
    # the persisted tokens carry on: the next sync after an expiry refreshes with them
    env.sandbox_post("/_sandbox/lightspeed/tokens/expire", {"access_token": env.tokens["access_token"]})
    env.run(pipeline)
    assert data_row_counts(pipeline) == {} and len(env.saved) == 2


def test_lost_refresh_response_without_grace_needs_reauthorization_and_loses_nothing(
        make_ls_env: Callable[..., LightspeedEnv]) -> None:
    env = make_ls_env()
    world = env.world
    now1 = world.window_end_utc - timedelta(hours=30)
    world.set_now(now1)
    pipeline = env.pipeline()
    env.run(pipeline)
    marks = {s: resource_state(pipeline, s, env.account["account_id"]) for s in STREAMS}
    loaded = query(pipeline, "select count(*) from sales")[0][0]

    now2 = world.window_end_utc + timedelta(days=7)
    world.set_now(now2)
    env.sandbox_post("/_sandbox/lightspeed/tokens/expire", {"access_token": env.tokens["access_token"]})
    env.sandbox_post("/_sandbox/lightspeed/lose_refresh", {"count": 1})
    with pytest.raises(PipelineStepFailed) as failed:
        env.run(pipeline)
    error = failed.value.__cause__ or failed.value.__context__
    while error is not None and not isinstance(error, ReauthorizationRequired):
        error = error.__cause__ or error.__context__
    assert isinstance(error, ReauthorizationRequired)
    message = str(error)
    assert "reauth_required" in message and "pos-sync accounts add lightspeed" in message
    assert "invalid_grant" in message
    # nothing moved: marks and rows as before the failed sync
    assert {s: resource_state(pipeline, s, env.account["account_id"]) for s in STREAMS} == marks
    assert query(pipeline, "select count(*) from sales")[0][0] == loaded

    env.reauthorize()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    assert query(pipeline, "select count(*) from sales")[0][0] > loaded


def test_outlet_filter_and_widening_it_rereads_the_feed(make_ls_env: Callable[..., LightspeedEnv]) -> None:
    env = make_ls_env(days=1, scale="chain")  # a store of three outlets
    acct = env.account
    outlet = acct["location_ids"][0]
    pipeline = env.pipeline()

    def run(ids: list[str]) -> None:
        tokens = env.token_provider(on_refresh=None, policy=None)  # nothing persisted, default retries
        source = lightspeed_source(tokens, acct["account_id"], ids, base_url=acct["base_url"])
        pipeline.run(source.with_resources("sales", "outlets"), loader_file_format="parquet").raise_on_failed_jobs()

    run(["another-outlet"])  # the store's feed is read to its end, but no row of that outlet exists
    assert resource_state(pipeline, "sales", acct["account_id"])["after"] > 0
    assert "sales" not in data_row_counts(pipeline)
    run([outlet])  # a newly wanted outlet lies behind the mark: the feed is read again from the start
    n, distinct = query(pipeline, "select count(*), count(distinct id) from sales")[0]
    assert n == distinct == env.truth()["objects"][0]["sales"]
    assert query(pipeline, "select count(*) from outlets")[0][0] == 1
    # widened to every outlet (an empty list): the other outlets' rows lie behind the mark too
    run([])
    n, distinct = query(pipeline, "select count(*), count(distinct id) from sales")[0]
    outlets = [o for o in env.truth()["objects"] if o["provider"] == "lightspeed" and "sales" in o]
    assert n == distinct == sum(o["sales"] for o in outlets)
    assert query(pipeline, "select count(*) from outlets")[0][0] == len(outlets) > 1
    after = resource_state(pipeline, "sales", acct["account_id"])["after"]
    run([outlet])  # narrowed: nothing behind the mark is wanted, the feed goes on from it
    assert resource_state(pipeline, "sales", acct["account_id"])["after"] == after
