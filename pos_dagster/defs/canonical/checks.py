"""Integrity checks on each provider's canonical slice: internal reconciliation, duplicates,
refund links, business dates in the location's zone — cheap SQL aggregates over that provider's
rows (all accounts: a failure anywhere should be seen)."""

from collections.abc import Iterator

import dagster as dg

from pos_dagster.defs.canonical.assets import canonical_key
from pos_dagster.lib.resources import WarehouseResource
from pos_sync.canonical.checks_sql import CHECKS
from pos_sync.providers import ProviderSpec, registry


def integrity_checks(spec: ProviderSpec) -> dg.AssetChecksDefinition:
    transactions = canonical_key(spec.name, "pos_transactions")

    @dg.multi_asset_check(
        name=f"{spec.name}_canonical_integrity",
        specs=[dg.AssetCheckSpec(name, asset=transactions, description=(fn.__doc__ or "").strip().split("\n")[0])
               for name, fn in CHECKS.items()],
    )
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        wh = warehouse.connect()
        try:
            exists = wh.table_exists("pos", "pos_transactions")
            for name, fn in CHECKS.items():
                offending = fn(wh, spec.name) if exists else 0
                yield dg.AssetCheckResult(check_name=name, asset_key=transactions, passed=offending == 0,
                                          metadata={"offending_rows": offending})
        finally:
            wh.close()

    return _checks


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(asset_checks=[integrity_checks(spec) for spec in registry if spec.canonical is not None])
