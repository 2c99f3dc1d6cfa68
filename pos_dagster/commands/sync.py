"""``pos-sync sync``: run account syncs in-process through the same Dagster definitions."""

from __future__ import annotations

import argparse
import os
import socket
import time
from typing import Any

from pos_dagster.cli import CommandError, emit_json, log

DEAD_RUN_MESSAGE = "the pos-sync process running this sync ended without finishing it (killed?)"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_cli_runs(instance: Any, account_id: str) -> list[str]:
    """Runs of this account that ``pos-sync`` started on this host and whose process is gone (a
    killed sync) are marked failed and give back the pool slots they held; otherwise the next
    run waits for the ``square_api`` slot forever (no daemon watches in-process runs)."""
    import dagster as dg

    reaped = []
    runs = instance.get_runs(dg.RunsFilter(
        tags={"pos/account": account_id, "pos/host": socket.gethostname()},
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]))
    for run in runs:
        pid = int(run.tags.get("pos/pid") or 0)
        if pid and _process_alive(pid):
            continue
        instance.report_run_failed(run, DEAD_RUN_MESSAGE)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


def sync_account(account_id: str, instance: Any = None, log_level: str = "WARNING") -> dict[str, Any]:
    """Materialize one account partition's sync job in-process; returns a summary (never raises
    for a failed sync: the summary says ``failed`` and why)."""
    from pos_dagster import appstore
    from pos_dagster.definitions import defs
    from pos_dagster.lib.instance import get_instance
    from pos_dagster.partitions import ACCOUNT_PARTITIONS
    from pos_dagster.schedules import SYNC_JOBS

    account = appstore.get_account(account_id)
    if account.provider not in SYNC_JOBS:
        return {"account_id": account_id, "provider": account.provider, "status": "skipped",
                "error": f"no sync job for {account.provider} yet"}
    instance = instance or get_instance()
    if not instance.has_dynamic_partition(ACCOUNT_PARTITIONS, account_id):
        instance.add_dynamic_partitions(ACCOUNT_PARTITIONS, [account_id])
    for run_id in reap_dead_cli_runs(instance, account_id):
        log(f"  closed run {run_id} of a killed sync as failed and freed its pool slot")
    job = defs.resolve_job_def(SYNC_JOBS[account.provider])
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance,
        partition_key=account_id,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={"pos/account": account_id, "pos/trigger": "cli", "pos/host": socket.gethostname(),
              "pos/pid": str(os.getpid())},
    )
    duration = time.monotonic() - started
    history = appstore.sync_history(account_id, limit=1)
    last = history[0] if history else None
    after = appstore.get_account(account_id)
    rows: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        value = mat.metadata.get("rows_loaded")
        rows["/".join(mat.asset_key.path[1:])] = int(getattr(value, "value", value) or 0)
    summary = {
        "account_id": account_id,
        "provider": account.provider,
        "run_id": result.run_id,
        "status": "success" if result.success else "failed",
        "sync_type": last.sync_type if last else None,
        "duration_seconds": round(duration, 2),
        "rows_loaded": rows,
        "account_status": after.status,
        "error": None if result.success else (after.error_message or (last.error_message if last else None)
                                               or "run failed: see the Dagster run log"),
    }
    return summary


def _sync(args: argparse.Namespace) -> int:
    from pos_dagster import appstore

    if args.all:
        accounts = [a.id for a in appstore.list_accounts(sync_enabled_only=True)]
        if not accounts:
            raise CommandError("no accounts to sync: add one with `pos-sync accounts add …`")
    elif args.account:
        accounts = list(args.account)
    else:
        raise CommandError("say which accounts: --account ID (repeatable) or --all")
    summaries = []
    for account_id in accounts:
        try:
            appstore.get_account(account_id)
        except appstore.AccountNotFound as exc:
            raise CommandError(f"no account {account_id}") from exc
        log(f"syncing {account_id} …")
        summary = sync_account(account_id)
        log(f"  {summary['status']} in {summary.get('duration_seconds', 0)} s; rows {summary.get('rows_loaded') or {}}"
            + (f"; error: {summary['error']}" if summary.get("error") else ""))
        summaries.append(summary)
    if args.json:
        emit_json(summaries)
    failed = [s for s in summaries if s["status"] == "failed"]
    if failed:
        raise CommandError(f"{len(failed)} of {len(summaries)} syncs failed")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "sync", help="run account syncs now, in-process, through the Dagster definitions",
        description="Run syncs in-process through the same Dagster definitions the daemon uses (usable "
                    "from cron or a terminal). Progress on stderr; exits non-zero if any sync fails. "
                    "An account's first sync is its historical import (HISTORICAL_IMPORT_DAYS).")
    parser.add_argument("--account", action="append", metavar="ID", help="account id (repeatable)")
    parser.add_argument("--all", action="store_true", help="every enabled account")
    parser.add_argument("--json", action="store_true", help="print one JSON document (a list of summaries)")
    parser.set_defaults(func=_sync)
