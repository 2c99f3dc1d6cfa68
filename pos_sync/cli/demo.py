"""``pos-sync demo``: the whole product on embedded defaults, against the sandbox.

Starts the provider sandbox in-process (a bakery world whose window ends today), links the demo
tenant's accounts as a real merchant would — Square and Lightspeed through their emulators' OAuth
(authorization code → tokens), Toast as a machine client (login, restaurant details) — runs their
historical import through the Dagster definitions, reconciles the canonical figures with the
sandbox ledger, and prints a summary. Before reconciling, a sale made in the sandbox after the
import arrives in ``pos.*`` through a signed webhook, with its latency
(:mod:`pos_sync.cli.demo_webhook`). Its JSON carries ``pos_home`` and the world's parameters, so
anyone can recompute the ledger with ``pos-sync sandbox truth`` (which does not know the live sale)
and query the warehouse themselves.
"""

from __future__ import annotations

import argparse
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from pos_sync.cli import CommandError, emit_json, log
from pos_sync.cli.demo_webhook import live_sale_by_webhook, webhook_line

if TYPE_CHECKING:
    import httpx

DEMO_SEED = 42
REDIRECT_URI = "http://127.0.0.1/pos-sync/oauth/callback"


def _authorization_code(client: httpx.Client, path: str, params: dict[str, Any], *, failed: str,
                        provider: str) -> dict[str, list[str]]:
    """The emulator's authorize endpoint, auto-approved: the query of its redirect (with a ``code``),
    after checking that it carries the ``state`` sent."""
    state = secrets.token_urlsafe(12)
    authorize = client.get(path, params={**params, "state": state, "redirect_uri": REDIRECT_URI,
                                         "auto_approve": "true"})
    if authorize.status_code not in (302, 303, 307):
        raise CommandError(f"{failed}: HTTP {authorize.status_code} {authorize.text[:200]}")
    query = parse_qs(urlparse(authorize.headers["location"]).query)
    if query.get("state", [""])[0] != state or "code" not in query:
        raise CommandError(f"{provider} OAuth redirect without a code or with a wrong state: {query}")
    return query


def link_square_account(base_url: str, tenant_id: str, cred: dict[str, Any],
                        historical_import_days: int | None = None) -> str:
    """OAuth code flow against the emulator, location discovery, then the app store."""
    import httpx

    from dlt_sources.common.auth import TokenSet
    from dlt_sources.square.helpers import discover_locations, square_tokens
    from pos_sync import appstore

    with httpx.Client(base_url=base_url, timeout=30) as client:
        query = _authorization_code(client, "/oauth2/authorize", {
            "client_id": cred["client_id"], "scope": " ".join(cred["scopes"]), "session": "false",
            "merchant_id": cred["account_id"],
        }, failed="Square OAuth authorize failed", provider="Square")
        token = client.post("/oauth2/token", json={
            "client_id": cred["client_id"], "client_secret": cred["client_secret"],
            "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT_URI,
        })
        if token.status_code != 200:
            raise CommandError(f"Square ObtainToken failed: HTTP {token.status_code} {token.text[:200]}")
        tokens = token.json()
    locations = discover_locations(base_url, square_tokens(TokenSet(tokens["access_token"]), base_url=base_url))
    expires_at = datetime.fromisoformat(tokens["expires_at"].replace("Z", "+00:00"))
    account_id, _ = appstore.upsert_account(
        tenant_id=tenant_id, provider="square", merchant_id=tokens["merchant_id"],
        account_name=locations[0].get("business_name") if locations else None, base_url=base_url,
        access_token=tokens["access_token"], refresh_token=tokens.get("refresh_token"), token_expires_at=expires_at,
        client_id=cred["client_id"], client_secret=cred["client_secret"],
        webhook_signature_key=cred["webhook_signature_key"], locations=locations,
        historical_import_days=historical_import_days,
    )
    return account_id


