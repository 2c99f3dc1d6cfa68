"""End to end in a real browser: Playwright drives Debian's chromium (``make test`` installs it)
through what a merchant does — the dashboard's connect page, "Connect Square" (or Lightspeed), the
provider's consent page, "Allow", the success page — then the account exists with its locations,
its first sync is queued, and that sync reconciles with the sandbox ledger to the cent.
Screenshots of each step go to ``tests/artifacts/browser/<test>/`` (kept out of git)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oauth_support import Linking, linking_env

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Any:
    return chromium  # the session's chromium (tests/conftest.py)


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Linking]:
    with linking_env(monkeypatch, providers=("square", "lightspeed")) as linking:
        yield linking


@pytest.mark.parametrize("provider", ["square", "lightspeed"])
def test_a_merchant_connects_in_the_browser_and_the_sync_reconciles(browser: Any, env: Linking, provider: str,
                                                                    request: pytest.FixtureRequest,
                                                                    tmp_path: Path) -> None:
    shots = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    page = browser.new_page()
    try:
        page.goto(env.connect_link())
        page.screenshot(path=str(shots / "1-connect-page.png"))
        page.click(f"#connect-{provider}")
        page.wait_for_selector("#allow")  # the provider's own consent page
        assert page.url.startswith(env.cred(provider)["base_url"])
        page.screenshot(path=str(shots / "2-consent.png"))
        page.click("#allow")
        page.wait_for_selector("#connected")
        page.screenshot(path=str(shots / "3-connected.png"))
        text = page.inner_text("#connected")
    finally:
        page.close()
    [account] = env.store.list_accounts(env.tenant)
    assert account.provider == provider and text.startswith("Connected")
    assert sorted(account.location_ids) == sorted(env.cred(provider)["location_ids"])
    assert [r.status for r in env.store.latest_sync_requests(account.id, env.tenant)] == ["pending"]
    assert {p.name for p in shots.iterdir()} == {"1-connect-page.png", "2-consent.png", "3-connected.png"}

    # the queued first sync, run as the daemon would, reconciles with the ledger
    import dagster as dg

    from pos_dagster.adapter import sync_account
    from pos_sync.cli.demo import reconcile_with_ledger

    with dg.DagsterInstance.ephemeral() as instance:
        summary = sync_account(account.id, instance=instance)
    assert summary["status"] == "success", summary
    result = reconcile_with_ledger(env.world, {provider})
    assert result["verdict"] == "reconciled", result["problems"][:5]
