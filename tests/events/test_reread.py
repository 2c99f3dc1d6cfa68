"""A discrepancy on a Lightspeed account (no day windows) is a re-read of its whole change feed:
the consumed message's ``reread`` request becomes a ``lightspeed_sync`` run tagged ``pos/reread``
(the account sync sensor), whose raw step reads every feed from its start through a fresh
pipeline — restoring sales the warehouse lost, which the account's incremental sync cannot see
again — without moving the account's own cursor. Real sandbox on loopback, real Dagster job,
DuckDB warehouse."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from support.accounts import link_account
from support.destination import raw_query
from support.sandboxes import dagster_home, sandboxes
from support.worlds import sandbox_world, set_clock

SEED, DAYS = 10, 3
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def sales() -> tuple[int, int]:
    [(total, distinct)] = raw_query("lightspeed", "select count(*), count(distinct id) from sales")
    return int(total), int(distinct)


def test_a_lightspeed_discrepancy_rereads_the_change_feed_without_moving_the_cursor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.sensor import tick

    from pos_dagster.adapter import sync_account
    from pos_dagster.definitions import defs
    from pos_sync import appstore
    from pos_sync.events.commands import handle
    from pos_sync.settings import load_settings
    from pos_sync.warehouse.pipelines import account_pipeline

    dagster_home(monkeypatch, tmp_path)
    with sandboxes(app_store=True) as started, dg.instance_for_test() as instance:
        world = sandbox_world(SEED, "lightspeed", days=DAYS)
        set_clock(world, monkeypatch)
        server = started.serve(world)
        account_id = link_account(server, world.tenant_id, "lightspeed")
        assert sync_account(account_id, instance=instance)["status"] == "success"
        truth, distinct = sales()  # the first sync imported the store's history (matching the ledger:
        assert truth == distinct > 3  # tests/pos_dagster/test_toast_lightspeed_dagster.py)
        cursor = dict(account_pipeline("lightspeed", account_id).state.get("sources") or {})
        assert cursor, "the first sync left its change-feed marks"

        lost = [r[0] for r in raw_query("lightspeed", "select id from sales order by id limit 3")]
        raw_query("lightspeed", "delete from sales where id in ({})".format(", ".join(f"'{i}'" for i in lost)))
        assert sales() == (truth - 3, truth - 3)
        assert sync_account(account_id, instance=instance)["status"] == "success"
        assert sales()[0] == truth - 3  # the incremental sync continues past them: they stay lost

        today = load_settings().utcnow().date()
        body = (f'{{"event_type": "sales_discrepancy_detected", "event_id": "disc-1", "tenant_id": "{world.tenant_id}", '
                f'"pos_account_id": "{account_id}", "start_date": "{today - timedelta(days=2)}", '
                f'"end_date": "{today - timedelta(days=1)}"}}').encode()
        monkeypatch.delenv("POS_NOW")  # the message is checked against the wall clock, like the sensor
        [request] = handle("sales.discrepancy_detected", body, load_settings()).created
        set_clock(world, monkeypatch)
        assert request.kind == "reread"
        [run] = [r for r in tick(instance).run_requests or [] if r.tags.get("pos/sync-request") == request.id]
        assert run.tags["pos/reread"] == request.id and run.job_name == "lightspeed_sync"

        result = defs.resolve_job_def(run.job_name).execute_in_process(
            instance=instance, partition_key=run.partition_key, tags=run.tags, run_config=QUIET, raise_on_error=False)
        assert result.success
        assert sales() == (truth, truth)  # the lost sales are back, once each
        log = next(lg for lg in appstore.sync_history(account_id, limit=5) if lg.dagster_run_id == result.run_id)
        assert (log.status, log.sync_type) == ("success", "backfill")
        assert dict(account_pipeline("lightspeed", account_id).state.get("sources") or {}) == cursor
        next_sync = sync_account(account_id, instance=instance)
        assert next_sync["status"] == "success" and next_sync["sync_type"] == "incremental"
