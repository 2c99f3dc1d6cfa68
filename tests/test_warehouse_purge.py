"""`accounts remove --purge` erases one account's raw and canonical rows and its cursor state;
another tenant's data is untouched."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest
from support.accounts import link_account
from support.worlds import sandbox_world

from pos_dagster.adapter import sync_account
from pos_sandbox.server import SandboxServer
from pos_sync import appstore
from pos_sync.cli import main
from pos_sync.settings import load_settings
from pos_sync.warehouse.pipelines import pipeline_name, pipelines_dir


def _counts(path: str, account_id: str) -> dict[str, int]:
    con = duckdb.connect(path, read_only=True)
    try:
        return {
            "orders": con.execute("select count(*) from raw_square.orders where _pos_account_id = ?",
                                  [account_id]).fetchone()[0],
            "line_items": con.execute(
                "select count(*) from raw_square.orders__line_items li join raw_square.orders o "
                "on li._dlt_root_id = o._dlt_id where o._pos_account_id = ?", [account_id]).fetchone()[0],
            "transactions": con.execute("select count(*) from pos.pos_transactions where pos_account_id = ?",
                                        [account_id]).fetchone()[0],
            "demand": con.execute("select count(*) from pos.demand_calendar where pos_account_id = ?",
                                  [account_id]).fetchone()[0],
            "state": con.execute("select count(*) from raw_square._dlt_pipeline_state where pipeline_name like ?",
                                 [f"square__{account_id.replace('-', '')}%"]).fetchone()[0],
        }
    finally:
        con.close()


def test_purge_removes_only_that_accounts_data(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    worlds = [sandbox_world(s, "square", days=2, start=date(2026, 5, 4)) for s in (1, 2)]
    monkeypatch.setenv("POS_NOW", worlds[0].window_end_utc.isoformat())  # sync the past world as if current
    ids = []
    for world in worlds:
        with SandboxServer(world) as server:
            account_id = link_account(server, world.tenant_id, "square")
            assert sync_account(account_id)["status"] == "success"
            ids.append(account_id)
    path = str(load_settings().warehouse_path)
    keep, gone = ids
    before_keep = _counts(path, keep)
    assert all(v > 0 for v in _counts(path, gone).values())

    assert main(["accounts", "remove", gone, "--purge", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["purged"] is True and out["purge_result"]["deleted_rows"]["raw_square.orders"] > 0

    assert _counts(path, gone) == {"orders": 0, "line_items": 0, "transactions": 0, "demand": 0, "state": 0}
    # the local working folders of its pipelines went too: a re-added store (same id) starts afresh
    local = [p.name for p in pipelines_dir().iterdir()]
    assert pipeline_name("square", keep) in local
    assert not [n for n in local if n.startswith(pipeline_name("square", gone))]
    assert _counts(path, keep) == before_keep
    with pytest.raises(appstore.AccountNotFound):
        appstore.get_account(gone)
