"""Helpers and fixtures of the dlt source tests: a real sandbox on loopback, pipelines in tmp_path, an HTTP log."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
from support import http_log as requests_log
from support.accounts import manifest_account
from support.destination import query, reader
from support.ledger import counts_per_location, expected_objects
from support.sandboxes import sandboxes
from support.sources import account_state, local_pipeline, run_checked, sandbox_source_options
from support.worlds import sandbox_world

from dlt_sources.common import TokenProvider, TokenSet
from dlt_sources.square import destination_known_versions, square_source, square_tokens
from pos_sandbox.faults import FaultPlan
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 10  # tiny, 3 days: refunds and tip edits inside and after the window
DATA_TABLES = ("locations", "payments", "refunds", "orders", "catalog", "team_members", "customers")


class HttpLog(requests_log.HttpLog):
    def per_stream(self) -> Counter[tuple[str, str]]:
        """(path tail, location or batch) -> requests."""
        out: Counter[tuple[str, str]] = Counter()
        for s in self.sent:
            tail = s.path[s.path.find("/v2/"):]
            where = s.params.get("location_id") or ",".join((s.body or {}).get("location_ids", [])) or "-"
            out[(tail, where)] += 1
        return out


@pytest.fixture()
def http_log(monkeypatch: pytest.MonkeyPatch) -> HttpLog:
    return requests_log.record_requests(monkeypatch, HttpLog())


@dataclass
class SquareEnv:
    world: World
    server: SandboxServer
    tmp_path: Path

    @property
    def account(self) -> dict[str, Any]:
        return manifest_account(self.server, "square")

    @property
    def location_ids(self) -> list[str]:
        return list(self.account["location_ids"])

    def pipeline(self, name: str = "square_test", destination: Any = None) -> dlt.Pipeline:
        return local_pipeline(self.tmp_path, name, "raw_square", destination)

    def token_provider(self, **kw: Any) -> TokenProvider:
        """The account's refreshing provider (``square_tokens`` with the app's client credentials)."""
        acct = self.account
        return square_tokens(TokenSet(acct["access_token"], refresh_token=acct["refresh_token"]),
                             client_id=acct["client_id"], client_secret=acct["client_secret"],
                             base_url=acct["base_url"], **kw)

    def source(self, pipeline: dlt.Pipeline, **kw: Any) -> Any:
        """The source with the account's access token (no refresh) unless ``token_provider`` is given."""
        acct = self.account
        provider = kw.pop("token_provider", None) or square_tokens(TokenSet(acct["access_token"]),
                                                                   base_url=acct["base_url"])
        # the guard of the account the source loads as (``account_id``), unless ``known_versions`` is given
        known = kw.pop("known_versions") if "known_versions" in kw else destination_known_versions(
            pipeline, account_id=kw.get("account_id", acct["account_id"]))
        initial_start = self.world.window_start_utc - timedelta(days=1)
        options = sandbox_source_options(acct, self.world, known, **({"initial_start": initial_start} | kw))
        return square_source(provider, self.location_ids, **options)

    def run(self, pipeline: dlt.Pipeline, loader_file_format: str | None = "parquet", **kw: Any) -> Any:
        return run_checked(pipeline, self.source(pipeline, **kw), loader_file_format)

    def truth(self, as_of: datetime | None = None) -> dict[str, Any]:
        return compute_truth(self.world, as_of)

    def set_now(self, when: datetime) -> None:
        self.world.set_now(when)


@pytest.fixture()
def make_env(tmp_path: Path) -> Iterator[Callable[..., SquareEnv]]:
    with sandboxes() as started:

        def make(seed: int = SEED, days: int = 3, faults: FaultPlan | None = None,
                 **options: Any) -> SquareEnv:
            world = sandbox_world(seed, "square", days=days)
            return SquareEnv(world, started.serve(world, faults, **options), tmp_path)

        yield make


# ---------------------------------------------------------------------- destination checks
# the ledger's ``objects`` keys of a Square location and the SQL that counts each in the destination
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


def loaded_objects(pipeline: dlt.Pipeline) -> dict[str, dict[str, int]]:
    """Per location: the counts the ledger's ``objects`` rows carry, read from the destination."""
    with reader(pipeline) as read:
        return counts_per_location(read, OBJECT_SQL)


