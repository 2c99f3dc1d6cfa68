"""``pos_dagster.lib.sqlite_storage.PooledSqliteEventLogStorage`` on real Dagster instances (temp
DAGSTER_HOMEs configured with the product's ``instance_default.yaml``): runs store their events in
Dagster's own layout (run shards, index mirroring of materializations, check evaluations and run
status), Dagster's default storage reads them and the other way round (an existing home upgrades),
another process on the same home sees every commit, a forked child never uses its parent's
connections, the run shards kept open are bounded, ``dispose`` releases them, and the event
watcher (the webserver's) gets new events from its own thread."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry

from pos_dagster.lib.sqlite_storage import PooledSqliteEventLogStorage

REPO = Path(__file__).resolve().parents[2]
DEFAULT_YAML = "telemetry:\n  enabled: false\n"  # Dagster's default storage


@dg.asset
def alpha() -> int:
    return 1


@dg.asset
def beta(alpha: int) -> int:
    return alpha + 1


@dg.asset_check(asset=beta)
def beta_positive(beta: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=beta > 0)


def _home(tmp_path: Path, name: str = "home", yaml_text: str | None = None) -> Path:
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    text = yaml_text if yaml_text is not None else (REPO / "pos_dagster" / "instance_default.yaml").read_text()
    (home / "dagster.yaml").write_text(text)
    return home


def _materialize(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([alpha, beta, beta_positive], instance=instance)
    assert result.success
    return result.run_id


def _pooled(instance: dg.DagsterInstance) -> PooledSqliteEventLogStorage:
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    return storage


def test_a_run_is_stored_in_dagsters_layout_and_read_back(tmp_path: Path) -> None:
    home = _home(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = _pooled(instance)
        run_id = _materialize(instance)

        assert (home / "history" / "runs" / f"{run_id}.db").is_file()
        assert (home / "history" / "runs" / "index.db").is_file()
        assert (home / "history" / "runs.db").is_file()  # the run storage stays Dagster's
        assert {run_id, "index"} <= set(storage._engines)  # kept open, not disposed per event

        types = [e.dagster_event_type for e in instance.all_logs(run_id) if e.is_dagster_event]
        assert types.count(DagsterEventType.ASSET_MATERIALIZATION) == 2
        assert DagsterEventType.RUN_SUCCESS in types
        assert DagsterEventType.ASSET_CHECK_EVALUATION in types

        latest = instance.get_latest_materialization_event(dg.AssetKey("beta"))
        assert latest is not None and latest.run_id == run_id
        assert len(instance.fetch_materializations(dg.AssetKey("alpha"), limit=10).records) == 1
        check_key = dg.AssetCheckKey(dg.AssetKey("beta"), "beta_positive")
        history = storage.get_asset_check_execution_history(check_key, limit=5)
        assert [record.run_id for record in history] == [run_id]
        assert history[0].status.value == "SUCCEEDED"
        changes = instance.fetch_run_status_changes(DagsterEventType.RUN_SUCCESS, limit=10)
        assert [record.event_log_entry.run_id for record in changes.records] == [run_id]

        second = _materialize(instance)
        assert len(instance.fetch_materializations(dg.AssetKey("alpha"), limit=10).records) == 2

    # Dagster's default storage reads the same home: same files, same schema
    (home / "dagster.yaml").write_text(DEFAULT_YAML)
    with dg.DagsterInstance.from_config(str(home)) as default:
        assert type(default.event_log_storage).__name__ == "SqliteEventLogStorage"
        latest = default.get_latest_materialization_event(dg.AssetKey("beta"))
        assert latest is not None and latest.run_id == second
        assert len(default.all_logs(run_id)) > 0
    assert storage._engines == {}  # the instance's close disposed them


def test_an_existing_default_home_is_read_and_extended(tmp_path: Path) -> None:
    home = _home(tmp_path, yaml_text=DEFAULT_YAML)
    with dg.DagsterInstance.from_config(str(home)) as default:
        old_run = _materialize(default)
        old_logs = len(default.all_logs(old_run))

    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _pooled(instance)
        assert len(instance.all_logs(old_run)) == old_logs
        assert instance.get_latest_materialization_event(dg.AssetKey("alpha")).run_id == old_run  # type: ignore[union-attr]
        new_run = _materialize(instance)
        records = instance.fetch_materializations(dg.AssetKey("alpha"), limit=10).records
        assert [record.run_id for record in records] == [new_run, old_run]


def test_another_process_sees_each_commit(tmp_path: Path) -> None:
    home = _home(tmp_path)
    script = textwrap.dedent(f"""
        import sys
        import dagster as dg
        sys.path.insert(0, {str(REPO)!r})
        from tests.pos_dagster.test_sqlite_storage import _materialize
        with dg.DagsterInstance.from_config({str(home)!r}) as instance:
            seen = instance.get_latest_materialization_event(dg.AssetKey("beta")).run_id
            print(seen, _materialize(instance))
    """)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = _pooled(instance)
        first = _materialize(instance)
        index_engine = storage._engines["index"]  # open while the other process writes
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=300, cwd=REPO, check=True).stdout.split()
        assert out[0] == first
        latest = instance.get_latest_materialization_event(dg.AssetKey("beta"))
        assert latest is not None and latest.run_id == out[1]
        assert storage._engines["index"] is index_engine
        assert instance.get_run_by_id(out[1]) is not None


def test_a_forked_child_opens_its_own_connections(tmp_path: Path) -> None:
    home = _home(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = _pooled(instance)
        run_id = _materialize(instance)
        parents = dict(storage._engines)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, never return into pytest
            code = 1
            try:
                os.close(read)
                inherited_dropped = storage._engines == {}
                instance.report_runless_asset_event(dg.AssetMaterialization("forked"))
                fresh = all(engine is not parents.get(shard) for shard, engine in storage._engines.items())
                os.write(write, f"{inherited_dropped} {fresh} {sorted(storage._engines)}".encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        report = os.read(read, 4096).decode()
        os.close(read)
        assert os.waitstatus_to_exitcode(status) == 0, report
        assert report.startswith("True True"), report

        # the parent's connections were neither used nor closed by the child
        assert all(storage._engines[shard] is engine for shard, engine in parents.items())
        assert instance.get_latest_materialization_event(dg.AssetKey("forked")) is not None
        again = _materialize(instance)
        assert instance.get_latest_materialization_event(dg.AssetKey("alpha")).run_id == again  # type: ignore[union-attr]
        assert len(instance.all_logs(run_id)) > 0


def test_open_run_shards_are_bounded(tmp_path: Path) -> None:
    text = (REPO / "pos_dagster" / "instance_default.yaml").read_text().replace(
        "  class: PooledSqliteEventLogStorage\n",
        "  class: PooledSqliteEventLogStorage\n  config:\n    max_run_shards: 2\n")
    home = _home(tmp_path, yaml_text=text)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = _pooled(instance)
        runs = [_materialize(instance) for _ in range(3)]
        open_runs = [shard for shard in storage._engines if shard != "index"]
        assert open_runs == runs[1:]
        assert "index" in storage._engines
        assert any(e.dagster_event_type == DagsterEventType.RUN_SUCCESS
                   for e in instance.all_logs(runs[0]) if e.is_dagster_event)  # evicted, reopened
        assert runs[0] in storage._engines and runs[1] not in storage._engines


def test_the_event_watcher_gets_new_events_from_its_thread(tmp_path: Path) -> None:
    home = _home(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = _pooled(instance)
        run_id = _materialize(instance)
        run = instance.get_run_by_id(run_id)
        assert run is not None
        seen: list[str] = []
        threads: set[str] = set()
        arrived = threading.Event()

        def callback(event: EventLogEntry, _cursor: str) -> None:
            seen.append(event.message)
            threads.add(threading.current_thread().name)
            if event.message == "watched-message":
                arrived.set()

        cursor = str(storage.get_records_for_run(run_id).cursor)
        storage.watch(run_id, cursor, callback)
        try:
            instance.report_engine_event("watched-message", run)
            deadline = time.monotonic() + 30
            while not arrived.is_set() and time.monotonic() < deadline:
                arrived.wait(0.2)
        finally:
            storage.end_watch(run_id, callback)
        assert seen == ["watched-message"]
        assert threading.current_thread().name not in threads
        assert len(instance.all_logs(run_id)) > 0  # the main thread's connection still works


def test_a_fresh_pos_home_gets_the_pooled_storage_under_its_dagster_home(tmp_path: Path) -> None:
    from pos_dagster.lib.instance import get_instance
    from pos_sync.settings import load_settings

    settings = load_settings({"POS_HOME": str(tmp_path / "fresh-pos-home")})  # no DAGSTER_HOME set
    with get_instance(settings) as instance:
        storage = _pooled(instance)
        run_id = _materialize(instance)
    events = settings.dagster_home / "history" / "runs"
    assert Path(storage._base_dir) == events
    assert (events / f"{run_id}.db").is_file() and (events / "index.db").is_file()
