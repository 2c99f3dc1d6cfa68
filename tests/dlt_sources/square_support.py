"""Helpers and fixtures of the dlt source tests: a real sandbox on loopback, pipelines in tmp_path, an HTTP log."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import dlt
import pytest
from requests import PreparedRequest, Response

from dlt_sources.common import RetryPolicy, TokenProvider, TokenSet
from dlt_sources.common.http import ApiSession
from dlt_sources.square import destination_known_versions, square_source, square_tokens
from pos_sandbox.faults import FaultPlan
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 10  # tiny, 3 days: refunds and tip edits inside and after the window
START = date(2026, 3, 2)
DATA_TABLES = ("locations", "payments", "refunds", "orders", "catalog", "team_members")
FAST_RETRIES = RetryPolicy(base_delay=0.01, max_delay=0.05, max_total_sleep=20.0, timeout=20.0)


@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None
    status: int | None = None


@dataclass
class HttpLog:
    """Every request an :class:`ApiSession` sends; ``hook(sent)`` may raise to simulate a crash
    or return a replacement ``PreparedRequest`` (e.g. with a garbled cursor)."""

    sent: list[Sent] = field(default_factory=list)
    hook: Callable[[Sent, PreparedRequest], PreparedRequest | None] | None = None

    def clear(self) -> None:
        self.sent.clear()

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
    log = HttpLog()
    original = ApiSession._send_once

    def send_once(self: ApiSession, request: PreparedRequest, kwargs: dict[str, Any]) -> Response:
        parts = urlsplit(request.url or "")
        body = json.loads(request.body) if request.body else None
        sent = Sent(str(request.method), parts.path, dict(parse_qsl(parts.query)), body)
        log.sent.append(sent)
        if log.hook is not None:
            replacement = log.hook(sent, request)
            if replacement is not None:
                request = replacement
        response = original(self, request, kwargs)
        sent.status = response.status_code
        return response

    monkeypatch.setattr(ApiSession, "_send_once", send_once)
    return log


@dataclass
class SquareEnv:
    world: World
    server: SandboxServer
    tmp_path: Path

    @property
    def account(self) -> dict[str, Any]:
        return self.server.manifest()["accounts"][0]

    @property
    def location_ids(self) -> list[str]:
        return list(self.account["location_ids"])

    def pipeline(self, name: str = "square_test", destination: Any = None) -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=name,
            destination=destination or dlt.destinations.duckdb(str(self.tmp_path / "w.duckdb")),
            dataset_name="raw_square",
            pipelines_dir=str(self.tmp_path / "pipelines"),
        )

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
        options: dict[str, Any] = {
            "base_url": acct["base_url"],
            "account_id": acct["account_id"],
            "initial_start": self.world.window_start_utc - timedelta(days=1),
            "now": self.world.now,
            "known_versions": destination_known_versions(pipeline, account_id=acct["account_id"]),
            "retry_policy": FAST_RETRIES,
        } | kw
        return square_source(provider, self.location_ids, **options)

    def run(self, pipeline: dlt.Pipeline, loader_file_format: str | None = "parquet", **kw: Any) -> Any:
        info = pipeline.run(self.source(pipeline, **kw), loader_file_format=loader_file_format)  # type: ignore[arg-type]
        info.raise_on_failed_jobs()
        return info

    def truth(self, as_of: datetime | None = None) -> dict[str, Any]:
        return compute_truth(self.world, as_of)

    def set_now(self, when: datetime) -> None:
        self.world.set_now(when)


@pytest.fixture()
def make_env(tmp_path: Path) -> Iterator[Callable[..., SquareEnv]]:
    servers: list[SandboxServer] = []

    def make(seed: int = SEED, days: int = 3, faults: FaultPlan | None = None, **options: Any) -> SquareEnv:
        world = World(seed, START, days=days, scale="tiny", providers=["square"])
        server = SandboxServer(world, faults=faults, **options).start()
        servers.append(server)
        return SquareEnv(world, server, tmp_path)

    yield make
    for server in servers:
        server.stop()


# ---------------------------------------------------------------------- destination checks
def query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql) or []]


def loaded_objects(pipeline: dlt.Pipeline) -> dict[str, dict[str, int]]:
    """Per location: the counts the ledger's ``objects`` rows carry, read from the destination."""
    out: dict[str, dict[str, int]] = {}

    def put(sql: str, key: str) -> None:
        for loc, n in query(pipeline, sql):
            out.setdefault(loc, {})[key] = int(n)

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
    keys = ("payments", "refunds", "refunds_completed", "orders", "return_orders", "voided_orders", "line_items")
    return {
        row["location_id"]: {k: row[k] for k in keys if row[k]}
        for row in truth["objects"]
        if row["location_id"] is not None
    }


def assert_matches_truth(pipeline: dlt.Pipeline, truth: dict[str, Any]) -> None:
    got = loaded_objects(pipeline)
    assert got == expected_objects(truth)
    for table in ("payments", "refunds", "orders", "catalog", "team_members", "locations"):
        rows = query(pipeline, f"select count(*), count(distinct id) from {table}")
        assert rows[0][0] == rows[0][1], f"duplicate ids in {table}"
    account = next(r for r in truth["objects"] if r["location_id"] is None)
    catalog = dict(query(pipeline, "select case when type = 'ITEM' and is_deleted then 'deleted_items' "
                                   "when type = 'ITEM' then 'items' when type = 'CATEGORY' then 'categories' "
                                   "when type = 'TAX' then 'taxes' when type = 'DISCOUNT' then 'discounts' "
                                   "when type = 'MODIFIER' then 'modifiers' else type end, count(*) "
                                   "from catalog group by 1"))
    for key, n in account["catalog"].items():
        assert catalog.get(key, 0) == n, key
    assert query(pipeline, "select count(*) from team_members")[0][0] == account["team_members"]


def data_row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {t: n for t, n in counts.items() if not t.startswith("_dlt") and n}


def hwm_state(pipeline: dlt.Pipeline, resource: str, account_id: str) -> dict[str, Any]:
    resources = pipeline.state.get("sources", {}).get("square", {}).get("resources", {})
    return dict(resources.get(resource, {}).get("accounts", {}).get(account_id, {}))


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


def rows_in_load(pipeline: dlt.Pipeline, table: str, load_id: str) -> int:
    """Rows a load wrote to ``table`` (exact even where dlt's csv row_counts are not, dlt#4461)."""
    return int(query(pipeline, f"select count(*) from {table} where _dlt_load_id = '{load_id}'")[0][0])


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
