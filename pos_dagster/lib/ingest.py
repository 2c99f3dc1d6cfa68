"""What a provider's raw asset and window op do for one account, over the service core's
:class:`~pos_sync.ingest.sync.AccountSync` (the account read once, its source built through the
registry, its sync log kept)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource

from pos_dagster.lib.resources import AppStoreResource
from pos_dagster.lib.translator import PosDltTranslator, raw_key
from pos_sync.ingest.sync import AccountSync, AccountUnavailable
from pos_sync.providers import ProviderSpec


def _account_sync(appstore: AppStoreResource, spec: ProviderSpec, account_id: str) -> AccountSync:
    store = appstore.store()
    try:
        return AccountSync(store, store.settings, spec, account_id)
    except AccountUnavailable as exc:
        raise dg.Failure(str(exc)) from None


def sync_account_raw(context: dg.AssetExecutionContext, spec: ProviderSpec, dlt_runner: DagsterDltResource,
                     appstore: AppStoreResource, now: datetime) -> Iterator[Any]:
    """The partition's incremental sync (its first run is the historical import)."""
    run = _account_sync(appstore, spec, context.partition_key)
    if not run.account.sync_enabled:
        context.log.info(f"sync disabled for account {run.account_id}; nothing to do")
        return
    pipeline = run.pipeline()
    sync_type = run.sync_type(pipeline)
    with run.track(sync_type, context.run_id) as stats:
        events = list(dlt_runner.run(context=context, dlt_source=run.source(pipeline, now), dlt_pipeline=pipeline,
                                     dagster_dlt_translator=PosDltTranslator(spec.name), **run.run_kwargs()))
        run.record_counts(pipeline, stats)
    context.log.info(f"{spec.name} account {run.account_id}: {sync_type} sync loaded {stats.rows_by_table or 'nothing'}")
    yield from events


def sync_account_window(context: dg.OpExecutionContext, spec: ProviderSpec, appstore: AppStoreResource,
                        account_id: str, start: datetime, end: datetime, now: datetime,
                        ) -> Iterator[dg.AssetMaterialization]:
    """A stateless [start, end) window load (historical backfill); never moves the cursor."""
    run = _account_sync(appstore, spec, account_id)
    pipeline = run.pipeline(mode=f"window_{start:%Y%m%d}")
    with run.track("backfill", context.run_id) as stats:
        load_info = pipeline.run(run.source(pipeline, now, start=start, end=end), **run.run_kwargs())
        load_info.raise_on_failed_jobs()
        run.record_counts(pipeline, stats)
    for name in spec.resources:
        rows = sum(v for t, v in stats.rows_by_table.items() if t == name or t.startswith(f"{name}__"))
        if rows:
            yield dg.AssetMaterialization(
                asset_key=raw_key(spec.name, name), partition=account_id,
                metadata={"window_start": start.isoformat(), "window_end": end.isoformat(), "rows_loaded": rows},
            )
