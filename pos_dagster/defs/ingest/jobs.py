"""``<provider>_sync``: the raw multi-asset of one account partition and everything downstream
(its canonical slices and their checks, its demand history) but the monitoring assets
(``monitoring_job``) and the forecast (which only ``demand_forecast_job`` runs, for a batch of
accounts), tagged as a warehouse writer (DuckDB has one writer:
``dagster.yaml`` limits such runs to one at a time).

Its assets in two parts, for ``webhook_inbox_sensor``'s subset runs: :func:`targeted_keys` (raw
and canonical: what puts a sale in ``pos.*``) and :func:`downstream_keys` (what is computed from
the canonical slices: product stats, demand history)."""

import contextlib
from functools import cache
from typing import Any

import dagster as dg

from pos_dagster.defs.canonical.assets import DAILY, TABLES, canonical_key
from pos_dagster.defs.canonical.product_stats import stats_key
from pos_dagster.defs.forecasting.assets import FORECAST_GROUP, demand_key
from pos_dagster.lib.partitions import account_partitions
from pos_dagster.lib.tags import ACCOUNT, ACCOUNT_LABEL, PROVIDER, WAREHOUSE_WRITER, account_label
from pos_dagster.lib.translator import raw_key
from pos_sync.providers import ProviderSpec, registry


def sync_job_name(provider: str) -> str:
    return f"{provider}_sync"


def account_tags(provider: str, account_id: str) -> dict[str, str]:
    """The run tags of an account's run (``pos/account``, ``pos/provider``, ``pos/account-label``)
    from its partition key — also on runs launched from the UI or by a backfill, so the runs list
    filters every run of an account by its label and the sensor sees them in flight."""
    from pos_sync import appstore

    tags = {ACCOUNT: account_id, PROVIDER: provider}
    with contextlib.suppress(appstore.AccountNotFound):
        tags[ACCOUNT_LABEL] = account_label(appstore.get_account(account_id))
    return tags


def targeted_keys(spec: ProviderSpec) -> list[dg.AssetKey]:
    """The raw assets and canonical slices of ``<provider>_sync``: a run of these alone (with the
    slices' checks) puts a sale in ``pos.*`` and closes its sync log."""
    keys = [raw_key(spec.name, resource) for resource in spec.resources]
    if spec.canonical is not None:
        keys += [canonical_key(spec.name, table) for table in (*TABLES, DAILY)]
    return keys


def downstream_keys(spec: ProviderSpec) -> list[dg.AssetKey]:
    """The rest of ``<provider>_sync``: what is computed from the canonical slices (the account's
    product stats for the API, its demand history for forecasting)."""
    return [stats_key(spec.name), demand_key(spec.name)] if spec.canonical is not None else []


@cache
def sync_job(spec: ProviderSpec) -> Any:  # an unresolved asset job
    partitions = account_partitions(spec.name)
    return dg.define_asset_job(
        sync_job_name(spec.name),
        # the monitoring assets read every provider's transactions and the forecast runs for a batch
        # of accounts: each has its own job
        selection=(dg.AssetSelection.groups(f"raw_{spec.name}").downstream()
                   - dg.AssetSelection.groups("monitoring") - dg.AssetSelection.groups(FORECAST_GROUP)),
        partitions_def=partitions,
        config=dg.PartitionedConfig(partitions_def=partitions, run_config_for_partition_key_fn=lambda _key: {},
                                    tags_for_partition_key_fn=lambda key: account_tags(spec.name, key)),
        tags=WAREHOUSE_WRITER,
        # its steps run one after the other (raw, then canonical) and pools bind them either way: a
        # daemon-launched sync runs them in its run process rather than booting a Python process per
        # step — seconds each on a loaded host, most of a webhook-triggered sync's latency
        # (bench/webhook_latency.py)
        executor_def=dg.in_process_executor,
        description=f"Incremental sync of one {spec.label} account partition and its canonical tables.",
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[sync_job(spec) for spec in registry])
