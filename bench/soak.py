"""Soak: the production topology (``pos-sync topology up``) syncing many accounts for a while, with the
sandbox's faults on and the clock moving.

``--worlds N`` sandbox worlds (tiny, two days that ended ten days ago; seeds 100…), each a Square, a
Toast and a Lightspeed account: 3 N accounts, every one syncing every minute through the daemon's
``account_sync_sensor`` (its real schedule, ``sync_frequency_minutes = 1``). The sandboxes' clocks
follow the wall clock and a live sale closes every ``--sale-every`` seconds in each world (every
fifth refunded a minute later, every seventh voided), while each sandbox serves the ``--faults``
plan (default ``flaky``: 429s with and without Retry-After, 500/503, slow responses, expired tokens).
After ``--minutes`` the live clocks stop (the sandbox clock freezes at T); the schedules stop (each
account's frequency set to a day) and every account is asked once for a sync, through the app store's
sync requests as the API's "sync now" does, and again if that sync fails (counted); once each has
synced after T (at most ``--final-minutes``) the topology stops, and each world's canonical daily figures are compared with its
ledger at T, to the cent.

Reported: runs by job and status, failed runs and why, run retries (re-executions) and step retries,
rows loaded, accounts reconciled, duplicate transactions, queue waits (enqueued → launched,
percentiles), run durations, peak memory (VmHWM) of the code server, daemon, webserver and API and
of the largest run worker, the machine and its load.

    python -m bench.soak [--worlds 30] [--minutes 10] [--sale-every 5] [--faults flaky] [--pool-limit 4]
                         [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--out bench/results/soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import emit, iso, machine, percentile, process_peak_rss_mib

REPO = Path(__file__).resolve().parents[1]
PROVIDERS = ("square", "toast", "lightspeed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _databases(admin: str) -> dict[str, str]:
    import psycopg

    tag, base, urls = uuid.uuid4().hex[:8], admin.rsplit("/", 1)[0], {}
    with psycopg.connect(admin, autocommit=True) as conn:
        for role in ("dagster", "app", "warehouse"):
            conn.execute(f'create database "pos_soak_{tag}_{role}"')
            urls[role] = f"{base}/pos_soak_{tag}_{role}"
    return urls


def _drop(admin: str, urls: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        for url in urls.values():
            conn.execute(f'drop database if exists "{url.rsplit("/", 1)[1]}" with (force)')


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    kids = [int(p) for p in out.split()]
    return kids + [d for k in kids for d in _descendants(k)]


def _stats(inst: Any, freeze: datetime) -> dict[str, Any]:
    import dagster as dg

    records = list(inst.get_run_records())
    by = Counter(f"{r.dagster_run.job_name}:{r.dagster_run.status.value}" for r in records)
    waits, durations, step_retries, rows = [], [], 0, 0
    failures: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    kinds = {dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING, dg.DagsterEventType.STEP_RESTARTED,
             dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.RUN_FAILURE,
             dg.DagsterEventType.STEP_FAILURE}
    for record in records:
        run = record.dagster_run
        events = inst.all_logs(run.run_id, of_type=kinds)
        when = {e.dagster_event_type: e.timestamp for e in events}
        if dg.DagsterEventType.RUN_ENQUEUED in when and dg.DagsterEventType.RUN_STARTING in when:
            waits.append(when[dg.DagsterEventType.RUN_STARTING] - when[dg.DagsterEventType.RUN_ENQUEUED])
        if record.start_time and record.end_time:
            durations.append(record.end_time - record.start_time)
        step_retries += sum(e.dagster_event_type == dg.DagsterEventType.STEP_RESTARTED for e in events)
        for e in events:
            if e.dagster_event_type == dg.DagsterEventType.RUN_FAILURE:
                failures[(e.message or "")[:160]] += 1
            if e.dagster_event_type == dg.DagsterEventType.STEP_FAILURE:  # the cause, not "Steps failed: [...]"
                error = e.dagster_event.event_specific_data.error
                cause = error.cause or error
                steps[f"{e.dagster_event.step_key}: {(cause.cls_name or '')}: {cause.message.strip()[:300]}"] += 1
            if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                mat = e.dagster_event.event_specific_data.materialization
                if mat.asset_key.path[0] == "raw":
                    value = mat.metadata.get("rows_loaded")
                    rows += int(getattr(value, "value", value) or 0)
    sync_runs = [r for r in records if r.dagster_run.job_name.endswith("_sync")]
    return {
        "runs": len(records), "runs_by_job_and_status": dict(sorted(by.items())),
        "sync_runs": len(sync_runs),
        "sync_runs_failed": sum(r.dagster_run.status.value == "FAILURE" for r in sync_runs),
        "failure_messages": dict(failures.most_common(10)),
        "step_failures": dict(steps.most_common(20)),
        "run_retries": sum("dagster/parent_run_id" in r.dagster_run.tags for r in records),
        "step_retries": step_retries,
        "raw_rows_loaded": rows,
        "queue_wait_seconds": {"p50": round(percentile(waits, 0.5), 2), "p95": round(percentile(waits, 0.95), 2),
                               "max": round(max(waits, default=0.0), 2), "n": len(waits)},
        "run_seconds": {"p50": round(percentile(durations, 0.5), 2), "p95": round(percentile(durations, 0.95), 2),
                        "mean": round(statistics.fmean(durations), 2) if durations else None},
        "in_flight_when_measured": [r.dagster_run.run_id for r in records if r.dagster_run.status.value in ("STARTED", "STARTING")],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pos_sandbox.faults import FaultPlan
    from pos_sandbox.ledger import compute_truth
    from pos_sandbox.live_clock import LiveClock
    from pos_sandbox.server import SandboxServer
    from pos_sandbox.world import World
    from pos_sync.warehouse.pipelines import dlt_postgres_url

    urls = _databases(args.pg)
    tmp = Path(tempfile.mkdtemp(prefix="pos-soak-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POS_", "DAGSTER_"))}
    env |= {"POS_HOME": str(tmp / "home"), "DAGSTER_HOME": str(tmp / "home" / "dagster"),
            "DAGSTER_PG_URL": urls["dagster"].replace("postgresql://", "postgresql+psycopg2://", 1),
            "POS_DATABASE_URL": urls["app"], "POS_WAREHOUSE_URL": dlt_postgres_url(urls["warehouse"]),
            "DLT_DATA_DIR": str(tmp / "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false",
            "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])}
    os.environ.update({k: v for k, v in env.items() if k.startswith(("POS_", "DAGSTER_", "DLT_"))})
    start = datetime.now(UTC).date() - timedelta(days=10)
    worlds = [World(100 + i, start, days=2, scale="tiny") for i in range(args.worlds)]
    servers, clocks, plans, accounts = [], [], [], {}
    from pos_sync import appstore
    from pos_sync.cli.demo import LINKERS

    proc = None
    started = time.monotonic()
    try:
        for world in worlds:
            plan = FaultPlan()  # linking is a person's one-off; the faults start with the syncs
            plans.append(plan)
            servers.append(SandboxServer(world, faults=plan).start())
            for cred in servers[-1].manifest()["accounts"]:
                account_id = LINKERS[cred["provider"]](cred["base_url"], world.tenant_id, cred)
                appstore.update_account(account_id, sync_frequency_minutes=1)
                accounts[account_id] = world.tenant_id
        appstore.dispose_engines()
        if args.faults != "none":
            for i, plan in enumerate(plans):
                wanted = FaultPlan.parse(args.faults, seed=i)
                for name in ("probabilities", "seed", "slow_ms", "schedule", "expire_after", "key_mode", "retry_after"):
                    setattr(plan, name, getattr(wanted, name))
                plan.reset()
        for world in worlds:
            clocks.append(LiveClock(world, sale_every=args.sale_every, tick=0.5).start())
        out = tmp / "topology.json"
        with out.open("wb") as stdout, (tmp / "topology.stderr").open("wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "pos_sync.cli", "topology", "up", "--json",
                                     "--pool-limit", str(args.pool_limit), "--grpc-port", str(_free_port()),
                                     "--webserver-port", str(_free_port()), "--api-port", str(_free_port())],
                                    cwd=REPO, env=env, stdout=stdout, stderr=stderr)
        while not out.read_text().strip().endswith("}"):
            if proc.poll() is not None:
                raise SystemExit(f"topology up exited: {(tmp / 'topology.stderr').read_text()[-2000:]}")
            time.sleep(0.5)
        doc = json.loads(out.read_text())
        up_seconds = time.monotonic() - started
        peaks: dict[str, float] = {}

        def sample() -> None:
            for name, pid in doc["pids"].items():
                peak = process_peak_rss_mib(pid)
                if peak is not None:
                    peaks[name] = max(peaks.get(name, 0.0), peak)
            for pid in _descendants(doc["pids"]["code server"]):
                peak = process_peak_rss_mib(pid)
                if peak is not None:
                    peaks["run worker (largest)"] = max(peaks.get("run worker (largest)", 0.0), peak)

        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            sample()
            time.sleep(2)
        for clock in clocks:
            clock.stop()
        freeze = max(w.now for w in worlds)
        import dagster as dg

        from pos_dagster.defs.automation.sensors import accounts_in_flight
        from pos_sync.appstore.sync_requests import request_sync

        inst = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
        try:
            def synced_after_freeze() -> set[str]:
                done = set()
                for r in inst.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS])):
                    account = r.dagster_run.tags.get("pos/account")
                    if account and r.dagster_run.job_name.endswith("_sync") and (r.start_time or 0) > freeze.timestamp():
                        done.add(account)
                return done

            # after the freeze, each account needs one more good sync: the scheduled ones stop (frequency one
            # day, as an operator would set it through the API) and each account is asked once for a sync, as
            # the dashboard's "sync now" does; an account whose sync then fails is asked again (counted)
            for account_id in accounts:
                appstore.update_account(account_id, sync_frequency_minutes=24 * 60)
            asked: dict[str, float] = {}
            asked_again = 0
            final_started = time.monotonic()
            final_deadline = final_started + args.final_minutes * 60
            while (missing := set(accounts) - synced_after_freeze()) and time.monotonic() < final_deadline:
                busy = accounts_in_flight(inst)
                for account_id in sorted(missing - busy):
                    if time.monotonic() - asked.get(account_id, -1e9) > 120:  # the sensor turned the last one into a run
                        asked_again += account_id in asked
                        asked[account_id] = time.monotonic()
                        request_sync(account_id, accounts[account_id])
                sample()
                time.sleep(5)
            missing = sorted(set(accounts) - synced_after_freeze())
            final_seconds = round(time.monotonic() - final_started, 1)
            stats = _stats(inst, freeze)
        finally:
            inst.dispose()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        from pos_sync.canonical.reconcile import canonical_daily, compare_daily
        from pos_sync.warehouse.sql import Warehouse

        problems: list[str] = []
        wh = Warehouse()
        try:
            for world in worlds:
                problems += compare_daily(compute_truth(world)["daily"], canonical_daily(wh, world.tenant_id))
            duplicates = wh.query("select count(*) as n from (select 1 from pos.pos_transactions group by "
                                  "pos_provider, pos_account_id, pos_transaction_id, transaction_type "
                                  "having count(*) > 1) d")[0]["n"]
        finally:
            wh.close()
        requests = sum(plan.counters()["requests"] for plan in plans)
        return {
            "benchmark": "soak", "measured_at": iso(datetime.now(UTC)), "machine": machine(),
            "parameters": {"worlds": args.worlds, "accounts": len(accounts), "providers": list(PROVIDERS),
                           "minutes": args.minutes, "sale_every_seconds": args.sale_every, "faults": args.faults,
                           "pool_limit": args.pool_limit, "sync_frequency_minutes": 1,
                           "final_minutes_at_most": args.final_minutes},
            "topology_up_seconds": round(up_seconds, 1),
            "live_sales": sum(c.sales_made for c in clocks), "sandbox_requests": requests,
            **stats,
            "after_the_freeze": {"seconds_until_every_account_synced": final_seconds if not missing else None,
                                 "sync_requests": len(asked), "asked_again_after_a_failed_sync": asked_again},
            "accounts_without_a_sync_after_the_freeze": missing,
            "reconciliation": {"verdict": "reconciled" if not problems and not missing else "mismatch",
                               "worlds": len(worlds), "problems": problems[:20], "problem_count": len(problems)},
            "duplicate_transactions": int(duplicates),
            "peak_rss_mib": dict(sorted(peaks.items())),
            "load_average_1m_at_end": os.getloadavg()[0],
        }
    finally:
        if proc is not None and proc.poll() is None:  # interrupted: the launcher stops its process groups
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for clock in clocks:
            clock.stop()
        for server in servers:
            server.stop()
        appstore.dispose_engines()
        _drop(args.pg, urls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=30, help="sandbox worlds: 3 accounts each (default 30)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long sales and syncs go on")
    parser.add_argument("--final-minutes", type=float, default=30.0,
                        help="at most this long for every account's sync after the freeze")
    parser.add_argument("--sale-every", type=float, default=5.0, help="seconds between live sales per world")
    parser.add_argument("--faults", default="flaky", help="the sandboxes' fault plan (a preset or spec; none)")
    parser.add_argument("--pool-limit", type=int, default=4, help="slots of each provider's pool")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin DSN")
    parser.add_argument("--out", default=None, help="write the JSON document here too")
    args = parser.parse_args()
    emit(run(args), args.out)


if __name__ == "__main__":
    main()
