"""The Toast source against the real Toast sandbox on loopback, loading into DuckDB in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from support.destination import data_row_counts, query
from support.http_log import HttpLog
from support.sources import account_state
from toast_support import ToastEnv, assert_matches_truth, changed_orders, page_orders_by, toast_env

from dlt_sources.common.errors import ReauthorizationRequired
from dlt_sources.toast.helpers import parse_ts, toast_ts
from dlt_sources.toast.settings import DEFAULT_LOOKBACK as LOOKBACK
from dlt_sources.toast.settings import SETTLE_ROUNDS
from pos_sandbox.faults import FaultPlan

__all__ = ["toast_env"]  # the fixture, imported for pytest


def test_full_import_equals_ledger_and_a_noop_run_loads_nothing(
        toast_env: Callable[..., ToastEnv], http_log: HttpLog) -> None:
    env = toast_env()
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    restaurant = env.restaurants[0]
    # money and quantities are the payload's exact decimal text; timestamps are parsed
    types = dict(query(pipeline, "select column_name, data_type from information_schema.columns "
                                 "where table_name = 'orders__checks'"))
    assert types["amount"] == "VARCHAR" and types["total_amount"] == "VARCHAR"
    assert types["modified_date"].startswith("TIMESTAMP")
    artefacts = query(pipeline, "select total_amount from orders__checks where length(total_amount) > 8")
    assert artefacts, "float artefacts of Toast's doubles are kept as text"
    for (text,) in artefacts:
        assert Decimal(text) != Decimal(text).quantize(Decimal("0.01"))
    assert query(pipeline, "select count(*) from orders where _pos_account_id is null or "
                           f"_pos_restaurant_guid <> '{restaurant}'")[0][0] == 0
    assert query(pipeline, "select count(*) from restaurants")[0][0] == 1
    assert query(pipeline, "select general__time_zone, general__closeout_hour, general__currency_code "
                           "from restaurants") == [("America/New_York", 4, "USD")]
    items = query(pipeline, "select count(*) from menus__menu_items")[0][0]
    account_id = env.world.accounts[0].account_id
    assert items == len(env.world.catalog_as_of(account_id, env.world.now))
    state = pipeline.state["sources"]["toast"]["resources"]["orders"]["accounts"][env.account["account_id"]]
    assert parse_ts(state["hwm"][restaurant]) == env.world.now
    assert env.stats()["login_calls"] == 1 and env.current is not None and len(env.saved) == 1

    http_log.clear()
    env.run(pipeline)
    assert data_row_counts(pipeline) == {}
    bulk = [s for s in http_log.sent if s.path.endswith("/orders/v2/ordersBulk")]
    assert len(bulk) == 1  # at most one orders request per restaurant
    assert parse_ts(bulk[0].params["startDate"]) == env.world.now - timedelta(minutes=15)
    assert not any(s.path.endswith("/menus/v2/menus") for s in http_log.sent)  # metadata unchanged
    assert not any(s.path.endswith("/authentication/login") for s in http_log.sent)  # cached token reused
    assert env.stats()["login_calls"] == 1


def test_clock_advance_loads_exactly_the_new_and_changed_orders(toast_env: Callable[..., ToastEnv]) -> None:
    env = toast_env()
    world = env.world
    now1 = world.window_start_utc + timedelta(days=2, hours=14)
    world.set_now(now1)
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())

    now2 = world.window_end_utc + timedelta(days=7)  # late refunds, tip edits and deletions arrive
    world.set_now(now2)
    expected = changed_orders(world, now1, now2)
    env.run(pipeline)
    counts = data_row_counts(pipeline)
    assert counts.get("orders", 0) == expected
    assert "restaurants" not in counts  # unchanged: nothing written
    assert_matches_truth(pipeline, env.truth())
    # the catalog changed meanwhile: the menus were reloaded whole, archived items are gone
    account_id = world.accounts[0].account_id
    assert counts.get("menus") == 1
    served_items = {r[0] for r in query(pipeline, "select guid from menus__menu_items")}
    assert served_items == {item.item_id for item, _ in world.catalog_as_of(account_id, now2)}
    # tip edits are in
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            if sale.tip_edit is not None:
                tip = query(pipeline, f"select tip_amount from orders__checks__payments where guid = "
                                      f"'{sale.tip_edit.tender_id}'")
                assert Decimal(tip[0][0]) == Decimal(sale.tip_edit.new_tip_cents) / 100


def test_faults_429_storm_5xx_and_token_expiry_keep_counts_exact(toast_env: Callable[..., ToastEnv]) -> None:
    plan = FaultPlan(schedule={3: "503", 4: "502", 6: "500"}, expire_after=4)
    env = toast_env(faults=plan, rate_limits=[(3, 1.0)])  # a real 429 storm: 3 requests per second
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    stats = env.stats()
    assert stats["rate_limited"] >= 2, stats
    assert plan.injected["503"] == 1 and plan.injected["502"] == 1 and plan.injected["500"] == 1
    assert plan.injected["expire"] >= 1
    assert stats["login_calls"] <= 1 + plan.injected["expire"]


def test_window_mode_reads_business_days_and_writes_no_state(toast_env: Callable[..., ToastEnv]) -> None:
    env = toast_env()
    world = env.world
    pipeline = env.pipeline()
    day = world.start + timedelta(days=1)
    loc = world.locations[0]
    start = world.local_midnight(loc, day)
    env.run(pipeline, start=start, end=start + timedelta(days=1))
    got = {r[0] for r in query(pipeline, "select guid from orders")}
    assert got == {s.id for s in world.iter_sales(loc.location_id) if s.local_date == day and s.closed_at <= world.now}
    orders_state = pipeline.state.get("sources", {}).get("toast", {}).get("resources", {}).get("orders", {})
    assert not orders_state.get("accounts")


def test_bad_credentials_raise_reauthorization_required(toast_env: Callable[..., ToastEnv]) -> None:
    env = toast_env()
    pipeline = env.pipeline()
    acct = env.account
    from dlt_sources.toast import toast_source

    source = toast_source(env.token_provider(client_secret="wrong-secret"), env.restaurants,
                          base_url=acct["base_url"])
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(source)
    cause = failed.value.__cause__ or failed.value.__context__
    seen = []
    while cause is not None:
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert any(isinstance(c, ReauthorizationRequired) for c in seen)


def test_cached_tokens_expired_or_rejected_are_reminted_once(toast_env: Callable[..., ToastEnv]) -> None:
    from datetime import UTC, datetime

    from dlt_sources.common.auth import TokenSet

    env = toast_env()
    pipeline = env.pipeline()
    env.current = TokenSet("stale", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    env.run(pipeline)  # the stored token has expired: one login before the first call
    assert env.stats()["login_calls"] == 1 and env.current is not None and len(env.saved) == 1
    assert env.current.access_token != "stale"
    env.current, env.saved = TokenSet("unknown-to-toast", expires_at=datetime.now(UTC) + timedelta(hours=1)), []
    env.run(pipeline)  # looks valid but Toast answers 401: one login, the request is sent again
    assert env.stats()["login_calls"] == 2 and len(env.saved) == 1
    assert env.current.access_token != "unknown-to-toast"
    assert_matches_truth(pipeline, env.truth())


def test_short_lived_tokens_do_not_cause_a_login_per_request(toast_env: Callable[..., ToastEnv]) -> None:
    from dlt_sources.toast import toast_tokens

    env = toast_env(token_ttl_seconds=4.0, token_renew_before_seconds=1.0)
    acct = env.account
    provider = toast_tokens(acct["client_id"], acct["client_secret"], acct["base_url"])
    first = provider.get()  # expiresIn 4 s, well inside the default 10-minute margin
    assert [provider.get() for _ in range(5)] == [first] * 5
    assert provider.login_count == 1 and provider.refresh_margin <= timedelta(seconds=2)


def _restricted_token(env: ToastEnv, scopes: list[str]) -> None:
    """The emulator's token of a partner client configured with only ``scopes``."""
    from datetime import UTC, datetime

    import httpx

    from dlt_sources.common.auth import TokenSet

    acct = env.account
    issued = httpx.post(acct["base_url"] + "/_sandbox/toast/tokens", timeout=10,
                        json={"clientId": acct["client_id"], "scopes": scopes})
    assert issued.status_code == 200, issued.text
    env.current = TokenSet(issued.json()["token"]["accessToken"], expires_at=datetime.now(UTC) + timedelta(hours=1))


