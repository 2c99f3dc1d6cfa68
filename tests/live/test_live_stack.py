"""The live local stack in a real browser (Playwright + Debian's chromium) — one ``pos-sync dev``
for the whole module (``live_stack``, session scope), the tests in file order:

1. the asset graph loads, with no code-location error;
2. the partitions of ``raw/toast/orders`` are the Toast account only (not the Square one);
3. the sensor's scheduled first syncs of both accounts (Square, Toast) succeed; a Toast sync launched from
   the UI (job page → "Materialize all…" → the account's partition → "Launch 1 run") succeeds, its
   canonical slice materializes and its checks show as passed on the asset's checks tab;
4. the runs list filtered by the account's label (``pos/account-label``) shows that account's
   runs — the UI-launched one included — and no other account's;
5. last: SIGTERM to ``pos-sync dev`` stops every process group it started within 10 s.

Screenshots go to ``tests/artifacts/browser/live/`` (ignored by git)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from live_support import ARTIFACTS, LiveStack

RUNS = """query($filter: RunsFilter) { runsOrError(filter: $filter, limit: 50) {
  ... on Runs { results { runId jobName status tags { key value } } } } }"""
MATERIALIZATIONS = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations(limit: 1) { runId } } } }"""
CHECKS = """query($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 1) { runId status } }"""
SYNCS_SECONDS = 300  # three scheduled first syncs, one at a time (DuckDB's one writer), on a shared machine
UI_SYNC_SECONDS = 300  # behind the first syncs and the monitoring runs they trigger (one DuckDB writer)


def runs(stack: LiveStack, **filter_: Any) -> list[dict[str, Any]]:
    return list(stack.graphql(RUNS, filter=filter_)["runsOrError"]["results"])


def wait_for(what: str, seconds: float, probe: Any) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s", pytrace=False)
        time.sleep(1)


@pytest.fixture()
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
        page.close()


def test_the_asset_graph_loads_without_a_code_location_error(page: Any, live_stack: LiveStack) -> None:
    page.goto(f"{live_stack.ui}/deployment/locations")
    page.get_by_text("Loaded", exact=True).wait_for()
    locations = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    assert "1 code location" in locations and "pos_dagster" in locations
    assert "Failed" not in locations and "Error" not in locations
    page.goto(f"{live_stack.ui}/asset-groups")
    for group in ("raw_square", "raw_toast", "raw_lightspeed", "canonical"):
        page.get_by_text(group, exact=True).first.wait_for()
    assert not page.get_by_text(re.compile("code location.*error|failed to load", re.I)).count()


def test_the_partitions_of_a_raw_asset_are_its_providers_accounts(page: Any, live_stack: LiveStack) -> None:
    page.goto(f"{live_stack.ui}/assets/raw/toast/orders?view=partitions")
    toast = live_stack.account("toast")["account_id"]
    page.get_by_text(re.compile(f"^{toast[:13]}")).first.wait_for()  # shown middle-truncated
    page.get_by_text(toast, exact=True).first.wait_for(state="attached")
    text = page.inner_text("body")
    assert live_stack.account("square")["account_id"] not in text
    assert re.search(r"Missing \(\d+\)|Materialized \(\d+\)|Materializing \(\d+\)", text)


