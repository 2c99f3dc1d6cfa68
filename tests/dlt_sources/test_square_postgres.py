"""The Square source into PostgreSQL (``pg_url``): ledger equality, no-op run, clock advance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from square_support import (
    HttpLog,
    SquareEnv,
    assert_flat_rows_match_api,
    assert_matches_truth,
    changed_between,
)
from support.destination import data_row_counts, rows_in_load
from support.postgres import postgres_destination

pytestmark = pytest.mark.postgres


def test_postgres_full_import_noop_and_advance(make_env: Callable[..., SquareEnv], http_log: HttpLog,
                                               pg_url: str) -> None:
    env = make_env()
    world = env.world
    now1 = world.window_end_utc - timedelta(hours=30)
    env.set_now(now1)
    pipeline = env.pipeline("square_pg", destination=postgres_destination(pg_url))
    env.run(pipeline, loader_file_format="csv")  # COPY: the fast path measured for PostgreSQL
    assert_matches_truth(pipeline, env.truth())
    # payments and refunds come as Arrow tables: csv from Arrow, lists as jsonb, exact instants
    assert assert_flat_rows_match_api(pipeline, env, "payments") == 60
    assert assert_flat_rows_match_api(pipeline, env, "refunds") > 0

    http_log.clear()
    env.run(pipeline, loader_file_format="csv")
    assert data_row_counts(pipeline) == {}
    per_stream = http_log.per_stream()
    customers = len(world.customers[env.account["account_id"]])
    assert per_stream.pop(("/v2/customers", "-")) == -(-customers // 100)  # ListCustomers: 100 a page at most
    assert all(n == 1 for n in per_stream.values())

    now2 = world.window_end_utc + timedelta(days=7)
    env.set_now(now2)
    info = env.run(pipeline, loader_file_format="csv")
    expected = changed_between(world, now1, now2)
    assert expected["refunds"] >= 2
    assert {t: rows_in_load(pipeline, t, info.loads_ids[-1]) for t in expected} == expected
    assert_matches_truth(pipeline, env.truth())
