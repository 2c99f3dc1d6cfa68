"""Helpers and fixtures of the Lightspeed source tests: a real sandbox on loopback (Lightspeed
only), pipelines in tmp_path, an HTTP log, ledger checks against the destination."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dlt
import httpx
import pytest
from support import http_log as requests_log
from support.accounts import manifest_account
from support.destination import query as query  # re-exported: the tests import it from here
from support.destination import reader
from support.http_log import Sent
from support.ledger import counts_per_location, expected_objects
from support.sandboxes import sandboxes
from support.sources import FAST_RETRIES, account_state, local_pipeline, run_checked, sandbox_source_options
from support.worlds import sandbox_world

from dlt_sources.common import TokenSet
from dlt_sources.common.auth import TokenProvider
from dlt_sources.lightspeed import destination_known_versions, lightspeed_source, lightspeed_tokens
from pos_sandbox.faults import FaultPlan
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 10
STREAMS = ("sales", "products", "product_categories", "outlets", "registers", "users", "payment_types", "taxes",
           "customers")


class HttpLog(requests_log.HttpLog):
    def api(self) -> list[Sent]:
        """The requests to the X-Series API 2.0 (not OAuth's token endpoint)."""
        return [s for s in self.sent if "/api/2.0/" in s.path]

    def per_stream(self) -> Counter[str]:
        """Endpoint under ``/api/2.0/`` -> requests."""
        return Counter(s.path.rsplit("/api/2.0/", 1)[1] for s in self.api())


@pytest.fixture()
def ls_http_log(monkeypatch: pytest.MonkeyPatch) -> HttpLog:
    return requests_log.record_requests(monkeypatch, HttpLog())


@dataclass
class LightspeedEnv:
    world: World
    server: SandboxServer
    tmp_path: Path
    tokens: dict[str, str]
    saved: list[TokenSet] = field(default_factory=list)

    @property
    def account(self) -> dict[str, Any]:
        return manifest_account(self.server, "lightspeed")

    @property
    def emulator(self) -> Any:
        for route in self.server.app.routes:
            if getattr(route, "path", "") == "/lightspeed":
                return route.app.state.lightspeed  # type: ignore[attr-defined]
        raise LookupError("no Lightspeed mount")

    def pipeline(self, name: str = "lightspeed_test", destination: Any = None) -> dlt.Pipeline:
        return local_pipeline(self.tmp_path, name, "raw_lightspeed", destination)

    def persist(self, tokens: TokenSet) -> None:
        """The caller's atomic token store: the latest tokens replace the previous ones."""
        self.saved.append(tokens)
        self.tokens = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token or ""}

    def token_provider(self, **kw: Any) -> TokenProvider:
        """``lightspeed_tokens`` from the stored tokens, persisting every rotated set (``persist``)."""
        acct = self.account
        options: dict[str, Any] = {"on_refresh": self.persist, "policy": FAST_RETRIES} | kw
        return lightspeed_tokens(TokenSet(self.tokens["access_token"], refresh_token=self.tokens["refresh_token"]),
                                 base_url=acct["base_url"], client_id=acct["client_id"],
                                 client_secret=acct["client_secret"], **options)

    def source(self, pipeline: dlt.Pipeline, **kw: Any) -> Any:
        acct = self.account
        provider = kw.pop("token_provider", None) or self.token_provider()
        # the guard of the account the source loads as (``account_id``), unless ``known_versions`` is given
        known = kw.pop("known_versions") if "known_versions" in kw else destination_known_versions(
            pipeline, account_id=kw.get("account_id", acct["account_id"]))
        options = sandbox_source_options(acct, self.world, known, **kw)
        return lightspeed_source(provider, acct["account_id"], acct["location_ids"], **options)

    def run(self, pipeline: dlt.Pipeline, loader_file_format: str | None = "parquet", **kw: Any) -> Any:
        return run_checked(pipeline, self.source(pipeline, **kw), loader_file_format)

    def truth(self) -> dict[str, Any]:
        return compute_truth(self.world)

    def sandbox_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.account["base_url"] + path, json=body)

    def reauthorize(self) -> None:
        """What a human does after ``reauth_required``: the OAuth consent again → new tokens."""
        acct = self.account
        page = httpx.get(acct["base_url"] + "/connect", params={
            "client_id": acct["client_id"], "redirect_uri": "https://app.example/cb", "auto_approve": "true",
            "domain_prefix": acct["account_id"]})
        code = parse_qs(urlsplit(page.headers["location"]).query)["code"][0]
        token = httpx.post(acct["base_url"] + "/api/1.0/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": acct["client_id"],
            "client_secret": acct["client_secret"], "redirect_uri": "https://app.example/cb"}).json()
        self.tokens = {"access_token": token["access_token"], "refresh_token": token["refresh_token"]}


