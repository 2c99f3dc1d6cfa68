"""Integrity checks over the canonical tables (counts of offending rows; 0 = pass).

Used by the Dagster asset checks (one set per provider slice: ``provider`` restricts every check
to that provider's rows; :data:`CHECK_TABLES` says which table's asset each check belongs to and
:data:`BLOCKING` which ones must stop a bad build from flowing downstream) and by the tests; plain
SQL that runs on DuckDB and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA
from transforms.times import as_utc, local_date, zone

T = f"{SCHEMA}.pos_transactions"
I = f"{SCHEMA}.pos_transaction_items"  # noqa: E741
TD = f"{SCHEMA}.pos_tenders"
L = f"{SCHEMA}.pos_locations"
P = f"{SCHEMA}.pos_products"
D = f"{SCHEMA}.daily_product_sales"


def _only(provider: str | None, alias: str = "t") -> tuple[str, tuple[Any, ...]]:
    return (f" and {alias}.pos_provider = %s", (provider,)) if provider else ("", ())


def items_vs_subtotal(wh: Warehouse, provider: str | None = None) -> int:
    """Completed sales whose items' gross does not add up to the transaction subtotal."""
    where, params = _only(provider)
    return int(wh.scalar(f"""
        select count(*) from {T} t
        left join (select transaction_id, sum(gross_amount) as gross from {I} group by transaction_id) i
          on i.transaction_id = t.id
        where t.transaction_type = 'sale' and t.status = 'completed' and coalesce(i.gross, 0) <> t.subtotal{where}""",
                         params))


def tenders_vs_total(wh: Warehouse, provider: str | None = None) -> int:
    """Completed sales with tenders whose amounts plus tips differ from the total collected."""
    where, params = _only(provider)
    return int(wh.scalar(f"""
        select count(*) from {T} t
        join (select transaction_id, sum(amount + tip_amount) as paid from {TD} group by transaction_id) d
          on d.transaction_id = t.id
        where t.transaction_type = 'sale' and t.status = 'completed' and d.paid <> t.total_amount{where}""", params))


def duplicate_transactions(wh: Warehouse, provider: str | None = None) -> int:
    """Provider transactions present more than once for a tenant."""
    where, params = _only(provider)
    return int(wh.scalar(f"""
        select count(*) from (select tenant_id, pos_provider, pos_transaction_id from {T} t where true{where}
                              group by tenant_id, pos_provider, pos_transaction_id having count(*) > 1) d""", params))


def unlinked_refunds(wh: Warehouse, provider: str | None = None) -> int:
    """Completed refunds that do not point at a sale we have."""
    where, params = _only(provider, "r")
    return int(wh.scalar(f"""
        select count(*) from {T} r left join {T} s on s.id = r.refunded_transaction_id
        where r.transaction_type = 'refund' and r.status = 'completed' and s.id is null{where}""", params))


def business_dates_off_zone(wh: Warehouse, provider: str | None = None) -> int:
    """Transactions whose business date is not the local date of their time in the location's
    zone, for providers whose business day is the local calendar day (the registry's
    ``local_business_day``; Toast has a business day of its own). The database's zone rules
    (DuckDB's ICU, PostgreSQL's tz database: each as old as its release or its host) pick the
    candidates; each is judged with the rules the build wrote it with (``transforms.times.zone``,
    the ``tzdata`` package): a zone whose rules changed since the database's were made (America/
    Vancouver from 2026-11-01 against tzdata 2025b) is no failure."""
    from pos_sync.providers import registry

    local_day = [s.name for s in registry if s.local_business_day and (provider is None or s.name == provider)]
    if not local_day:
        return 0
    local = f"cast({wh.local_time('l.timezone', 't.transaction_date')} as date)"
    marks = ", ".join(["%s"] * len(local_day))
    candidates = wh.query(f"""
        select t.transaction_date as at, l.timezone as tz, t.business_date as day from {T} t join {L} l
          on l.tenant_id = t.tenant_id and l.pos_provider = t.pos_provider and l.location_id = t.location_id
        where t.pos_provider in ({marks}) and t.business_date <> {local}""", tuple(local_day))
    return sum(1 for row in candidates if not _local_day_is(row["day"], row["at"], row["tz"]))


