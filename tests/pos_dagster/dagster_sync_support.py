"""Helpers of the Dagster tests: a real sandbox on loopback, an account linked through the
emulator's OAuth, the ``square_sync`` job run through Dagster's own APIs, warehouse checks.

Tiny worlds (2 Square locations, ~20 sales per location-day, 3 days) keep every sync around a
second or two. The connector's clock (``POS_NOW``) follows the sandbox clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pos_sandbox.faults import FaultPlan
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 10  # tiny, 3 days: refunds, voids and tip edits inside and after the window
START = date(2026, 3, 2)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TRANSACTION_TABLES = ("payments", "refunds", "orders")
DATA_TABLES = ("locations", "payments", "refunds", "orders", "catalog", "team_members")
OBJECT_KEYS = ("payments", "refunds", "refunds_completed", "orders", "return_orders", "voided_orders", "line_items")


@dataclass
class SyncOutcome:
    result: dg.ExecuteInProcessResult
    log: Any  # pos_sync.appstore.SyncLogInfo of this run
    rows_loaded: dict[str, int]  # raw/square/<table> materializations of this run -> rows_loaded
    materialized: set[str]  # every asset key ("raw/square/payments", "pos/square/pos_transactions", …)

    @property
    def success(self) -> bool:
        return bool(self.result.success)


@dataclass
class SyncEnv:
    """One sandbox + one linked Square account + one Dagster instance."""

    world: World
    server: SandboxServer
    account_id: str
    instance: dg.DagsterInstance
    monkeypatch: pytest.MonkeyPatch
    warehouse: str
    tmp_path: Path
    outcomes: list[SyncOutcome] = field(default_factory=list)

    # ------------------------------------------------------------------ sandbox
    @property
    def credentials(self) -> dict[str, Any]:
        return next(a for a in self.server.manifest()["accounts"] if a["provider"] == "square")

    def set_now(self, when: datetime) -> None:
        """Move the sandbox clock and the connector's clock (POS_NOW) together."""
        self.world.set_now(when)
        self.monkeypatch.setenv("POS_NOW", when.isoformat())

    def truth(self) -> dict[str, Any]:
        return compute_truth(self.world)

    # ------------------------------------------------------------------ Dagster
    def sync(self, *, tags: dict[str, str] | None = None) -> SyncOutcome:
        """Materialize the account partition with ``square_sync`` (never raises for a failed run)."""
        from pos_dagster.definitions import defs
        from pos_sync import appstore

        if not self.instance.has_dynamic_partition("square_accounts", self.account_id):
            self.instance.add_dynamic_partitions("square_accounts", [self.account_id])
        job = defs.resolve_job_def("square_sync")
        result = job.execute_in_process(partition_key=self.account_id, instance=self.instance,
                                        raise_on_error=False, run_config=QUIET, tags=tags)
        rows: dict[str, int] = {}
        materialized: set[str] = set()
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization  # type: ignore[union-attr]
            assert mat.partition == self.account_id
            key = "/".join(mat.asset_key.path)
            materialized.add(key)
            if key.startswith("raw/"):
                value = mat.metadata.get("rows_loaded")
                rows[key] = int(getattr(value, "value", value) or 0)
        logs = [log for log in appstore.sync_history(self.account_id, limit=50) if log.dagster_run_id == result.run_id]
        assert len(logs) == 1, f"one sync log per run, got {logs}"
        outcome = SyncOutcome(result, logs[0], rows, materialized)
        self.outcomes.append(outcome)
        return outcome

    def account(self) -> Any:
        from pos_sync import appstore

        return appstore.get_account(self.account_id)

    # ------------------------------------------------------------------ warehouse
    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return warehouse_query(sql)

    def loaded_objects(self) -> dict[str, dict[str, int]]:
        return loaded_objects(self.query)

    def assert_matches_ledger(self) -> None:
        assert self.loaded_objects() == expected_objects(self.truth())
        for table in DATA_TABLES:
            for total, distinct in self.query(f"select count(*), count(distinct id) from {table}"):
                assert total == distinct, f"duplicate ids in {table}"
        assert self.query(f"select count(*) from payments where _pos_account_id <> '{self.account_id}'") == [(0,)]

    def versions(self, table: str) -> dict[str, str]:
        """{id: updated_at (payments, refunds) | version (orders)} as stored."""
        column = "version" if table == "orders" else "updated_at"
        return {str(i): str(v) for i, v in self.query(f"select id, {column} from {table}")}

    def ids_in_load(self, table: str, load_ids: set[str]) -> set[str]:
        if not load_ids:
            return set()
        quoted = ", ".join(f"'{x}'" for x in sorted(load_ids))
        return {str(r[0]) for r in self.query(f"select id from {table} where _dlt_load_id in ({quoted})")}

    def data_load_ids(self) -> set[str]:
        """Every _dlt_load_id found in the data tables (a load that wrote rows)."""
        out: set[str] = set()
        for table in DATA_TABLES:
            out |= {str(r[0]) for r in self.query(f"select distinct _dlt_load_id from {table}")}
        return out


