"""The Lightspeed source into PostgreSQL (``pg_url``, csv/COPY): ledger equality, a no-change sync,
and the change feed after the clock advances."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from lightspeed_support import (
    HttpLog,
    LightspeedEnv,
    assert_matches_truth,
    changed_between,
    ls_http_log,
    make_ls_env,
    seed_with_late_changes,
)
from support.destination import query, rows_in_load
from support.postgres import postgres_destination

pytestmark = pytest.mark.postgres
__all__ = ["ls_http_log", "make_ls_env"]  # fixtures


def test_postgres_import_noop_and_change_feed(make_ls_env: Callable[..., LightspeedEnv], ls_http_log: HttpLog,
                                             pg_url: str) -> None:
    env = make_ls_env(seed=seed_with_late_changes())
    world = env.world
    now1 = world.window_end_utc - timedelta(hours=30)
    world.set_now(now1)
    pipeline = env.pipeline("lightspeed_pg", destination=postgres_destination(pg_url))
    env.run(pipeline, loader_file_format="csv")
    assert_matches_truth(pipeline, env.truth())
    types = dict(query(pipeline, "select column_name, data_type from information_schema.columns "
                                 "where table_name = 'sales__line_items'"))
    assert types["total_price"] == "numeric" and types["quantity"] == "numeric"

    ls_http_log.clear()
    info = env.run(pipeline, loader_file_format="csv")
    assert all(n == 1 for n in ls_http_log.per_stream().values())
    assert not info.loads_ids or all(rows_in_load(pipeline, t, info.loads_ids[-1]) == 0 for t in ("sales", "products"))

    now2 = world.window_end_utc + timedelta(days=7)
    world.set_now(now2)
    info = env.run(pipeline, loader_file_format="csv")
    expected = changed_between(world, now1, now2)
    assert {t: rows_in_load(pipeline, t, info.loads_ids[-1]) for t in expected} == expected
    assert_matches_truth(pipeline, env.truth())