def test_a_client_without_a_core_scope_fails_naming_it_not_with_an_empty_table(
        toast_env: Callable[..., ToastEnv]) -> None:
    """Without ``orders:read`` Toast answers 403 on the orders: the sync fails with
    :class:`MissingScopes` naming the scope and the restaurant (sales are never silently empty)."""
    from dlt_sources.common.errors import MissingScopes

    env = toast_env()
    _restricted_token(env, ["menus:read", "restaurants:read", "labor.employees:read", "device-details.info:read"])
    with pytest.raises(PipelineStepFailed) as info:
        env.run(env.pipeline())
    seen, cause = [], info.value
    while cause is not None:
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    error = next(c for c in seen if isinstance(c, MissingScopes))
    assert error.scopes == ("orders:read",)
    assert "the orders:read scope" in str(error) and env.restaurants[0] in str(error)
    assert env.stats()["login_calls"] == 0  # a 403 is not a reason to log in again


def test_a_client_without_the_labor_scope_syncs_sales_and_says_what_it_skipped(
        toast_env: Callable[..., ToastEnv]) -> None:
    """Employees only name the cashiers: without ``labor.employees:read`` the sales still load
    (equal to the ledger), the employees are skipped and the run is partial, naming the scope."""
    from dlt_sources.common.pace import SyncPace

    env = toast_env()
    _restricted_token(env, ["orders:read", "menus:read", "restaurants:read", "device-details.info:read"])
    pace = SyncPace()
    pipeline = env.pipeline()
    env.run(pipeline, pace=pace)
    assert_matches_truth(pipeline, env.truth())
    counts = data_row_counts(pipeline)
    assert counts.get("devices", 0) > 0 and counts.get("employees", 0) == 0
    assert pace.partial and [(s.stream, s.skipped) for s in pace.stopped_early] == [("Toast employees", True)]
    reason = pace.as_dict()["stopped_early"][0]["reason"]
    assert "labor.employees:read" in reason and "cashier names stay empty" in reason


