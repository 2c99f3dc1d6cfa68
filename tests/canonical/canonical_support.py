"""Helpers of the canonical-model tests: a sandbox on loopback, a Square account linked through
the emulator's OAuth (so it is in the app store), raw loads through the real Square source into
the warehouse of the settings (DuckDB under ``POS_HOME`` or ``POS_WAREHOUSE_URL``), the
canonical build, and normalised snapshots of the canonical tables.

Tiny worlds (2 Square locations, ~20 sales per location-day, 3–4 days): a raw load is about a
second, a build well under one.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.accounts import link_account
from support.destination import open_warehouse, warehouse_query
from support.sandboxes import Sandboxes, sandboxes
from support.worlds import START, sandbox_world, set_clock

from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World
from transforms import build as transforms_build

NORMAL = (8, START, 3)  # seed, start, days: a void, a same-day and a next-day refund, tip edits
DST = (15, date(2026, 3, 27), 4)  # window crosses the European DST change (29 March 2026)

# every canonical table and its key; bookkeeping columns that legitimately differ between two
# builds of the same data (load ids, wall-clock stamps) are left out where asked
TABLES: dict[str, tuple[str, ...]] = {
    "pos_transactions": ("id",),
    "pos_transaction_items": ("id",),
    "pos_tenders": ("id",),
    "pos_products": ("id",),  # a row per version of a POS product
    "daily_product_sales": ("tenant_id", "pos_provider", "location_id", "business_date", "pos_item_id"),
    "pos_locations": ("tenant_id", "pos_provider", "location_id"),
}
BOOKKEEPING = frozenset({"source_load_id", "updated_at", "processed_at"})
WALL_CLOCK = frozenset({"updated_at"})  # pos_locations.updated_at: when the build last wrote it

Snapshot = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def norm(value: Any) -> Any:
    """One comparable form per value, whatever the warehouse returned: exact decimals as text
    (scale included), timestamps in UTC, JSON parsed and re-dumped with sorted keys."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"naive timestamp {value!r}"
        return value.astimezone(UTC)
    if isinstance(value, float):
        raise AssertionError(f"a float in a canonical table: {value!r}")
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return value


def norm_json(value: Any) -> Any:
    return None if value is None else json.dumps(json.loads(value) if isinstance(value, str) else value,
                                                 sort_keys=True)


def snapshot(exclude: frozenset[str] = WALL_CLOCK, tenant_id: str | None = None, *,
             json_as_stored: bool = False) -> Snapshot:
    """Every row of every canonical table, keyed, normalised (see :func:`norm`; ``json_as_stored``:
    JSON columns as the text stored, byte for byte, not parsed)."""
    out: Snapshot = {}
    with open_warehouse() as wh:
        for table, key in TABLES.items():
            rows = wh.query(f"select * from pos.{table}")
            got: dict[tuple[Any, ...], dict[str, Any]] = {}
            for row in rows:
                if tenant_id is not None and row["tenant_id"] != tenant_id:
                    continue
                clean = {c: (norm_json(v) if c == "modifiers" and not json_as_stored else norm(v))
                         for c, v in row.items() if c not in exclude}
                k = tuple(clean[c] for c in key)
                assert k not in got, f"duplicate key {k} in {table}"
                got[k] = clean
            out[table] = got
    return out


def changed_rows(before: dict[tuple[Any, ...], dict[str, Any]],
                 after: dict[tuple[Any, ...], dict[str, Any]]) -> tuple[set[Any], set[Any], set[Any]]:
    """(new keys, removed keys, keys whose row differs)."""
    new = set(after) - set(before)
    removed = set(before) - set(after)
    differ = {k for k in set(before) & set(after) if before[k] != after[k]}
    return new, removed, differ