def warehouse_query(sql: str) -> list[tuple[Any, ...]]:
    """Run SQL on the raw_square dataset of the configured warehouse (DuckDB or PostgreSQL);
    a query on a table that does not exist yet (nothing of that kind was ever loaded) gives []."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    from pos_sync.warehouse.pipelines import account_pipeline

    pipeline = account_pipeline("square", "tests-inspect", mode="inspect")
    try:
        with pipeline.sql_client() as client:
            return [tuple(r) for r in client.execute_sql(sql) or []]
    except DatabaseUndefinedRelation:
        return []


def loaded_objects(query: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, dict[str, int]]:
    """Per location: the counts the ledger's ``objects`` rows carry, read from the warehouse."""
    out: dict[str, dict[str, int]] = {}

    def put(sql: str, key: str) -> None:
        for loc, n in query(sql):
            if n:
                out.setdefault(str(loc), {})[key] = int(n)

    put("select location_id, count(*) from payments group by 1", "payments")
    put("select location_id, count(*) from refunds group by 1", "refunds")
    put("select location_id, count(*) from refunds where status = 'COMPLETED' group by 1", "refunds_completed")
    put("select location_id, count(*) from orders group by 1", "orders")
    put("select o.location_id, count(distinct o.id) from orders o join orders__returns r "
        "on r._dlt_parent_id = o._dlt_id group by 1", "return_orders")
    put("select location_id, count(*) from orders where state = 'CANCELED' group by 1", "voided_orders")
    put("select o.location_id, count(*) from orders__line_items li join orders o "
        "on li._dlt_parent_id = o._dlt_id group by 1", "line_items")
    return out


def expected_objects(truth: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        row["location_id"]: {k: row[k] for k in OBJECT_KEYS if row[k]}
        for row in truth["objects"]
        if row["location_id"] is not None and row["provider"] == "square"
    }


def changed_ids(world: World, since: datetime, until: datetime) -> dict[str, set[str]]:
    """Ids of the payments, refunds and orders created or changed in (since, until], from the
    world's own events (sale close, tip edit, refund created / completed, return order)."""
    out: dict[str, set[str]] = {t: set() for t in TRANSACTION_TABLES}

    def changed(events: set[datetime], visible: datetime) -> bool:
        return visible <= until and any(since < e <= until for e in events)

    for loc in world.locations:
        if loc.provider != "square":
            continue
        for sale in world.iter_sales(loc.location_id):
            refund, edit = sale.refund, sale.tip_edit
            for tender in sale.tenders:
                events = {sale.closed_at}
                if edit is not None and edit.tender_id == tender.id:
                    events.add(edit.at)
                if refund is not None and refund.tender_id == tender.id:
                    events |= {refund.created_at, refund.completed_at}
                if changed(events, sale.closed_at):
                    out["payments"].add(tender.id)
            order_events = {sale.closed_at} | ({edit.at} if edit is not None else set())
            if changed(order_events, sale.closed_at):
                out["orders"].add(sale.id)
            if refund is not None:
                refund_events = {refund.created_at, refund.completed_at}
                if changed(refund_events, refund.created_at):
                    out["refunds"].add(refund.id)
                    out["orders"].add(refund.return_order_id)
    return out


def with_password(url: str) -> str:
    """dlt's PostgresCredentials require a password; the trust-auth test server ignores it."""
    scheme, rest = url.split("://", 1)
    userinfo, _, hostpart = rest.rpartition("@")
    if not userinfo or ":" in userinfo:
        return url
    return f"{scheme}://{userinfo}:unused@{hostpart}"


def make_world(seed: int = SEED, days: int = 3, start: date = START) -> World:
    return World(seed, start, days=days, scale="tiny", providers=["square"])


def mid_window(world: World) -> datetime:
    return world.window_start_utc + (world.window_end_utc - world.window_start_utc) / 2


@dataclass
class EnvFactory:
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest
    servers: list[SandboxServer] = field(default_factory=list)
    instances: list[dg.DagsterInstance] = field(default_factory=list)

    def use_postgres(self) -> str:
        """Warehouse and app store on the session's PostgreSQL test database."""
        url = str(self.request.getfixturevalue("pg_url"))
        self.monkeypatch.setenv("POS_WAREHOUSE_URL", with_password(url))
        self.monkeypatch.setenv("POS_DATABASE_URL", url)
        return url

    def __call__(self, warehouse: str = "duckdb", *, world: World | None = None, faults: FaultPlan | None = None,
                 now: datetime | None = None, instance: dg.DagsterInstance | None = None) -> SyncEnv:
        from pos_sync.cli.demo import link_square_account

        if warehouse == "postgres":
            self.use_postgres()
        world = world or make_world()
        if now is not None:
            world.set_now(now)
        self.monkeypatch.setenv("POS_NOW", world.now.isoformat())
        server = SandboxServer(world, faults=faults).start()
        self.servers.append(server)
        cred = next(a for a in server.manifest()["accounts"] if a["provider"] == "square")
        account_id = link_square_account(cred["base_url"], world.tenant_id, cred)  # OAuth code flow
        if instance is None:
            instance = dg.DagsterInstance.ephemeral()
            self.instances.append(instance)
        return SyncEnv(world, server, account_id, instance, self.monkeypatch, warehouse, self.tmp_path)

    def close(self) -> None:
        from pos_sync.appstore import dispose_engines

        for server in self.servers:
            server.stop()
        for instance in self.instances:
            instance.dispose()
        dispose_engines()


def env_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[EnvFactory]:
    monkeypatch.delenv("POS_NOW", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    os.makedirs(tmp_path / "dagster-home", exist_ok=True)
    factory = EnvFactory(tmp_path, monkeypatch, request)
    try:
        yield factory
    finally:
        factory.close()
