"""The one Definitions object loads and validates — in-process (``Definitions.validate_loadable``)
and as ``dagster dev`` would load it (``dagster definitions validate -w workspace.yaml`` with the
embedded-default instance) — and has the documented shape: account partitions, the square_api
pool, the DuckDB writer tag, the account × day backfill job, the schedule and the sensor."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[2]


def test_definitions_are_loadable_and_shaped_as_documented() -> None:
    from pos_dagster.definitions import defs
    from pos_dagster.partitions import ACCOUNT_PARTITIONS

    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    raw = {f"raw/square/{t}" for t in ("locations", "payments", "refunds", "orders", "catalog", "team_members")}
    assert raw <= keys

    payments = defs.get_assets_def(dg.AssetKey(["raw", "square", "payments"]))
    assert isinstance(payments.partitions_def, dg.DynamicPartitionsDefinition)
    assert payments.partitions_def.name == ACCOUNT_PARTITIONS
    assert payments.node_def.pool == "square_api"  # type: ignore[union-attr]
    assert all(not spec.deps for spec in payments.specs)  # no phantom upstream dlt source assets

    sync = defs.resolve_job_def("square_sync")
    assert sync.tags.get("pos/warehouse-writer") == "1"
    assert {k.to_user_string() for k in sync.asset_layer.executable_asset_keys} >= raw  # type: ignore[attr-defined]

    backfill = defs.resolve_job_def("square_historical_backfill")
    assert isinstance(backfill.partitions_def, dg.MultiPartitionsDefinition)
    assert sorted(d.name for d in backfill.partitions_def.partitions_defs) == ["account", "date"]
    assert backfill.tags.get("pos/warehouse-writer") == "1"
    assert [node.definition.pool for node in backfill.nodes] == ["square_api"]  # type: ignore[attr-defined]

    schedule = defs.get_schedule_def("square_sync_schedule")
    assert schedule.cron_schedule == "*/5 * * * *" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = defs.get_sensor_def("account_partitions_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # as the README says
    env = dict(os.environ, DAGSTER_HOME=str(home), POS_HOME=str(tmp_path / "pos-home"))
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "All code locations passed validation" in done.stdout + done.stderr
    instance = dg.DagsterInstance.from_config(str(home))  # the embedded default instance loads too
    try:
        assert instance.event_log_storage.supports_global_concurrency_limits
    finally:
        instance.dispose()