@dataclass
class CanonicalEnv:
    """One sandbox world + one linked Square account; raw loads and builds on demand."""

    world: World
    server: SandboxServer
    account_id: str
    monkeypatch: pytest.MonkeyPatch
    tmp_path: Path
    load_infos: list[Any] = field(default_factory=list)

    @property
    def tenant_id(self) -> str:
        return self.world.tenant_id

    def set_now(self, when: datetime) -> None:
        """Move the sandbox clock and the connector's clock (POS_NOW) together."""
        set_clock(self.world, self.monkeypatch, when)

    def truth(self) -> dict[str, Any]:
        return compute_truth(self.world)

    def ingest(self) -> Any:
        """One incremental raw load through the real Square source, exactly as the Dagster raw
        asset builds it (app-store credentials, the account's pipeline, the warehouse's format)."""
        from pos_sync.appstore import AppStore
        from pos_sync.ingest.sync import AccountSync
        from pos_sync.providers import registry
        from pos_sync.settings import load_settings

        settings = load_settings()
        run = AccountSync(AppStore(settings), settings, registry.get("square"), self.account_id)
        pipeline = run.pipeline()
        info = pipeline.run(run.source(pipeline, settings.utcnow()), **run.run_kwargs())
        info.raise_on_failed_jobs()
        self.load_infos.append(info)
        return info

    def forget_local_pipeline_state(self) -> None:
        """Drop the local dlt working dirs: the next run restores its state from the destination
        (used to load the same world into a second warehouse)."""
        from pos_sync.settings import load_settings

        shutil.rmtree(load_settings().pos_home / "dlt" / "pipelines", ignore_errors=True)

    def build(self) -> Any:
        from pos_sync.canonical.build import build_account

        return build_account(self.account_id, "square", self.tenant_id)

    def sync(self, instance: Any) -> dict[str, Any]:
        """``pos-sync sync`` for this account: the Dagster job (raw + canonical) in-process."""
        from pos_dagster.adapter import sync_account

        return sync_account(self.account_id, instance=instance)

    def reconcile(self) -> list[str]:
        """Problems (empty = reconciled to the cent) between the canonical daily figures and the
        sandbox ledger as of the clock."""
        from pos_sync.canonical.reconcile import canonical_daily, compare_daily

        truth = [r for r in self.truth()["daily"] if r["provider"] == "square"]
        assert truth, "an empty ledger reconciles with anything"
        with open_warehouse() as wh:
            actual = canonical_daily(wh, self.tenant_id)
        return compare_daily(truth, actual)

    def checks(self) -> dict[str, int]:
        from pos_sync.canonical.checks_sql import CHECKS

        with open_warehouse() as wh:
            return {name: fn(wh) for name, fn in CHECKS.items()}

    def raw_load_ids(self) -> list[str]:
        return [r["load_id"] for r in warehouse_query(
            "select load_id from raw_square._dlt_loads where status = 0 order by load_id")]


def make_world(spec: tuple[int, date, int] = NORMAL) -> World:
    seed, start, days = spec
    return sandbox_world(seed, "square", days=days, start=start)


def second_load_pending(make_env: Callable[..., CanonicalEnv]) -> tuple[CanonicalEnv, Snapshot]:
    """An env whose first load is built and whose second is loaded, not built yet; the canonical
    tables as the first build left them (every column) — for the tests of a build that fails."""
    world = make_world()
    env = make_env(world=world, now=world.window_start_utc + timedelta(days=1, hours=12))
    env.ingest()
    env.build()
    before = snapshot(exclude=frozenset())
    env.set_now(world.window_end_utc)
    env.ingest()
    return env, before


def assert_rolled_back_then_built(env: CanonicalEnv, before: Snapshot) -> Any:
    """After a failed build: the tables are as they were (rows written before the failure rolled
    back), and the next build processes the still unprocessed load and reconciles. Its result."""
    assert snapshot(exclude=frozenset()) == before
    retry = env.build()
    assert retry.loads == 1 and retry.transactions > 0
    assert env.reconcile() == []
    return retry


@dataclass
class EnvFactory:
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    started: Sandboxes

    def __call__(self, world: World | None = None, now: datetime | None = None) -> CanonicalEnv:
        world = world or make_world()
        set_clock(world, self.monkeypatch, now)
        server = self.started.serve(world)
        account_id = link_account(server, world.tenant_id, "square")  # OAuth → app store
        return CanonicalEnv(world, server, account_id, self.monkeypatch, self.tmp_path)


