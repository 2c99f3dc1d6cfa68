"""The Square source against the real sandbox on loopback, loading into DuckDB in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from square_support import (
    HttpLog,
    SquareEnv,
    assert_flat_rows_match_api,
    assert_matches_truth,
    assert_nested_rows_match_api,
    changed_between,
    hwm_state,
)
from support.destination import data_row_counts, query
from support.http_log import Sent

from dlt_sources.common.pseudonymise import pseudonymise_rows
from dlt_sources.square.helpers import iso
from dlt_sources.square.settings import PII_FIELDS


def test_full_import_equals_ledger_and_a_noop_run_writes_nothing(
        make_env: Callable[..., SquareEnv], http_log: HttpLog) -> None:
    env = make_env()
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    # money is integer minor units, quantities stay strings
    types = dict(query(pipeline, "select column_name, data_type from information_schema.columns "
                                 "where table_name = 'orders__line_items'"))
    assert types["quantity"] == "VARCHAR" and types["total_money__amount"] == "BIGINT"
    assert query(pipeline, "select count(*) from payments where _pos_account_id <> "
                           f"'{env.account['account_id']}' or _pos_account_id is null")[0][0] == 0
    state = hwm_state(pipeline, "payments", env.account["account_id"])
    assert sorted(state["hwm"]) == sorted(env.location_ids)

    http_log.clear()
    env.run(pipeline)
    assert data_row_counts(pipeline) == {}
    per_stream = http_log.per_stream()
    customers = len(env.world.customers[env.account["account_id"]])
    assert per_stream.pop(("/v2/customers", "-")) == -(-customers // 100)  # ListCustomers: 100 a page at most
    assert all(n == 1 for n in per_stream.values()), per_stream
    locs = env.location_ids
    assert set(per_stream) == {
        ("/v2/locations", "-"), ("/v2/team-members/search", "-"), ("/v2/catalog/search", "-"),
        *(("/v2/payments", loc) for loc in locs), *(("/v2/refunds", loc) for loc in locs),
        ("/v2/orders/search", ",".join(locs)),
    }
    # the re-read covers the lookback before each location's high-water mark
    for sent in http_log.sent:
        if sent.path.endswith("/v2/payments"):
            begin = datetime.fromisoformat(sent.params["updated_at_begin_time"].replace("Z", "+00:00"))
            assert begin == datetime.fromisoformat(state["hwm"][sent.params["location_id"]].replace(
                "Z", "+00:00")) - timedelta(minutes=15)
            assert sent.params["sort_field"] == "UPDATED_AT" and sent.params["sort_order"] == "ASC"
            assert sent.params["begin_time"] == "2009-01-01T00:00:00.000Z"  # not Square's 1-year default


def test_clock_advance_loads_exactly_the_new_and_changed_objects(make_env: Callable[..., SquareEnv]) -> None:
    env = make_env()
    world = env.world
    now1 = world.window_end_utc - timedelta(hours=30)
    env.set_now(now1)
    pipeline = env.pipeline()
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())

    now2 = world.window_end_utc + timedelta(days=7)  # late refunds and tip edits become visible
    env.set_now(now2)
    expected = changed_between(world, now1, now2)
    assert expected["refunds"] >= 2, "the seed should produce refunds after now1"
    env.run(pipeline)
    counts = data_row_counts(pipeline)
    assert {k: counts.get(k, 0) for k in expected} == expected
    assert not {"locations", "team_members", "customers"} & set(counts)  # unchanged: nothing written
    # catalog: the ITEM and its ITEM_VARIATION of every item edited, added or deleted meanwhile
    edited = sum(1 for items in world.items.values() for item in items
                 if any(now1 < state.at <= now2 for state in item.history))
    assert counts.get("catalog", 0) == 2 * edited
    assert_matches_truth(pipeline, env.truth())
    # the tip edits are in: each edited payment carries its new tip
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            if sale.tip_edit is not None and sale.tip_edit.at <= now2:
                tip = query(pipeline, f"select tip_money__amount from payments where id = '{sale.tip_edit.tender_id}'")
                assert tip == [(sale.tip_edit.new_tip_cents,)]


def test_faults_429_503_and_token_expiry_still_give_exact_counts(
        make_env: Callable[..., SquareEnv]) -> None:
    from pos_sandbox.faults import FaultPlan

    plan = FaultPlan(schedule={2: "429", 4: "429-noretry", 6: "503", 7: "503", 11: "502"}, expire_after=4)
    env = make_env(faults=plan)
    saved: list[Any] = []
    provider = env.token_provider(on_refresh=saved.append)
    pipeline = env.pipeline()
    env.run(pipeline, token_provider=provider)
    assert_matches_truth(pipeline, env.truth())
    assert plan.injected["429"] == 1 and plan.injected["429-noretry"] == 1 and plan.injected["503"] == 2
    assert plan.injected["expire"] >= 1
    assert provider.refresh_count >= 1 and saved and saved[-1].access_token == provider.tokens.access_token
    assert saved[-1].refresh_token == env.account["refresh_token"]  # code flow: the same refresh token


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def test_revoked_refresh_token_raises_reauthorization_required(make_env: Callable[..., SquareEnv]) -> None:
    import requests

    from dlt_sources.common import ReauthorizationRequired

    env = make_env()
    acct = env.account
    revoked = requests.post(acct["base_url"] + "/oauth2/revoke", json={"client_id": acct["client_id"],
                            "merchant_id": acct["account_id"]},
                            headers={"Authorization": f"Client {acct['client_secret']}"}, timeout=10)
    assert revoked.status_code == 200, revoked.text
    pipeline = env.pipeline()
    with pytest.raises(PipelineStepFailed) as info:
        env.run(pipeline, token_provider=env.token_provider())
    error = _cause(info.value, ReauthorizationRequired)
    assert error is not None, info.value
    assert "pos-sync accounts add square" in str(error)


def test_missing_scope_raises_missing_scopes_not_an_empty_table(make_env: Callable[..., SquareEnv]) -> None:
    import requests

    from dlt_sources.common import MissingScopes

    env = make_env()
    acct = env.account
    issued = requests.post(acct["base_url"] + "/_sandbox/square/tokens", timeout=10, json={
        "merchant_id": acct["account_id"],
        "scopes": ["MERCHANT_PROFILE_READ", "PAYMENTS_READ", "ITEMS_READ", "EMPLOYEES_READ"],
    })
    assert issued.status_code == 200, issued.text
    pipeline = env.pipeline()
    with pytest.raises(PipelineStepFailed) as info:
        env.run(pipeline, token_provider=_static(issued.json()["access_token"]))
    error = _cause(info.value, MissingScopes)
    assert error is not None and "ORDERS_READ" in str(error) and error.scopes == ("ORDERS_READ",)  # type: ignore[attr-defined]
    assert query(pipeline, "select count(*) from information_schema.tables where table_name = 'orders'") == [(0,)]


def _static(token: str) -> Any:
    from dlt_sources.common import TokenSet
    from dlt_sources.square import square_tokens

    return square_tokens(TokenSet(token))  # no refresh token: never refreshes


def test_run_killed_after_first_location_then_rerun_has_no_gaps_or_duplicates(
        make_env: Callable[..., SquareEnv], http_log: HttpLog) -> None:
    env = make_env()
    world = env.world
    now1 = world.window_end_utc - timedelta(hours=30)
    env.set_now(now1)
    pipeline = env.pipeline()
    env.run(pipeline)
    acct_id = env.account["account_id"]
    before = {r: hwm_state(pipeline, r, acct_id) for r in ("payments", "refunds", "orders", "catalog")}

    env.set_now(world.window_end_utc + timedelta(days=7))
    second = env.location_ids[1]

    def crash(sent: Sent, request: Any) -> None:
        if sent.path.endswith("/v2/payments") and sent.params.get("location_id") == second:
            raise RuntimeError("worker killed mid-sync")

    http_log.hook = crash
    with pytest.raises(PipelineStepFailed):
        env.run(pipeline)
    assert any(s.path.endswith("/v2/payments") and s.params.get("location_id") == env.location_ids[0]
               and s.status == 200 for s in http_log.sent), "the first location was read before the crash"
    after_crash = {r: hwm_state(pipeline, r, acct_id) for r in before}
    assert after_crash == before  # no cursor moved

    http_log.hook = None
    env.run(pipeline)
    assert_matches_truth(pipeline, env.truth())
    assert hwm_state(pipeline, "payments", acct_id)["hwm"] != before["payments"]["hwm"]


def test_window_mode_is_stateless_and_reads_created_at_in_the_window(
        make_env: Callable[..., SquareEnv], http_log: HttpLog) -> None:
    env = make_env()
    world = env.world
    start = world.window_start_utc + timedelta(days=1)
    end = start + timedelta(days=1)
    pipeline = env.pipeline("square_window")
    env.run(pipeline, start=start, end=end)
    expected_payments = 0
    expected_orders = 0
    for loc in world.locations:
        for sale in world.iter_sales(loc.location_id):
            created = [sale.closed_at - timedelta(seconds=2 * (len(sale.tenders) - k)) for k in range(len(sale.tenders))]
            expected_payments += sum(start <= c < end for c in created)
            expected_orders += start <= sale.opened_at < end
            if sale.refund is not None and sale.refund.created_at <= world.now:
                expected_orders += start <= sale.refund.created_at < end
    assert query(pipeline, "select count(*) from payments")[0][0] == expected_payments
    assert query(pipeline, "select count(*) from orders")[0][0] == expected_orders
    for resource in ("payments", "refunds", "orders", "catalog"):
        assert hwm_state(pipeline, resource, env.account["account_id"]) == {}
    sent = [s for s in http_log.sent if s.path.endswith("/v2/payments")]
    assert sent and all("begin_time" in s.params and "updated_at_begin_time" not in s.params for s in sent)
    assert all(s.params["begin_time"] == iso(start) and s.params["end_time"] == iso(end) for s in sent)


def test_invalid_cursor_restarts_from_the_high_water_mark(
        make_env: Callable[..., SquareEnv], http_log: HttpLog, monkeypatch: pytest.MonkeyPatch) -> None:
    import dlt_sources.square.source as square

    monkeypatch.setattr(square, "PAYMENTS_PAGE_SIZE", 10)  # several pages per location
    env = make_env()
    garbled: list[Sent] = []

    def garble(sent: Sent, request: Any) -> Any:
        if sent.path.endswith("/v2/payments") and "cursor" in sent.params and len(garbled) < 2:
            garbled.append(sent)
            bad = request.copy()
            bad.prepare_url(request.url.split("?", 1)[0], {**sent.params, "cursor": "expired-cursor"})
            return bad
        return None

    http_log.hook = garble
    pipeline = env.pipeline()
    env.run(pipeline)
    assert len(garbled) == 2 and all(s.status == 400 for s in garbled)
    assert_matches_truth(pipeline, env.truth())
    first_queries: dict[tuple[str, str], str] = {}
    restarts = 0
    for sent in http_log.sent:
        if sent.path.endswith("/v2/payments") and "cursor" not in sent.params:
            # one query per location and time slice (its end); a restart keeps the slice's end
            query_of = (sent.params["location_id"], sent.params["updated_at_end_time"])
            if query_of not in first_queries:
                first_queries[query_of] = sent.params["updated_at_begin_time"]
            else:  # a restart resumes at the high-water mark reached, not at the beginning
                assert sent.params["updated_at_begin_time"] > first_queries[query_of]
                restarts += 1
    assert restarts == 2


CHILD = r"""
import json, os, signal, sys
from datetime import datetime
import dlt
from dlt_sources.common.http import ApiSession
from dlt_sources.common import TokenSet
from dlt_sources.square import destination_known_versions, square_source, square_tokens

