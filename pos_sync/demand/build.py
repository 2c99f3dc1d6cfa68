"""Incremental build of one account's demand history and calendar.

Which location-days to recompute is decided from the sources themselves: each location-day of
the account gets a fingerprint of its ``daily_product_sales`` rows (units, money, mapping) and
its transaction counts; a day whose fingerprint differs from the one stored in
``pos.demand_calendar`` — a late refund, a remapped product, a new day, a newly known closed day
— is rebuilt, and only those. That is exactly the canonical build's ``affected_days`` plus the
days the product mapping restates (it writes ``mapped_product_id`` without a canonical build),
and it heals itself after a failed run. One transaction; re-running changes nothing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pos_sync.settings import Settings, load_settings
from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA
from transforms.demand import (
    CUSTOM,
    DEMAND_CALENDAR,
    DEMAND_HISTORY,
    LocationInfo,
    calendar_row,
    demand_rows,
    fingerprint,
    trading_range,
)

LOC_KEY = ["tenant_id", "pos_provider", "location_id"]
DAY_KEY = [*LOC_KEY, "business_date"]


@dataclass
class DemandResult:
    account_id: str
    provider: str
    days_recomputed: int = 0
    rows_written: int = 0
    closed_days: int = 0
    seconds: float = 0.0
    changed: list[tuple[str, str, date]] = field(default_factory=list)  # (tenant, location, day)

    def ranges(self) -> list[dict[str, Any]]:
        """The changed days per location: tenant, provider, location, first and last day, days."""
        per: dict[tuple[str, str], list[date]] = defaultdict(list)
        for tenant, loc, day in self.changed:
            per[(tenant, loc)].append(day)
        return [{"tenant_id": t, "pos_provider": self.provider, "location_id": loc,
                 "date_from": min(days).isoformat(), "date_to": max(days).isoformat(), "days": len(days)}
                for (t, loc), days in sorted(per.items())]


def _dps_digest_sql(wh: Warehouse, keys: str) -> str:
    text = "varchar" if wh.dialect == "duckdb" else "text"
    fields = " || '|' || ".join([
        "d.pos_item_id", "coalesce(d.mapped_product_id, '')",
        *(f"cast(d.{c} as {text})" for c in ("quantity_sold", "quantity_refunded", "gross_sales", "discount_amount",
                                              "refund_amount", "net_revenue", "transactions"))])
    return (f"select d.location_id, d.business_date, md5(string_agg({fields}, ';' order by d.pos_item_id)) as digest "
            f"from {SCHEMA}.daily_product_sales d join {keys} k on d.tenant_id = k.tenant_id "
            f"and d.pos_provider = k.pos_provider and d.location_id = k.location_id "
            f"group by d.location_id, d.business_date")


def build_demand(account_id: str, provider: str, settings: Settings | None = None) -> DemandResult:
    """Rebuild the demand history and calendar of the account's location-days whose sources changed."""
    started = time.monotonic()
    result = DemandResult(account_id, provider)
    wh = Warehouse(settings or load_settings())
    try:
        wh.ensure_schema()
        locs = {r["location_id"]: LocationInfo(r["tenant_id"], provider, account_id, r["location_id"], r["country"],
                                                r["timezone"], r.get("postal_code"))
                for r in wh.query(f"select * from {SCHEMA}.pos_locations where pos_account_id = %s "
                                  f"and pos_provider = %s", (account_id, provider))}
        if locs:
            with wh.transaction():
                _rebuild(wh, locs, result)
    finally:
        wh.close()
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _rebuild(wh: Warehouse, locs: dict[str, LocationInfo], result: DemandResult) -> None:
    provider = result.provider
    loc_keys = wh.temp_keys(LOC_KEY, sorted((x.tenant_id, provider, x.location_id) for x in locs.values()))
    join = (f"join {loc_keys} k on t.tenant_id = k.tenant_id and t.pos_provider = k.pos_provider "
            f"and t.location_id = k.location_id")
    counts = {(r["location_id"], r["business_date"]): (int(r["sales"]), int(r["refunds"]), int(r["voids"]))
              for r in wh.query(f"""
        select t.location_id, t.business_date,
               sum(case when t.transaction_type = 'sale' and t.status = 'completed' then 1 else 0 end) as sales,
               sum(case when t.transaction_type = 'refund' and t.status = 'completed' then 1 else 0 end) as refunds,
               sum(case when t.transaction_type = 'void' then 1 else 0 end) as voids
        from {SCHEMA}.pos_transactions t {join} where t.business_date is not null
        group by t.location_id, t.business_date""")}
    digests = {(r["location_id"], r["business_date"]): r["digest"] for r in wh.query(_dps_digest_sql(wh, loc_keys))}
    data_days = set(counts) | set(digests)
    first: dict[str, date] = {}
    for (loc, day), (sales, _, _) in counts.items():
        if sales and (loc not in first or day < first[loc]):
            first[loc] = day
    last = max((d for (_, d), (n, _, _) in counts.items() if n), default=None)  # the last trading day
    days = {(loc, d) for loc, ds in trading_range(first, last).items() for d in ds} | data_days
    days = {(loc, d) for loc, d in days if loc in locs}

    current = {}
    for loc, day in days:
        info = locs[loc]
        current[(loc, day)] = fingerprint(digests.get((loc, day), ""), *counts.get((loc, day), (0, 0, 0)),
                                          info.country, info.region)
    stored = {(r["location_id"], r["business_date"]): r["source_fingerprint"] for r in wh.query(
        f"select t.location_id, t.business_date, t.source_fingerprint from {SCHEMA}.demand_calendar t {join}")}
    changed = sorted(k for k, fp in current.items() if stored.get(k) != fp)
    gone = sorted(k for k in stored if k not in current)
    if not changed and not gone:
        return
    tenant = {loc: info.tenant_id for loc, info in locs.items()}
    day_keys = [(tenant[loc], provider, loc, day) for loc, day in changed + gone]
    wh.delete_by_keys(DEMAND_HISTORY, DAY_KEY, day_keys)
    wh.delete_by_keys(DEMAND_CALENDAR, DAY_KEY, day_keys)
    if not changed:
        return
    calendar = {(loc, day): calendar_row(locs[loc], day, *counts.get((loc, day), (0, 0, 0)), current[(loc, day)])
                for loc, day in changed}
    keys = wh.temp_keys(DAY_KEY, [(tenant[loc], provider, loc, day) for loc, day in changed])
    on = ("{a}.tenant_id = k.tenant_id and {a}.pos_provider = k.pos_provider and {a}.location_id = k.location_id "
          "and {a}.business_date = k.business_date")
    daily = wh.query(f"select d.* from {SCHEMA}.daily_product_sales d join {keys} k on {on.format(a='d')}")
    product_counts = _distinct_counts(wh, keys, on)
    rows = demand_rows(daily, product_counts, calendar, result.account_id)
    wh.insert_rows(DEMAND_CALENDAR, list(calendar.values()))
    wh.insert_rows(DEMAND_HISTORY, rows)
    result.days_recomputed = len(changed)
    result.rows_written = len(rows)
    result.closed_days = sum(1 for c in calendar.values() if not c["is_open"])
    result.changed = [(tenant[loc], loc, day) for loc, day in changed]


