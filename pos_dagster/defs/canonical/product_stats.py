"""``pos/<provider>/product_stats``: after each canonical build, one account's POS products with
their 7- and 30-day net revenue, transactions and last sale, published into the app store's
``pos_product_stats`` (what the API's mapping routes and unmapped-revenue analytics read: the API
never opens the warehouse). In the same app-store transaction, when ``ALERT_ON_UNMAPPED_PRODUCTS``
is on and POS products without a mapping appeared, a ``pos.mapping_needed`` event goes to the
outbox. Partitioned by account like the canonical slices; its check ``unmapped_revenue_share``
warns when more than ``POS_UNMAPPED_REVENUE_WARN_SHARE`` of the account's last 7 days of revenue
is of unmapped POS products."""


import dagster as dg

from pos_dagster.defs.canonical.assets import DAILY, canonical_key
from pos_dagster.defs.ingest.raw import OWNERS
from pos_dagster.lib.partitions import account_partitions
from pos_dagster.lib.resources import AppStoreResource, WarehouseResource
from pos_dagster.lib.tags import PROVIDER
from pos_sync.providers import ProviderSpec, registry

CHECK = "unmapped_revenue_share"


def stats_key(provider: str) -> dg.AssetKey:
    return dg.AssetKey(["pos", provider, "product_stats"])


def product_stats_asset(spec: ProviderSpec) -> dg.AssetsDefinition:
    key = stats_key(spec.name)

    @dg.asset(
        key=key, name=None, partitions_def=account_partitions(spec.name), group_name="mapping",
        deps=[canonical_key(spec.name, "pos_transaction_items"), canonical_key(spec.name, "pos_products"),
              canonical_key(spec.name, DAILY)],
        description=f"{spec.label} POS products of one account with their 7/30-day net revenue (integer cents), "
                    "transactions and last sale, published into the app store's pos_product_stats for the API; "
                    "emits pos.mapping_needed when unmapped products appear (ALERT_ON_UNMAPPED_PRODUCTS).",
        owners=OWNERS, kinds={"python", "sql"}, tags={PROVIDER: spec.name},
        metadata={"dagster/table_name": "appstore.pos_product_stats"},
        op_tags={PROVIDER: spec.name, "pos/stage": "mapping"},
    )
    def _stats(context: dg.AssetExecutionContext, appstore: AppStoreResource, warehouse: WarehouseResource):
        from pos_sync.appstore.product_stats import publish_product_stats
        from pos_sync.canonical.product_stats import account_product_stats

        store = appstore.store()
        settings = store.settings
        account = store.get_account(context.partition_key)
        wh = warehouse.connect()
        try:
            rows = account_product_stats(wh, account.id, spec.name, settings.utcnow().date())
        finally:
            wh.close()
        result = publish_product_stats(account.id, rows, alert=settings.alert_on_unmapped_products,
                                       now=settings.utcnow(), settings=settings)
        if result.event_id:
            context.log.info(f"pos.mapping_needed {result.event_id}: {len(result.new_unmapped)} new unmapped product(s)")
        if log_id := store.last_log_of_run(account.id, context.run_id):  # the sync log's unmapped_products
            store.record_sync_counts(log_id, unmapped_products=result.unmapped)
        yield dg.MaterializeResult(asset_key=key, metadata={
            "products": result.products, "rows_loaded": result.products, "unmapped_products": result.unmapped,
            "new_unmapped_products": len(result.new_unmapped), "dagster/row_count": result.products})

    return _stats


def unmapped_revenue_check(spec: ProviderSpec) -> dg.AssetChecksDefinition:
    key = stats_key(spec.name)

    @dg.asset_check(asset=key, name=CHECK, partitions_def=account_partitions(spec.name), blocking=False,
                    description="Warns when more than POS_UNMAPPED_REVENUE_WARN_SHARE (default 5 %) of the account's "
                                "net revenue of the last 7 days is of POS products without a mapping (map them: POST "
                                "/api/v1/pos/mappings or pos-sync mappings auto). Reads the app store only (the "
                                "published products and the current mappings), so it can run alone at any time.",
                    op_tags={PROVIDER: spec.name, "pos/stage": "mapping"})
    def _check(context: dg.AssetCheckExecutionContext, appstore: AppStoreResource) -> dg.AssetCheckResult:
        from pos_sync.appstore.product_stats import unmapped_revenue

        store = appstore.store()
        account = store.get_account(context.partition_key)
        limit = store.settings.unmapped_revenue_warn_share
        share = next(iter(unmapped_revenue(account.tenant_id, account_id=account.id, settings=store.settings)), None)
        value = share.share_7d if share else 0.0
        return dg.AssetCheckResult(
            passed=value <= limit, severity=dg.AssetCheckSeverity.WARN,
            metadata={"unmapped_share_7d": round(value, 4), "warn_above": limit,
                      "unmapped_revenue_cents_7d": share.unmapped_revenue_cents_7d if share else 0,
                      "revenue_cents_7d": share.revenue_cents_7d if share else 0,
                      "unmapped_products": share.unmapped_products if share else 0})

    return _check


@dg.definitions
def defs() -> dg.Definitions:
    specs = [spec for spec in registry if spec.canonical is not None]
    return dg.Definitions(assets=[product_stats_asset(spec) for spec in specs],
                          asset_checks=[unmapped_revenue_check(spec) for spec in specs])
