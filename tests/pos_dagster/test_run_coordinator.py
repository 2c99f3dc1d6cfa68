"""``pos_dagster.lib.run_coordinator.PosRunCoordinator``: the product's instances (embedded and
PostgreSQL) queue runs as Dagster's ``QueuedRunCoordinator`` does and set the daemon's sensor loop to
``sensor_loop_seconds``; a real ``dagster-daemon run`` on the embedded instance then evaluates a
sensor of ``minimum_interval_seconds=1`` about every second, where Dagster's own loop (5 s) allows at
most one evaluation per 5 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._daemon import sensor as sensor_daemon

from pos_dagster.lib.run_coordinator import PosRunCoordinator, set_sensor_loop_seconds

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

CODE = '''
import time
from pathlib import Path

import dagster as dg

TICKS = Path(__file__).with_name("ticks.txt")


@dg.op
def nothing() -> None:
    pass


@dg.job
def nothing_job():
    nothing()


@dg.sensor(job=nothing_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def every_second(context):
    with TICKS.open("a") as ticks:
        ticks.write(f"{time.time()}\\n")
    return dg.SkipReason("nothing to do")


defs = dg.Definitions(jobs=[nothing_job], sensors=[every_second])
'''


@pytest.fixture
def dagster_loop_restored() -> Iterator[None]:
    before = sensor_daemon.MIN_INTERVAL_LOOP_TIME
    try:
        yield
    finally:
        sensor_daemon.MIN_INTERVAL_LOOP_TIME = before


def instance_of(home: Path, text: str) -> dg.DagsterInstance:
    (home / "dagster.yaml").write_text(text)
    return dg.DagsterInstance.from_config(str(home))


def test_the_installed_dagster_keeps_the_loop_floor_we_set() -> None:
    # the private constant PosRunCoordinator sets: if an upgrade moves it, this fails first
    assert sensor_daemon.MIN_INTERVAL_LOOP_TIME in (5, 1.0)  # Dagster's, or ours set by an earlier test
    assert "MIN_INTERVAL_LOOP_TIME" in Path(sensor_daemon.__file__).read_text()


@pytest.mark.usefixtures("dagster_loop_restored")
@pytest.mark.parametrize("yaml_file", ["pos_dagster/instance_default.yaml", "deploy/dagster.postgres.yaml"])
def test_the_product_instances_queue_runs_and_set_the_sensor_loop(tmp_path: Path, yaml_file: str) -> None:
    sensor_daemon.MIN_INTERVAL_LOOP_TIME = 5
    config = yaml.safe_load((REPO / yaml_file).read_text())
    assert config["run_coordinator"]["config"]["sensor_loop_seconds"] == 1
    assert config["retention"]["sensor"]["purge_after_days"] == {"skipped": 1}

    config.pop("storage", None)  # the PostgreSQL instance: its run coordinator and retention, on SQLite here
    inst = instance_of(tmp_path, yaml.safe_dump(config))
    try:
        coordinator = inst.run_coordinator
        assert isinstance(coordinator, PosRunCoordinator) and isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator.sensor_loop_seconds == 1.0
        assert sensor_daemon.MIN_INTERVAL_LOOP_TIME == 1.0
        assert coordinator.dequeue_interval_seconds == 1  # both: Dagster's default is 5 s
        from dagster._core.definitions.run_request import InstigatorType
        from dagster._core.scheduler.instigation import TickStatus
        retention = inst.get_tick_retention_settings(InstigatorType.SENSOR)
        assert retention[TickStatus.SKIPPED] == 1 and retention[TickStatus.SUCCESS] == -1
    finally:
        inst.dispose()


@pytest.mark.usefixtures("dagster_loop_restored")
def test_the_loop_has_a_floor_and_a_missing_constant_is_one_warning(monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    assert set_sensor_loop_seconds(0.01) == 0.2
    assert set_sensor_loop_seconds(3) == 3.0 and sensor_daemon.MIN_INTERVAL_LOOP_TIME == 3.0
    monkeypatch.delattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME")
    assert set_sensor_loop_seconds(1) is None
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "keeps Dagster's own pace" in caplog.records[0].getMessage()
    monkeypatch.undo()


def test_a_real_daemon_evaluates_a_one_second_sensor_every_second(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "loop_demo.py").write_text(textwrap.dedent(CODE))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "pos_dagster" / "instance_default.yaml").read_text())
    (tmp_path / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": "loop_demo", "attribute": "defs", "working_directory": str(code)}}]}))
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    ticks = code / "ticks.txt"
    proc = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(tmp_path / "workspace.yaml")],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        times: list[float] = []
        while time.monotonic() < deadline:
            times = [float(t) for t in ticks.read_text().split()] if ticks.exists() else []
            if len(times) >= 8:
                break
            assert proc.poll() is None, "dagster-daemon exited"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert len(times) >= 8, f"{len(times)} evaluations in 120 s"
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    # Dagster's own loop: never two evaluations less than 5 s apart; ours: about one a second
    # (a loaded machine stretches some gaps, so the median says it)
    assert gaps[len(gaps) // 2] < 3.0, gaps
