"""Benchmark: how long a new sale takes from the till to a re-materialized forecast of its location,
with the real daemon on the embedded defaults (#15's acceptance: goal p95 < 60 s).

The stack is ``bench/webhook_latency.py``'s webhook mode: ``pos-sync sandbox serve`` (a tiny Square
world whose window of ``--days`` ends today), the account linked through the emulator's OAuth and
imported with ``pos-sync sync``, ``pos-sync api serve`` with the account's webhooks registered,
``dagster-daemon run -w workspace.yaml`` with every sensor as deployed. A sale made with
``POST /_sandbox/sales`` is delivered by webhook, stored by the receiver, synced by a run of
``webhook_inbox_sensor`` whose ``demand/square/demand_history`` step materializes the changed
location-day (while the account's previous sync still runs, the run is targeted at raw + canonical
and the account's next ``webhook-downstream`` run materializes it), which ``demand_history_sensor`` (every ``POS_DEMAND_SENSOR_INTERVAL_SECONDS``) batches
into one ``demand_forecast_job`` run for the changed locations only.

For every sale the chain is followed exactly, not guessed from clocks: its inbox events' run key →
the sync run → that run's demand-history materialization (its event storage id) → the forecasting
run whose batch (``pos/demand-batch`` = ``demand:<first>-<last>`` storage ids) covers it. The
latency is that run's end minus the till's time. Also recorded: the stages (till → rows landed →
demand materialized → forecast requested → started → ended), whether each forecasting run covered
only the locations that changed, and sales whose chain is broken (lost).

The baseline in the same run: the same forecasting run's own duration (what a forecast costs with
no waiting), and the sale → rows latency of the same sales (``bench/webhook_latency.py``'s figure).

    python -m bench.forecast_latency [--minutes 3 --every 20 --days 14] [--out bench/results/forecast_latency.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import emit, machine, peak_rss_mib
from bench.webhook_latency import (
    SEED,
    api_process,
    daemon,
    home_env,
    inbox_rows,
    link_and_import,
    make_sale,
    patched_environ,
    sandbox,
    stats,
    write_instance,
)

FORECAST_JOB = "demand_forecast_job"


def instance_facts(home: Path) -> dict[str, Any]:
    """Runs (sync runs by webhook batch, forecasting runs by demand batch) and the demand-history
    materializations (storage id, run, time) of the scratch instance."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        syncs: dict[str, dict[str, Any]] = {}
        downstream: list[str] = []  # a targeted sync's demand history is in its account's next downstream run
        forecasts: list[dict[str, Any]] = []
        for rec in instance.get_run_records(limit=10_000):
            run, tags = rec.dagster_run, rec.dagster_run.tags
            facts = {"run_id": run.run_id, "created": rec.create_timestamp.timestamp(), "started": rec.start_time,
                     "ended": rec.end_time, "status": run.status.value}
            if tags.get("pos/webhook-batch"):
                syncs[tags["pos/webhook-batch"]] = facts
            elif tags.get("pos/trigger") == "webhook-downstream":
                downstream.append(run.run_id)
            elif run.job_name == FORECAST_JOB:
                batch = tags.get("pos/demand-batch", "")
                first, _, last = batch.removeprefix("demand:").partition("-")
                changes = (((run.run_config or {}).get("ops") or {}).get("forecast__demand_forecast") or {})
                changes = (changes.get("config") or {}).get("changes") or []
                forecasts.append(facts | {"batch": batch, "first": int(first or 0), "last": int(last or 0),
                                          "locations": sorted({c["location_id"] for c in changes})})
        mats = instance.fetch_materializations(dg.AssetKey(["demand", "square", "demand_history"]), limit=10_000)
        demand = [{"storage_id": r.storage_id, "run_id": r.run_id, "at": r.timestamp,
                   "changes": _changes(r)} for r in mats.records]
        return {"syncs": syncs, "forecasts": forecasts, "demand": demand, "downstream_runs": downstream}
    finally:
        instance.dispose()


def _changes(record: Any) -> list[dict[str, Any]]:
    mat = record.asset_materialization
    value = mat.metadata.get("changes") if mat is not None else None
    return list(getattr(value, "value", value) or [])


