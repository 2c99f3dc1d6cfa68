"""Asset checks on the canonical tables: internal reconciliation, duplicates, refund links,
business dates in the location's zone. They read whole tables (all accounts): cheap SQL
aggregates, and a failure anywhere should be seen."""

from collections.abc import Iterator

import dagster as dg

from pos_sync.canonical.checks_sql import CHECKS
from pos_sync.warehouse.sql import Warehouse

TRANSACTIONS = dg.AssetKey(["pos", "pos_transactions"])


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=TRANSACTIONS, description=(fn.__doc__ or "").strip().split("\n")[0])
           for name, fn in CHECKS.items()],
)
def canonical_integrity_checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
    wh = Warehouse()
    try:
        for name, fn in CHECKS.items():
            offending = fn(wh) if wh.table_exists("pos", "pos_transactions") else 0
            yield dg.AssetCheckResult(check_name=name, asset_key=TRANSACTIONS, passed=offending == 0,
                                      metadata={"offending_rows": offending})
    finally:
        wh.close()
