"""What every provider's ingestion asset does for one account partition."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource

from pos_sync import appstore
from pos_sync.appstore import AccountCredentials
from pos_sync.clock import utcnow
from pos_sync.ingest.bookkeeping import SyncStats, track_sync
from pos_sync.warehouse.pipelines import account_pipeline, has_sync_state, loader_file_format

SourceBuilder = Callable[..., Any]  # (creds, pipeline, *, now, start=None, end=None) -> DltSource

# tables whose rows count as "transactions" in the sync log
TRANSACTION_TABLES = {"payments", "orders", "refunds", "checks", "sales"}


def account_credentials_for(provider: str, account_id: str) -> AccountCredentials:
    try:
        creds = appstore.account_credentials(account_id)
    except appstore.AccountNotFound as exc:
        raise dg.Failure(f"no POS account {account_id} in the app store (removed?)") from exc
    if creds.provider != provider:
        raise dg.Failure(f"account {account_id} is a {creds.provider} account, not {provider}")
    return creds


def record_normalize_counts(pipeline: dlt.Pipeline, stats: SyncStats) -> None:
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    counts = dict(info.row_counts) if info is not None else {}
    for table, rows in counts.items():
        if table.startswith("_dlt"):
            continue
        stats.add_rows(table, int(rows))
        if table in TRANSACTION_TABLES:
            stats.processed += int(rows)
            stats.fetched += int(rows)


def run_account_sync(
    context: dg.AssetExecutionContext,
    dlt_runner: DagsterDltResource,
    provider: str,
    build_source: SourceBuilder,
) -> Iterator[Any]:
    """Incremental sync of the partition's account (its first run is the historical import)."""
    account_id = context.partition_key
    creds = account_credentials_for(provider, account_id)
    account = appstore.get_account(account_id)
    if not account.sync_enabled:
        context.log.info(f"sync disabled for account {account_id}; nothing to do")
        return
    now = utcnow()
    pipeline = account_pipeline(provider, account_id)
    # the first regular sync is the historical import, even after backfill windows (which do not
    # move the cursor but do count as successful syncs); a store re-linked under the same id
    # continues the cursor its pipeline kept, which is incremental
    historical = account.historical_import_done_at is None and not has_sync_state(pipeline)
    sync_type = "historical" if historical else "incremental"
    with track_sync(account_id, sync_type, context.run_id, provider=provider) as stats:
        source = build_source(creds, pipeline, now=now)
        kwargs = {"loader_file_format": fmt} if (fmt := loader_file_format()) else {}
        events = list(dlt_runner.run(context=context, dlt_source=source, dlt_pipeline=pipeline, **kwargs))
        record_normalize_counts(pipeline, stats)
    context.log.info(f"{provider} account {account_id}: {sync_type} sync loaded {stats.rows_by_table or 'nothing'}")
    yield from events


def run_window_sync(
    context: dg.OpExecutionContext,
    provider: str,
    account_id: str,
    start: datetime,
    end: datetime,
    build_source: SourceBuilder,
    resource_names: list[str],
) -> Iterator[dg.AssetMaterialization]:
    """A stateless [start, end) window load (historical backfill); never moves the cursor."""
    creds = account_credentials_for(provider, account_id)
    pipeline = account_pipeline(provider, account_id, mode=f"window_{start:%Y%m%d}")
    with track_sync(account_id, "backfill", context.run_id, provider=provider) as stats:
        source = build_source(creds, pipeline, now=utcnow(), start=start, end=end)
        kwargs = {"loader_file_format": fmt} if (fmt := loader_file_format()) else {}
        load_info = pipeline.run(source, **kwargs)
        load_info.raise_on_failed_jobs()
        record_normalize_counts(pipeline, stats)
    for name in resource_names:
        rows = sum(v for t, v in stats.rows_by_table.items() if t == name or t.startswith(f"{name}__"))
        if rows:
            yield dg.AssetMaterialization(
                asset_key=dg.AssetKey(["raw", provider, name]),
                partition=account_id,
                metadata={"window_start": start.isoformat(), "window_end": end.isoformat(), "rows_loaded": rows},
            )
