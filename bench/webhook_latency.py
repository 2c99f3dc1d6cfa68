"""Benchmark: how long a sale takes from the till to ``pos.pos_transactions`` through webhooks, with
the real daemon processes, against polling measured in the same run; and how many signed webhook
deliveries per second the API's receiver stores, against its bare ``/healthz`` in the same run.

**Latency** (``--minutes`` of sales, one every ``--every`` seconds, rotating over the Square
locations). Each mode is a fresh stack on the embedded defaults (SQLite app store, DuckDB
warehouse, SQLite Dagster instance under a scratch ``POS_HOME``):

* ``pos-sync sandbox serve`` (its own process; a tiny Square world whose window ends today);
* the Square account linked through the emulator's OAuth, its historical import run with
  ``pos-sync sync`` (before anything is measured);
* ``dagster-daemon run -w workspace.yaml`` — the code location is ``pos_dagster.definitions``,
  every sensor of the product runs as deployed (``RUNNING`` by default), runs are launched through
  the queued run coordinator by the instance's run launcher: ``--run-launcher product`` (the
  default) is the product's ``pos_dagster/instance_default.yaml`` as shipped (the warm launcher:
  each run worker forked from a process that has loaded the code location), ``dagster-default``
  Dagster's ``DefaultRunLauncher`` (the code server spawns a fresh process per run);
* **webhooks** mode: ``pos-sync api serve`` (its own process) and the account's webhooks
  registered with it (the application's subscription, as ``POST …/webhooks/register`` makes it);
  the inbox sensor ticks every ``--sensor-interval`` s (``POS_WEBHOOK_SENSOR_INTERVAL_SECONDS``, 2 as
  shipped) and the daemon's sensor loop runs every ``--sensor-loop`` s (the product's run coordinator:
  1 as shipped; ``--sensor-loop 5`` is Dagster's own loop, below which no sensor ticked before)
  and the run queue is read every ``--dequeue-interval`` s (the instance's
  ``run_coordinator.config.dequeue_interval_seconds``; Dagster's default is 5);
* **polling** mode (the baseline): no webhooks; ``account_sync_sensor`` syncs the account every
  ``DEFAULT_SYNC_FREQUENCY_MINUTES`` — ``--poll-minutes`` (1, the variable's minimum) rather than the
  default 15, so a run of a few minutes sees several polls; the default's latency is derived from it
  (a sale waits U(0, P) for the next poll, then the same sync).

A sale is made with ``POST /_sandbox/sales`` closed *now* (real time). For each sale: the
emulator's first delivery attempt of its events (``/_sandbox/webhooks``), the inbox's
``processed_at`` of its events (set by the sync run after the sale's row is in ``pos.*``: the
canonical step settles them), and afterwards (daemon stopped) its rows in ``pos.pos_transactions``.
Polling: the sale landed when the first successful sync that started after the till rang ended
(its sync log). Events: delivered, acknowledged (2xx), landed (processed), lost (acknowledged
but never landed, or a sale without its row), duplicated (a sale with more than one row). Also the
instance's runs by job and trigger (everything that shared the one DuckDB writer with the syncs)
and the webhook syncs by scope (``full``, or ``targeted`` at raw + canonical: docs/dagster.md).

**Receiver throughput**: ``pos-sync api serve`` (one uvicorn process, as shipped) with its app
store on SQLite (a file) and on PostgreSQL (a scratch database on ``--postgres``'s server,
dropped at the end); ``--requests`` distinct Square events (``payment.updated``, ≈ 600 bytes),
each signed with the subscription's key over URL + body, POSTed by ``--concurrency`` concurrent
keep-alive connections (a raw HTTP/1.1 asyncio client, one process); afterwards the inbox rows are counted:
every 2xx must be one stored event. The ceiling: ``GET /healthz`` with the same client and
concurrency in the same run (what uvicorn + FastAPI + this client do with no work).

    python -m bench.webhook_latency [--minutes 2 --every 2 --poll-minutes 1 --poll-run-minutes 3]
        [--run-launcher product|dagster-default] [--requests 4000 --concurrency 32] [--postgres URL | --no-postgres]
        [--skip latency,polling,receiver]
        [--out bench/results/webhook_latency.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._common import ROOT, emit, machine, peak_rss_mib, percentile
from pos_sandbox.world import latest_start

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent
SEED = 42


def iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


def epoch(text: str | datetime | None) -> float | None:
    if text is None:
        return None
    if isinstance(text, datetime):
        return (text if text.tzinfo else text.replace(tzinfo=UTC)).timestamp()
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), 2), "p95": round(percentile(values, 0.95), 2),
            "max": round(max(values), 2), "min": round(min(values), 2)}


# ---------------------------------------------------------------------- processes and the stack
def home_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("POS_NOW", "POS_DATABASE_URL", "DATABASE_URL",
                                                            "POS_WAREHOUSE_URL", "RABBITMQ_URL")}
    env |= {"POS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "PYTHONPATH": str(ROOT)
            + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    return env | extra


def stop(proc: subprocess.Popen[Any] | None, timeout: float = 60) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def sandbox(home: Path, days: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """``pos-sync sandbox serve``: a tiny Square world of ``days`` whose window has just ended (its clock
    never ahead of the wall clock: ``latest_start``), webhooks on."""
    start = latest_start(days, scale="tiny", providers=("square",))
    proc = subprocess.Popen([sys.executable, "-m", "pos_sync.cli", "sandbox", "serve", "--seed", str(SEED),
                             "--start", start.isoformat(), "--days", str(days), "--scale", "tiny", "--providers",
                             "square", "--port", "0"], cwd=ROOT, env=home_env(home / "sandbox"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("pos-sync sandbox serve exited before printing its manifest")
        manifest = json.loads(line)
        yield manifest["base_url"], manifest
    finally:
        stop(proc)


@contextmanager
def api_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen([sys.executable, "-m", "pos_sync.cli", "api", "serve", "--port", "0"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        deadline = time.monotonic() + 120
        while True:  # the URL is printed before uvicorn serves
            with suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("pos-sync api serve did not answer /healthz")
            time.sleep(0.2)
        yield url, proc
    finally:
        stop(proc)


RUN_LAUNCHERS = {  # --run-launcher: the product's instance as shipped, or Dagster's default launcher
    "product": "",
    "dagster-default": "\nrun_launcher:\n  module: dagster._core.launcher\n  class: DefaultRunLauncher\n",
}


def write_instance(home: Path, dequeue_interval: int, run_launcher: str = "product",
                   sensor_loop: float = 1.0) -> None:
    """The product's embedded instance (``default_instance_yaml``), its queue read every
    ``dequeue_interval`` s and its sensor loop every ``sensor_loop`` s (the product's run
    coordinator; 5 = Dagster's own loop), and its run launcher as shipped or Dagster's default (a
    later key wins)."""
    from pos_dagster.lib.instance import default_instance_yaml

    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_text(
        default_instance_yaml() + "\nrun_coordinator:\n  module: pos_dagster.lib.run_coordinator\n"
        "  class: PosRunCoordinator\n  config:\n"
        f"    dequeue_interval_seconds: {dequeue_interval}\n    sensor_loop_seconds: {sensor_loop}\n"
        + RUN_LAUNCHERS[run_launcher])


def run_launcher_class(home: Path) -> str:
    import yaml

    block = yaml.safe_load((home / "dagster" / "dagster.yaml").read_text()).get("run_launcher") or {}
    return f"{block.get('module', 'dagster._core.launcher')}.{block.get('class', 'DefaultRunLauncher')}"


def link_and_import(home: Path, manifest: dict[str, Any], env: dict[str, str]) -> tuple[str, float]:
    """The Square account linked (emulator OAuth, in this process) and imported (``pos-sync sync``)."""
    from pos_sync import appstore
    from pos_sync.cli.demo import link_square_account

    cred = next(a for a in manifest["accounts"] if a["provider"] == "square")
    with patched_environ(env):
        tenant = manifest["world"].get("tenant_id") or str(uuid.uuid5(uuid.NAMESPACE_URL, "pos-sync bench"))
        account_id = link_square_account(cred["base_url"], tenant, cred)
        appstore.dispose_engines()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pos_sync.cli", "sync", "--account", account_id, "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"the historical import failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return account_id, round(time.monotonic() - started, 1)


@contextmanager
def patched_environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def daemon(env: dict[str, str], home: Path) -> Iterator[subprocess.Popen[str]]:
    log = open(home / "daemon.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        stop(proc, timeout=90)
        log.close()


# ---------------------------------------------------------------------- one latency run
def make_sale(sandbox_url: str, location_id: str) -> tuple[float, dict[str, Any]]:
    rang = time.time()
    answer = httpx.post(f"{sandbox_url}/_sandbox/sales", json={"location_id": location_id, "at": iso(rang)},
                        timeout=30)
    answer.raise_for_status()
    return rang, answer.json()["sale"]


def inbox_rows(env: dict[str, str]) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from pos_sync import appstore
    from pos_sync.appstore.models import PosWebhook
    from pos_sync.settings import load_settings

    with patched_environ(env):
        with appstore.session_scope(load_settings()) as s:
            rows = [{"event_id": r.webhook_event_id, "type": r.event_type, "status": r.processing_status,
                     "object_id": ((r.event_data or {}).get("data") or {}).get("id"),
                     "received_at": epoch(r.received_at), "processed_at": epoch(r.processed_at),
                     "run_key": r.run_key}
                    for r in s.execute(sa.select(PosWebhook)).scalars()]
        appstore.dispose_engines()
    return rows


def sync_runs(env: dict[str, str], account_id: str) -> list[dict[str, Any]]:
    from pos_sync import appstore
    from pos_sync.settings import load_settings

    with patched_environ(env):
        logs = appstore.AppStore(load_settings()).sync_history(account_id, limit=10_000)
        appstore.dispose_engines()
    return [{"status": lg.status, "sync_type": lg.sync_type, "started": epoch(lg.sync_started_at),
             "completed": epoch(lg.sync_completed_at)} for lg in logs]


def dagster_runs(home: Path) -> dict[str, dict[str, Any]]:
    """The instance's runs by their webhook batch (run key): created, started, ended (epoch)."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        out = {}
        for rec in instance.get_run_records(limit=10_000):
            batch = rec.dagster_run.tags.get("pos/webhook-batch")
            if batch:
                launched = instance.all_logs(rec.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_STARTING)
                out[batch] = {"created": rec.create_timestamp.timestamp(), "started": rec.start_time,
                              "launched": launched[0].timestamp if launched else None,
                              "ended": rec.end_time, "status": rec.dagster_run.status.value,
                              "scope": rec.dagster_run.tags.get("pos/webhook-scope", "full")}
        return out
    finally:
        instance.dispose()


def warehouse_rows(env: dict[str, str], sale_ids: list[str]) -> Counter[str]:
    import duckdb

    from pos_sync.settings import load_settings
    from pos_sync.warehouse.sql import Warehouse

    with patched_environ(env):
        deadline = time.monotonic() + 120
        while True:  # a run of the stack (a downstream run after the stream) may hold the one writer
            try:
                wh = Warehouse(load_settings())
                break
            except duckdb.IOException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            rows = wh.query("select pos_transaction_id as id, count(*) as n from pos.pos_transactions "
                            "where transaction_type = 'sale' group by pos_transaction_id")
        finally:
            wh.close()
    wanted = set(sale_ids)
    return Counter({r["id"]: int(r["n"]) for r in rows if r["id"] in wanted})


def latency_run(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """One fresh stack in ``mode`` (webhooks | polling); sales for ``minutes``; what landed when."""
    home = Path(tempfile.mkdtemp(prefix=f"pos-bench-webhook-{mode}-"))
    minutes = args.minutes if mode == "webhooks" else args.poll_run_minutes
    env = home_env(home, POS_WEBHOOK_SENSOR_INTERVAL_SECONDS=str(args.sensor_interval),
                   DEFAULT_SYNC_FREQUENCY_MINUTES=str(args.poll_minutes if mode == "polling" else 15))
    write_instance(home, args.dequeue_interval, args.run_launcher, args.sensor_loop)
    out: dict[str, Any] = {"mode": mode, "pos_home": str(home), "run_launcher": run_launcher_class(home),
                           "load_average_1m_at_start": round(os.getloadavg()[0], 2)}
    with sandbox(home) as (sandbox_url, manifest):
        cred = next(a for a in manifest["accounts"] if a["provider"] == "square")
        account_id, out["historical_import_seconds"] = link_and_import(home, manifest, env)
        locations = list(cred["location_ids"])
        api_cm = api_process(env) if mode == "webhooks" else None
        api_url = None
        if api_cm is not None:
            api_url, _ = api_cm.__enter__()
            from pos_sync.appstore import AppStore, dispose_engines
            from pos_sync.ingest.webhooks import register_account
            from pos_sync.settings import load_settings

            with patched_environ(env | {"SQUARE_APP_ACCESS_TOKEN": cred["app_access_token"]}):
                store = AppStore(load_settings())
                tenant = store.get_account(account_id).tenant_id
                out["registration"] = register_account(store, account_id, tenant, api_url)
                dispose_engines()
        try:
            with daemon(env, home):
                sales: list[tuple[float, dict[str, Any]]] = []
                # warm-up: the daemon's first ticks load the code location; one sale through first
                t0 = time.time()
                warm = make_sale(sandbox_url, locations[0])
                out["warm_up_sale_landed_seconds"] = wait_landed(env, mode, account_id, [warm], t0 + 900)
                print(f"{mode}: warm-up sale landed after {out['warm_up_sale_landed_seconds']} s", file=sys.stderr,
                      flush=True)
                start = time.monotonic()
                n = int(minutes * 60 / args.every)
                for i in range(n):
                    delay = start + i * args.every - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    sales.append(make_sale(sandbox_url, locations[i % len(locations)]))
                out["sales_made"] = len(sales)
                out["generation_seconds"] = round(time.monotonic() - start, 1)
                drain = args.drain_seconds if mode == "webhooks" else args.poll_minutes * 60 + args.drain_seconds
                out["drained"] = wait_landed(env, mode, account_id, sales, time.time() + drain) is not None
                print(f"{mode}: {len(sales)} sales made; drained: {out['drained']}", file=sys.stderr, flush=True)
        finally:
            if api_cm is not None:
                api_cm.__exit__(None, None, None)
        log = httpx.get(f"{sandbox_url}/_sandbox/webhooks", params={"provider": "square"}, timeout=60).json()
    out["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    out |= measure(env, mode, account_id, sales, log, dagster_runs(home) if mode == "webhooks" else {})
    out["runs_by_job"] = runs_by_job(home)
    return out


def wait_landed(env: dict[str, str], mode: str, account_id: str, sales: list[tuple[float, dict[str, Any]]],
                deadline: float) -> float | None:
    """Seconds until every sale of ``sales`` landed (from the first one's till), or None at the deadline."""
    first = sales[0][0]
    while time.time() < deadline:
        landed = landed_at(env, mode, account_id, sales, None)
        if all(landed.get(s["sale_id"]) for _, s in sales):
            return round(max(landed.values()) - first, 2)
        time.sleep(1.0)
    return None


def landed_at(env: dict[str, str], mode: str, account_id: str, sales: list[tuple[float, dict[str, Any]]],
              inbox: list[dict[str, Any]] | None) -> dict[str, float]:
    """When each sale landed in ``pos.*``: its events' first ``processed_at`` (webhooks), or the end
    of the first successful sync that started after the till rang (polling)."""
    out: dict[str, float] = {}
    if mode == "webhooks":
        rows = inbox if inbox is not None else inbox_rows(env)
        for _rang, sale in sales:
            ids = {sale["sale_id"], *sale["tender_ids"]}
            done = [r["processed_at"] for r in rows if r["object_id"] in ids and r["status"] == "processed"
                    and r["processed_at"]]
            if done:
                out[sale["sale_id"]] = min(done)
        return out
    return landed_by_sync(env, account_id, sales)


def landed_by_sync(env: dict[str, str], account_id: str, sales: list[tuple[float, dict[str, Any]]]) -> dict[str, float]:
    """When each sale's row was in ``pos.*``: the end of the first successful sync of the account
    whose sync started after the till rang (its incremental read goes up to a "now" after its start;
    its canonical step commits before it ends) — whatever launched it."""
    out: dict[str, float] = {}
    runs = [r for r in sync_runs(env, account_id) if r["status"] == "success" and r["completed"]]
    for rang, sale in sales:
        after = [r["completed"] for r in runs if r["started"] >= rang]
        if after:
            out[sale["sale_id"]] = min(after)
    return out


def stages(sales: list[tuple[float, dict[str, Any]]], inbox: list[dict[str, Any]],
           runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where a webhook sale's time goes, per sale (its first event to land): the receiver storing it,
    waiting for the sensor's tick (or for the account's running sync to end), the run queue and the
    run process starting, then the sync itself until the events are settled."""
    parts: dict[str, list[float]] = {"till_to_stored": [], "stored_to_run_requested": [],
                                     "run_requested_to_run_started": [], "run_requested_to_launched": [],
                                     "run_launched_to_started": [], "run_started_to_landed": []}
    for rang, sale in sales:
        ids = {sale["sale_id"], *sale["tender_ids"]}
        done = sorted((r for r in inbox if r["object_id"] in ids and r["processed_at"] and r["run_key"] in runs),
                      key=lambda r: r["processed_at"])
        if not done:
            continue
        first, run = done[0], runs[done[0]["run_key"]]
        parts["till_to_stored"].append(first["received_at"] - rang)
        parts["stored_to_run_requested"].append(run["created"] - first["received_at"])
        if run["started"]:
            parts["run_requested_to_run_started"].append(run["started"] - run["created"])
            if run["launched"]:  # queued (dequeue interval, one warehouse writer at a time), then booted
                parts["run_requested_to_launched"].append(run["launched"] - run["created"])
                parts["run_launched_to_started"].append(run["started"] - run["launched"])
            parts["run_started_to_landed"].append(first["processed_at"] - run["started"])
    return {k: stats(v) for k, v in parts.items()} | {
        "webhook_runs": len(runs), "webhook_runs_by_scope": dict(Counter(r["scope"] for r in runs.values()))}


def runs_by_job(home: Path) -> dict[str, int]:
    """Every run of the instance by job and trigger (what shared the one DuckDB writer with the syncs)."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        return dict(Counter(f"{r.job_name} ({r.tags.get('pos/trigger', '-')})"
                            for r in instance.get_runs(limit=10_000)))
    finally:
        instance.dispose()


def measure(env: dict[str, str], mode: str, account_id: str, sales: list[tuple[float, dict[str, Any]]],
            log: dict[str, Any], runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    inbox = inbox_rows(env) if mode == "webhooks" else []
    landed = landed_by_sync(env, account_id, sales)  # the same definition in both modes
    settled = landed_at(env, mode, account_id, sales, inbox) if mode == "webhooks" else {}
    rows = warehouse_rows(env, [s["sale_id"] for _, s in sales])
    deliveries = log["deliveries"]
    by_object: dict[str, list[dict[str, Any]]] = {}
    for d in deliveries:
        by_object.setdefault(d["object_id"], []).append(d)
    from_delivery, from_till, till_to_delivery = [], [], []
    for rang, sale in sales:
        mine = [d for oid in (sale["sale_id"], *sale["tender_ids"]) for d in by_object.get(oid, [])]
        sent = [epoch(a["sent_at"]) for d in mine for a in d["attempts"]]
        when = landed.get(sale["sale_id"])
        if when is None:
            continue
        from_till.append(when - rang)
        if sent:
            first = min(s for s in sent if s is not None)
            from_delivery.append(when - first)
            till_to_delivery.append(first - rang)
    result: dict[str, Any] = {
        "sales": len(sales), "sales_landed": len(landed),
        "sales_with_their_row": sum(1 for _, s in sales if rows.get(s["sale_id"], 0) >= 1),
        "sales_duplicated_in_pos": sum(1 for _, s in sales if rows.get(s["sale_id"], 0) > 1),
        "latency_till_to_pos_s": stats(from_till),
    }
    if mode == "webhooks":  # the events settled (processed) by their targeted sync: at or after the row landed
        result["latency_till_to_events_settled_s"] = stats([settled[s["sale_id"]] - rang for rang, s in sales
                                                            if s["sale_id"] in settled])
    if mode == "webhooks":
        sale_objects = {oid for _, s in sales for oid in (s["sale_id"], *s["tender_ids"])}
        events = {d["event_id"]: d for d in deliveries if d["object_id"] in sale_objects}
        acked = {d["event_id"] for d in deliveries if d["object_id"] in sale_objects and d["status"] == "acknowledged"}
        stored = {r["event_id"]: r for r in inbox}
        processed = {e for e in acked if stored.get(e, {}).get("status") == "processed"}
        missing = [s["sale_id"] for _, s in sales if s["sale_id"] in landed and rows.get(s["sale_id"], 0) == 0]
        result |= {
            "latency_delivery_to_pos_s": stats(from_delivery),
            "till_to_first_delivery_ms": stats([x * 1000 for x in till_to_delivery]),
            "stages_s": stages(sales, inbox, runs),
            "events": {"delivered": len(events), "acknowledged": len(acked), "stored": len(acked & set(stored)),
                       "landed": len(processed), "waiting_at_end": len((acked & set(stored)) - processed),
                       # acknowledged yet never stored, or settled while its sale has no row in pos.*
                       "lost": len(acked - set(stored)) + len(missing),
                       "duplicated": sum(1 for _, s in sales if rows.get(s["sale_id"], 0) > 1),
                       "delivery_copies": sum(1 for d in deliveries if d["duplicate"]),
                       "inbox_statuses": dict(Counter(r["status"] for r in inbox))},
            "emulator_counters": log["counters"],
        }
    runs = sync_runs(env, account_id)
    durations = [r["completed"] - r["started"] for r in runs if r["status"] == "success" and r["completed"]
                 and r["sync_type"] == "incremental"]
    result["sync_runs"] = {"incremental": len(durations), "failed": sum(1 for r in runs if r["status"] == "failed"),
                           "duration_s": stats(durations)}
    return result


# ---------------------------------------------------------------------- receiver throughput
def scratch_pg(admin: str) -> tuple[str, str]:
    import psycopg

    name = f"pos_bench_webhooks_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return name, admin.rsplit("/", 1)[0] + f"/{name}"


def drop_pg(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def prepare_store(env: dict[str, str], notification_url: str, key: str, merchant_id: str) -> None:
    from pos_sync import appstore
    from pos_sync.appstore.webhooks import save_subscription
    from pos_sync.settings import load_settings

    with patched_environ(env):
        settings = load_settings()
        store = appstore.AppStore(settings)
        tenant, _ = store.create_tenant("Bench bakery")
        appstore.upsert_account(tenant_id=tenant, provider="square", merchant_id=merchant_id, account_name="bench",
                                access_token="bench-token", locations=[{"location_id": "LBENCH", "name": "Bench"}],
                                settings=settings)
        save_subscription("square", notification_url, ["payment.updated"], signature_key=key, settings=settings)
        appstore.dispose_engines()


def stored_events(env: dict[str, str]) -> dict[str, int]:
    import sqlalchemy as sa

    from pos_sync import appstore
    from pos_sync.appstore.models import PosWebhook
    from pos_sync.settings import load_settings

    with patched_environ(env):
        with appstore.session_scope(load_settings()) as s:
            rows = s.execute(sa.select(PosWebhook.processing_status, sa.func.count()).group_by(
                PosWebhook.processing_status)).all()
        appstore.dispose_engines()
    return {str(status): int(n) for status, n in rows}


def signed_bodies(url: str, key: str, merchant_id: str, n: int) -> list[tuple[bytes, str]]:
    from pos_sync.providers.square.webhooks import signature

    out = []
    for i in range(n):
        payment_id = f"BENCHPAY{i:08d}"
        body = json.dumps({"merchant_id": merchant_id, "type": "payment.updated", "event_id": str(uuid.uuid4()),
                           "created_at": "2026-03-02T10:30:12Z", "data": {"type": "payment", "id": payment_id,
                           "object": {"payment": {"id": payment_id, "location_id": "LBENCH", "status": "COMPLETED",
                                                  "amount_money": {"amount": 1250, "currency": "EUR"},
                                                  "order_id": f"BENCHORDER{i:08d}", "version": 2,
                                                  "updated_at": "2026-03-02T10:30:12Z"}}}},
                          separators=(",", ":")).encode()
        out.append((body, signature(key, url, body)))
    return out


async def blast(url: str, concurrency: int, requests: list[tuple[bytes, str]] | int) -> dict[str, Any]:
    """``requests`` POSTs (signed bodies) or that many GETs of ``url`` over ``concurrency`` keep-alive
    connections. A raw HTTP/1.1 client (as ``bench/api.py``'s): requests written from prepared bytes,
    answers read by ``Content-Length`` — an httpx client took a whole core at ≈ 450 req/s here, so it,
    not the server, set the ceiling on a 2-core machine."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", int(parts.port or 80), parts.path or "/"
    head = f"Host: {host}:{port}\r\n"
    if isinstance(requests, int):
        wire = [f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()] * requests
    else:
        wire = [(f"POST {path} HTTP/1.1\r\n{head}content-type: application/json\r\n"
                 f"x-square-hmacsha256-signature: {signature}\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
                for body, signature in requests]
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    state = {"next": 0}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while state["next"] < len(wire):
                i = state["next"]
                state["next"] = i + 1
                t0 = time.perf_counter()
                try:
                    writer.write(wire[i])
                    answer = await reader.readuntil(b"\r\n\r\n")
                    at = answer.lower().find(b"\r\ncontent-length:")
                    size = int(answer[at + 17:answer.index(b"\r\n", at + 2)]) if at >= 0 else 0
                    await reader.readexactly(size)
                    statuses[int(answer[9:12])] += 1
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    statuses[-1] += 1
                    print(f"  request error: {type(exc).__name__}", file=sys.stderr, flush=True)
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                latencies.append((time.perf_counter() - t0) * 1000)
        finally:
            writer.close()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    ok = sum(n for code, n in statuses.items() if 200 <= code < 300)
    return {"requests": len(wire), "acknowledged_2xx": ok, "statuses": {str(k): v for k, v in statuses.items()},
            "seconds": round(seconds, 2), "requests_per_s": round(len(wire) / seconds),
            "latency_ms": {"p50": round(statistics.median(latencies), 1), "p95": round(percentile(latencies, 0.95), 1),
                           "max": round(max(latencies), 1)},
            "client": "raw HTTP/1.1 keep-alive, asyncio",
            "client_cpu_share": round(cpu / seconds, 2)}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(proc: subprocess.Popen[str], url: str, concurrency: int, requests: list[tuple[bytes, str]] | int) -> dict[str, Any]:
    """:func:`blast`, with the server process's CPU per request (ms) over it."""
    cpu = process_cpu_s(proc.pid)
    out = asyncio.run(blast(url, concurrency, requests))
    out["server_cpu_ms_per_request"] = round((process_cpu_s(proc.pid) - cpu) * 1000 / out["requests"], 2)
    return out


def receiver_run(args: argparse.Namespace, store_kind: str) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"pos-bench-receiver-{store_kind}-"))
    pg_name = None
    extra: dict[str, str] = {}
    if store_kind == "postgres":
        pg_name, pg_url = scratch_pg(args.postgres)
        extra["POS_DATABASE_URL"] = pg_url
    env = home_env(home, **extra)
    key, merchant = uuid.uuid4().hex, "MBENCH" + uuid.uuid4().hex[:8].upper()
    try:
        with api_process(env) as (api_url, proc):
            url = f"{api_url}/api/v1/pos/webhooks/square"
            prepare_store(env, url, key, merchant)
            bodies = signed_bodies(url, key, merchant, args.requests)
            warm = asyncio.run(blast(url, 4, signed_bodies(url, key, merchant, 50)))  # not counted below
            load = round(os.getloadavg()[0], 2)
            healthz = served(proc, f"{api_url}/healthz", args.concurrency, args.requests)
            receiver = served(proc, url, args.concurrency, bodies)
            healthz_after = served(proc, f"{api_url}/healthz", args.concurrency, args.requests)
            load_end = round(os.getloadavg()[0], 2)
            server_rss = None
            with suppress(OSError):
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        server_rss = round(int(line.split()[1]) / 1024, 1)
        stored = stored_events(env)
    finally:
        if pg_name:
            drop_pg(args.postgres, pg_name)
    total_stored = sum(stored.values())
    ceiling = (healthz["requests_per_s"] + healthz_after["requests_per_s"]) / 2
    return {"app_store": store_kind, "load_average_1m_at_start": load, "load_average_1m_at_end": load_end,
            "healthz_before": healthz,
            "receiver": receiver, "healthz_after": healthz_after,
            "stored_events": stored, "warm_up_acknowledged": warm["acknowledged_2xx"],
            "every_2xx_stored_once": total_stored == receiver["acknowledged_2xx"] + warm["acknowledged_2xx"],
            "receiver_share_of_healthz": round(receiver["requests_per_s"] / ceiling, 2),
            "server_peak_rss_mib": server_rss}


def anatomy(args: argparse.Namespace, store_kind: str, n: int = 300, batch: int = 32) -> dict[str, Any]:
    """In-process, no HTTP: this process's CPU per event (µs) of each piece the receiver runs for a
    signed Square event, in its order — the subscription keys (kept for a few seconds, else read in
    a session and decrypted), the signature checked and the body parsed, then the account routed
    and the event stored: alone (one transaction per event, what a request paid before group
    commit and what the writer does event by event after a failed batch) and in batches of
    ``batch`` (the inbox writer at load: routes kept, one set-based insert, one commit)."""
    from pos_sync import appstore
    from pos_sync.api.routes.webhooks import _keys, _verified_event, new_event
    from pos_sync.appstore.routing import RouteCache
    from pos_sync.appstore.webhooks import record_events
    from pos_sync.providers import registry
    from pos_sync.settings import load_settings

    home = Path(tempfile.mkdtemp(prefix=f"pos-bench-anatomy-{store_kind}-"))
    pg_name = None
    extra: dict[str, str] = {}
    if store_kind == "postgres":
        pg_name, pg_url = scratch_pg(args.postgres)
        extra["POS_DATABASE_URL"] = pg_url
    env = home_env(home, **extra)
    url, key, merchant = "http://127.0.0.1:1/api/v1/pos/webhooks/square", uuid.uuid4().hex, "MANATOMY"
    flow = registry.get("square").webhooks
    assert flow is not None
    warm = 20
    pieces: dict[str, float] = {"keys": 0.0, "keys_read_fresh": 0.0, "signature_and_parse": 0.0,
                                "route_and_store_alone": 0.0, f"route_and_store_batched_{batch}": 0.0}
    try:
        prepare_store(env, url, key, merchant)
        with patched_environ(env):
            settings = load_settings()
            store = appstore.AppStore(settings)
            events = []
            for i, (body, sig) in enumerate(signed_bodies(url, key, merchant, 2 * n + warm)):
                t0 = time.process_time()
                keys = _keys(store, "square", flow)
                t1 = time.process_time()
                _keys(store, "square", flow, fresh=True)  # what every request paid before keys were kept
                t2 = time.process_time()
                events.append(new_event("square", _verified_event(body, {"x-square-hmacsha256-signature": sig},
                                                                  keys, flow)))
                t3 = time.process_time()
                if i >= warm:  # the first ones warm caches up
                    for k, v in zip(pieces, (t1 - t0, t2 - t1, t3 - t2), strict=False):
                        pieces[k] += v / 2  # 2n events: per event
            for i, event in enumerate(events[:warm + n]):
                t0 = time.process_time()
                outcome = record_events([event], settings=settings)
                if i >= warm:
                    pieces["route_and_store_alone"] += time.process_time() - t0
                assert outcome == ["accepted"]
            routes = RouteCache()
            rest = events[warm + n:]
            t0 = time.process_time()
            for j in range(0, n, batch):
                assert record_events(rest[j:j + batch], routes=routes, settings=settings) == ["accepted"] * len(
                    rest[j:j + batch])
            pieces[f"route_and_store_batched_{batch}"] = time.process_time() - t0
            appstore.dispose_engines()
    finally:
        if pg_name:
            drop_pg(args.postgres, pg_name)
    out = {k: round(v * 1e6 / n) for k, v in pieces.items()}
    before = out["keys"] + out["signature_and_parse"]
    return {"app_store": store_kind, "events": n, "cpu_us_per_event": out | {
        "total_alone": before + out["route_and_store_alone"],
        "total_batched": before + out[f"route_and_store_batched_{batch}"]},
        "load_average_1m": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------------- the document
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="webhook run: minutes of sales")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between sales")
    parser.add_argument("--sensor-interval", type=int, default=2)
    parser.add_argument("--dequeue-interval", type=int, default=1)
    parser.add_argument("--sensor-loop", type=float, default=1.0,
                        help="the daemon's sensor loop (the product's run coordinator: 1; Dagster's own: 5)")
    parser.add_argument("--run-launcher", choices=sorted(RUN_LAUNCHERS), default="product",
                        help="product: the instance's launcher as shipped; dagster-default: DefaultRunLauncher")
    parser.add_argument("--drain-seconds", type=float, default=300)
    parser.add_argument("--poll-minutes", type=int, default=1, help="DEFAULT_SYNC_FREQUENCY_MINUTES of the polling run")
    parser.add_argument("--poll-run-minutes", type=float, default=3.0, help="polling run: minutes of sales")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", default=PG_ADMIN)
    parser.add_argument("--no-postgres", dest="postgres", action="store_const", const=None)
    parser.add_argument("--skip", default="", help="comma separated: latency, polling, receiver, anatomy")
    parser.add_argument("--out", default=None)
    parser.add_argument("--merge-into", default=None, metavar="JSON",
                        help="a committed document (bench/results/webhook_latency.json): this run's receiver "
                             "results replace its receiver results (which move to its earlier_runs); its latency "
                             "results are kept")
    parser.add_argument("--as-earlier", default=None, metavar="NAME",
                        help="with --merge-into: keep this run's receiver results as earlier_runs.NAME instead")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    started = time.monotonic()
    document: dict[str, Any] = {"benchmark": "webhook_latency", "machine": machine(), "parameters": {
        "sales_every_s": args.every, "webhook_minutes": args.minutes, "sensor_interval_s": args.sensor_interval,
        "dequeue_interval_s": args.dequeue_interval, "sensor_loop_s": args.sensor_loop,
        "run_launcher": args.run_launcher,
        "poll_minutes": args.poll_minutes,
        "poll_run_minutes": args.poll_run_minutes, "requests": args.requests, "concurrency": args.concurrency,
        "world": "tiny Square world (seed 42, 1 day ending today, 2 locations), live sales closed now",
        "stack": "pos-sync sandbox serve + pos-sync api serve + dagster-daemon run -w workspace.yaml "
                 f"(SQLite app store, DuckDB warehouse, SQLite Dagster instance, run launcher: {args.run_launcher})",
        "client": "receiver: raw HTTP/1.1 keep-alive asyncio client (one process); latency runs: httpx"}}
    results: dict[str, Any] = {}
    if "latency" not in skip:
        results["webhooks"] = latency_run(args, "webhooks")
        print(json.dumps(results["webhooks"], indent=1), file=sys.stderr, flush=True)
    if "polling" not in skip:
        results["polling"] = latency_run(args, "polling")
    if "receiver" not in skip:
        results["receiver_sqlite"] = receiver_run(args, "sqlite")
        print(f"receiver sqlite: {results['receiver_sqlite']['receiver']['requests_per_s']} req/s", file=sys.stderr,
              flush=True)
        if args.postgres:
            results["receiver_postgres"] = receiver_run(args, "postgres")
    if "anatomy" not in skip:
        results["receiver_anatomy"] = [anatomy(args, "sqlite")] + ([anatomy(args, "postgres")] if args.postgres else [])
    document["results"] = results
    document["comparison"] = compare(args, results)
    document["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    document["duration_seconds"] = round(time.monotonic() - started, 1)
    document["peak_rss_mib"] = peak_rss_mib()
    emit(document, args.out)
    if args.merge_into:
        merge_receiver(Path(args.merge_into), document, args.as_earlier)


def is_receiver_key(key: str) -> bool:
    return key.startswith(("receiver_", "goal_receiver_", "healthz_"))


def merge_receiver(path: Path, document: dict[str, Any], as_earlier: str | None) -> None:
    """This run's receiver results into the document at ``path``, its other results kept."""
    doc = json.loads(path.read_text())
    mine = {k: v for k, v in document["results"].items() if is_receiver_key(k)}
    run = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": document["machine"],
           "parameters": {k: document["parameters"][k] for k in ("requests", "concurrency", "client")},
           "duration_seconds": document["duration_seconds"]}
    earlier = doc.setdefault("earlier_runs", {})
    if as_earlier:
        earlier[as_earlier] = {"receiver_run": run, **mine,
                               "comparison": {k: v for k, v in document["comparison"].items() if is_receiver_key(k)}}
    else:
        replaced = {k: v for k, v in doc["results"].items() if is_receiver_key(k)}
        if replaced:
            stamp = (doc.get("receiver_run") or {}).get("date", "latency_run")
            earlier[f"receiver_until_{stamp}"] = {"receiver_run": doc.get("receiver_run"), **replaced, "comparison": {
                k: v for k, v in doc["comparison"].items() if is_receiver_key(k)}}
        doc["results"] = {k: v for k, v in doc["results"].items() if not is_receiver_key(k)} | mine
        doc["comparison"] = {k: v for k, v in doc["comparison"].items() if not is_receiver_key(k)} | {
            k: v for k, v in document["comparison"].items() if is_receiver_key(k)}
        doc["receiver_run"] = run
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"receiver results merged into {path}", file=sys.stderr, flush=True)


