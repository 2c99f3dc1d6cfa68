"""What the topology tests share: one ``pos-sync topology up`` on three fresh PostgreSQL databases,
two sandbox worlds served from the test process on loopback — the first with a Square, a Toast and a
Lightspeed account, the second with a Square account only (four accounts: two share the square_api
pool) — and readers of the Dagster instance, the warehouse and the ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos_sandbox.faults import FaultPlan
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = ("square", "toast", "lightspeed")
# each world's providers: every provider syncs, and two Square accounts take turns on the square_api pool
# (the pool limit at work; every provider's raw step is checked to run in its own pool). A second
# Toast and Lightspeed account would only add two more run-worker boots and syncs on a two-core machine
WORLDS = ((21, PROVIDERS), (22, ("square",)))
POOLS = {p: f"{p}_api" for p in PROVIDERS}
POOL_LIMIT = 1  # `topology up --pool-limit 1`: two accounts of a provider take turns on its API
STARTUP_SECONDS = 240
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

# the sensors that launch downstream runs after syncs (monitoring_job, demand_forecast_job): stopped in
# this test to keep it within its time (each such run boots the code base; tests/pos_dagster covers them)
SIDE_SENSORS = ("sync_health_sensor", "demand_history_sensor")
SENSOR = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor { id
  sensorState { status ticks(limit: 1) { status } } } } }"""
STOPPED_FOR_SECONDS = 10  # how long the stopped sensors must stay stopped, no evaluation of theirs in flight
STOP_SENSOR = """mutation($id: String!) { stopSensor(id: $id) { __typename } }"""

LAUNCH = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""


