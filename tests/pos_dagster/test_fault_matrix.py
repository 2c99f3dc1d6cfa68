"""The fault matrix's fast subset (``bench/fault_matrix.py`` runs every provider × every fault and
commits its table): per provider, one fault no other test covers, through the matrix's own
scenario code (``bench/fault_scenarios.py``) — an account linked as a merchant would, ``pos-sync
sync`` through the CLI with the fault on — and the same verdict: canonical totals equal the sandbox
ledger to the cent, no duplicate on the canonical natural keys, the fault really fired and the sync
log says so (its API counters), one successful sync log, the account active.

* Square × connection reset: three connections reset (TCP RST, no answer) mid-sync;
* Toast × emulator restart: the provider goes away mid-sync (connections refused for 1.5 s) and
  comes back — the sync waits it out instead of failing as "the sandbox is not running";
* Lightspeed × read timeout: two answers come after 2.5 s, the client's timeout is 1 s
  (``POS_HTTP_TIMEOUT_SECONDS``).

One sandbox (a tiny world of all three providers, 4 days) serves the module; each test has its own
app store, warehouse and Dagster home.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the scenarios live with the benchmark they serve
    sys.path.insert(0, str(REPO))

from bench.fault_scenarios import DAYS, SEED, START, ScenarioPlan, Store, exercise  # noqa: E402


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[World, SandboxServer, ScenarioPlan]]:
    world = World(SEED, START, days=DAYS, scale="tiny")
    plan = ScenarioPlan(retry_after=0.2)
    server = SandboxServer(world, faults=plan).start()
    try:
        yield world, server, plan
    finally:
        server.stop()


@pytest.mark.parametrize(("provider", "fault", "evidence"), [
    ("square", "reset", "transport_errors"),
    ("toast", "emulator_restart", "transport_errors"),
    ("lightspeed", "read_timeout", "transport_errors"),
])
def test_a_fault_mid_sync_leaves_exact_figures_and_a_true_story(
        sandbox: tuple[World, SandboxServer, ScenarioPlan], provider: str, fault: str, evidence: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_sync.appstore import dispose_engines

    world, server, plan = sandbox
    (tmp_path / "dagster").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("POS_NOW", world.now.isoformat())
    plan.disarm()
    try:
        row: dict[str, Any] = exercise(Store(provider, world, server, plan, tmp_path), fault)
    finally:
        plan.disarm()
        dispose_engines()
    assert row["verdict"] == "green", (row["why"], row["steps"])
    assert row["rows"] > 0 and row["duplicates"] == 0 and row["cents_off"] == 0 and not row["problems"]
    assert sum(row["injected"].values()) >= 1, "the fault fired"
    [log] = row["sync_logs"]
    assert log["status"] == "success" and log["api_stats"][evidence] >= 1, log
    assert row["account_status"] == "active"
