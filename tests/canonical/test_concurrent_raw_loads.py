"""Several accounts of one provider loading into the same raw dataset at the same moment, on a fresh
PostgreSQL warehouse (what a deployment's first syncs do): every load succeeds and every account's
rows land exactly once. Before, the accounts' merge loads shared dlt's ``raw_x_staging`` dataset (each
load empties it first), so a later merge failed on a duplicate ``_dlt_id`` or a deadlock, and
concurrent table creation failed the schema update (``pg_type`` unique index) — both found by the
90-account soak."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

ACCOUNTS = 6


def _load(i: int, start: float, warehouse_url: str, home: str) -> None:
    os.environ.update({"POS_HOME": home, "POS_WAREHOUSE_URL": warehouse_url, "RUNTIME__DLTHUB_TELEMETRY": "false"})
    import dlt

    from pos_sync.warehouse.pipelines import account_pipeline, run_pipeline

    @dlt.resource(name="orders", primary_key="id", write_disposition="merge")
    def orders():  # type: ignore[no-untyped-def]
        yield [{"id": f"a{i}-{k}", "amount_cents": k, "lines": [{"sku": f"s{k}", "qty": 1}]} for k in range(40)]

    pipeline = account_pipeline("concurrency", f"account-{i}")
    time.sleep(max(0.0, start - time.time()))  # all at once
    run_pipeline(pipeline, orders()).raise_on_failed_jobs()


def test_concurrent_first_loads_of_one_provider_all_land_once(pg_url: str, tmp_path: Path) -> None:
    from pos_sync.warehouse.pipelines import dlt_postgres_url

    url = dlt_postgres_url(pg_url)
    ctx = multiprocessing.get_context("spawn")
    start = time.time() + 6  # after every child has imported dlt
    children = [ctx.Process(target=_load, args=(i, start, url, str(tmp_path / f"home{i}"))) for i in range(ACCOUNTS)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=180)
    assert [c.exitcode for c in children] == [0] * ACCOUNTS

    import psycopg

    with psycopg.connect(pg_url) as conn:
        per_account = dict(conn.execute("select split_part(id, '-', 1), count(*) from raw_concurrency.orders "
                                        "group by 1").fetchall())
        lines = conn.execute("select count(*) from raw_concurrency.orders__lines").fetchone()[0]
    assert per_account == {f"a{i}": 40 for i in range(ACCOUNTS)}
    assert lines == 40 * ACCOUNTS


def test_a_schema_conflict_is_recognised_through_the_wrappers_around_it() -> None:
    from dlt.common.destination.exceptions import SchemaUpdateTerminalError

    from pos_sync.warehouse.pipelines import is_schema_conflict

    def raised(wrappers: int) -> BaseException:
        try:
            try:
                raise SchemaUpdateTerminalError("square", ["payments"], RuntimeError('duplicate key … "pg_type…"'))
            except SchemaUpdateTerminalError:
                raise RuntimeError("Pipeline execution failed at step=load") from None  # dlt: __context__ only
        except RuntimeError as inner:
            exc: BaseException = inner
            for n in range(wrappers):  # what dagster-dlt / Dagster put around it
                try:
                    raise ValueError(f"wrapper {n}") from exc
                except ValueError as outer:
                    exc = outer
            return exc

    assert is_schema_conflict(raised(0)) and is_schema_conflict(raised(2))
    assert not is_schema_conflict(RuntimeError("a provider answered 500"))


def test_retried_loads_of_one_dataset_take_turns(pg_url: str, monkeypatch: Any) -> None:
    """The lock ``run_pipeline``'s retries take (``schema_retries_one_at_a_time``): a second holder for
    the same dataset waits for the first; another dataset's does not."""
    import threading

    from support.postgres import use_postgres_warehouse

    from pos_sync.warehouse.pipelines import schema_retries_one_at_a_time

    use_postgres_warehouse(monkeypatch, pg_url)
    order: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with schema_retries_one_at_a_time("raw_turns"):
            order.append("first in")
            first_in.set()
            release.wait(10)
            order.append("first out")

    def second(dataset: str, name: str) -> None:
        with schema_retries_one_at_a_time(dataset):
            order.append(name)

    holder = threading.Thread(target=first)
    holder.start()
    assert first_in.wait(10)
    other = threading.Thread(target=second, args=("raw_other", "other dataset"))
    other.start()
    other.join(10)
    same = threading.Thread(target=second, args=("raw_turns", "second in"))
    same.start()
    same.join(0.5)
    assert same.is_alive()  # waiting for the first holder
    release.set()
    holder.join(10)
    same.join(10)
    assert order == ["first in", "other dataset", "first out", "second in"]
