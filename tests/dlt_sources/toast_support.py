"""Helpers and fixtures of the Toast source tests: a real Toast sandbox on loopback, pipelines in
tmp_path, counts read back from the destination and expected counts from the world."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import httpx
import pytest
from support.accounts import manifest_account
from support.destination import query as query  # re-exported: the tests import it from here
from support.destination import reader
from support.ledger import counts_per_location, expected_objects
from support.sandboxes import sandboxes
from support.sources import FAST_RETRIES, local_pipeline, run_checked, sandbox_source_options
from support.worlds import START, sandbox_world

from dlt_sources.common import TokenSet
from dlt_sources.common.pacing import RateLimit
from dlt_sources.toast import destination_known_versions, toast_source, toast_tokens
from dlt_sources.toast.settings import ORDERS_BULK_PATH, TOAST_PACING
from pos_sandbox.faults import FaultPlan
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 39  # tiny, 4 days: deleted checks, voided selections, voids, refunds and tip edits, late ones too
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
        return manifest_account(self.server, "toast")

    @property
    def restaurants(self) -> list[str]:
        return list(self.account["location_ids"])

    def pipeline(self, name: str = "toast_test", destination: Any = None) -> dlt.Pipeline:
        return local_pipeline(self.tmp_path, name, "raw_toast", destination)

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
        # the guard of the account the source loads as (``account_id``), unless ``known_versions`` is given
        known = kw.pop("known_versions") if "known_versions" in kw else destination_known_versions(
            pipeline, account_id=kw.get("account_id", acct["account_id"]))
        initial_start = self.world.window_start_utc - timedelta(days=1)
        options = sandbox_source_options(acct, self.world, known, **({"initial_start": initial_start} | kw))
        return toast_source(provider, self.restaurants, **options)

    def run(self, pipeline: dlt.Pipeline, loader_file_format: str | None = "parquet", **kw: Any) -> Any:
        return run_checked(pipeline, self.source(pipeline, **kw), loader_file_format)

    def stats(self) -> dict[str, int]:
        return dict(httpx.get(self.account["base_url"] + "/_sandbox/toast/stats").json())

    def truth(self, as_of: datetime | None = None) -> dict[str, Any]:
        return compute_truth(self.world, as_of)


# Tests of the settling pass page the orders one or five at a time (it needs windows read in many
# pages): 80-200 ordersBulk requests a sync, which Toast's 5 per second per restaurant would make
# most of their time. They raise that endpoint limit to the global 20/s on both sides, the emulator
# and the client's pacing; the 5/s itself is tested by test_toast_source (a chain's sync keeping to
# it), test_rate_limits (the pacer) and tests/sandbox/test_toast_api.py (the emulator).
MANY_PAGES_BULK_LIMIT = (20, 1.0)


def page_orders_by(monkeypatch: pytest.MonkeyPatch, size: int) -> dict[str, Any]:
    """Orders in pages of ``size`` with the ordersBulk limit raised (above); returns the emulator
    options to pass to ``toast_env``."""
    from dlt_sources.toast import helpers
    from dlt_sources.toast import source as toast_source_module

    monkeypatch.setattr(toast_source_module, "ORDERS_PAGE_SIZE", size)
    limits = tuple(limit for limit in TOAST_PACING.limits if limit.path_contains != ORDERS_BULK_PATH)
    raised = RateLimit(*MANY_PAGES_BULK_LIMIT, path_contains=ORDERS_BULK_PATH)
    monkeypatch.setattr(helpers, "TOAST_PACING", replace(TOAST_PACING, limits=(*limits, raised)))
    return {"orders_bulk_rate_limit": MANY_PAGES_BULK_LIMIT}


@pytest.fixture()
def toast_env(tmp_path: Path) -> Iterator[Callable[..., ToastEnv]]:
    with sandboxes() as started:

        def make(seed: int = SEED, days: int = 4, start: date = START, faults: FaultPlan | None = None,
                 scale: str = "tiny", **options: Any) -> ToastEnv:
            world = sandbox_world(seed, "toast", days=days, start=start, scale=scale)
            return ToastEnv(world, started.serve(world, faults, **options), tmp_path)

        yield make


# ---------------------------------------------------------------------- destination checks
# the ledger's ``objects`` keys of a Toast restaurant and the SQL that counts each in the destination
_CHECKS = "from orders o join orders__checks c on c._dlt_parent_id = o._dlt_id"
OBJECT_SQL = {
    "orders": "select _pos_restaurant_guid, count(*) from orders group by 1",
    "checks": f"select o._pos_restaurant_guid, count(*) {_CHECKS} group by 1",
    "deleted_checks": f"select o._pos_restaurant_guid, count(*) {_CHECKS} where c.deleted group by 1",
    "payments": f"select o._pos_restaurant_guid, count(*) {_CHECKS} join orders__checks__payments p "
                "on p._dlt_parent_id = c._dlt_id group by 1",
    "refunded_payments": f"select o._pos_restaurant_guid, count(*) {_CHECKS} join orders__checks__payments p "
                         "on p._dlt_parent_id = c._dlt_id where p.refund_status <> 'NONE' group by 1",
    "selections": f"select o._pos_restaurant_guid, count(*) {_CHECKS} join orders__checks__selections s "
                  "on s._dlt_parent_id = c._dlt_id group by 1",
    "voided_selections": f"select o._pos_restaurant_guid, count(*) {_CHECKS} "
                         "join orders__checks__selections s on s._dlt_parent_id = c._dlt_id "
                         "where s.voided and not c.voided group by 1",
    "voided_orders": "select _pos_restaurant_guid, count(*) from orders where voided group by 1",
}


def loaded_objects(pipeline: dlt.Pipeline) -> dict[str, dict[str, int]]:
    """Per restaurant: the counts the ledger's Toast ``objects`` rows carry, read from the destination."""
    with reader(pipeline) as read:
        return counts_per_location(read, OBJECT_SQL)


def assert_matches_truth(pipeline: dlt.Pipeline, truth: dict[str, Any]) -> None:
    with reader(pipeline) as read:
        assert counts_per_location(read, OBJECT_SQL) == expected_objects(truth, "toast", OBJECT_SQL)
        rows = read("select count(*), count(distinct guid) from orders")
    assert rows[0][0] == rows[0][1], "duplicate orders"


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
