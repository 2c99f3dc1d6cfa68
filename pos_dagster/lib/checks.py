"""The integrity checks of a provider's canonical slice (internal reconciliation, duplicates,
refund links, business dates in the location's zone): cheap SQL aggregates over that provider's
rows of all accounts — a failure anywhere should be seen. They run in the canonical step, so the
sync log of the run knows their outcome."""

from __future__ import annotations

import dagster as dg

from pos_sync.canonical.checks_sql import CHECKS
from pos_sync.providers import ProviderSpec
from pos_sync.warehouse.sql import Warehouse


def check_specs(spec: ProviderSpec, asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=asset, description=(fn.__doc__ or "").strip().split("\n")[0])
            for name, fn in CHECKS.items()]


def run_checks(wh: Warehouse, spec: ProviderSpec, asset: dg.AssetKey) -> list[dg.AssetCheckResult]:
    exists = wh.table_exists("pos", "pos_transactions")
    results = []
    for name, fn in CHECKS.items():
        offending = fn(wh, spec.name) if exists else 0
        results.append(dg.AssetCheckResult(check_name=name, asset_key=asset, passed=offending == 0,
                                           metadata={"offending_rows": offending}))
    return results


def failed_checks(results: list[dg.AssetCheckResult]) -> str:
    """One line naming the failed checks and how many rows each found, or ``""``."""
    return "; ".join(f"{r.check_name}: {r.metadata['offending_rows'].value} row(s)"  # type: ignore[union-attr]
                     for r in results if not r.passed)