def _distinct_counts(wh: Warehouse, keys: str, on: str) -> dict[tuple[str, date, str, bool], tuple[int, int]]:
    """(location, day, product key, is_mapped) → distinct completed sales and refunds with the product."""
    rows = wh.query(f"""
        select i.location_id, i.business_date,
               coalesce(nullif(d.mapped_product_id, ''), coalesce(i.pos_item_id, '{CUSTOM}')) as product_key,
               nullif(d.mapped_product_id, '') is not null as is_mapped,
               count(distinct case when t.transaction_type = 'sale' then i.transaction_id end) as sales,
               count(distinct case when t.transaction_type = 'refund' then i.transaction_id end) as refunds
        from {SCHEMA}.pos_transaction_items i
        join {SCHEMA}.pos_transactions t on t.id = i.transaction_id
        join {keys} k on {on.format(a='i')}
        left join {SCHEMA}.daily_product_sales d on d.tenant_id = i.tenant_id and d.pos_provider = i.pos_provider
             and d.location_id = i.location_id and d.business_date = i.business_date
             and d.pos_item_id = coalesce(i.pos_item_id, '{CUSTOM}')
        where t.status = 'completed' and t.transaction_type in ('sale', 'refund')
        group by 1, 2, 3, 4""")
    return {(r["location_id"], r["business_date"], r["product_key"], bool(r["is_mapped"])):
            (int(r["sales"]), int(r["refunds"])) for r in rows}
