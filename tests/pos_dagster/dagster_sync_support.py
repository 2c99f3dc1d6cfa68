"""Helpers of the Dagster tests: a real sandbox on loopback, an account linked through the
emulator's OAuth, the ``square_sync`` job run through Dagster's own APIs, warehouse checks.

Tiny worlds (2 Square locations, ~20 sales per location-day, 3 days) keep every sync around a
second or two. The connector's clock (``POS_NOW``) follows the sandbox clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from support import ledger
from support.accounts import link_account, manifest_account
from support.destination import raw_query
from support.postgres import use_postgres
from support.sandboxes import Sandboxes, dagster_home, sandboxes
from support.worlds import START, sandbox_world, set_clock

from pos_sandbox.faults import FaultPlan
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 10  # tiny, 3 days: refunds, voids and tip edits inside and after the window
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TRANSACTION_TABLES = ("payments", "refunds", "orders")
DATA_TABLES = ("locations", "payments", "refunds", "orders", "catalog", "team_members", "customers")


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
        return manifest_account(self.server, "square")

    def set_now(self, when: datetime) -> None:
        """Move the sandbox clock and the connector's clock (POS_NOW) together."""
        set_clock(self.world, self.monkeypatch, when)

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
        attempts = 1 + sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events)
        assert len(logs) == attempts, f"one sync log per attempt ({attempts}), got {logs}"
        outcome = SyncOutcome(result, logs[0], rows, materialized)  # the newest: the last attempt
        self.outcomes.append(outcome)
        return outcome

    def account(self) -> Any:
        from pos_sync import appstore

        return appstore.get_account(self.account_id)

    # ------------------------------------------------------------------ warehouse
    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return warehouse_query(sql)

    def loaded_objects(self) -> dict[str, dict[str, int]]:
        """Per location: the counts the ledger's ``objects`` rows carry, read from the warehouse."""
        return ledger.counts_per_location(self.query, OBJECT_SQL)

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
    return raw_query("square", sql)


# the ledger's ``objects`` keys of a Square location and the SQL that counts each in the warehouse
OBJECT_SQL = {
    "payments": "select location_id, count(*) from payments group by 1",
    "refunds": "select location_id, count(*) from refunds group by 1",
    "refunds_completed": "select location_id, count(*) from refunds where status = 'COMPLETED' group by 1",
    "orders": "select location_id, count(*) from orders group by 1",
    "return_orders": "select o.location_id, count(distinct o.id) from orders o join orders__returns r "
                     "on r._dlt_parent_id = o._dlt_id group by 1",
    "voided_orders": "select location_id, count(*) from orders where state = 'CANCELED' group by 1",
    "line_items": "select o.location_id, count(*) from orders__line_items li join orders o "
                  "on li._dlt_parent_id = o._dlt_id group by 1",
}


def expected_objects(truth: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per Square location: the counts of the ledger's ``objects`` rows."""
    return ledger.expected_objects(truth, "square", OBJECT_SQL)


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


def make_world(seed: int = SEED, days: int = 3, start: date = START) -> World:
    return sandbox_world(seed, "square", days=days, start=start)


@dataclass
class EnvFactory:
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest
    started: Sandboxes = field(default_factory=Sandboxes)

    def use_postgres(self) -> str:
        """Warehouse and app store on the session's PostgreSQL test database."""
        return use_postgres(self.monkeypatch, str(self.request.getfixturevalue("pg_url")))

    def __call__(self, warehouse: str = "duckdb", *, world: World | None = None, faults: FaultPlan | None = None,
                 now: datetime | None = None, instance: dg.DagsterInstance | None = None) -> SyncEnv:
        if warehouse == "postgres":
            self.use_postgres()
        world = world or make_world()
        set_clock(world, self.monkeypatch, now)
        server = self.started.serve(world, faults)
        account_id = link_account(server, world.tenant_id, "square")  # OAuth code flow
        if instance is None:
            instance = self.started.dagster_instance()
        return SyncEnv(world, server, account_id, instance, self.monkeypatch, warehouse, self.tmp_path)


def env_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                request: pytest.FixtureRequest) -> Iterator[EnvFactory]:
    monkeypatch.delenv("POS_NOW", raising=False)
    dagster_home(monkeypatch, tmp_path)
    with sandboxes(app_store=True) as started:
        yield EnvFactory(tmp_path, monkeypatch, request, started)