def compare(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    hook = results.get("webhooks")
    if hook:
        lat = hook["latency_delivery_to_pos_s"]
        events = hook["events"]
        out["webhook_p95_s"] = lat.get("p95")
        out["goal_webhook_p95_under_10_s"] = lat.get("p95") is not None and lat["p95"] < 10
        out["goal_nothing_lost"] = (events["lost"] == 0 and events["waiting_at_end"] == 0
                                    and hook["sales_with_their_row"] == hook["sales"])
    poll = results.get("polling")
    if poll:
        measured = poll["latency_till_to_pos_s"]
        sync = poll["sync_runs"]["duration_s"]
        # a sale waits U(0, P) for the next poll (the sensor checks every 30 s), then one sync
        p_default = 15 * 60
        med_sync = sync.get("p50") or 0
        p95_sync = sync.get("p95") or med_sync
        out["polling_measured_every_min"] = args.poll_minutes
        out["polling_measured_p50_p95_s"] = [measured.get("p50"), measured.get("p95")]
        out["polling_default_15_min_derived_s"] = {
            "p50": round(0.5 * p_default + 15 + med_sync, 1), "p95": round(0.95 * p_default + 30 + p95_sync, 1),
            "max": round(p_default + 30 + (sync.get("max") or p95_sync), 1),
            "how": "U(0, 15 min) until the next poll + up to the sensor's 30 s tick + the sync duration measured "
                   "in the polling run"}
        if hook and hook["latency_till_to_pos_s"].get("p50"):
            out["polling_default_vs_webhook_p50"] = round(
                out["polling_default_15_min_derived_s"]["p50"] / hook["latency_till_to_pos_s"]["p50"], 1)
            if measured.get("p50"):
                out["polling_measured_vs_webhook_p50"] = round(measured["p50"] / hook["latency_till_to_pos_s"]["p50"], 1)
    for kind in ("sqlite", "postgres"):
        rec = results.get(f"receiver_{kind}")
        if rec:
            out[f"receiver_{kind}_req_per_s"] = rec["receiver"]["requests_per_s"]
            out[f"receiver_{kind}_share_of_healthz"] = rec["receiver_share_of_healthz"]
            out[f"goal_receiver_{kind}_500_req_per_s"] = rec["receiver"]["requests_per_s"] >= 500
            out[f"receiver_{kind}_every_2xx_stored_once"] = rec["every_2xx_stored_once"]
            # CPU, not wall time, on a shared machine: the server's CPU per request, and what one
            # core of it would answer at that cost (the client runs elsewhere)
            cpu = rec["receiver"].get("server_cpu_ms_per_request")
            if cpu:
                healthz_cpu = (rec["healthz_before"]["server_cpu_ms_per_request"]
                               + rec["healthz_after"]["server_cpu_ms_per_request"]) / 2
                out[f"receiver_{kind}_server_cpu_ms_per_request"] = cpu
                out[f"healthz_{kind}_server_cpu_ms_per_request"] = round(healthz_cpu, 2)
                out[f"receiver_{kind}_req_per_s_per_core_from_cpu"] = round(1000 / cpu)
    return out


if __name__ == "__main__":
    main()
