"""``pos-sync sync``: run account syncs now, in-process, through the orchestrator's runner
(:mod:`pos_sync.runner`: the same Dagster job the daemon runs)."""

from __future__ import annotations

import argparse

from pos_sync.cli import CommandError, emit_json, log
from pos_sync.runner import get_runner

# what a sync imports, up front with the collector paused (pos_sync.cli.preload): Dagster and the
# definitions, the app store, dlt and the Arrow/DuckDB/pandas stack the run and the build use
SYNC_PRELOAD = (
    "pos_sync.appstore", "pos_sync.providers", "alembic.script", "pos_dagster.adapter", "pos_dagster.definitions",
    "dagster._core.storage.base_storage", "pyarrow", "pandas", "duckdb", "holidays", "dlt.common.libs.pyarrow",
    "dlt.sources.helpers.rest_client.paginators", "dlt_sources.common.arrow", "dlt_sources.common.arrow_json",
    "dlt_sources.common.arrow_nested", "pos_sync.canonical.build",
)


def _sync(args: argparse.Namespace) -> int:
    from pos_sync import appstore

    if args.all:
        accounts = [a.id for a in appstore.list_accounts(sync_enabled_only=True)]
        if not accounts:
            raise CommandError("no accounts to sync: add one with `pos-sync accounts add …`")
    elif args.account:
        accounts = list(args.account)
    else:
        raise CommandError("say which accounts: --account ID (repeatable) or --all")
    summaries = []
    runner = get_runner(on_progress=log)
    for account_id in accounts:
        try:
            appstore.get_account(account_id)
        except appstore.AccountNotFound as exc:
            raise CommandError(f"no account {account_id}") from exc
        log(f"syncing {account_id} …")
        summary = runner.sync(account_id)
        rows = {table: n for table, n in (summary.get("rows_loaded") or {}).items() if n}
        log(f"  {summary['status']} ({summary.get('sync_type')}) in {summary.get('duration_seconds', 0)} s; "
            f"rows {rows or 'none new'}")
        if summary.get("error"):
            where = f" in {summary['failed_step']}" if summary.get("failed_step") else ""
            kind = f" [{summary['error_type']}]" if summary.get("error_type") else ""
            log(f"  failed{where}{kind}: {summary['error']}")
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
    parser.set_defaults(func=_sync, preload=SYNC_PRELOAD)
