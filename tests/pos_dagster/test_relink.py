"""Re-linking a store continues its history (issue: re-linking silently stopped every sync).

Through the real CLI (``pos_sync.cli.main``) against a sandbox on loopback, for each provider:
sync; ``accounts remove`` without ``--purge``; ``accounts add`` the same store; sync again — the
account gets the same id, the sync continues the cursor (it is incremental, not a second
historical import), the canonical tables reconcile with the ledger to the cent with no duplicate,
and sales made after the re-link keep arriving. The same after the app store file is lost, and
for an account created before ids were derived from the store (a random id).
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.accounts import link_account, manifest_account
from support.destination import open_warehouse
from support.sandboxes import sandboxes
from support.worlds import mid_window, sandbox_world, set_clock

from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

DAYS = 3
PROVIDERS = ("square", "toast", "lightspeed")


@dataclass
class Store:
    world: World
    server: SandboxServer
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def cred(self, provider: str) -> dict[str, Any]:
        return manifest_account(self.server, provider)

    def set_now(self, when: datetime) -> None:
        set_clock(self.world, self.monkeypatch, when)

    def cli(self, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        from pos_sync.cli import main

        self.capsys.readouterr()
        if stdin is not None:
            self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin + "\n"))
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def add(self, provider: str) -> dict[str, Any]:
        """``pos-sync accounts add <provider>`` with the store's credentials (as a merchant would
        paste them; Lightspeed's through its OAuth flow, since its refresh tokens rotate)."""
        cred = self.cred(provider)
        common = ["--tenant", self.world.tenant_id, "--base-url", cred["base_url"], "--json",
                  "--historical-days", str(DAYS + 2)]
        if provider == "square":
            argv = ["accounts", "add", "square", "--access-token", cred["access_token"], *common]
            code, out, err = self.cli(*argv)
        elif provider == "toast":
            argv = ["accounts", "add", "toast", "--client-id", cred["client_id"], "--client-secret", "-",
                    *common, *[a for guid in cred["location_ids"] for a in ("--location", guid)]]
            code, out, err = self.cli(*argv, stdin=cred["client_secret"])
        else:
            from pos_sync import appstore

            return appstore.get_account(link_account(self.server, self.world.tenant_id, provider)).to_dict()
        assert code == 0, err
        return dict(json.loads(out))

    def sync(self, account_id: str) -> dict[str, Any]:
        code, out, err = self.cli("sync", "--account", account_id, "--json")
        summaries = json.loads(out) if out.strip() else []
        assert code == 0, f"sync failed: {summaries} {err[-3000:]}"
        return dict(summaries[0])

    def remove(self, account_id: str) -> None:
        code, _out, err = self.cli("accounts", "remove", account_id)
        assert code == 0, err

    def assert_reconciled(self, provider: str) -> None:
        from pos_sync.cli.demo import reconcile_with_ledger

        truth = compute_truth(self.world)
        result = reconcile_with_ledger(self.world, {provider})
        assert result["verdict"] == "reconciled", result["problems"][:5]
        assert result["days_compared"] == len([r for r in truth["daily"] if r["provider"] == provider])
        with open_warehouse() as wh:
            dupes = wh.scalar("select count(*) - count(distinct (tenant_id, pos_provider, pos_transaction_id)) "
                              "from pos.pos_transactions where pos_provider = %s", (provider,))
            products = wh.scalar("select count(*) - count(distinct pos_item_id) from pos.pos_products "
                                 "where pos_provider = %s and is_current", (provider,))  # one current version
        assert (dupes, products) == (0, 0)


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Store]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    world = sandbox_world(10, *PROVIDERS, days=DAYS)
    mid = mid_window(world)
    world.set_now(mid)
    with sandboxes(app_store=True) as started:
        s = Store(world, started.serve(world), monkeypatch, capsys)
        s.set_now(mid)
        yield s


def _canonical_ids(provider: str) -> set[str]:
    with open_warehouse() as wh:
        return {r["id"] for r in wh.query("select id from pos.pos_transactions where pos_provider = %s", (provider,))}


def _lose_app_store() -> None:
    from pos_sync.appstore import dispose_engines
    from pos_sync.settings import load_settings

    dispose_engines()
    path = Path(load_settings().database_url.removeprefix("sqlite:///"))
    assert path.exists()
    path.unlink()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_adding_the_same_store_again_continues_its_history(store: Store, provider: str) -> None:
    """Removed without --purge, then added again; then the app store lost, then added again."""
    first = store.add(provider)
    assert store.sync(first["id"])["sync_type"] == "historical"
    seen = _canonical_ids(provider)
    end = store.world.window_end_utc
    for step, lose in enumerate((lambda: store.remove(first["id"]), _lose_app_store), start=1):
        lose()
        store.set_now(end + timedelta(hours=step))  # sales and refunds happened meanwhile
        again = store.add(provider)
        assert again["id"] == first["id"]  # the same store is the same account
        summary = store.sync(again["id"])
        assert summary["sync_type"] == "incremental", summary  # the cursor continued: no second import
        store.assert_reconciled(provider)  # no gap, no duplicate, to the cent
        now = _canonical_ids(provider)
        assert seen <= now  # the same canonical ids, none lost
        seen = now


def test_an_account_with_a_legacy_random_id_re_added_takes_its_history_over(store: Store,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts created before ids came from the store have random ids; re-adding one after it was
    removed (or its app store lost) gives the derived id: a second history over the same rows,
    which the canonical build takes over without a duplicate."""
    from pos_sync.appstore import models

    with monkeypatch.context() as m:
        m.setattr(models, "account_id_for", lambda *_parts: str(uuid.uuid4()))
        legacy = store.add("square")
    store.sync(legacy["id"])
    store.remove(legacy["id"])
    store.set_now(store.world.window_end_utc + timedelta(hours=1))
    again = store.add("square")
    assert again["id"] != legacy["id"]
    assert store.sync(again["id"])["status"] == "success"
    store.assert_reconciled("square")
    store.set_now(store.world.window_end_utc + timedelta(hours=2))
    assert store.sync(again["id"])["status"] == "success"  # and it keeps syncing
    store.assert_reconciled("square")
