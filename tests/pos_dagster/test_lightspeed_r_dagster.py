"""Lightspeed R-Series through the product: linked as a merchant would (OAuth code flow at the
emulator's ``/auth/oauth/...``, account and shops read from the API), synced by the provider's
Dagster job (``pos_dagster.adapter.sync_account``) over a window that crosses the spring DST switch
in Madrid, and reconciled to the sandbox ledger to the cent. A second sync loads nothing; a clock
advance loads the changed sales only and still reconciles; rotated refresh tokens are stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.accounts import manifest_account
from support.destination import raw_query
from support.sandboxes import dagster_home, sandboxes
from support.worlds import sandbox_world, set_clock

from pos_sandbox.ledger import compute_truth

START = date(2026, 3, 27)  # Madrid moves to summer time on 29 March
DAYS = 4


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    dagster_home(monkeypatch, tmp_path)
    with sandboxes(app_store=True) as started:
        world = sandbox_world(41, "lightspeed_r", days=DAYS, start=START)
        end = world.now
        set_clock(world, monkeypatch, end - timedelta(hours=30))
        server = started.serve(world, bucket=(60, 200.0))
        yield {"world": world, "server": server, "instance": started.dagster_instance(), "end": end,
               "monkeypatch": monkeypatch}


def test_lightspeed_r_syncs_through_dagster_and_reconciles_across_dst(env: dict[str, Any]) -> None:
    from pos_dagster.adapter import sync_account
    from pos_sync import appstore
    from pos_sync.cli.demo import link_lightspeed_r_account, reconcile_with_ledger

    world, server = env["world"], env["server"]
    cred = manifest_account(server, "lightspeed_r")
    account_id = link_lightspeed_r_account(cred["base_url"], world.tenant_id, cred)
    account = appstore.get_account(account_id)
    assert account.provider == "lightspeed_r" and account.location_ids == ["1"]

    first = sync_account(account_id, instance=env["instance"])
    assert first["status"] == "success", first.get("error")
    assert first["rows_loaded"]["lightspeed_r/sales"] > 0
    result = reconcile_with_ledger(world, {"lightspeed_r"})
    assert result["verdict"] == "reconciled", result["problems"][:5]
    truth = [r for r in compute_truth(world)["daily"] if r["provider"] == "lightspeed_r"]
    assert result["days_compared"] == len(truth) >= 2 and any(r["refund_count"] for r in truth)

    # personal data is pseudonymised before it is stored (keyed hashes), the customer's id too
    personal = raw_query("lightspeed_r", "select customer_id, customer_email, customer_phone, customer_name "
                                         "from sales where customer_email is not null")
    assert personal and all(str(v).startswith("h:") for row in personal for v in row)
    emails = {c.email for c in world.customers[cred["account_id"]]}
    assert not emails & {row[1] for row in personal}

    second = sync_account(account_id, instance=env["instance"])
    assert second["status"] == "success" and second["sync_type"] == "incremental"
    assert {k: v for k, v in second["rows_loaded"].items() if v} == {}

    set_clock(world, env["monkeypatch"], env["end"])  # the rest of the window, DST day included
    third = sync_account(account_id, instance=env["instance"])
    assert third["status"] == "success", third.get("error")
    objects = next(o for o in compute_truth(world)["objects"] if o["provider"] == "lightspeed_r" and o["location_id"])
    assert first["rows_loaded"]["lightspeed_r/sales"] + third["rows_loaded"]["lightspeed_r/sales"] < \
        objects["sales"] + 40, "the advance loads the new and changed sales, not the history again"
    result = reconcile_with_ledger(world, {"lightspeed_r"})
    assert result["verdict"] == "reconciled", result["problems"][:5]
    dst_day = [r for r in compute_truth(world)["daily"] if r["provider"] == "lightspeed_r"
               and r["business_date"] == "2026-03-29"]
    assert dst_day and dst_day[0]["sales_count"] > 0  # the Sunday of the switch trades (and reconciled)

    stored = appstore.account_credentials(account_id)
    store = next(r.app.state.lightspeed_r.store for r in server.app.routes  # type: ignore[attr-defined]
                 if getattr(r, "path", "") == "/lightspeed_r")
    assert stored.refresh_token in store.refresh and not store.refresh[stored.refresh_token].used


def test_cli_adds_an_r_series_account_with_shop_discovery(env: dict[str, Any],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from pos_sync import appstore
    from pos_sync.cli import main

    cred = manifest_account(env["server"], "lightspeed_r")
    argv = ["accounts", "add", "lightspeed_r", "--tenant", "t1", "--access-token", cred["access_token"],
            "--refresh-token", cred["refresh_token"], "--client-id", cred["client_id"],
            "--client-secret", cred["client_secret"], "--base-url", cred["base_url"], "--json"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    added = json.loads(out)
    assert added["location_ids"] == ["1"] and added["locations"][0]["timezone"] == "Europe/Madrid"
    assert cred["access_token"] not in out + err and cred["refresh_token"] not in out + err
    assert main([*argv, "--location", "9"]) == 1
    assert "9" in capsys.readouterr().err
    assert main([*argv, "--account-id", "1"]) == 1  # the token's account is another one
    err = capsys.readouterr().err
    assert f"belong to account {cred['account_id']}, not 1" in err and len(err.strip().splitlines()) == 1
    assert main(["accounts", "add", "lightspeed_r", "--tenant", "t1", "--access-token", "bogus",
                 "--refresh-token", "x", "--base-url", cred["base_url"]]) == 1
    err = capsys.readouterr().err
    assert "rejected the access token" in err and "Traceback" not in err
    creds = appstore.account_credentials(added["id"])
    assert (creds.merchant_id, creds.client_secret) == (cred["account_id"], cred["client_secret"])
