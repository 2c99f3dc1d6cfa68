"""Webhooks end to end, for the three providers at once, over real HTTP on loopback.

The sandbox's emulators deliver signed webhooks (with duplicates and reordering) to the API's
receivers, registered through ``POST /api/v1/pos/accounts/{id}/webhooks/register`` (Square: the
application's subscription, made with its personal access token; Lightspeed: the store's
webhooks; Toast: the subscription Toast set up, recorded with its secret). Sales made after the
historical import arrive as events; the inbox sensor turns them into one targeted sync per
account; after those runs every acknowledged event's object is in ``pos.pos_transactions``, each
once, and the canonical figures equal the sandbox ledger to the cent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from support.accounts import link_account, manifest_account
from support.destination import open_warehouse
from support.sandboxes import sandboxes
from support.serve import serve_app
from support.worlds import sandbox_world, set_clock

from pos_sandbox.ledger import compute_truth

PROVIDERS = ("square", "toast", "lightspeed")
SALES_PER_PROVIDER = 2


@pytest.fixture()
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    (tmp_path / "dagster-home").mkdir()
    world = sandbox_world(23, *PROVIDERS, days=1)
    set_clock(world, monkeypatch)
    with sandboxes(app_store=True) as started:
        server = started.serve(world, webhooks="dup:0.5,reorder:0.5,seed=5")
        square, lightspeed = manifest_account(server, "square"), manifest_account(server, "lightspeed")
        monkeypatch.setenv("SQUARE_APP_ACCESS_TOKEN", square["app_access_token"])
        monkeypatch.setenv("LIGHTSPEED_CLIENT_ID", lightspeed["client_id"])
        monkeypatch.setenv("LIGHTSPEED_CLIENT_SECRET", lightspeed["client_secret"])
        from pos_sync.api.app import create_app
        from pos_sync.appstore import AppStore
        from pos_sync.settings import load_settings

        store = AppStore(load_settings())
        tenant, key = store.create_tenant("Panadería Sol", world.tenant_id)  # the ledger's tenant
        with serve_app(create_app()) as api_url:
            yield {"world": world, "server": server, "store": store, "tenant": tenant, "api": api_url,
                   "headers": {"Authorization": f"Bearer {key}"}, "instance": started.dagster_instance(),
                   "monkeypatch": monkeypatch}


def _register(stack: dict[str, Any], account_id: str, provider: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if provider == "toast":  # Toast sets its subscriptions up itself (the sandbox's control plays Toast's part)
        url = f"{stack['api']}/api/v1/pos/webhooks/toast"
        sub = httpx.post(f"{stack['server'].provider_url('toast')}/_sandbox/toast/webhooks", json={"url": url}).json()
        body = {"signature_key": sub["secret"], "subscription_id": sub["guid"]}
    answer = httpx.post(f"{stack['api']}/api/v1/pos/accounts/{account_id}/webhooks/register", json=body,
                        headers=stack["headers"], timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _run(stack: dict[str, Any], request: dg.RunRequest) -> None:
    from pos_dagster.definitions import defs

    job = defs.resolve_job_def(request.job_name)
    result = job.execute_in_process(instance=stack["instance"], partition_key=request.partition_key,
                                    tags=request.tags, raise_on_error=False)
    assert result.success, request.tags


def test_sales_after_the_import_arrive_by_webhook_exactly_once(stack: dict[str, Any]) -> None:
    from pos_dagster.adapter import sync_account
    from pos_dagster.defs.automation.webhooks import evaluate
    from pos_sync.appstore.webhooks import inbox_counts, pending_events
    from pos_sync.cli.demo import reconcile_with_ledger

    world, server, store = stack["world"], stack["server"], stack["store"]
    # Toast reads history in day windows at 5 requests/s: the world's day and two more, not 90
    accounts = {p: link_account(server, stack["tenant"], p, **({"historical_import_days": 3} if p == "toast" else {}))
                for p in PROVIDERS}
    for provider, account_id in accounts.items():
        assert sync_account(account_id, instance=stack["instance"])["status"] == "success", provider

    registered = {p: _register(stack, a, p) for p, a in accounts.items()}
    assert registered["square"]["created"] and registered["square"]["scope"] == "app"
    assert registered["lightspeed"]["scope"] == "account" and len(registered["lightspeed"]["subscription_ids"]) == 2
    again = _register(stack, accounts["square"], "square")  # safe to repeat: the same subscription, found
    assert (again["created"], again["subscription_ids"]) == (False, registered["square"]["subscription_ids"])

    # sales made now, after the import; their webhooks go out as the clock moves
    made = []
    for provider in PROVIDERS:
        for _ in range(SALES_PER_PROVIDER):
            sale = httpx.post(f"{server.base_url}/_sandbox/sales", json={"provider": provider}).json()
            made.append((provider, sale))
    set_clock(world, stack["monkeypatch"])  # the connector's clock follows the sandbox's
    waited = httpx.post(f"{server.base_url}/_sandbox/webhooks/wait", json={"timeout": 60}, timeout=90).json()
    assert waited["idle"], waited

    pending = pending_events(limit=10_000)
    assert {e.account_id for e in pending} == set(accounts.values())  # every event routed, none unroutable
    assert "unroutable" not in inbox_counts()
    requests = evaluate(stack["instance"], store, datetime.now(UTC))
    assert sorted(r.partition_key for r in requests) == sorted(accounts.values())  # one targeted sync each
    assert evaluate(stack["instance"], store, datetime.now(UTC)) == []  # claimed: not asked for twice
    for request in requests:
        _run(stack, request)
    assert set(inbox_counts()) == {"processed"}

    truth = compute_truth(world)
    result = reconcile_with_ledger(world, set(PROVIDERS))
    assert result["verdict"] == "reconciled", result["problems"][:5]
    with open_warehouse() as wh:
        rows = wh.query("select pos_provider, count(*) as n, count(distinct pos_transaction_id) as d "
                        "from pos.pos_transactions where transaction_type = 'sale' and status = 'completed' "
                        "group by pos_provider")
    sales = {r["pos_provider"]: (r["n"], r["d"]) for r in rows}
    expected = {p: sum(r["sales_count"] for r in truth["daily"] if r["provider"] == p) for p in PROVIDERS}
    assert {p: n for p, (n, _d) in sales.items()} == expected  # the live sales included, each once
    assert all(n == d for n, d in sales.values())