def assert_matches_truth(pipeline: dlt.Pipeline, truth: dict[str, Any]) -> None:
    with reader(pipeline) as read:
        _assert_matches_truth(read, truth)


def _assert_matches_truth(read: Callable[[str], list[tuple[Any, ...]]], truth: dict[str, Any]) -> None:
    got = counts_per_location(read, OBJECT_SQL)
    assert got == expected_objects(truth, "square", OBJECT_SQL)
    present = {t for (t,) in read("select table_name from information_schema.tables")}
    # customers: an optional stream (absent when the token lacks CUSTOMERS_READ)
    for table in ("payments", "refunds", "orders", "catalog", "team_members", "locations",
                  *(("customers",) if "customers" in present else ())):
        rows = read(f"select count(*), count(distinct id) from {table}")
        assert rows[0][0] == rows[0][1], f"duplicate ids in {table}"
    account = next(r for r in truth["objects"] if r["location_id"] is None)
    catalog = dict(read("select case when type = 'ITEM' and is_deleted then 'deleted_items' "
                        "when type = 'ITEM' then 'items' when type = 'CATEGORY' then 'categories' "
                        "when type = 'TAX' then 'taxes' when type = 'DISCOUNT' then 'discounts' "
                        "when type = 'MODIFIER' then 'modifiers' else type end, count(*) "
                        "from catalog group by 1"))
    for key, n in account["catalog"].items():
        assert catalog.get(key, 0) == n, key
    assert read("select count(*) from team_members")[0][0] == account["team_members"]


def hwm_state(pipeline: dlt.Pipeline, resource: str, account_id: str) -> dict[str, Any]:
    return account_state(pipeline, "square", resource, account_id)


def changed_between(world: World, since: datetime, until: datetime) -> dict[str, int]:
    """Objects created or updated in (since, until], from the world's own events (not the API)."""
    out = {"payments": 0, "refunds": 0, "orders": 0}

    def changed(events: set[datetime], visible: datetime) -> bool:
        return visible <= until and any(since < e <= until for e in events)

    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            refund, edit = sale.refund, sale.tip_edit
            for tender in sale.tenders:
                events = {sale.closed_at}
                if edit is not None and edit.tender_id == tender.id:
                    events.add(edit.at)
                if refund is not None and refund.tender_id == tender.id:
                    events |= {refund.created_at, refund.completed_at}
                out["payments"] += changed(events, sale.closed_at)
            order_events = {sale.closed_at} | ({edit.at} if edit is not None else set())
            out["orders"] += changed(order_events, sale.closed_at)
            if refund is not None:
                events_r = {refund.created_at, refund.completed_at}
                out["refunds"] += changed(events_r, refund.created_at)
                out["orders"] += changed(events_r, refund.created_at)  # the return order
    return out


# ---------------------------------------------------------------------- flat (Arrow) tables vs the API
FLAT_TABLES = {"payments": ("/v2/payments/", "payment"), "refunds": ("/v2/refunds/", "refund")}
FLAT_JSON = {"processing_fee", "refund_ids", "capabilities"}
FLAT_TIMESTAMPS = {"created_at", "updated_at", "delayed_until", "authorized_at", "captured_at", "voided_at"}


def _flat_reference(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The test's own reading of what a flat row must hold (independent of the source's code)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if value is None:
            continue
        if isinstance(value, dict):
            out |= _flat_reference(value, f"{prefix}{key}__")
        elif key in FLAT_TIMESTAMPS:
            out[prefix + key] = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            out[prefix + key] = value
    return out


def assert_flat_rows_match_api(pipeline: dlt.Pipeline, env: SquareEnv, table: str, limit: int = 60) -> int:
    """Every column of ``limit`` stored rows equals the object the API returns for that id:
    nested objects as ``a__b`` columns, lists as JSON, timestamps as instants, nothing else set."""
    import requests

    path, key = FLAT_TABLES[table]
    columns = [c for (c,) in query(pipeline, "select column_name from information_schema.columns where "
                                             f"table_name = '{table}' and table_schema = '{pipeline.dataset_name}'")]
    rows = query(pipeline, f"select {', '.join(columns)} from {table} order by "
                           f"(case when refund_ids is not null then 0 else 1 end), id limit {limit}"
                 if table == "payments" else f"select {', '.join(columns)} from {table} order by id limit {limit}")
    acct = env.account
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {acct['access_token']}"
    for row in rows:
        stored = dict(zip(columns, row, strict=True))
        api = http.get(acct["base_url"] + path + str(stored["id"]), timeout=10).json()[key]
        expected = _flat_reference(api)
        for column, value in stored.items():
            if column.startswith("_dlt_"):
                assert value is not None, column
                continue
            if column == "_pos_account_id":
                assert value == acct["account_id"]
                continue
            if column in FLAT_JSON and isinstance(value, str):
                value = json.loads(value)
            assert value == expected.get(column), (table, stored["id"], column, value, expected.get(column))
        assert set(expected) <= set(columns), set(expected) - set(columns)
    return len(rows)


