"""``pos-sync backfill ACCOUNT [--from] [--to]``: the day-window backfill of one account, by
default over the account's own history (not from POS_BACKFILL_START_DATE); the sensor turns the
request into one ``<provider>_historical_backfill`` run per day, labelled for the runs list; a
provider without day windows, a backwards or too early range are one line each. The API's
``…/historical`` without dates takes the same default."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.accounts import link_account
from support.sandboxes import dagster_home, sandboxes
from support.sensor import tick
from support.worlds import sandbox_world


def test_backfill_defaults_to_the_account_history_and_runs_one_day_each(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import dagster as dg

    from pos_sync import appstore
    from pos_sync.cli import main

    dagster_home(monkeypatch, tmp_path)
    monkeypatch.setenv("POS_BACKFILL_START_DATE", "2020-01-01")  # far before: the default must not start there
    world = sandbox_world(13, "square", "lightspeed", days=1)
    with sandboxes(app_store=True) as started:
        server = started.serve(world)
        square = link_account(server, world.tenant_id, "square", historical_import_days=3)
        lightspeed = link_account(server, world.tenant_id, "lightspeed")
    account = appstore.get_account(square)
    today = datetime.now(UTC).date()
    first = (account.created_at.astimezone(UTC) - timedelta(days=3)).date()

    assert main(["backfill", square, "--json"]) == 0
    requested = json.loads(capsys.readouterr().out)
    assert (requested["start_date"], requested["end_date"]) == (first.isoformat(), today.isoformat())
    assert requested["days"] == (today - first).days + 1 and requested["job"] == "square_historical_backfill"
    with dg.instance_for_test() as instance:
        runs = [r for r in tick(instance).run_requests if r.tags.get("pos/sync-request") == requested["request_id"]]
    assert {r.job_name for r in runs} == {"square_historical_backfill"}
    assert sorted(r.partition_key.keys_by_dimension["date"] for r in runs) == [  # type: ignore[union-attr]
        (first + timedelta(days=n)).isoformat() for n in range(requested["days"])]
    assert {r.tags["pos/account-label"] for r in runs} == {f"{world.tenant_id} · square · {account.name}"}

    assert main(["backfill", square, "--from", "2026-01-02", "--to", "2026-01-03", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["days"] == 2

    for argv, says in [
        (["backfill", lightspeed], "Lightspeed has no date-window import"),
        (["backfill", square, "--from", "2026-01-03", "--to", "2026-01-02"], "before it starts"),
        (["backfill", square, "--from", "2019-12-31", "--to", "2020-01-02"], "POS_BACKFILL_START_DATE"),
        (["backfill", square, "--to", (today + timedelta(days=1)).isoformat()], "after today"),
        (["backfill", "no-such-account"], "no account no-such-account"),
    ]:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], (argv, err)


def test_the_default_range_is_the_history_start_to_today(tmp_path: Path) -> None:
    from pos_sync.appstore import AppStore
    from pos_sync.ingest.backfill import backfill_range
    from pos_sync.settings import load_settings

    settings = load_settings()
    store = AppStore(settings)
    world = sandbox_world(14, "square", days=1)
    with sandboxes(app_store=True) as started:
        server = started.serve(world)
        square = link_account(server, world.tenant_id, "square", historical_import_days=5)
    account = store.get_account(square)
    linked = account.created_at.astimezone(UTC).date()
    chosen = backfill_range(account, settings, today=linked + timedelta(days=2))
    assert (chosen.start, chosen.end, chosen.days) == (linked - timedelta(days=5), linked + timedelta(days=2), 8)