@dataclass
class Topology:
    proc: subprocess.Popen[bytes]
    home: Path
    env: dict[str, str]  # what the topology's processes see (the test's monkeypatch applies it)
    urls: dict[str, str]  # dagster, app, warehouse
    worlds: list[World]
    plans: list[FaultPlan]
    servers: list[SandboxServer]
    clocks: list[Any] = field(default_factory=list)  # pos_sandbox.live_clock.LiveClock per world
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)  # account id -> provider, tenant
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def ui(self) -> str:
        return str(self.doc["dagster_url"])

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "topology" / "state.json").read_text()))

    def use(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in self.env.items():
            if key.startswith(("POS_", "DAGSTER_")):
                monkeypatch.setenv(key, value)
        monkeypatch.delenv("POS_NOW", raising=False)

    # ---------------------------------------------------------------- sandbox clock, sales and faults
    def add_sales(self, series: str, worlds: list[World] | None = None) -> int:
        """Two live sales at every location of every world given (default: all; one with its tip raised a second after its
        close: a late edit), closing a few seconds ahead of the clock; returns once the sandboxes show
        them all (the clocks follow the wall clock, like the connector's). Not refunds: a refund stays
        PENDING for up to ten minutes, so the ledger would change after the syncs read it."""
        from pos_sandbox.live_sales import LiveSaleRequest, make_live_sale

        last = datetime.now(UTC)
        made = 0
        for world in worlds or self.worlds:
            for loc in world.locations:
                for edit in (None, 1.0):
                    sale = make_live_sale(world, LiveSaleRequest(location_id=loc.location_id, tip_edit_after_seconds=edit,
                                                                 series=series))
                    last = max(last, sale.closed_at + timedelta(seconds=edit or 0))
                    made += 1
        wait_for("the live sales to close", 30, lambda: all(w.now > last + timedelta(seconds=1) for w in self.worlds))
        return made

    def slow(self, ms: int) -> None:
        for plan in self.plans:
            plan.probabilities, plan.slow_ms = ({"slow": 1.0}, ms) if ms else ({}, 0)
            plan.reset()

    def requests_served(self) -> int:
        return sum(plan.counters()["requests"] for plan in self.plans)

    # ---------------------------------------------------------------- runs
    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.ui}/graphql", json={"query": query, "variables": variables}, timeout=60)
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return dict(body["data"])

    def sensor(self, name: str) -> dict[str, Any]:
        selector = {"repositoryLocationName": "pos_dagster", "repositoryName": "__repository__", "sensorName": name}
        return dict(self.graphql(SENSOR, s=selector)["sensorOrError"])

    def stop_sensors(self, names: tuple[str, ...]) -> None:
        """Stop the sensors and see them stay stopped. The daemon stores a sensor's state back when an
        evaluation ends, with the status it read when the evaluation began: a sensor stopped while the
        daemon evaluates it (its first tick comes as the stack starts) was running again after it, and
        launched its runs throughout the module. So: stopped again until, for a few seconds, each is
        stopped with no tick of its in progress."""
        deadline = time.monotonic() + 120
        quiet_since = None
        while True:
            settled = True
            for name in names:
                sensor = self.sensor(name)
                state = sensor["sensorState"]
                if state["status"] != "STOPPED":
                    settled = False
                    assert self.graphql(STOP_SENSOR, id=sensor["id"])["stopSensor"]["__typename"] == \
                        "StopSensorMutationResult"
                elif state["ticks"] and state["ticks"][0]["status"] == "STARTED":
                    settled = False  # an evaluation in flight: it may store the sensor back as running
            now = time.monotonic()
            quiet_since = (quiet_since or now) if settled else None
            if quiet_since is not None and now - quiet_since >= STOPPED_FOR_SECONDS:
                return
            if now > deadline:
                pytest.fail(f"the sensors {names} did not stay stopped", pytrace=False)
            time.sleep(0.5)

    def launch(self, account_id: str) -> str:
        """Submit ``<provider>_sync`` for the account through the webserver's GraphQL (queued)."""
        provider = self.accounts[account_id]["provider"]
        tags = [{"key": "dagster/partition", "value": account_id}, {"key": "pos/account", "value": account_id},
                {"key": "pos/provider", "value": provider}, {"key": "pos/trigger", "value": "test"}]
        params = {"selector": {"repositoryLocationName": "pos_dagster", "repositoryName": "__repository__",
                               "pipelineName": f"{provider}_sync"}, "executionMetadata": {"tags": tags}}
        answer = httpx.post(f"{self.ui}/graphql", json={"query": LAUNCH, "variables": {"params": params}}, timeout=60)
        answer.raise_for_status()
        result = answer.json()["data"]["launchPipelineExecution"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return str(result["run"]["runId"])


def wait_for(what: str, seconds: float, probe: Callable[[], Any], topology: Topology | None = None,
             detail: Callable[[], Any] | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if topology is not None and topology.proc.poll() is not None:
            pytest.fail(f"{what}: the topology exited ({topology.proc.returncode})", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s{f' ({detail()})' if detail else ''}", pytrace=False)
        time.sleep(0.5)


def create_databases(admin_dsn: str) -> dict[str, str]:
    import psycopg

    tag = uuid.uuid4().hex[:8]
    base = admin_dsn.rsplit("/", 1)[0]
    urls = {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for role in ("dagster", "app", "warehouse"):
            name = f"pos_topo_{tag}_{role}"
            conn.execute(f'create database "{name}"')
            urls[role] = f"{base}/{name}"
    return urls


def drop_databases(admin_dsn: str, urls: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for url in urls.values():
            conn.execute(f'drop database if exists "{url.rsplit("/", 1)[1]}" with (force)')


def make_worlds() -> list[World]:
    """Tiny worlds of two days that ended ten days ago: every refund of them is in the past, so with
    the clock at the wall clock nothing changes but the live sales a test adds. (The clock never
    jumps: the connector reads "what changed until now" by its own clock, the wall clock, as it
    would from a real provider.)"""
    start = datetime.now(UTC).date() - timedelta(days=10)
    return [World(seed, start, days=2, scale="tiny", providers=providers) for seed, providers in WORLDS]


def start_topology(tmp: Path, admin_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Topology:
    """Databases, sandboxes and linked accounts, then ``pos-sync topology up --json``."""
    from support.accounts import link_account

    from pos_sync.warehouse.pipelines import dlt_postgres_url

    urls = create_databases(admin_dsn)
    home = tmp / "pos-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POS_", "DAGSTER_"))}
    env |= {"POS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "DAGSTER_PG_URL": urls["dagster"].replace("postgresql://", "postgresql+psycopg2://", 1),
            "POS_DATABASE_URL": urls["app"], "POS_WAREHOUSE_URL": dlt_postgres_url(urls["warehouse"]),
            "DLT_DATA_DIR": str(tmp / "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false", "NORMALIZE__WORKERS": "1",
            "MAX_SYNC_RETRIES": "0", "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])}
    worlds = make_worlds()
    plans = [FaultPlan() for _ in worlds]
    topology = Topology(proc=None, home=home, env=env, urls=urls, worlds=worlds, plans=plans,  # type: ignore[arg-type]
                        servers=[])
    topology.use(monkeypatch)
    from pos_sandbox.live_clock import LiveClock

    for world, plan in zip(worlds, plans, strict=True):
        topology.clocks.append(LiveClock(world, sale_every=0, tick=0.25).start())  # the wall clock, as the connector's
        server = SandboxServer(world, faults=plan).start()
        topology.servers.append(server)
        for provider in world.providers:
            # Toast reads history in day windows at 5 requests/s: the twelve days that hold the world
            options = {"historical_import_days": 12} if provider == "toast" else {}
            account_id = link_account(server, world.tenant_id, provider, **options)
            topology.accounts[account_id] = {"provider": provider, "tenant": world.tenant_id}
    from pos_sync.appstore import dispose_engines

    dispose_engines()
    ports = [str(p) for p in _free_ports(3)]
    out, err = tmp / "topology.json", tmp / "topology.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        topology.proc = subprocess.Popen(
            [sys.executable, "-m", "pos_sync.cli", "topology", "up", "--json", "--pool-limit", str(POOL_LIMIT),
             "--grpc-port", ports[0], "--webserver-port", ports[1], "--api-port", ports[2]],
            cwd=REPO, env=env, stdout=stdout, stderr=stderr)

    def document() -> dict[str, Any] | None:
        text = out.read_text()
        if topology.proc.poll() is not None:
            pytest.fail(f"topology up exited ({topology.proc.returncode}): {err.read_text()[-3000:]}", pytrace=False)
        try:
            return dict(json.loads(text)) if text.strip().endswith("}") else None
        except ValueError:
            return None

    topology.doc = wait_for("topology up", STARTUP_SECONDS, document)
    topology.stop_sensors(SIDE_SENSORS)
    return topology


def stop_topology(topology: Topology, admin_dsn: str) -> None:
    try:
        if topology.proc is not None and topology.proc.poll() is None:
            topology.proc.send_signal(signal.SIGTERM)
            try:
                topology.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                topology.proc.kill()
    finally:
        for clock in topology.clocks:
            clock.stop()
        for server in topology.servers:
            server.stop()
        from pos_sync.appstore import dispose_engines

        dispose_engines()
        drop_databases(admin_dsn, topology.urls)


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for sock in socks:
        sock.close()
    return ports


# -------------------------------------------------------------------- checks
def reconciliation_problems(topology: Topology) -> list[str]:
    """Every world's canonical daily figures against its ledger at the world's clock (to the cent)."""
    from pos_sync.canonical.reconcile import canonical_daily, compare_daily
    from pos_sync.warehouse.sql import Warehouse

    problems = []
    wh = Warehouse()
    try:
        for world in topology.worlds:
            truth = compute_truth(world)["daily"]
            problems += compare_daily(truth, canonical_daily(wh, world.tenant_id))
    finally:
        wh.close()
    return problems


def duplicate_transactions(topology: Topology) -> list[tuple[Any, ...]]:
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    try:
        rows = wh.query("select pos_provider, pos_account_id, pos_transaction_id, transaction_type, count(*) as n "
                        "from pos.pos_transactions group by 1, 2, 3, 4 having count(*) > 1")
    finally:
        wh.close()
    return [tuple(r.values()) for r in rows]


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def today() -> date:
    return datetime.now(UTC).date()
