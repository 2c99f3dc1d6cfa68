"""Helpers and fixtures of the Toast source tests: a real Toast sandbox on loopback, pipelines in
tmp_path, counts read back from the destination and expected counts from the world."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import httpx
import pytest

from dlt_sources.common import RetryPolicy, TokenSet
from dlt_sources.toast import destination_known_versions, toast_source, toast_tokens
from pos_sandbox.faults import FaultPlan
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 39  # tiny, 4 days: deleted checks, voided selections, voids, refunds and tip edits, late ones too
START = date(2026, 3, 2)
FAST_RETRIES = RetryPolicy(base_delay=0.01, max_delay=0.05, max_total_sleep=20.0, timeout=20.0)
ORDER_TABLES = ("orders", "orders__checks", "orders__checks__selections", "orders__checks__payments")


@dataclass
class ToastEnv:
    world: World
    server: SandboxServer
    tmp_path: Path
    current: TokenSet | None = None  # the caller's token store: the last token handed to on_refresh
    saved: list[TokenSet] = field(default_factory=list)

    @property
    def account(self) -> dict[str, Any]:
        return dict(self.server.manifest()["accounts"][0])

    @property
    def restaurants(self) -> list[str]:
        return list(self.account["location_ids"])

    def pipeline(self, name: str = "toast_test", destination: Any = None) -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=name,
            destination=destination or dlt.destinations.duckdb(str(self.tmp_path / "w.duckdb")),
            dataset_name="raw_toast",
            pipelines_dir=str(self.tmp_path / "pipelines"),
        )

    def persist(self, tokens: TokenSet) -> None:
        """``on_refresh``: every new machine-client token replaces the stored one."""
        self.saved.append(tokens)
        self.current = tokens

    def token_provider(self, client_secret: str | None = None) -> Any:
        acct = self.account
        return toast_tokens(acct["client_id"], client_secret or acct["client_secret"], acct["base_url"],
                            current=self.current, on_refresh=self.persist, policy=FAST_RETRIES)

    def source(self, pipeline: dlt.Pipeline, **kw: Any) -> Any:
        acct = self.account
        provider = kw.pop("token_provider", None) or self.token_provider()
        options: dict[str, Any] = {
            "base_url": acct["base_url"],
            "account_id": acct["account_id"],
            "initial_start": self.world.window_start_utc - timedelta(days=1),
            "now": self.world.now,
            "known_versions": destination_known_versions(pipeline, account_id=acct["account_id"]),
            "retry_policy": FAST_RETRIES,
        } | kw
        return toast_source(provider, self.restaurants, **options)

    def run(self, pipeline: dlt.Pipeline, loader_file_format: str | None = "parquet", **kw: Any) -> Any:
        info = pipeline.run(self.source(pipeline, **kw), loader_file_format=loader_file_format)  # type: ignore[arg-type]
        info.raise_on_failed_jobs()
        return info

    def stats(self) -> dict[str, int]:
        return dict(httpx.get(self.account["base_url"] + "/_sandbox/toast/stats").json())

    def truth(self, as_of: datetime | None = None) -> dict[str, Any]:
        return compute_truth(self.world, as_of)


@pytest.fixture()
def toast_env(tmp_path: Path) -> Iterator[Callable[..., ToastEnv]]:
    servers: list[SandboxServer] = []

    def make(seed: int = SEED, days: int = 4, start: date = START, faults: FaultPlan | None = None,
             **options: Any) -> ToastEnv:
        world = World(seed, start, days=days, scale="tiny", providers=["toast"])
        server = SandboxServer(world, faults=faults, **options).start()
        servers.append(server)
        return ToastEnv(world, server, tmp_path)

    yield make
    for server in servers:
        server.stop()


# ---------------------------------------------------------------------- destination checks
def query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql) or []]


def loaded_objects(pipeline: dlt.Pipeline) -> dict[str, dict[str, int]]:
    """Per restaurant: the counts the ledger's Toast ``objects`` rows carry, read from the destination."""
    out: dict[str, dict[str, int]] = {}

    def put(sql: str, key: str) -> None:
        for restaurant, n in query(pipeline, sql):
            out.setdefault(restaurant, {})[key] = int(n)

    join_c = "from orders o join orders__checks c on c._dlt_parent_id = o._dlt_id"
    put("select _pos_restaurant_guid, count(*) from orders group by 1", "orders")
    put(f"select o._pos_restaurant_guid, count(*) {join_c} group by 1", "checks")
    put(f"select o._pos_restaurant_guid, count(*) {join_c} where c.deleted group by 1", "deleted_checks")
    put(f"select o._pos_restaurant_guid, count(*) {join_c} join orders__checks__payments p "
        "on p._dlt_parent_id = c._dlt_id group by 1", "payments")
    put(f"select o._pos_restaurant_guid, count(*) {join_c} join orders__checks__payments p "
        "on p._dlt_parent_id = c._dlt_id where p.refund_status <> 'NONE' group by 1", "refunded_payments")
    put(f"select o._pos_restaurant_guid, count(*) {join_c} join orders__checks__selections s "
        "on s._dlt_parent_id = c._dlt_id group by 1", "selections")
    put(f"select o._pos_restaurant_guid, count(*) {join_c} join orders__checks__selections s "
        "on s._dlt_parent_id = c._dlt_id where s.voided and not c.voided group by 1", "voided_selections")
    put("select _pos_restaurant_guid, count(*) from orders where voided group by 1", "voided_orders")
    return out


def expected_objects(truth: dict[str, Any]) -> dict[str, dict[str, int]]:
    keys = ("orders", "checks", "deleted_checks", "payments", "refunded_payments", "selections",
            "voided_selections", "voided_orders")
    return {row["location_id"]: {k: row[k] for k in keys if row[k]}
            for row in truth["objects"] if row["location_id"] is not None and row["provider"] == "toast"}


def assert_matches_truth(pipeline: dlt.Pipeline, truth: dict[str, Any]) -> None:
    assert loaded_objects(pipeline) == expected_objects(truth)
    rows = query(pipeline, "select count(*), count(distinct guid) from orders")
    assert rows[0][0] == rows[0][1], "duplicate orders"


def data_row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {t: n for t, n in counts.items() if not t.startswith("_dlt") and n}


def changed_orders(world: World, since: datetime, until: datetime) -> int:
    """Orders created or modified in (since, until], from the world's own events (not the API)."""
    n = 0
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            events = {sale.closed_at}
            if sale.tip_edit is not None:
                events.add(sale.tip_edit.at)
            if sale.refund is not None:
                events.add(sale.refund.completed_at)
            if sale.deleted_at is not None:
                events.add(sale.deleted_at)
            n += sale.closed_at <= until and any(since < e <= until for e in events)
    return n


def rows_in_load(pipeline: dlt.Pipeline, table: str, load_id: str) -> int:
    return int(query(pipeline, f"select count(*) from {table} where _dlt_load_id = '{load_id}'")[0][0])


def with_password(url: str) -> str:
    """dlt's PostgresCredentials require a password; a trust-auth test server ignores it."""
    scheme, rest = url.split("://", 1)
    userinfo, _, hostpart = rest.rpartition("@")
    if not userinfo or ":" in userinfo:
        return url
    return f"{scheme}://{userinfo}:unused@{hostpart}"
