"""The Toast source into PostgreSQL (``pg_url``): ledger equality, no-op run, clock advance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from support.destination import data_row_counts, rows_in_load
from support.http_log import HttpLog
from support.postgres import postgres_destination
from toast_support import ToastEnv, assert_matches_truth, changed_orders, toast_env

pytestmark = pytest.mark.postgres
__all__ = ["toast_env"]  # the fixture, imported for pytest


def test_postgres_full_import_noop_and_advance(toast_env: Callable[..., ToastEnv], http_log: HttpLog,
                                               pg_url: str) -> None:
    env = toast_env()
    world = env.world
    now1 = world.window_start_utc + timedelta(days=2, hours=14)
    world.set_now(now1)
    pipeline = env.pipeline("toast_pg", destination=postgres_destination(pg_url))
    env.run(pipeline, loader_file_format="csv")
    assert_matches_truth(pipeline, env.truth())

    http_log.clear()
    env.run(pipeline, loader_file_format="csv")
    assert data_row_counts(pipeline) == {}
    assert sum(1 for s in http_log.sent if s.path.endswith("/orders/v2/ordersBulk")) == 1

    now2 = world.window_end_utc + timedelta(days=7)
    world.set_now(now2)
    info = env.run(pipeline, loader_file_format="csv")
    assert rows_in_load(pipeline, "orders", info.loads_ids[-1]) == changed_orders(world, now1, now2)
    assert_matches_truth(pipeline, env.truth())
