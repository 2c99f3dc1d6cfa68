"""Integrity checks over the canonical tables (counts of offending rows; 0 = pass).

Used by the Dagster asset checks and by the tests; plain SQL that runs on DuckDB and PostgreSQL.
"""

from __future__ import annotations

from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA

T = f"{SCHEMA}.pos_transactions"
I = f"{SCHEMA}.pos_transaction_items"  # noqa: E741
TD = f"{SCHEMA}.pos_tenders"
L = f"{SCHEMA}.pos_locations"


def items_vs_subtotal(wh: Warehouse) -> int:
    """Completed sales whose items' gross does not add up to the transaction subtotal."""
    return int(wh.scalar(f"""
        select count(*) from {T} t
        left join (select transaction_id, sum(gross_amount) as gross from {I} group by transaction_id) i
          on i.transaction_id = t.id
        where t.transaction_type = 'sale' and t.status = 'completed' and coalesce(i.gross, 0) <> t.subtotal"""))


def tenders_vs_total(wh: Warehouse) -> int:
    """Completed sales with tenders whose amounts plus tips differ from the total collected."""
    return int(wh.scalar(f"""
        select count(*) from {T} t
        join (select transaction_id, sum(amount + tip_amount) as paid from {TD} group by transaction_id) d
          on d.transaction_id = t.id
        where t.transaction_type = 'sale' and t.status = 'completed' and d.paid <> t.total_amount"""))


def duplicate_transactions(wh: Warehouse) -> int:
    """Provider transactions present more than once for a tenant."""
    return int(wh.scalar(f"""
        select count(*) from (select tenant_id, pos_provider, pos_transaction_id from {T}
                              group by tenant_id, pos_provider, pos_transaction_id having count(*) > 1) d"""))


def unlinked_refunds(wh: Warehouse) -> int:
    """Completed refunds that do not point at a sale we have."""
    return int(wh.scalar(f"""
        select count(*) from {T} r left join {T} s on s.id = r.refunded_transaction_id
        where r.transaction_type = 'refund' and r.status = 'completed' and s.id is null"""))


def business_dates_off_zone(wh: Warehouse) -> int:
    """Transactions whose business date is not the local date of their time in the location's
    zone (providers whose business day is the local calendar day: Square, Lightspeed)."""
    local = ("cast(timezone(l.timezone, t.transaction_date) as date)" if wh.dialect == "duckdb"
             else "cast((t.transaction_date at time zone l.timezone) as date)")
    return int(wh.scalar(f"""
        select count(*) from {T} t join {L} l
          on l.tenant_id = t.tenant_id and l.pos_provider = t.pos_provider and l.location_id = t.location_id
        where t.pos_provider in ('square', 'lightspeed') and t.business_date <> {local}"""))


CHECKS = {
    "items_reconcile_with_subtotal": items_vs_subtotal,
    "tenders_reconcile_with_total": tenders_vs_total,
    "no_duplicate_transactions": duplicate_transactions,
    "every_refund_linked": unlinked_refunds,
    "business_dates_in_location_zone": business_dates_off_zone,
}