args = json.loads(sys.argv[1])
original = ApiSession._send_once

def send_once(self, request, kwargs):
    if "/v2/payments" in request.url and args["kill_location"] in request.url:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no exception handling: a hard kill
    return original(self, request, kwargs)

ApiSession._send_once = send_once
pipeline = dlt.pipeline(pipeline_name=args["name"], destination=dlt.destinations.duckdb(args["db"]),
                        dataset_name="raw_square", pipelines_dir=args["pipelines_dir"])
tokens = square_tokens(TokenSet(args["token"]), base_url=args["base_url"])
source = square_source(tokens, args["locations"], base_url=args["base_url"], account_id=args["account"],
                       initial_start=datetime.fromisoformat(args["initial_start"]),
                       now=datetime.fromisoformat(args["now"]),
                       known_versions=destination_known_versions(pipeline, account_id=args["account"]))
pipeline.run(source, loader_file_format="parquet")
"""


def test_hard_killed_subprocess_then_rerun_has_no_gaps_or_duplicates(make_env: Callable[..., SquareEnv]) -> None:
    import json
    import subprocess
    import sys

    env = make_env()
    world = env.world
    now1 = world.window_end_utc - timedelta(hours=30)
    env.set_now(now1)
    pipeline = env.pipeline()
    env.run(pipeline)
    acct = env.account
    before = hwm_state(pipeline, "payments", acct["account_id"])

    env.set_now(world.window_end_utc + timedelta(days=7))
    args = {"name": pipeline.pipeline_name, "db": str(env.tmp_path / "w.duckdb"),
            "pipelines_dir": str(env.tmp_path / "pipelines"), "token": acct["access_token"],
            "locations": env.location_ids, "base_url": acct["base_url"], "account": acct["account_id"],
            "initial_start": (world.window_start_utc - timedelta(days=1)).isoformat(),
            "now": world.now.isoformat(), "kill_location": env.location_ids[1]}
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, timeout=120)
    assert child.returncode == -9, child.stderr.decode()[-2000:]

    rerun = env.pipeline()  # a new process would open the pipeline afresh
    assert hwm_state(rerun, "payments", acct["account_id"]) == before
    env.run(rerun)
    assert_matches_truth(rerun, env.truth())


def test_payments_and_refunds_land_flat_with_lists_as_json(make_env: Callable[..., SquareEnv],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Payments and refunds reach dlt as Arrow tables (no per-row normalisation): the stored rows
    must be what dlt's dict path made of them, minus the child tables of their lists."""
    env = make_env()
    pipeline = env.pipeline()
    with caplog.at_level("WARNING", logger="dlt"):
        env.run(pipeline)
    assert not [r for r in caplog.records if "arrow schema" in r.getMessage()]
    assert_matches_truth(pipeline, env.truth())
    tables = {t for (t,) in query(pipeline, "select table_name from information_schema.tables "
                                            "where table_schema = 'raw_square'")}
    assert not {t for t in tables if t.startswith(("payments__", "refunds__"))}
    types = dict(query(pipeline, "select column_name, data_type from information_schema.columns "
                                 "where table_schema = 'raw_square' and table_name = 'payments'"))
    assert types["amount_money__amount"] == types["tip_money__amount"] == "BIGINT"
    assert types["created_at"] == types["card_details__card_payment_timeline__captured_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["processing_fee"] == types["refund_ids"] == "JSON"
    assert types["id"] == "VARCHAR" and types["_dlt_id"] == types["_dlt_load_id"] == "VARCHAR"
    assert query(pipeline, "select count(*) from payments where refund_ids is not null")[0][0] > 0
    assert assert_flat_rows_match_api(pipeline, env, "payments") == 60
    assert assert_flat_rows_match_api(pipeline, env, "refunds") > 0
    # each load's rows carry that load's id (the canonical build reads changes by _dlt_load_id)
    loads = {r[0] for r in query(pipeline, "select distinct _dlt_load_id from payments")}
    assert loads == set(pipeline.list_completed_load_packages())


def test_orders_land_as_nested_tables_equal_to_the_api(make_env: Callable[..., SquareEnv],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Orders reach dlt as Arrow tables with their lists as dlt child tables (no per-row
    normalisation): re-assembled from the stored rows, each order is what the API returns (its
    personal fields, also inside the lists, pseudonymised); the child tables are dlt's nested
    tables of ``orders`` (replaced with their order on a merge)."""
    def pseudonymize(value: Any, kind: str) -> Any:
        return None if value is None else f"p:{kind}:{value}"

    env = make_env()
    pipeline = env.pipeline()
    with caplog.at_level("WARNING", logger="dlt"):
        env.run(pipeline, pseudonymize=pseudonymize)
    assert not [r for r in caplog.records if "arrow schema" in r.getMessage()]
    assert_matches_truth(pipeline, env.truth())
    sample = ("id in (select id from orders order by id limit 20) "
              "or id in (select o.id from orders o join orders__returns r on r._dlt_parent_id = o._dlt_id limit 4) "
              "or id in (select o.id from orders o join orders__line_items li on li._dlt_parent_id = o._dlt_id "
              "join orders__line_items__modifiers m on m._dlt_parent_id = li._dlt_id limit 4) "
              "or id in (select o.id from orders o join orders__discounts d on d._dlt_parent_id = o._dlt_id limit 4)")
    hidden = PII_FIELDS["orders"]
    assert assert_nested_rows_match_api(pipeline, env, sample,
                                        lambda order: pseudonymise_rows([order], hidden, pseudonymize)[0]) >= 20
    assert query(pipeline, "select count(*) from orders__returns__return_line_items")[0][0] > 0
    tender_ids = query(pipeline, "select customer_id from orders__tenders where customer_id is not null")
    assert tender_ids and all(v.startswith("p:id:") for (v,) in tender_ids)
    schema = pipeline.default_schema
    children = [t for t in schema.tables if t.startswith("orders__")]
    assert {"orders__line_items", "orders__line_items__modifiers", "orders__tenders", "orders__taxes",
            "orders__discounts", "orders__returns", "orders__returns__return_line_items"} <= set(children)
    for name in children:
        table = schema.tables[name]
        assert table["parent"] == name.rsplit("__", 1)[0] and "resource" not in table
        assert table["columns"]["_dlt_root_id"]["root_key"] and table["columns"]["_dlt_parent_id"]["parent_key"]
        orphans = query(pipeline, f"select count(*) from {name} c left join orders o on c._dlt_root_id = o._dlt_id "
                                  "where o._dlt_id is null")
        assert orphans == [(0,)], name
    assert schema.tables["orders"]["columns"]["id"]["primary_key"]
    assert "primary_key" not in schema.tables["orders__line_items"]["columns"].get("id", {})
    types = dict(query(pipeline, "select column_name, data_type from information_schema.columns "
                                 "where table_schema = 'raw_square' and table_name = 'orders__tenders'"))
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE" and types["amount_money__amount"] == "BIGINT"


def test_customers_land_pseudonymised_and_join_the_orders(make_env: Callable[..., SquareEnv]) -> None:
    """ListCustomers: every profile of the merchant, its personal fields (the id too) hashed before
    dlt sees them, so the orders' hashed ``customer_id`` still finds it; an unchanged profile is
    not written again (the version guard looks up the hashed ids the destination holds)."""
    def pseudonymize(value: Any, kind: str) -> Any:
        return None if value is None else f"p:{kind}:{value}"

    env = make_env()
    pipeline = env.pipeline()
    env.run(pipeline, pseudonymize=pseudonymize)
    people = {c.id: c for c in env.world.customers[env.account["account_id"]]}
    stored = query(pipeline, "select id, given_name, family_name, email_address, phone_number, version, "
                             "_pos_account_id from customers")
    expected = {(f"p:id:{c.id}", f"p:name:{c.given_name}", f"p:name:{c.family_name}", f"p:email:{c.email}",
                 f"p:phone:{c.phone}", 0, env.account["account_id"]) for c in people.values()}
    assert set(stored) == expected and len(stored) == len(people)
    named = query(pipeline, "select distinct customer_id from orders where customer_id is not null")
    assert named and {v for (v,) in named} <= {row[0] for row in stored}
    env.run(pipeline, pseudonymize=pseudonymize)
    assert "customers" not in data_row_counts(pipeline)


def test_a_token_without_customers_read_syncs_sales_and_says_what_it_skipped(
        make_env: Callable[..., SquareEnv]) -> None:
    """Customers only fill the customer columns: without CUSTOMERS_READ the sales still load (equal
    to the ledger), the customers are skipped and the run is partial, naming the scope."""
    import requests

    from dlt_sources.common.pace import SyncPace

    env = make_env()
    acct = env.account
    issued = requests.post(acct["base_url"] + "/_sandbox/square/tokens", timeout=10, json={
        "merchant_id": acct["account_id"],
        "scopes": ["MERCHANT_PROFILE_READ", "PAYMENTS_READ", "ORDERS_READ", "ITEMS_READ", "EMPLOYEES_READ"],
    })
    assert issued.status_code == 200, issued.text
    pace = SyncPace()
    pipeline = env.pipeline()
    env.run(pipeline, token_provider=_static(issued.json()["access_token"]), pace=pace)
    assert_matches_truth(pipeline, env.truth())
    assert "customers" not in data_row_counts(pipeline)
    assert pace.partial and [(s.stream, s.skipped) for s in pace.stopped_early] == [("Square customers", True)]
    reason = pace.as_dict()["stopped_early"][0]["reason"]
    assert "CUSTOMERS_READ" in reason and "customer columns stay empty" in reason


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"orders":[{"id":"a","cursor":"x"}],"cursor":"c2VhcmNo"}', "c2VhcmNo"),
    (b'{"orders": [], "cursor": "abc-123"}\n', "abc-123"),
    (b'{"cursor":"abc","orders":[{"id":"a"}]}', None),  # not the last member: no guess
    (b'{"orders":[{"id":"a","cursor":"x"}]}', None),  # a row's field, the last page
    (b'{"orders":[],"cursor":"a\\"b"}', None),  # escaped: left to the read
    (b'{"orders":[]}', None),
])
def test_tail_cursor_reads_only_a_trailing_cursor(body: bytes, expected: str | None) -> None:
    from dlt_sources.square.helpers import tail_cursor

    assert tail_cursor(body) == expected


def test_orders_pages_are_requested_ahead_once_each_and_an_invalid_cursor_restarts(
        make_env: Callable[..., SquareEnv], http_log: HttpLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """SearchOrders' next page is requested while this one is read (its cursor read off the body's
    end): every cursor the pages gave is asked for exactly once (no guess dropped, none repeated),
    and an INVALID_CURSOR answer to a request made ahead restarts the query as in turn."""
    import dlt_sources.square.source as square

    monkeypatch.setattr(square, "ORDERS_PAGE_SIZE", 10)  # several pages
    env = make_env()
    garbled: list[Sent] = []

    def garble(sent: Sent, request: Any) -> Any:
        if sent.path.endswith("/v2/orders/search") and sent.body and sent.body.get("cursor") and not garbled:
            garbled.append(sent)
            bad = request.copy()
            bad.prepare_body(None, None, json={**sent.body, "cursor": "expired-cursor"})
            return bad
        return None

    http_log.hook = garble
    pipeline = env.pipeline()
    env.run(pipeline)
    assert len(garbled) == 1 and garbled[0].status == 400
    assert_matches_truth(pipeline, env.truth())
    searches = [s for s in http_log.sent if s.path.endswith("/v2/orders/search")]
    assert len(searches) > 5
    cursors = [s.body.get("cursor") for s in searches if s.body and s.body.get("cursor")]
    assert len(cursors) == len(set(cursors)) == len(searches) - 2  # the first query and its restart: no cursor
