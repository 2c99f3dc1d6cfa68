"""``<provider>_raw``: one multi-asset per registered provider, partitioned by its accounts — the
incremental sync of one account (its first run is the historical import), one asset per dlt
resource (``raw/<provider>/<resource>``), run through dagster-dlt on a fresh source per run.

Raw specs are deliberately not skippable: Dagster skips a downstream step when any upstream output
is missing, so a sync that changed payments but not the catalog would otherwise skip the
canonical build. Every sync materializes its raw assets (``rows_loaded`` says how much changed);
the canonical slices are the skippable ones."""

import dagster as dg
from dagster_dlt import DagsterDltResource

from pos_dagster.lib.ingest import sync_account_raw
from pos_dagster.lib.partitions import account_partitions
from pos_dagster.lib.pools import api_step_pool
from pos_dagster.lib.resources import AppStoreResource, ClockResource, WarehouseResource
from pos_dagster.lib.tags import PROVIDER
from pos_dagster.lib.translator import raw_key
from pos_sync.providers import ProviderSpec, registry
from pos_sync.settings import load_settings
from pos_sync.warehouse.pipelines import warehouse_kind

OWNERS = ["team:pos-sync"]


def raw_specs(spec: ProviderSpec, storage: str) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            raw_key(spec.name, resource),
            group_name=f"raw_{spec.name}",
            description=f"{spec.label} {resource} as its API returned them ({spec.dataset}.{resource} and its "
                        "child tables), merged on the provider's ids, one incremental cursor per account.",
            kinds={"dlt", storage, spec.name},
            owners=OWNERS,
            tags={PROVIDER: spec.name},
            metadata={"dagster/table_name": f"{spec.dataset}.{resource}"},
        )
        for resource in spec.resources
    ]


def raw_assets(spec: ProviderSpec, storage: str) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=f"{spec.name}_raw",
        specs=raw_specs(spec, storage),
        partitions_def=account_partitions(spec.name),
        can_subset=True,
        pool=api_step_pool(spec),  # DuckDB: one writer; PostgreSQL: the provider's API pool (rate limits)
        op_tags={PROVIDER: spec.name},
        description=spec.descriptions.get("raw"),
    )
    def _raw(context: dg.AssetExecutionContext, dlt_runner: DagsterDltResource, appstore: AppStoreResource,
             clock: ClockResource, warehouse: WarehouseResource):
        yield from sync_account_raw(context, spec, dlt_runner, appstore, warehouse, clock.now())

    return _raw


@dg.definitions
def defs() -> dg.Definitions:
    storage = warehouse_kind(load_settings())
    return dg.Definitions(assets=[raw_assets(spec, storage) for spec in registry])
