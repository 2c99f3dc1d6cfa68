"""``pos-sync dev``'s pieces without its processes: linking the sandbox's accounts is idempotent
(a restart links the same accounts, not new ones), and an account whose sandbox is gone fails its
sync at once with one clear line (no retry storm), through the real CLI and Dagster job."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.sandboxes import dagster_home, sandboxes
from support.worlds import sandbox_world

PROVIDERS = ("square", "toast", "lightspeed")


def test_relinking_the_dev_accounts_is_idempotent(tmp_path: Path) -> None:
    from pos_sync import appstore
    from pos_sync.cli.dev import link_dev_accounts

    world = sandbox_world(11, *PROVIDERS, days=2)
    with sandboxes(app_store=True) as started:
        manifest = started.serve(world).manifest()
        first = link_dev_accounts(manifest, sync_every=2, history_days=3)
        again = link_dev_accounts(manifest, sync_every=2, history_days=3)  # pos-sync dev restarted
        assert sorted(a["provider"] for a in first) == sorted(PROVIDERS)
        assert [a["account_id"] for a in again] == [a["account_id"] for a in first]
        accounts = appstore.list_accounts()
        assert len(accounts) == 3 and {a.tenant_id for a in accounts} == {world.tenant_id}
        assert {a.sync_frequency_minutes for a in accounts} == {2} and {a.historical_import_days for a in accounts} == {3}
        assert {a.status for a in accounts} == {"active"}


def test_an_account_whose_sandbox_is_gone_fails_at_once_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pos_sync import appstore
    from pos_sync.cli import main
    from pos_sync.cli.dev import link_dev_accounts

    dagster_home(monkeypatch, tmp_path)
    world = sandbox_world(12, *PROVIDERS, days=1)
    with sandboxes(app_store=True) as started:
        server = started.serve(world)
        base = server.base_url
        accounts = link_dev_accounts(server.manifest(), sync_every=5, history_days=2)
        server.stop()  # the sandbox is gone; the accounts stay linked to it
        for account in accounts:
            began = time.monotonic()
            assert main(["sync", "--account", account["account_id"], "--json"]) == 1
            took = time.monotonic() - began
            out, err = capsys.readouterr()
            [summary] = json.loads(out)
            line = f"the sandbox at {base} is not running: start it with `pos-sync dev`"
            assert summary["status"] == "failed" and summary["error_type"] == "provider_unreachable", summary
            assert summary["error"] == line
            assert took < 20, f"{account['provider']}: {took:.1f} s — a retry storm?"
            [log] = appstore.sync_history(account["account_id"], limit=1)
            assert log.error_type == "provider_unreachable" and log.error_message == line
            assert "Traceback" not in err