def follow(sales: list[tuple[float, dict[str, Any]]], inbox: list[dict[str, Any]],
           facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Each sale's chain: till → its rows landed (events settled) → the sync run's demand
    materialization (a targeted sync's: the first one of a downstream run after it ended) → the
    forecasting run whose batch covers it."""
    by_run = {}
    for m in facts["demand"]:
        by_run.setdefault(m["run_id"], []).append(m)
    out = []
    for rang, sale in sales:
        ids = {sale["sale_id"], *sale["tender_ids"]}
        done = sorted((r for r in inbox if r["object_id"] in ids and r["processed_at"] and r["run_key"]),
                      key=lambda r: r["processed_at"])
        chain: dict[str, Any] = {"sale_id": sale["sale_id"], "location_id": sale.get("location_id"), "rang": rang}
        if done:
            chain["landed"] = done[0]["processed_at"]
            sync = facts["syncs"].get(done[0]["run_key"])
            mats = by_run.get(sync["run_id"], []) if sync else []
            if sync and not mats and sync["ended"]:  # targeted (raw + canonical): its downstream run follows
                mats = [m for m in facts["demand"] if m["run_id"] in facts.get("downstream_runs", ())
                        and m["at"] >= sync["ended"]]
            if mats:
                mat = min(mats, key=lambda m: m["storage_id"])
                chain["demand_at"] = mat["at"]
                run = next((f for f in facts["forecasts"] if f["first"] <= mat["storage_id"] <= f["last"]), None)
                if run is not None:
                    chain |= {"forecast_created": run["created"], "forecast_started": run["started"],
                              "forecast_ended": run["ended"], "forecast_status": run["status"],
                              "forecast_covers_location": sale.get("location_id") in run["locations"]}
        out.append(chain)
    return out


def measure(chains: list[dict[str, Any]], facts: dict[str, Any]) -> dict[str, Any]:
    ok = [c for c in chains if c.get("forecast_status") == "SUCCESS" and c.get("forecast_ended")]
    spans = {"till_to_forecast": ("rang", "forecast_ended"), "till_to_rows_landed": ("rang", "landed"),
             "rows_landed_to_demand_materialized": ("landed", "demand_at"),
             "demand_materialized_to_forecast_requested": ("demand_at", "forecast_created"),
             "forecast_requested_to_started": ("forecast_created", "forecast_started"),
             "forecast_run": ("forecast_started", "forecast_ended")}
    out = {name: stats([c[b] - c[a] for c in ok]) for name, (a, b) in spans.items()}
    runs = [f for f in facts["forecasts"] if f["status"] == "SUCCESS" and f["started"] and f["ended"]]
    # only the changed locations: every forecasting run's locations are exactly those its batch's
    # demand materializations changed
    only_changed = True
    for f in facts["forecasts"]:
        changed = {c["location_id"] for m in facts["demand"] if f["first"] <= m["storage_id"] <= f["last"]
                   for c in m["changes"]}
        only_changed &= set(f["locations"]) == changed
    return out | {"sales": len(chains), "sales_forecast": len(ok),
                  "sales_lost": len(chains) - len(ok),
                  "every_forecast_covered_its_sale_location": all(c["forecast_covers_location"] for c in ok),
                  "forecast_runs": len(facts["forecasts"]),
                  "forecast_runs_failed": sum(f["status"] == "FAILURE" for f in facts["forecasts"]),
                  "forecast_runs_unfinished_at_end": sum(f["status"] not in ("SUCCESS", "FAILURE", "CANCELED")
                                                         for f in facts["forecasts"]),
                  "forecast_runs_only_changed_locations": only_changed,
                  "forecast_run_duration_s": stats([f["ended"] - f["started"] for f in runs]),
                  "demand_materializations": len(facts["demand"])}


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="pos-bench-forecast-"))
    env = home_env(home, POS_WEBHOOK_SENSOR_INTERVAL_SECONDS=str(args.sensor_interval),
                   POS_DEMAND_SENSOR_INTERVAL_SECONDS=str(args.demand_interval),
                   DEFAULT_SYNC_FREQUENCY_MINUTES="15")
    write_instance(home, args.dequeue_interval)
    out: dict[str, Any] = {"pos_home": str(home), "load_average_1m_at_start": round(os.getloadavg()[0], 2)}
    with sandbox(home, args.days) as (sandbox_url, manifest):
        cred = next(a for a in manifest["accounts"] if a["provider"] == "square")
        account_id, out["historical_import_seconds"] = link_and_import(home, manifest, env)
        locations = list(cred["location_ids"])
        with api_process(env) as (api_url, _):
            from pos_sync.appstore import AppStore, dispose_engines
            from pos_sync.ingest.webhooks import register_account
            from pos_sync.settings import load_settings

            with patched_environ(env | {"SQUARE_APP_ACCESS_TOKEN": cred["app_access_token"]}):
                store = AppStore(load_settings())
                tenant = store.get_account(account_id).tenant_id
                register_account(store, account_id, tenant, api_url)
                dispose_engines()
            with daemon(env, home):
                # warm-up: the daemon loads the code location and the first forecast covers the import
                out["warm_up_seconds"] = wait_forecasts(home, [], time.time() + args.drain_seconds, first=True)
                print(f"warm-up: the import's forecast ran after {out['warm_up_seconds']} s", file=sys.stderr,
                      flush=True)
                sales: list[tuple[float, dict[str, Any]]] = []
                start = time.monotonic()
                for i in range(int(args.minutes * 60 / args.every)):
                    delay = start + i * args.every - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    rang, sale = make_sale(sandbox_url, locations[i % len(locations)])
                    sales.append((rang, sale | {"location_id": sale.get("location_id") or locations[i % len(locations)]}))
                out["sales_made"] = len(sales)
                out["drained"] = wait_forecasts(home, sales, time.time() + args.drain_seconds, env=env) is not None
                print(f"{len(sales)} sales made; drained: {out['drained']}", file=sys.stderr, flush=True)
    out["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    facts = instance_facts(home)
    chains = follow(sales, inbox_rows(env), facts)
    return out | measure(chains, facts)


def wait_forecasts(home: Path, sales: list[tuple[float, dict[str, Any]]], deadline: float, *, first: bool = False,
                   env: dict[str, str] | None = None) -> float | None:
    """Seconds until a first forecast succeeded (``first``), or until every sale's chain ended in a
    finished forecasting run; None at the deadline."""
    began = time.time()
    while time.time() < deadline:
        time.sleep(3)
        facts = instance_facts(home)
        if first:
            if any(f["status"] == "SUCCESS" for f in facts["forecasts"]):
                return round(time.time() - began, 1)
            continue
        assert env is not None
        chains = follow(sales, inbox_rows(env), facts)
        if all(c.get("forecast_ended") for c in chains):
            return round(time.time() - began, 1)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="minutes of sales")
    parser.add_argument("--every", type=float, default=20.0, help="seconds between sales")
    parser.add_argument("--days", type=int, default=14, help="days of history the world has (ending today)")
    parser.add_argument("--sensor-interval", type=int, default=5, help="POS_WEBHOOK_SENSOR_INTERVAL_SECONDS")
    parser.add_argument("--demand-interval", type=int, default=5, help="POS_DEMAND_SENSOR_INTERVAL_SECONDS")
    parser.add_argument("--dequeue-interval", type=int, default=1, help="the queued run coordinator's interval")
    parser.add_argument("--drain-seconds", type=float, default=600)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    began = time.monotonic()
    result = run(args)
    p95 = (result.get("till_to_forecast") or {}).get("p95")
    doc = {"benchmark": "forecast_latency", "machine": machine(),
           "parameters": {"minutes": args.minutes, "every_s": args.every, "world_days": args.days,
                          "world": f"tiny Square world (seed {SEED}, {args.days} days ending today, 2 locations), "
                                   "live sales closed now, delivered by webhook",
                          "webhook_sensor_interval_s": args.sensor_interval,
                          "demand_sensor_interval_s": args.demand_interval,
                          "dequeue_interval_s": args.dequeue_interval,
                          "stack": "pos-sync sandbox serve + pos-sync api serve + dagster-daemon run -w workspace.yaml "
                                   "(SQLite app store, DuckDB warehouse, SQLite Dagster instance, default run launcher)"},
           "results": result,
           "comparison": {"goal_p95_under_60_s": bool(p95 is not None and p95 < 60 and not result["sales_lost"]),
                          "till_to_forecast_p95_s": p95,
                          "of_which_till_to_rows_p95_s": (result.get("till_to_rows_landed") or {}).get("p95"),
                          "forecast_run_alone_p50_s": (result.get("forecast_run_duration_s") or {}).get("p50")},
           "duration_seconds": round(time.monotonic() - began, 1), "peak_rss_mib": peak_rss_mib()}
    emit(doc, args.out)


if __name__ == "__main__":
    main()