def link_toast_account(base_url: str, tenant_id: str, cred: dict[str, Any],
                       historical_import_days: int | None = None) -> str:
    """Machine-client login, restaurant details for the client's restaurant GUIDs, then the app
    store. The login token is stored (encrypted) with the account: the syncs reuse it."""
    from dlt_sources.toast import discover_restaurants, login, toast_tokens
    from pos_sync import appstore

    token = login(cred["client_id"], cred["client_secret"], base_url)
    restaurants = discover_restaurants(base_url, toast_tokens(cred["client_id"], cred["client_secret"], base_url,
                                                              current=token),
                                       list(cred.get("location_ids") or []))
    if not restaurants:
        raise CommandError("the Toast client has no restaurants to sync")
    group = next((r["merchant_id"] for r in restaurants if r.get("merchant_id")), None)
    account_id, _ = appstore.upsert_account(
        tenant_id=tenant_id, provider="toast", merchant_id=cred["client_id"],
        account_name=restaurants[0].get("business_name"), base_url=base_url,
        access_token=token.access_token, token_expires_at=token.expires_at,
        client_id=cred["client_id"], client_secret=cred["client_secret"],
        extra={"management_group_guid": group} if group else None,
        locations=[{k: r.get(k) for k in ("location_id", "name", "timezone", "currency")} for r in restaurants],
        historical_import_days=historical_import_days,
    )
    return account_id


def link_lightspeed_account(base_url: str, tenant_id: str, cred: dict[str, Any],
                            historical_import_days: int | None = None) -> str:
    """OAuth authorization-code flow against the emulator (form-encoded token request), outlet
    discovery, then the app store."""
    import httpx

    from dlt_sources.common.auth import TokenSet
    from dlt_sources.lightspeed.helpers import discover_outlets, lightspeed_tokens
    from pos_sync import appstore

    with httpx.Client(base_url=base_url, timeout=30) as client:
        query = _authorization_code(client, "/connect", {
            "response_type": "code", "client_id": cred["client_id"], "scope": " ".join(cred.get("scopes") or []),
            "domain_prefix": cred["account_id"],
        }, failed="Lightspeed authorize failed", provider="Lightspeed")
        token = client.post("/api/1.0/token", data={
            "grant_type": "authorization_code", "code": query["code"][0], "client_id": cred["client_id"],
            "client_secret": cred["client_secret"], "redirect_uri": REDIRECT_URI,
        })
        if token.status_code != 200:
            raise CommandError(f"Lightspeed token request failed: HTTP {token.status_code} {token.text[:200]}")
        tokens = token.json()
    prefix = str(tokens.get("domain_prefix") or query.get("domain_prefix", [cred["account_id"]])[0]).lower()
    outlets = discover_outlets(base_url, lightspeed_tokens(TokenSet(tokens["access_token"]), base_url=base_url,
                                                           client_id=None, client_secret=None))
    expires = tokens.get("expires")
    account_id, _ = appstore.upsert_account(
        tenant_id=tenant_id, provider="lightspeed", merchant_id=prefix, account_name=f"Lightspeed {prefix}",
        base_url=base_url, access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
        token_expires_at=datetime.fromtimestamp(float(expires), UTC) if expires else None,
        client_id=cred["client_id"], client_secret=cred["client_secret"], extra={"domain_prefix": prefix},
        locations=[{k: o.get(k) for k in ("location_id", "name", "timezone", "currency")} for o in outlets],
        historical_import_days=historical_import_days,
    )
    return account_id