def env_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CanonicalEnv]]:
    monkeypatch.delenv("POS_NOW", raising=False)
    monkeypatch.delenv("POS_STORE_CUSTOMER_PII", raising=False)
    monkeypatch.setenv("POS_PII_KEY", "canonical-test-key")
    with sandboxes(app_store=True) as started:
        yield EnvFactory(tmp_path, monkeypatch, started)


# ---------------------------------------------------------------- two builds of the same raw rows
CANONICAL = (*TABLES, "transform_loads")


def wipe_canonical() -> None:
    """Every canonical table emptied (the raw tables kept: the next build is a first build)."""
    with open_warehouse() as wh:
        for table in CANONICAL:
            wh.execute(f"delete from pos.{table}")
        wh.commit()


def keep_canonical(restore: bool = False) -> None:
    """A copy of the canonical tables (``restore``: put it back), to build the same state twice."""
    with open_warehouse() as wh:
        for table in CANONICAL:
            if restore:
                wh.execute(f"delete from pos.{table}")
                wh.execute(f"insert into pos.{table} select * from pos.kept_{table}")
            else:
                wh.execute(f"create or replace table pos.kept_{table} as select * from pos.{table}")
        wh.commit()


def build_snapshot() -> Snapshot:
    """Every canonical row but the columns set from the build's wall clock."""
    return snapshot(exclude=frozenset({"updated_at", "processed_at", "last_seen_at", "valid_to"}), json_as_stored=True)


def differences(got: Snapshot, expected: Snapshot) -> list[str]:
    """What differs between two snapshots: per table, keys on one side only and columns that differ
    (a few of each)."""
    out = []
    for table in expected:
        a, b = got.get(table, {}), expected[table]
        out += [f"{table}: only in the first {k}" for k in list(set(a) - set(b))[:3]]
        out += [f"{table}: only in the second {k}" for k in list(set(b) - set(a))[:3]]
        out += [f"{table} {k}: " + ", ".join(f"{c} {a[k].get(c)!r} != {b[k].get(c)!r}" for c in b[k]
                                            if a[k].get(c) != b[k].get(c))
                for k in [k for k in set(a) & set(b) if a[k] != b[k]][:3]]
    return out


class SetBasedProbe:
    """The set-based builds switched on (from one changed object) or off, and the calls of a
    provider builder's ``sales_sql`` counted (so a test knows which way a build went)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, builder_module: str) -> None:
        self.monkeypatch = monkeypatch
        self.calls: list[int] = []
        module = importlib.import_module(builder_module)  # the module, not the build function it defines
        sales_sql = module.sales_sql
        monkeypatch.setattr(module, "sales_sql", lambda *a, **k: self.calls.append(1) or sales_sql(*a, **k))

    def switch(self, on: bool) -> None:
        self.monkeypatch.setattr(transforms_build, "SET_BASED_MIN", 0 if on else 10**9)
        self.calls.clear()


def first_build_both_ways(probe: SetBasedProbe, build: Callable[[], Any], reset: Callable[[], None]) -> Snapshot:
    """The first build with the set-based SQL on the canonical tables as they are (empty, or as the
    caller's ``reset`` left them), then after ``reset`` with the normaliser: every canonical row and
    every count the same. The set-based build's rows."""
    probe.switch(True)
    sql = build()
    assert probe.calls, "the set-based build ran"
    by_sql = build_snapshot()
    reset()
    probe.switch(False)
    python = build()
    assert not probe.calls
    assert differences(build_snapshot(), by_sql) == []
    assert (sql.transactions, sql.items, sql.tenders, sql.days_recomputed, sql.daily_rows) == (
        python.transactions, python.items, python.tenders, python.days_recomputed, python.daily_rows)
    return by_sql


def incremental_build_both_ways(probe: SetBasedProbe, build: Callable[[], Any]) -> Snapshot:
    """The build of a new raw load from the same state both ways (the canonical tables kept, then
    restored): every canonical row the same. The set-based build's rows."""
    keep_canonical()
    probe.switch(True)
    incremental = build()
    assert probe.calls and incremental.loads == 1 and incremental.transactions
    by_sql = build_snapshot()
    keep_canonical(restore=True)
    probe.switch(False)
    build()
    assert differences(build_snapshot(), by_sql) == []
    return by_sql