@pytest.fixture()
def make_ls_env(tmp_path: Path) -> Iterator[Callable[..., LightspeedEnv]]:
    with sandboxes() as started:

        def make(seed: int = SEED, days: int = 3, faults: FaultPlan | None = None, scale: str = "tiny",
                 **options: Any) -> LightspeedEnv:
            world = sandbox_world(seed, "lightspeed", days=days, scale=scale)
            server = started.serve(world, faults, **options)
            creds = next(c for c in server.credentials.values() if c.provider == "lightspeed")
            return LightspeedEnv(world, server, tmp_path, {"access_token": creds.access_token,
                                                           "refresh_token": creds.refresh_token})

        yield make


# ---------------------------------------------------------------------- destination checks
# the ledger's ``objects`` keys of a Lightspeed outlet and the SQL that counts each in the destination
OBJECT_SQL = {
    "sales": "select outlet_id, count(*) from sales group by 1",
    "return_sales": "select outlet_id, count(*) from sales where return_for is not null group by 1",
    "voided_sales": "select outlet_id, count(*) from sales where status = 'VOIDED' group by 1",
    "payments": "select s.outlet_id, count(*) from sales__payments p join sales s "
                "on p._dlt_parent_id = s._dlt_id group by 1",
    "line_items": "select s.outlet_id, count(*) from sales__line_items li join sales s "
                  "on li._dlt_parent_id = s._dlt_id where s.return_for is null group by 1",
}


def loaded_objects(pipeline: dlt.Pipeline) -> dict[str, dict[str, int]]:
    with reader(pipeline) as read:
        return counts_per_location(read, OBJECT_SQL)


def assert_matches_truth(pipeline: dlt.Pipeline, truth: dict[str, Any]) -> None:
    with reader(pipeline) as read:
        _assert_matches_truth(read, truth)


def _assert_matches_truth(read: Callable[[str], list[tuple[Any, ...]]], truth: dict[str, Any]) -> None:
    assert counts_per_location(read, OBJECT_SQL) == expected_objects(truth, "lightspeed", OBJECT_SQL)
    for table in STREAMS:
        n, distinct = read(f"select count(*), count(distinct id) from {table}")[0]
        assert n == distinct, f"duplicate ids in {table}"
    account = next(r for r in truth["objects"] if r["location_id"] is None and r["provider"] == "lightspeed")
    catalog = account["catalog"]
    assert read("select count(*) from products where deleted_at is null")[0][0] == catalog["items"]
    assert read("select count(*) from products where deleted_at is not null")[0][0] == \
        catalog["deleted_items"]
    assert read("select count(*) from product_categories")[0][0] == catalog["categories"]
    assert read("select count(*) from taxes")[0][0] == catalog["taxes"]
    assert read("select count(*) from users")[0][0] == account["team_members"]
    # money survived exactly: Σ collected of CLOSED sales and of CLOSED returns = the ledger's totals
    daily = [r for r in truth["daily"] if r["provider"] == "lightspeed"]
    total, refunds = read("select "
                          "sum(case when return_for is null and status = 'CLOSED' then total_price + total_tax end), "
                          "-sum(case when return_for is not null and status = 'CLOSED' then total_price + total_tax "
                          "end) from sales")[0]
    assert Decimal(total) == sum(Decimal(r["total_amount"]) for r in daily)
    assert Decimal(refunds or 0) == sum(Decimal(r["refund_amount"]) for r in daily)


def resource_state(pipeline: dlt.Pipeline, resource: str, account_id: str) -> dict[str, Any]:
    return account_state(pipeline, "lightspeed", resource, account_id)


def seed_with_late_changes(days: int = 3) -> int:
    """The first seed whose tiny world has, after ``now1 = window end − 30 h``, a return of a sale
    closed before it, a tip edit and a product soft-delete (so one clock advance shows all three)."""
    for seed in range(1, 200):
        world = sandbox_world(seed, "lightspeed", days=days)
        now1 = world.window_end_utc - timedelta(hours=30)
        sales = [s for loc in world.locations for s in world.iter_sales(loc.location_id)]
        if (any(s.refund is not None and s.closed_at <= now1 < s.refund.created_at for s in sales)
                and any(s.tip_edit is not None and now1 < s.tip_edit.at for s in sales)
                and any(st.deleted and now1 < st.at for items in world.items.values() for it in items
                        for st in it.history)):
            return seed
    raise LookupError("no seed with a late return, a tip edit and a deletion after now1")


def changed_between(world: World, since: datetime, until: datetime) -> dict[str, int]:
    """Sales (incl. return sales) and products changed in (since, until], from the world's events."""
    out = {"sales": 0, "products": 0}
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            refund, edit = sale.refund, sale.tip_edit
            events = {sale.closed_at} | ({edit.at} if edit else set()) | ({refund.created_at} if refund else set())
            out["sales"] += any(since < e <= until for e in events)
            if refund is not None:
                out["sales"] += any(since < e <= until for e in (refund.created_at, refund.completed_at))
    for items in world.items.values():
        out["products"] += sum(1 for it in items if any(since < s.at <= until for s in it.history))
    return out