def link_lightspeed_r_account(base_url: str, tenant_id: str, cred: dict[str, Any],
                              historical_import_days: int | None = None) -> str:
    """Lightspeed R-Series: OAuth code flow against the emulator (``/auth/oauth/authorize`` and
    ``/auth/oauth/token``), the account and its shops read from the API, then the app store."""
    import httpx

    from dlt_sources.common.auth import TokenSet
    from dlt_sources.lightspeed_r.helpers import discover_shops, lightspeed_r_tokens, token_account_id
    from pos_sync import appstore

    with httpx.Client(base_url=base_url, timeout=30) as client:
        query = _authorization_code(client, "/auth/oauth/authorize", {
            "response_type": "code", "client_id": cred["client_id"], "scope": " ".join(cred.get("scopes") or []),
            "account_id": cred["account_id"],
        }, failed="Lightspeed R-Series authorize failed", provider="Lightspeed R-Series")
        token = client.post("/auth/oauth/token", data={
            "grant_type": "authorization_code", "code": query["code"][0], "client_id": cred["client_id"],
            "client_secret": cred["client_secret"]})
        if token.status_code != 200:
            raise CommandError(f"Lightspeed R-Series token request failed: HTTP {token.status_code} {token.text[:200]}")
        tokens = token.json()
    access = lightspeed_r_tokens(TokenSet(tokens["access_token"]), base_url=base_url, client_id=None, client_secret=None)
    r_account = token_account_id(base_url, access)
    shops = discover_shops(base_url, access, r_account)
    account_id, _ = appstore.upsert_account(
        tenant_id=tenant_id, provider="lightspeed_r", merchant_id=r_account, account_name=f"Lightspeed R {r_account}",
        base_url=base_url, access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
        token_expires_at=datetime.now(UTC) + timedelta(seconds=float(tokens.get("expires_in") or 3600)),
        client_id=cred["client_id"], client_secret=cred["client_secret"], extra={},
        locations=[{k: s.get(k) for k in ("location_id", "name", "timezone", "currency")} for s in shops],
        historical_import_days=historical_import_days,
    )
    return account_id


LINKERS = {"square": link_square_account, "toast": link_toast_account, "lightspeed": link_lightspeed_account,
           "lightspeed_r": link_lightspeed_r_account}


def warehouse_row_counts(provider: str) -> dict[str, int]:
    """Rows per raw table (excluding dlt's own), from the warehouse."""
    from pos_sync.warehouse.pipelines import account_pipeline

    pipeline = account_pipeline(provider, "demo-inspect", mode="inspect")
    counts: dict[str, int] = {}
    try:
        with pipeline.sql_client() as client:
            for table in _raw_tables(client, f"raw_{provider}"):
                rows = client.execute_sql(f"select count(*) from {client.make_qualified_table_name(table)}")
                counts[table] = int(rows[0][0])
    except Exception as exc:  # noqa: BLE001 - a summary must not fail the demo
        log(f"(could not count warehouse rows: {exc})")
    return counts


def _raw_tables(client: Any, dataset: str) -> list[str]:
    rows = client.execute_sql(
        "select table_name from information_schema.tables where table_schema = %s order by table_name", dataset)
    return [r[0] for r in rows if not r[0].startswith("_dlt")]


def reconcile_with_ledger(world: Any, providers: set[str]) -> dict[str, Any]:
    """Canonical daily figures per location vs the sandbox ledger, to the cent."""
    from decimal import Decimal

    from pos_sandbox.ledger import compute_truth
    from pos_sync.canonical.reconcile import canonical_daily, compare_daily
    from pos_sync.warehouse.sql import Warehouse

    truth = [r for r in compute_truth(world)["daily"] if r["provider"] in providers]
    wh = Warehouse()
    try:
        actual = canonical_daily(wh, world.tenant_id) if wh.table_exists("pos", "pos_transactions") else []
    finally:
        wh.close()
    problems = compare_daily(truth, actual)
    locations: dict[tuple[str, str], dict[str, Any]] = {}
    for row in actual:
        loc = locations.setdefault((row["provider"], row["location_id"]), {
            "provider": row["provider"], "location_id": row["location_id"], "currency": row["currency"],
            "sales_count": 0, "void_count": 0, "refund_count": 0, "total_amount": Decimal(0),
            "refund_amount": Decimal(0), "net_amount": Decimal(0), "reconciled": True})
        for k in ("sales_count", "void_count", "refund_count"):
            loc[k] += row[k]
        for k in ("total_amount", "refund_amount", "net_amount"):
            loc[k] += Decimal(row[k])
    for (provider, location_id), loc in locations.items():
        loc["reconciled"] = not any(p.startswith(f"('{provider}', '{location_id}'") for p in problems)
        for k in ("total_amount", "refund_amount", "net_amount"):
            loc[k] = str(loc[k])
    return {"verdict": "reconciled" if not problems and actual else "mismatch",
            "days_compared": len(truth), "problems": problems, "locations": list(locations.values())}