# ---------------------------------------------------------------------- nested (Arrow) tables vs the API
def _nested_reference(obj: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The test's own reading of dlt's relational shape: (flat columns, {list path: element shapes});
    ``*_at`` values as instants (dlt's timestamp detection)."""
    flat: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    for key, value in obj.items():
        if value is None:
            continue
        if isinstance(value, dict):
            inner, inner_lists = _nested_reference(value, f"{prefix}{key}__")
            flat |= inner
            lists |= inner_lists
        elif isinstance(value, list):
            if value:
                lists[prefix + key] = [_nested_reference(v) if isinstance(v, dict) else ({"value": v}, {})
                                       for v in value]
        elif key.endswith("_at"):
            flat[prefix + key] = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            flat[prefix + key] = value
    return flat, lists


def _stored_tree(pipeline: dlt.Pipeline, table: str, where: str) -> list[tuple[dict[str, Any], dict[str, list[Any]]]]:
    """Rows of ``table`` (``where`` on it) with their child tables re-attached, read back with SQL only
    (one connection for all the queries: a connection per query made this a 30 s walk)."""
    schema = pipeline.dataset_name
    with pipeline.sql_client() as client:
        def q(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in client.execute_sql(sql) or []]

        tables = [t for (t,) in q("select table_name from information_schema.tables "
                                  f"where table_schema = '{schema}' and table_name like '{table}__%'")]
        known: dict[str, list[str]] = {}

        def columns(name: str) -> list[str]:
            if name not in known:
                known[name] = [c for (c,) in q("select column_name from information_schema.columns where "
                                               f"table_schema = '{schema}' and table_name = '{name}'")]
            return known[name]

        def rows(name: str, sql_where: str) -> list[dict[str, Any]]:
            cols = columns(name)
            order = "id" if name == table else "_dlt_list_idx"
            sql = f"select {', '.join(cols)} from {name} where {sql_where} order by {order}"
            return [dict(zip(cols, r, strict=True)) for r in q(sql)]

        def shape(name: str, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
            flat = {k: v for k, v in row.items()
                    if v is not None and not k.startswith("_dlt_") and k != "_pos_account_id"}
            lists: dict[str, list[Any]] = {}
            for child in tables:
                if child.startswith(name + "__") and _direct_child(child, name, tables):
                    kids = rows(child, f"_dlt_parent_id = '{row['_dlt_id']}'")
                    if kids:
                        lists[child[len(name) + 2:]] = [shape(child, k) for k in kids]
            return flat, lists

        return [shape(table, r) for r in rows(table, where)]


def _direct_child(child: str, name: str, tables: list[str]) -> bool:
    """``child`` hangs right below ``name`` (no other table between them): dlt's child table of a
    list inside a nested object (``orders__x__y`` for ``x.y[]``) has no table for ``x``."""
    between = [t for t in tables if t != child and child.startswith(t + "__") and t.startswith(name + "__")]
    return not between


def assert_nested_rows_match_api(pipeline: dlt.Pipeline, env: SquareEnv, where: str,
                                 expected: Callable[[dict[str, Any]], dict[str, Any]] = lambda order: order) -> int:
    """Every stored order picked by ``where``, re-assembled from ``orders`` and its child tables
    (parent ids, list positions), equals ``expected(order)`` of the order ``GET /v2/orders/{id}``
    returns (e.g. its personal fields pseudonymised)."""
    import requests

    acct = env.account
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {acct['access_token']}"
    stored = _stored_tree(pipeline, "orders", where)
    for flat, lists in stored:
        api = http.get(f"{acct['base_url']}/v2/orders/{flat['id']}", timeout=10).json()["order"]
        assert (flat, lists) == _nested_reference(expected(api)), flat["id"]
    return len(stored)
