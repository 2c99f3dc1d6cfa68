"""``<provider>_mapping_restate``: when a POS product's mapping changes (the API, the CLI or
auto-mapping), its rows in the warehouse follow — only those rows. The app store records a
``restate`` sync request per account naming the POS products
(:func:`pos_sync.appstore.mappings.request_restatements`); the ``account_sync_sensor`` turns it
into a run of this job for the account's partition (tagged with the request); its one op reads
the products' mappings as they are now and rewrites the account's ``pos_transaction_items`` and
``daily_product_sales`` rows of those products (:func:`pos_sync.canonical.restate.restate_products`)
— never a rebuild — and records materializations of the two canonical slices. A warehouse writer
(the DuckDB writer pool and run tag), like the syncs."""


from functools import cache

import dagster as dg

from pos_dagster.defs.canonical.assets import DAILY, canonical_key
from pos_dagster.lib.partitions import account_partitions
from pos_dagster.lib.pools import warehouse_step_pool
from pos_dagster.lib.resources import AppStoreResource, WarehouseResource
from pos_dagster.lib.tags import PROVIDER, SYNC_REQUEST, WAREHOUSE_WRITER
from pos_sync.providers import ProviderSpec, registry


def restate_job_name(provider: str) -> str:
    return f"{provider}_mapping_restate"


@cache
def restate_job(spec: ProviderSpec) -> dg.JobDefinition:
    @dg.op(name=f"{spec.name}_restate_mappings", pool=warehouse_step_pool(),
           tags={PROVIDER: spec.name, "pos/stage": "mapping"},
           description=f"Rewrite one {spec.label} account's canonical rows of the POS products its restate request "
                       "names with their current mappings (line items and daily product sales only).")
    def _restate(context: dg.OpExecutionContext, appstore: AppStoreResource, warehouse: WarehouseResource):
        from pos_sync.appstore.mappings import mapping_targets
        from pos_sync.appstore.sync_requests import get_sync_request
        from pos_sync.canonical.restate import restate_products

        store = appstore.store()
        account = store.get_account(context.partition_key)
        request_id = context.run.tags.get(SYNC_REQUEST)
        if request_id is None:
            raise dg.Failure(f"{restate_job_name(spec.name)} runs for a restate request (tag {SYNC_REQUEST}); "
                             "change a mapping to ask for one")
        request = get_sync_request(request_id, settings=store.settings)
        current = mapping_targets(account.tenant_id, spec.name, settings=store.settings)
        targets = {pid: current.get(pid) for pid in request.pos_product_ids}
        wh = warehouse.connect()
        try:
            result = restate_products(wh, account.id, spec.name, targets)
        finally:
            wh.close()
        context.log.info(f"restated {result.products} POS product(s) of account {account.id}: {result.items} line "
                         f"item(s), {result.daily_rows} daily row(s)")
        meta = {"pos_products": result.products, "sync_request": request_id}
        yield dg.AssetMaterialization(canonical_key(spec.name, "pos_transaction_items"), partition=account.id,
                                      metadata={**meta, "rows_restated": result.items})
        yield dg.AssetMaterialization(canonical_key(spec.name, DAILY), partition=account.id,
                                      metadata={**meta, "rows_restated": result.daily_rows})
        yield dg.Output(None)

    @dg.job(name=restate_job_name(spec.name), partitions_def=account_partitions(spec.name), tags=WAREHOUSE_WRITER,
            description=f"Restate one {spec.label} account's canonical rows of remapped POS products (asked for by "
                        "a mapping change through the app store's restate requests).")
    def _job() -> None:
        _restate()

    return _job


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[restate_job(spec) for spec in registry if spec.canonical is not None])