def _demo_api_access(settings: Any, tenant_id: str) -> dict[str, str]:
    """The demo tenant's API key (a new one each demo: keys are shown once) and how to start the API."""
    from pos_sync.appstore import AppStore

    store = AppStore(settings)
    if store.tenant_exists(tenant_id):
        key = store.rotate_key(tenant_id)
    else:
        _, key = store.create_tenant("Demo bakery", tenant_id)
    return {"tenant_id": tenant_id, "api_key": key, "url": f"http://127.0.0.1:{settings.port}",
            "serve_command": f"POS_HOME={settings.pos_home} .venv/bin/pos-sync api serve"}


def _demo(args: argparse.Namespace) -> int:
    from pos_sandbox.server import SandboxServer, available_emulators
    from pos_sandbox.world import World
    from pos_sync.runner import get_runner
    from pos_sync.settings import ensure_home, load_settings

    settings = load_settings()
    ensure_home(settings)
    if not 1 <= args.days <= 366:
        raise CommandError(f"--days must be between 1 and 366, got {args.days}")
    providers = tuple(available_emulators(("square", "toast", "lightspeed", "lightspeed_r")))
    # no start: the World's default is the latest window that has ended (``latest_start``), so its
    # clock is never ahead of the wall clock (between 00:00 and ~05:00 UTC "today - days" ends at New
    # York's next midnight: the live sale would be "in the future")
    world = World(seed=args.seed, days=args.days, scale=args.scale, providers=providers)
    log(f"POS_HOME={settings.pos_home}")
    log(f"sandbox world: seed={world.seed} start={world.start} days={world.days} scale={world.scale} "
        f"providers={','.join(providers)}")
    started = time.monotonic()
    accounts_out = []
    with SandboxServer(world) as server:
        manifest = server.manifest()
        runner = get_runner(on_progress=log)
        for cred in manifest["accounts"]:
            link = LINKERS.get(cred["provider"])
            if link is None:
                continue
            if cred["provider"] == "toast":
                # the world has no history before its window: do not walk 90 days of empty order windows
                account_id = link_toast_account(cred["base_url"], world.tenant_id, cred,
                                                historical_import_days=world.days + 1)
            else:
                account_id = link(cred["base_url"], world.tenant_id, cred)
            log(f"linked {cred['provider']} account {cred['account_id']} as account {account_id}; syncing …")
            summary = runner.sync(account_id)
            log(f"  {summary['status']} ({summary['sync_type']}) in {summary['duration_seconds']} s")
            if summary.get("error"):
                log(f"  error: {summary['error']}")
            accounts_out.append(summary)
        webhook = live_sale_by_webhook(server, world.tenant_id, settings, accounts_out, runner, log)
    from pos_sync.providers import registry

    with_canonical = {spec.name for spec in registry if spec.canonical is not None}
    counts = {p: warehouse_row_counts(p) for p in sorted({a["provider"] for a in accounts_out})}
    synced = {a["provider"] for a in accounts_out}
    canonical = reconcile_with_ledger(world, synced & with_canonical)
    canonical["providers_without_canonical_build"] = sorted(synced - with_canonical)
    document = {
        "pos_home": str(settings.pos_home),
        "warehouse": settings.warehouse_url or str(settings.warehouse_path),
        "world": {"seed": world.seed, "start": world.start.isoformat(), "days": world.days, "scale": world.scale},
        "seed": world.seed,
        "start": world.start.isoformat(),
        "days": world.days,
        "scale": world.scale,
        "providers": list(providers),
        "tenant_id": world.tenant_id,
        "accounts": accounts_out,
        "raw_row_counts": counts,
        "canonical": canonical,
        "webhook": webhook,
        "duration_seconds": round(time.monotonic() - started, 2),
        "api": _demo_api_access(settings, world.tenant_id),
        "live_command": "pos-sync dev",
        "truth_command": (f"pos-sync sandbox truth --seed {world.seed} --start {world.start} --days {world.days} "
                          f"--scale {world.scale} --providers {','.join(providers)} --json"),
    }
    if args.json:
        emit_json(document)
    else:
        print(f"pos-sync demo — POS_HOME {document['pos_home']}")
        print(f"world: seed {world.seed}, {world.days} days from {world.start}, scale {world.scale}, "
              f"providers {', '.join(providers)}")
        for acc in accounts_out:
            print(f"  {acc['provider']:<10} account {acc['account_id']}  {acc['status']:<8} "
                  f"{acc['sync_type'] or '':<11} {acc['duration_seconds']:>7.2f} s")
        for provider, tables in counts.items():
            print(f"  raw_{provider}: " + ", ".join(f"{t}={n}" for t, n in tables.items()))
        print("canonical figures per location (pos.pos_transactions) vs the sandbox ledger:")
        for loc in canonical["locations"]:
            print(f"  {loc['provider']:<10} {loc['location_id']:<38} sales {loc['sales_count']:>6}  voids "
                  f"{loc['void_count']:>3}  refunds {loc['refund_count']:>4}  net {loc['net_amount']:>12} "
                  f"{loc['currency']}  {'reconciled' if loc['reconciled'] else 'MISMATCH'}")
        if canonical["providers_without_canonical_build"]:
            print(f"  (no canonical build yet for {', '.join(canonical['providers_without_canonical_build'])}: "
                  "raw data only)")
        print(webhook_line(webhook))
        print(f"reconciliation: {canonical['verdict']}")
        for problem in canonical["problems"][:10]:
            print(f"  {problem}")
        print(f"ground truth: {document['truth_command']}")
        api = document["api"]
        print(f"HTTP API: {api['serve_command']}  — tenant {api['tenant_id']}, API key {api['api_key']}")
        print(f"  e.g. curl -H 'Authorization: Bearer {api['api_key']}' {api['url']}/api/v1/pos/accounts")
        print("live: `make up` (pos-sync dev) keeps it going — the sandbox making sales, these accounts linked to it, "
              "the API and the Dagster UI on http://127.0.0.1:3000 running their scheduled syncs; Ctrl-C stops it")
    if any(a["status"] == "failed" for a in accounts_out):
        raise CommandError("a demo sync failed (see above)")
    if webhook["status"] == "missing":
        raise CommandError("the live sale's webhook did not bring it into pos.pos_transactions (see above)")
    if canonical["verdict"] != "reconciled":
        raise CommandError("canonical figures do not reconcile with the sandbox ledger (see above)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo", help="run the whole pipeline on embedded defaults against the sandbox",
        description="Start the provider sandbox in-process, link the demo tenant's Square, Toast and "
                    "Lightspeed accounts (OAuth / machine-client login), run their historical import through "
                    "the Dagster definitions (DuckDB + SQLite under POS_HOME), reconcile with the sandbox "
                    "ledger and print a summary.")
    parser.add_argument("--days", type=int, default=14, help="days of history in the demo world (default 14)")
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help=f"world seed (default {DEMO_SEED})")
    parser.add_argument("--scale", choices=("tiny", "small", "chain"), default="small",
                        help="world scale (default small: ~300 sales per location-day)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(func=_demo)
