"""The one Definitions object loads and validates — in-process (``Definitions.validate_loadable``)
and as ``dagster dev`` would load it (``dagster definitions validate -w workspace.yaml`` with the
embedded-default instance) — and has the documented shape: account partitions, the square_api
pool, the DuckDB writer tag, the account × day backfill job, the schedule and the sensor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]


def test_definitions_are_loadable_and_shaped_as_documented() -> None:
    from pos_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    raw = {f"raw/square/{t}" for t in ("locations", "payments", "refunds", "orders", "catalog", "team_members",
                                       "customers")}
    assert raw <= keys

    # each provider's assets are partitioned by its own accounts: nothing offers another's partitions
    for provider, resource in (("square", "payments"), ("toast", "orders"), ("lightspeed", "sales")):
        assets = defs.get_assets_def(dg.AssetKey(["raw", provider, resource]))
        assert isinstance(assets.partitions_def, dg.DynamicPartitionsDefinition)
        assert assets.partitions_def.name == f"{provider}_accounts"
        assert assets.node_def.pool == "duckdb_writer"  # type: ignore[union-attr]  # DuckDB: one writer
        assert all(not spec.deps for spec in assets.specs)  # no phantom upstream dlt source assets
        slice_ = defs.get_assets_def(dg.AssetKey(["pos", provider, "pos_transactions"]))
        assert slice_.partitions_def == assets.partitions_def
        assert slice_.node_def.pool == "duckdb_writer"  # type: ignore[union-attr]  # a UI Materialize waits too

    # precise lineage: a canonical slice depends on the raw tables it is built from, nothing else
    graph = defs.resolve_asset_graph()
    tenders = graph.get(dg.AssetKey(["pos", "square", "pos_tenders"]))
    assert {k.to_user_string() for k in tenders.parent_keys} == {"raw/square/orders", "raw/square/payments"}
    daily = graph.get(dg.AssetKey(["pos", "toast", "daily_product_sales"]))
    assert {k.to_user_string() for k in daily.parent_keys} == {"pos/toast/pos_transactions",
                                                               "pos/toast/pos_transaction_items"}
    # every asset says what it is, who owns it and what kind it is
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.owners and node.kinds, key.to_user_string()

    sync = defs.resolve_job_def("square_sync")
    assert sync.tags.get("pos/warehouse-writer") == "1"
    executable = {k.to_user_string() for k in sync.asset_layer.executable_asset_keys}  # type: ignore[attr-defined]
    assert raw <= executable and "pos/square/pos_transactions" in executable
    assert not {k for k in executable if k.startswith(("raw/toast", "pos/toast", "raw/lightspeed"))}

    backfill = defs.resolve_job_def("square_historical_backfill")
    assert isinstance(backfill.partitions_def, dg.MultiPartitionsDefinition)
    assert sorted(d.name for d in backfill.partitions_def.partitions_defs) == ["account", "date"]
    assert backfill.tags.get("pos/warehouse-writer") == "1"
    assert [node.definition.pool for node in backfill.nodes] == ["duckdb_writer"]  # type: ignore[attr-defined]
    with pytest.raises(dg.DagsterInvariantViolationError):
        defs.resolve_job_def("lightspeed_historical_backfill")  # its change feed has no date window

    sensor = defs.get_sensor_def("account_sync_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert not list(defs.schedules or [])  # the sensor replaced the polling schedules


# what the steps and sensor ticks import when they run, not the definitions: every process that loads
# them (the code server, each run worker, `pos-sync` commands, `dagster dev`) would pay for it
NOT_AT_LOAD = ("pos_sync.appstore", "sqlalchemy", "numpy", "pandas", "pyarrow", "duckdb", "rapidfuzz",
               "transforms.mapping.decision", "pos_sync.ingest.sync", "fastapi", "aio_pika")
PROBE = "import json, sys\nimport pos_dagster.definitions\nprint(json.dumps(sorted(m for m in {} if m in sys.modules)))"


def test_loading_the_definitions_touches_nothing_on_disk_and_imports_no_store(tmp_path: Path) -> None:
    home = tmp_path / "untouched-home"
    env = dict(os.environ, POS_HOME=str(home), DAGSTER_HOME=str(home / "dagster"))
    done = subprocess.run([sys.executable, "-c", PROBE.format(NOT_AT_LOAD)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not home.exists()
    assert json.loads(done.stdout.splitlines()[-1]) == []


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


def test_a_webhook_targeted_run_and_its_downstream_run_make_the_whole_sync_job() -> None:
    """``targeted_keys`` (raw + canonical, with the slices' checks) and ``downstream_keys`` split each
    provider's ``<provider>_sync`` exactly: an asset added downstream of the canonical slices must be
    in one of them, or webhook-triggered syncs would never materialize it."""
    from pos_dagster.definitions import defs
    from pos_dagster.defs.ingest.jobs import downstream_keys, sync_job_name, targeted_keys
    from pos_sync.providers import registry

    for spec in registry:
        job = defs.resolve_job_def(sync_job_name(spec.name))
        everything = set(job.asset_layer.executable_asset_keys)
        targeted, downstream = set(targeted_keys(spec)), set(downstream_keys(spec))
        assert targeted | downstream == everything and not targeted & downstream, spec.name
        if spec.canonical is None:
            continue
        checks = job.get_subset(asset_selection=targeted).asset_layer.asset_graph.asset_check_keys
        # the slices' integrity checks run with them (the step that closes the sync log judges them)
        assert checks and {key.asset_key for key in checks} <= targeted, spec.name
        assert {key.asset_key for key in checks} == {key.asset_key for key in job.asset_layer.asset_graph.asset_check_keys
                                                     if key.asset_key in targeted}, spec.name