def _local_day_is(day: Any, at: Any, tz: str) -> bool:
    """Whether ``day`` is the local date of ``at`` in zone ``tz`` by the build's rules."""
    try:
        return local_date(as_utc(at), zone(tz)) == day
    except (ZoneInfoNotFoundError, ValueError):
        return False


def transactions_without_location(wh: Warehouse, provider: str | None = None) -> int:
    """Transactions whose location is not in pos_locations (its name, zone and currency unknown)."""
    where, params = _only(provider)
    return int(wh.scalar(f"""
        select count(*) from {T} t left join {L} l
          on l.tenant_id = t.tenant_id and l.pos_provider = t.pos_provider and l.location_id = t.location_id
        where l.location_id is null{where}""", params))


def products_seen_out_of_order(wh: Warehouse, provider: str | None = None) -> int:
    """Catalog rows (one per version of a product) without a first/last-seen time or last seen
    before first seen."""
    where, params = _only(provider, "p")
    return int(wh.scalar(f"""
        select count(*) from {P} p
        where (p.first_seen_at is null or p.last_seen_at is null or p.last_seen_at < p.first_seen_at){where}""",
                         params))


def daily_feed_vs_items(wh: Warehouse, provider: str | None = None) -> int:
    """Location-days whose daily_product_sales net revenue differs from the line totals of that
    day's completed sales minus refunds (the forecasting feed must equal the transactions)."""
    where_d, params_d = _only(provider, "d")
    where_i, params_i = _only(provider, "i")
    return int(wh.scalar(f"""
        with feed as (
          select d.tenant_id, d.pos_provider, d.location_id, d.business_date, sum(d.net_revenue) as net
          from {D} d where true{where_d}
          group by d.tenant_id, d.pos_provider, d.location_id, d.business_date),
        lines as (
          select i.tenant_id, i.pos_provider, i.location_id, i.business_date,
                 sum(case when t.transaction_type = 'sale' then i.line_total else -i.line_total end) as net
          from {I} i join {T} t on t.id = i.transaction_id
          where t.status = 'completed' and t.transaction_type in ('sale', 'refund'){where_i}
          group by i.tenant_id, i.pos_provider, i.location_id, i.business_date)
        select count(*) from feed full join lines
          on lines.tenant_id = feed.tenant_id and lines.pos_provider = feed.pos_provider
         and lines.location_id = feed.location_id and lines.business_date = feed.business_date
        where coalesce(feed.net, 0) <> coalesce(lines.net, 0)""", params_d + params_i))


CHECKS: dict[str, Callable[..., int]] = {
    "items_reconcile_with_subtotal": items_vs_subtotal,
    "tenders_reconcile_with_total": tenders_vs_total,
    "no_duplicate_transactions": duplicate_transactions,
    "every_refund_linked": unlinked_refunds,
    "business_dates_in_location_zone": business_dates_off_zone,
    "every_transaction_located": transactions_without_location,
    "products_seen_in_order": products_seen_out_of_order,
    "daily_feed_reconciles_with_items": daily_feed_vs_items,
}

# the canonical table whose asset carries each check
CHECK_TABLES: dict[str, str] = {
    "items_reconcile_with_subtotal": "pos_transaction_items",
    "tenders_reconcile_with_total": "pos_tenders",
    "no_duplicate_transactions": "pos_transactions",
    "every_refund_linked": "pos_transactions",
    "business_dates_in_location_zone": "pos_transactions",
    "every_transaction_located": "pos_locations",
    "products_seen_in_order": "pos_products",
    "daily_feed_reconciles_with_items": "daily_product_sales",
}

# failures that mean the figures are wrong: what is downstream (the demand feed, forecasts) must not run on them
BLOCKING = frozenset({"items_reconcile_with_subtotal", "tenders_reconcile_with_total", "no_duplicate_transactions",
                      "daily_feed_reconciles_with_items"})
