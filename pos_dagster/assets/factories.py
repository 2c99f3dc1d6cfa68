"""The per-provider ingestion definitions, built alike: the raw multi-asset (dagster-dlt) of an
account partition, the one-day window op and its historical backfill job, and the sync job.

Each provider module calls these with its own source, pool and texts; names follow the provider
(``<provider>_raw``, ``<provider>_window``, ``<provider>_historical_backfill``, ``<provider>_sync``).
No ``from __future__ import annotations``: Dagster reads the parameters' annotations at runtime."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, dlt_assets

from pos_dagster.assets.ingest_common import SourceBuilder, run_account_sync, run_window_sync
from pos_dagster.lib.translator import PosDltTranslator
from pos_dagster.partitions import account_partitions, historical_windows
from pos_sync.warehouse.pipelines import template_pipeline

WAREHOUSE_WRITER = {"pos/warehouse-writer": "1"}  # runs that write the warehouse (one at a time per account)


def raw_assets(provider: str, definition_source: Any, pool: str, build_source: SourceBuilder,
               description: str) -> dg.AssetsDefinition:
    """``<provider>_raw``: the incremental sync of one account partition (its first run is the
    historical import), one asset per dlt resource (``raw/<provider>/<resource>``)."""

    def raw(context: dg.AssetExecutionContext, dlt_runner: DagsterDltResource):
        yield from run_account_sync(context, dlt_runner, provider, build_source)

    raw.__name__ = raw.__qualname__ = f"{provider}_raw"
    raw.__doc__ = description
    return dlt_assets(
        dlt_source=definition_source,
        dlt_pipeline=template_pipeline(provider),
        name=f"{provider}_raw",
        partitions_def=account_partitions,
        dagster_dlt_translator=PosDltTranslator(provider),
        pool=pool,
        op_tags={"pos/provider": provider},
    )(raw)


def window_backfill(provider: str, pool: str, build_source: SourceBuilder, resource_names: Sequence[str], *,
                    op_description: str, job_description: str) -> tuple[dg.OpDefinition, dg.JobDefinition]:
    """``<provider>_window`` (one day of one account, stateless: the cursor stays) and the
    ``<provider>_historical_backfill`` job over account × day partitions that runs it."""
    names = list(resource_names)

    def window(context: dg.OpExecutionContext):
        keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
        start = datetime.fromisoformat(keys["date"]).replace(tzinfo=UTC)
        yield from run_window_sync(context, provider, keys["account"], start, start + timedelta(days=1),
                                   build_source, names)

    window.__name__ = window.__qualname__ = f"{provider}_window"
    window.__doc__ = op_description
    op = dg.op(pool=pool, tags={"pos/provider": provider}, out={})(window)  # yields materializations only

    def backfill():
        op()

    backfill.__name__ = backfill.__qualname__ = f"{provider}_historical_backfill"
    job = dg.job(partitions_def=historical_windows, tags=WAREHOUSE_WRITER, description=job_description)(backfill)
    return op, job


def sync_job(provider: str, raw: dg.AssetsDefinition, label: str) -> Any:  # an unresolved asset job
    """``<provider>_sync``: the raw multi-asset of one account partition and everything downstream."""
    return dg.define_asset_job(
        f"{provider}_sync",
        selection=dg.AssetSelection.assets(raw).downstream(),
        tags=WAREHOUSE_WRITER,
        description=f"Incremental sync of one {label} account partition and its canonical tables.",
    )