@pytest.mark.parametrize("case", ["settled", "no settling round", "outage while settling"])
def test_orders_modified_while_their_window_is_paged_hide_no_other_order(
        toast_env: Callable[..., ToastEnv], monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """ordersBulk pages by offset over the orders sorted by opening time: an order modified while
    its window is paged leaves that window (its modifiedDate moves past the sync's end), the orders
    after it move up a place, and one of them lands on a page already read. Without the settling
    pass that order was never read, and the mark moved past its modifiedDate: lost for good. Windows
    not settled — no round left, or the API failing meanwhile — hold the mark back: the next sync
    reads them."""
    from dlt_sources.common.retry import RetryPolicy
    from dlt_sources.toast import source as toast_source_module
    from pos_sandbox.toast import ToastEmulator

    many_pages = page_orders_by(monkeypatch, 1)  # a page per order
    monkeypatch.setattr(toast_source_module, "SETTLE_ROUNDS", 0 if case == "no settling round" else SETTLE_ROUNDS)
    late = timedelta(hours=1)  # the edits that happen while the sync pages (the clock jumps past them)
    fired: list[str] = []
    outage = [case == "outage while settling"]
    original = ToastEmulator.orders_bulk

    async def orders_bulk(self: ToastEmulator, request: Any) -> Any:
        """The real handler; the first page served with a next page that holds an order of a late
        edit moves the sandbox clock past the late edits: they happen while the windows are paged.
        In an outage, the settling read (orders modified since the sync's end less the lookback) fails."""
        from starlette.responses import Response

        if outage[0] and request.query_params.get("startDate") == toast_ts(t0 + timedelta(milliseconds=1) - LOOKBACK):
            return Response(status_code=503)
        response = await original(self, request)
        if not fired and 'rel="next"' in response.headers.get("link", ""):
            body = bytes(response.body).decode()
            if any(sale_id in body for sale_id in edited):
                fired.append(request.query_params["page"])
                self.world.set_now(self.world.now + late)
        return response

    monkeypatch.setattr(ToastEmulator, "orders_bulk", orders_bulk)
    env = toast_env(**many_pages)
    world = env.world
    sales = [s for loc in world.locations for s in world.iter_sales(loc.location_id)]
    edits = sorted((at, s) for s in sales for at in (
        s.tip_edit.at if s.tip_edit else None, s.refund.completed_at if s.refund else None, s.deleted_at) if at)

    def edited_within(t0: datetime) -> set[str]:
        """Orders closed by ``t0`` that a tip edit, refund or deletion modifies in the hour after it."""
        return {s.id for at, s in edits if t0 < at <= t0 + late and s.closed_at <= t0}

    t0 = max((at - timedelta(seconds=1) for at, _ in edits), key=lambda t: len(edited_within(t)))
    edited = edited_within(t0)
    assert edited, "the world has no edit of a closed order"
    world.set_now(t0)
    pipeline = env.pipeline()
    quick = RetryPolicy(base_delay=0.01, max_delay=0.01, max_attempts=2, timeout=5.0)
    env.run(pipeline, **({"retry_policy": quick} if case == "outage while settling" else {}))
    assert fired, ("no page with a next page held an order edited late", edited, t0)
    loaded = [r[0] for r in query(pipeline, "select guid from orders")]
    assert len(loaded) == len(set(loaded)), "duplicate orders"
    closed = {s.id for s in sales if s.closed_at <= t0}
    marks = account_state(pipeline, "toast", "orders", env.account["account_id"]).get("hwm", {})
    if case == "settled":
        assert closed <= set(loaded)  # none hidden by the shift
        assert {parse_ts(m) for m in marks.values()} == {t0}
    else:  # an order was hidden, and no mark moved past a window read in several pages
        assert closed - set(loaded), "no order was hidden: the test did not shift a window"
        assert all(parse_ts(m) < t0 for m in marks.values()), marks
        outage[0] = False

    env.run(pipeline, now=world.now)  # the next sync: everything, exactly once
    assert_matches_truth(pipeline, env.truth())


def test_windows_nobody_modified_while_paged_are_read_once(
        toast_env: Callable[..., ToastEnv], http_log: HttpLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settling costs one read of the last minutes' orders per restaurant when its windows took
    several pages, and pages no window again when no order left one — an order of the day before,
    edited minutes before the sync (read with the version it still has), included."""
    env = toast_env(**page_orders_by(monkeypatch, 1))  # a page per order
    world = env.world
    sales = [s for loc in world.locations for s in world.iter_sales(loc.location_id)]
    edits = sorted((at, s) for s in sales for at in (
        s.tip_edit.at if s.tip_edit else None, s.refund.completed_at if s.refund else None, s.deleted_at) if at)
    at = next(at for at, sale in edits if at - sale.opened_at > timedelta(hours=12) and at < world.window_end_utc)
    world.set_now(at + timedelta(minutes=5))  # an order opened the day before, edited 5 minutes before the sync
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    bulk = [s for s in http_log.sent if s.path.endswith("/ordersBulk")]
    # a page is read when it is answered: a request the rate limit answered 429 and the client sent
    # again is one read (under a loaded machine one 429 came, and the attempts were counted as reads)
    def page(sent: Any) -> tuple[str, str, str]:
        return sent.params["startDate"], sent.params["endDate"], sent.params.get("page", "1")

    pages = [page(s) for s in bulk if s.status == 200]
    assert len(pages) == len(set(pages)), "a page was read twice"
    assert {page(s) for s in bulk} == set(pages)  # every page asked for was answered
    settling = toast_ts(world.now + timedelta(milliseconds=1) - LOOKBACK)
    assert len([p for p in pages if p[0] == settling]) == len(env.restaurants)  # one settling read each


def _side_by_side_within_the_limit(http_log: HttpLog, restaurants: list[str]) -> None:
    """Each restaurant's ordersBulk requests at most 5 a second, the restaurants' reads overlapping."""
    bulk = [s for s in http_log.sent if s.path.endswith("/orders/v2/ordersBulk")]
    sent: dict[str, list[float]] = {}
    for s in bulk:
        sent.setdefault(s.headers["Toast-Restaurant-External-ID"], []).append(s.at)
    counts = {k: len(v) for k, v in sent.items()}
    assert set(sent) == set(restaurants) and all(n > 5 for n in counts.values()), counts
    for times in sent.values():
        times.sort()
        # within 0.9 s: a thread can start its send a little after its booked instant
        busiest = max(sum(1 for t in times[i:] if t < start + 0.9) for i, start in enumerate(times))
        assert busiest <= 5, f"{busiest} ordersBulk requests of one restaurant within 0.9 s"
    (a_first, a_last), (b_first, b_last) = ((min(t), max(t)) for t in sent.values())
    assert a_first < b_last and b_first < a_last, "the restaurants were read one after the other"


def test_a_chains_restaurants_are_read_side_by_side_each_within_its_orders_bulk_limit(
        toast_env: Callable[..., ToastEnv], http_log: HttpLog) -> None:
    """Toast limits ``ordersBulk`` to five requests per second per client and location, and the
    emulator enforces it: each restaurant's requests keep to it (at most 5 sent in any second), the
    restaurants are read at the same time (their limits are their own), and the import is exact —
    incrementally and in window mode (a business day, as the backfill job reads it). A 429 can still
    come (a request sent within the limit reaching the emulator's next one-second window late):
    waited out, the figures exact."""
    env = toast_env(days=1, scale="chain")  # two restaurants, hundreds of orders a day: pages per window
    assert len(env.restaurants) == 2
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    _side_by_side_within_the_limit(http_log, env.restaurants)

    http_log.clear()
    world = env.world
    day = world.start
    window = env.pipeline("toast_window")
    start = world.local_midnight(world.locations[0], day)
    env.run(window, start=start, end=start + timedelta(days=1))
    got = {r[0] for r in query(window, "select guid from orders")}
    assert got == {s.id for loc in world.locations for s in world.iter_sales(loc.location_id)
                   if s.local_date == day and s.closed_at <= world.now}
    _side_by_side_within_the_limit(http_log, env.restaurants)
