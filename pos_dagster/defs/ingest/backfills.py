"""``<provider>_historical_backfill``: for providers with day windows, the historical import of
chosen accounts over a date range — launch a backfill over account × day partitions in the UI;
each day runs ``<provider>_window``, a stateless load through its own pipeline that never moves
the account's cursor. Providers without day windows (Lightspeed's change feed) have none."""

from datetime import UTC, datetime, timedelta
from functools import cache

import dagster as dg

from pos_dagster.defs.ingest.jobs import account_tags
from pos_dagster.lib.ingest import sync_account_window
from pos_dagster.lib.partitions import historical_windows
from pos_dagster.lib.pools import api_step_pool
from pos_dagster.lib.resources import AppStoreResource, ClockResource
from pos_dagster.lib.tags import PROVIDER, WAREHOUSE_WRITER
from pos_sync.providers import ProviderSpec, registry
from pos_sync.settings import load_settings


def backfill_job_name(provider: str) -> str:
    return f"{provider}_historical_backfill"


@cache
def window_backfill(spec: ProviderSpec) -> dg.JobDefinition:
    @dg.op(name=f"{spec.name}_window", pool=api_step_pool(spec), tags={PROVIDER: spec.name}, out={},
           description=spec.descriptions.get("window_op"))
    def window(context: dg.OpExecutionContext, appstore: AppStoreResource, clock: ClockResource):
        keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
        start = datetime.fromisoformat(keys["date"]).replace(tzinfo=UTC)
        yield from sync_account_window(context, spec, appstore, keys["account"], start, start + timedelta(days=1),
                                       clock.now())

    windows = historical_windows(spec.name, load_settings().backfill_start_date)

    def tags(key: str) -> dict[str, str]:  # "<account>|<day>": the dimensions in name order
        return account_tags(spec.name, key.split("|", 1)[0])

    @dg.job(name=backfill_job_name(spec.name), tags=WAREHOUSE_WRITER,
            config=dg.PartitionedConfig(partitions_def=windows, run_config_for_partition_key_fn=lambda _key: {},
                                        tags_for_partition_key_fn=tags),
            description=spec.descriptions.get("backfill_job"))
    def backfill():
        window()

    return backfill


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[window_backfill(spec) for spec in registry if spec.windows is not None])
