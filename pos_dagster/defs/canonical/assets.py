"""``pos/<provider>/<table>``: each provider's slice of the canonical tables (schema ``pos``),
built incrementally per account after its raw sync, partitioned like the provider's raw assets.

The tables are shared by all providers (rows carry ``pos_provider``); in Dagster each provider's
slice is its own asset so lineage is exact (``pos/square/pos_tenders`` ← ``raw/square/orders``,
``raw/square/payments``) and no asset offers a partition of another provider's accounts.
Skippable: a slice materializes only when its build processed new raw loads, so what is
downstream reacts to real changes, not to every sync. The slice's integrity checks run in the same
step, after the build, and the step closes the run's sync log (pos_dagster/lib/ingest.py).

Every materialization carries the slice's ``dagster/row_count`` and the table's column schema.
Subsettable so the checks can run alone ("Execute checks": no build, no sync log)."""

from collections.abc import Iterable, Iterator
from typing import Any

import dagster as dg

from pos_dagster.defs.ingest.raw import OWNERS
from pos_dagster.lib.checks import check_specs, failed_checks, run_checks
from pos_dagster.lib.ingest import settle_webhooks
from pos_dagster.lib.partitions import account_partitions
from pos_dagster.lib.pools import warehouse_step_pool
from pos_dagster.lib.resources import AppStoreResource, WarehouseResource
from pos_dagster.lib.tables import CANONICAL, column_schema, slice_row_counts
from pos_dagster.lib.tags import PARENT_RUN, PROVIDER, ROOT_RUN
from pos_dagster.lib.translator import raw_key
from pos_sync.providers import ProviderSpec, registry

TABLES = {
    "pos_transactions": "Sales, refunds and voids (exact decimals; business date in the location's zone).",
    "pos_transaction_items": "Line items of every transaction: product, quantity, prices, discounts, taxes.",
    "pos_tenders": "How each sale was paid (split payments: one row per tender), tips apart.",
    "pos_products": "The POS catalog with its history: a row per version of each item or variation (name, SKU, "
                    "category, price, deleted/archived; valid_from/valid_to, is_current).",
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
                            metadata={"dagster/table_name": f"pos.{table}",
                                      "dagster/column_schema": column_schema(CANONICAL[table])})

    specs = [asset_spec(table, text, [raw_key(spec.name, r) for r in spec.canonical_inputs.get(table, spec.resources)])
             for table, text in TABLES.items()]
    specs.append(asset_spec(DAILY, "Units and revenue per location, business date and POS product: the feed "
                                   "forecasting reads.",
                            [canonical_key(spec.name, "pos_transactions"),
                             canonical_key(spec.name, "pos_transaction_items")]))
    return specs


def canonical_assets(spec: ProviderSpec) -> dg.AssetsDefinition:
    @dg.multi_asset(name=f"{spec.name}_canonical", specs=canonical_specs(spec), check_specs=check_specs(spec),
                    partitions_def=account_partitions(spec.name), can_subset=True, pool=warehouse_step_pool(),
                    op_tags={PROVIDER: spec.name, "pos/stage": "canonical"})
    def _canonical(context: dg.AssetExecutionContext, appstore: AppStoreResource, warehouse: WarehouseResource):
        """Normalize the raw loads this account's canonical build has not processed yet, check the
        slice and close the run's sync log."""
        # imported by the step, not with the definitions (the app store's models and its engine)
        from pos_sync.appstore.mappings import mapping_targets
        from pos_sync.canonical.build import build_account
        from pos_sync.ingest.bookkeeping import (
            CANONICAL_BUILD,
            INTEGRITY_CHECKS,
            IntegrityCheckFailed,
            SyncLog,
        )

        if not context.selected_asset_keys:  # the checks alone
            yield from _checks(warehouse, spec, context.selected_asset_check_keys)
            return
        store = appstore.store()
        account = store.get_account(context.partition_key)
        # opened by this run's raw step, or — a retry re-executed from this step — by its parent's or root's
        log = SyncLog.of_run(store, account.id, context.run_id, context.run.tags.get(PARENT_RUN),
                             context.run.tags.get(ROOT_RUN))
        try:
            targets = mapping_targets(account.tenant_id, spec.name, settings=store.settings)
            result = build_account(account.id, spec.name, account.tenant_id, store.settings, builder=spec.canonical,
                                   mappings=targets)
        except Exception as exc:
            if log is not None:
                log.fail(exc, CANONICAL_BUILD, spec.reauth_status)
            settle_webhooks(context, store, exc)
            raise
        context.log.info(f"canonical build of {spec.name} account {account.id}: {result.as_dict()}")
        if log is not None:
            log.record_built(result.transactions)
        wh = warehouse.connect()
        try:
            rows = slice_row_counts(wh, spec.name, [*TABLES, DAILY]) if result.loads else {}
        finally:
            wh.close()
        if result.loads:  # nothing new: no materialization, nothing downstream fires
            loaded = {"pos_transactions": result.transactions, "pos_transaction_items": result.items,
                      "pos_tenders": result.tenders, "pos_products": result.products,
                      "pos_locations": result.locations, DAILY: result.daily_rows}
            meta = {"raw_loads": result.loads, "seconds": result.seconds}
            for table, count in loaded.items():
                key = canonical_key(spec.name, table)
                if key not in context.selected_asset_keys:
                    continue
                extra: dict[str, Any] = {"rows_loaded": count}
                if table == DAILY:
                    extra["days_recomputed"] = result.days_recomputed
                if table == "pos_products":
                    extra |= {"new_products": result.new_products, "new_versions": result.new_versions}
                yield dg.MaterializeResult(asset_key=key, metadata={
                    **meta, **extra, "dagster/row_count": rows.get(table, 0),
                    "dagster/column_schema": column_schema(CANONICAL[table])})
        checks = list(_checks(warehouse, spec, context.selected_asset_check_keys))
        yield from checks
        if log is not None:
            if problems := failed_checks(checks):
                log.fail(IntegrityCheckFailed(f"the canonical {spec.label} tables failed integrity checks: {problems}"),
                         INTEGRITY_CHECKS, spec.reauth_status)
            else:
                log.succeed(new_products=result.new_products)
        settle_webhooks(context, store)  # the events' objects are in pos.* now

    return _canonical


def _checks(warehouse: WarehouseResource, spec: ProviderSpec,
            selected: Iterable[dg.AssetCheckKey]) -> Iterator[dg.AssetCheckResult]:
    wh = warehouse.connect()
    try:
        yield from run_checks(wh, spec, selected)
    finally:
        wh.close()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[canonical_assets(spec) for spec in registry if spec.canonical is not None])
