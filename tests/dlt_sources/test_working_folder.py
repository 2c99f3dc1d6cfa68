"""A pipeline's working folder a killed process left half made (dlt's storages without their
package folders: dlt's ``has_pending_data`` and ``run`` fail on it) is dropped and made again, and
the run goes on from the warehouse's state — asked before a raw step (``has_pending_data``) or by
``run_pipeline`` (backfill windows, re-reads)."""

from __future__ import annotations

import shutil

import dlt
import pytest


def _orders(ids: range, amount: int = 1, seen: list[object] | None = None):  # type: ignore[no-untyped-def]
    """A merge resource with a cursor of its own (the last id it read) in dlt's state."""
    @dlt.resource(name="orders", primary_key="id", write_disposition="merge")
    def orders():  # type: ignore[no-untyped-def]
        state = dlt.current.resource_state()
        if seen is not None:
            seen.append(state.get("last"))
        state["last"] = max(ids)
        yield [{"id": f"o{k}", "amount_cents": k * amount} for k in ids]
    return orders()


def test_a_half_made_working_folder_is_dropped_and_the_next_run_merges_on(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path) -> None:
    from pos_sync.warehouse.pipelines import account_pipeline, has_pending_data, run_pipeline

    monkeypatch.setenv("POS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("POS_WAREHOUSE_URL", raising=False)
    pipeline = account_pipeline("foldertest", "acct-1")
    run_pipeline(pipeline, _orders(range(5))).raise_on_failed_jobs()
    assert has_pending_data(pipeline) is False
    load = pipeline.working_dir + "/load"
    shutil.rmtree(load + "/normalized")  # a kill between dlt's version file and its package folders

    damaged = account_pipeline("foldertest", "acct-1")
    with pytest.raises(FileNotFoundError):  # what dlt does with it (every later run of the account did too)
        assert damaged.has_pending_data
    assert has_pending_data(damaged) is True  # dropped: a package may have gone with it
    assert damaged.has_pending_data is False

    run_pipeline(damaged, _orders(range(5, 6))).raise_on_failed_jobs()  # its folder made again by the run
    shutil.rmtree(load + "/normalized")  # and left half made again: a backfill window's run meets it
    again = account_pipeline("foldertest", "acct-1")
    seen: list[object] = []
    run_pipeline(again, _orders(range(3, 8), amount=10, seen=seen)).raise_on_failed_jobs()
    assert seen == [5]  # the cursor, from the warehouse
    with again.sql_client() as client:
        rows = dict(client.execute_sql(f"select id, amount_cents from {client.make_qualified_table_name('orders')}"))
    assert rows == {"o0": 0, "o1": 1, "o2": 2, "o3": 30, "o4": 40, "o5": 50, "o6": 60, "o7": 70}  # merged, once
