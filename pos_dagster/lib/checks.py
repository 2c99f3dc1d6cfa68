"""The integrity checks of a provider's canonical slice (internal reconciliation, duplicates,
refund links, business dates in the location's zone, located transactions, catalog times, the
daily feed against the transactions): cheap SQL aggregates over that provider's rows of all
accounts — a failure anywhere should be seen. Each check sits on the table it is about; the ones
in :data:`~pos_sync.canonical.checks_sql.BLOCKING` are blocking (a failed one keeps what is
downstream from running on wrong figures). They run in the canonical step, so the sync log of the
run knows their outcome, and can be run alone from the UI ("Execute checks")."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from pos_sync.canonical.checks_sql import BLOCKING, CHECK_TABLES, CHECKS
from pos_sync.providers import ProviderSpec
from pos_sync.warehouse.sql import Warehouse


def _key(spec: ProviderSpec, name: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(["pos", spec.name, CHECK_TABLES[name]]), name)


def _description(name: str) -> str:
    return " ".join((CHECKS[name].__doc__ or "").split())  # the whole docstring, on one line


def check_specs(spec: ProviderSpec) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=_key(spec, name).asset_key, description=_description(name),
                              blocking=name in BLOCKING)
            for name in CHECKS]


def run_checks(wh: Warehouse, spec: ProviderSpec,
               selected: Iterable[dg.AssetCheckKey] | None = None) -> list[dg.AssetCheckResult]:
    """The results of the selected checks (all when ``selected`` is None)."""
    wanted = None if selected is None else set(selected)
    exists = wh.table_exists("pos", "pos_transactions")
    results = []
    for name, fn in CHECKS.items():
        key = _key(spec, name)
        if wanted is not None and key not in wanted:
            continue
        offending = fn(wh, spec.name) if exists else 0
        results.append(dg.AssetCheckResult(check_name=name, asset_key=key.asset_key, passed=offending == 0,
                                           severity=dg.AssetCheckSeverity.ERROR,
                                           metadata={"offending_rows": offending}))
    return results


def failed_checks(results: list[dg.AssetCheckResult]) -> str:
    """One line naming the failed checks and how many rows each found, or ``""``."""
    return "; ".join(f"{r.check_name}: {r.metadata['offending_rows'].value} row(s)"  # type: ignore[union-attr]
                     for r in results if not r.passed)