def test_scheduled_syncs_then_a_sync_launched_from_the_ui(page: Any, live_stack: LiveStack) -> None:
    def first_syncs(done: bool) -> list[dict[str, Any]] | None:
        found = [r for r in runs(live_stack, tags=[{"key": "pos/trigger", "value": "new-account"}])
                 if not done or r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return found if len(found) == 2 else None

    # the sensor asks for both accounts' first syncs on its first tick; the UI's run queues behind them
    wait_for("the sensor's first sync requests", 120, lambda: first_syncs(done=False))
    page.goto(f"{live_stack.ui}/locations/pos_dagster/jobs/toast_sync")
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="All", exact=True).click()  # the only partition: the Toast account
    dialog.get_by_role("button", name="Launch 1 run").click()
    launched = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    launched.wait_for()
    prefix = re.search(r"[0-9a-f]{8}", launched.inner_text()).group(0)  # type: ignore[union-attr]
    page.goto("about:blank")  # while the runs go (GraphQL below): an open job page polls, taking CPU from them

    scheduled = wait_for("the sensor's first sync of each account", SYNCS_SECONDS, lambda: first_syncs(done=True))
    assert {r["jobName"]: r["status"] for r in scheduled} == {"square_sync": "SUCCESS", "toast_sync": "SUCCESS"}

    def finished() -> dict[str, Any] | None:
        mine = [r for r in runs(live_stack, pipelineName="toast_sync") if r["runId"].startswith(prefix)]
        return mine[0] if mine and mine[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    run = wait_for(f"the UI-launched run {prefix}", UI_SYNC_SECONDS, finished)
    assert run["status"] == "SUCCESS", run
    tags = {t["key"]: t["value"] for t in run["tags"]}
    toast = live_stack.account("toast")
    assert tags["dagster/from_ui"] == "true" and tags["pos/account"] == toast["account_id"]
    assert tags["pos/account-label"].endswith(f"· toast · {toast['name']}")

    # the canonical slice materialized by that run, and its checks passed, as the run and asset pages show them
    page.goto(f"{live_stack.ui}/runs/{run['runId']}")
    page.get_by_text("RUN_SUCCESS").first.wait_for()
    page.goto(f"{live_stack.ui}/assets/pos/toast/pos_transactions?view=events")
    page.get_by_text(prefix, exact=True).first.wait_for()  # the materialization's run, in the asset's events
    for table in ("pos_transactions", "pos_transaction_items", "pos_tenders", "daily_product_sales"):
        latest = live_stack.graphql(MATERIALIZATIONS, key={"path": ["pos", "toast", table]})["assetOrError"]
        assert latest["assetMaterializations"][0]["runId"] == run["runId"], table
    for check in ("no_duplicate_transactions", "every_refund_linked", "business_dates_in_location_zone"):
        [execution] = live_stack.graphql(CHECKS, key={"path": ["pos", "toast", "pos_transactions"]},
                                         check=check)["assetCheckExecutions"]
        assert (execution["runId"], execution["status"]) == (run["runId"], "SUCCEEDED"), (check, execution)
    page.goto(f"{live_stack.ui}/assets/pos/toast/pos_transactions?view=checks")
    page.get_by_text("Checks (3)").wait_for()
    for check in ("no_duplicate_transactions", "every_refund_linked", "business_dates_in_location_zone"):
        page.get_by_text(check, exact=True).first.wait_for(state="attached")  # long names are middle-truncated
    page.get_by_text("Passed", exact=True).first.wait_for()  # the selected check's latest evaluation
    assert page.get_by_text("Succeeded", exact=True).count() == 3  # each check's latest execution, in the list
    assert page.get_by_text("Failed", exact=True).count() == 0


def test_the_runs_list_filters_by_the_account_label(page: Any, live_stack: LiveStack) -> None:
    toast = live_stack.account("toast")
    label = next(t["value"] for r in runs(live_stack, tags=[{"key": "pos/account", "value": toast["account_id"]}])
                 for t in r["tags"] if t["key"] == "pos/account-label")
    page.goto(f"{live_stack.ui}/runs?q[0]={quote(f'tag:pos/account-label={label}')}")
    page.get_by_text("toast_sync").first.wait_for()
    page.get_by_text(f"pos/account-label={label}").first.wait_for()  # the filter, shown as a tag
    mine = runs(live_stack, tags=[{"key": "pos/account-label", "value": label}])
    page.get_by_text("toast_sync").nth(len(mine) - 1).wait_for()  # every row rendered
    table = page.inner_text("body")
    assert "square_sync" not in table
    assert len(mine) >= 2 and {r["jobName"] for r in mine} == {"toast_sync"}  # the sensor's and the UI's
    for run in mine:
        assert run["runId"][:8] in table


def test_sigterm_stops_every_process_within_seconds(live_stack: LiveStack) -> None:
    assert live_stack.proc.poll() is None and live_stack.groups_alive() == ["sandbox", "API", "dagster dev"]
    started = time.monotonic()
    os.kill(live_stack.proc.pid, signal.SIGTERM)
    live_stack.proc.wait(timeout=15)
    while live_stack.groups_alive() and time.monotonic() - started < 10:
        time.sleep(0.1)
    took = time.monotonic() - started
    assert live_stack.groups_alive() == [] and took < 10, f"{live_stack.groups_alive()} after {took:.1f} s"
    assert live_stack.proc.returncode == 0
    assert "stopped" in live_stack.stderr.read_text().splitlines()[-1]
