"""``pos/<provider>/<table>``: each provider's slice of the canonical tables (schema ``pos``),
built incrementally per account after its raw sync, partitioned like the provider's raw assets.

The tables are shared by all providers (rows carry ``pos_provider``); in Dagster each provider's
slice is its own asset so lineage is exact (``pos/square/pos_tenders`` ← ``raw/square/orders``,
``raw/square/payments``) and no asset offers a partition of another provider's accounts.
Skippable: a slice materializes only when its build processed new raw loads, so what is
downstream reacts to real changes, not to every sync."""

import dagster as dg

from pos_dagster.defs.ingest.raw import OWNERS
from pos_dagster.lib.partitions import account_partitions
from pos_dagster.lib.resources import AppStoreResource
from pos_dagster.lib.tags import PROVIDER
from pos_dagster.lib.translator import raw_key
from pos_sync.canonical.build import build_account
from pos_sync.providers import ProviderSpec, registry

TABLES = {
    "pos_transactions": "Sales, refunds and voids (exact decimals; business date in the location's zone).",
    "pos_transaction_items": "Line items of every transaction: product, quantity, prices, discounts, taxes.",
    "pos_tenders": "How each sale was paid (split payments: one row per tender), tips apart.",
    "pos_products": "The POS catalog: items and variations with SKU, category, price and when first seen.",
    "pos_locations": "The account's locations: name, time zone, currency, whether prices include tax.",
}
DAILY = "daily_product_sales"


def canonical_key(provider: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["pos", provider, table])


def canonical_specs(spec: ProviderSpec) -> list[dg.AssetSpec]:
    def asset_spec(table: str, description: str, deps: list[dg.AssetKey]) -> dg.AssetSpec:
        return dg.AssetSpec(canonical_key(spec.name, table), deps=deps, group_name="canonical", skippable=True,
                            description=f"{description} {spec.label} rows of pos.{table}.", kinds={"python", "sql"},
                            owners=OWNERS, tags={PROVIDER: spec.name},
                            metadata={"dagster/table_name": f"pos.{table}"})

    specs = [asset_spec(table, text, [raw_key(spec.name, r) for r in spec.canonical_inputs.get(table, spec.resources)])
             for table, text in TABLES.items()]
    specs.append(asset_spec(DAILY, "Units and revenue per location, business date and POS product: the feed "
                                   "forecasting reads.",
                            [canonical_key(spec.name, "pos_transactions"),
                             canonical_key(spec.name, "pos_transaction_items")]))
    return specs


def canonical_assets(spec: ProviderSpec) -> dg.AssetsDefinition:
    @dg.multi_asset(name=f"{spec.name}_canonical", specs=canonical_specs(spec),
                    partitions_def=account_partitions(spec.name), can_subset=False,
                    op_tags={PROVIDER: spec.name, "pos/stage": "canonical"})
    def _canonical(context: dg.AssetExecutionContext, appstore: AppStoreResource):
        """Normalize the raw loads this account's canonical build has not processed yet."""
        store = appstore.store()
        account = store.get_account(context.partition_key)
        result = build_account(account.id, spec.name, account.tenant_id, store.settings, builder=spec.canonical)
        context.log.info(f"canonical build of {spec.name} account {account.id}: {result.as_dict()}")
        if result.loads == 0:
            return  # nothing new: no materialization, nothing downstream fires
        meta = {"raw_loads": result.loads, "transactions_rebuilt": result.transactions, "items_rebuilt": result.items,
                "days_recomputed": result.days_recomputed, "seconds": result.seconds}
        for asset_spec in canonical_specs(spec):
            yield dg.MaterializeResult(asset_key=asset_spec.key, metadata=meta)

    return _canonical


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[canonical_assets(spec) for spec in registry if spec.canonical is not None])
