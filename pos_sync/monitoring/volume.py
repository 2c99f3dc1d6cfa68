"""Transaction volume per account: completed sales and refunds and net revenue (sales − refunds,
integer cents, per currency) by business day (the last :data:`DAILY_DAYS` business dates) and by
UTC hour (the last :data:`HOURLY_HOURS` hours), read from ``pos.pos_transactions``. Voids and
pending sales are not counted. "Now" is the connector's clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA

DAILY_DAYS = 90
HOURLY_HOURS = 7 * 24

_SUMS = ("sum(case when transaction_type = 'sale' then 1 else 0 end) as sales, "
         "sum(case when transaction_type = 'refund' then 1 else 0 end) as refunds, "
         "sum(case when transaction_type = 'sale' then total_amount else 0 end) as sold, "
         "sum(case when transaction_type = 'refund' then total_amount else 0 end) as refunded")
_WHERE = "status = 'completed' and transaction_type in ('sale', 'refund')"


def cents(amount: Decimal | int | None) -> int:
    """Exact integer cents of a NUMERIC(…,2) amount (never through float)."""
    value = Decimal(amount or 0) * 100
    whole = value.to_integral_value()
    if whole != value:
        raise ValueError(f"{amount} has more than two decimals")
    return int(whole)


def _row(r: dict[str, Any], granularity: str, start: datetime) -> dict[str, Any]:
    return {"pos_account_id": str(r["pos_account_id"]), "tenant_id": str(r["tenant_id"]),
            "pos_provider": str(r["pos_provider"]), "granularity": granularity, "bucket_start": start,
            "currency": str(r["currency"] or ""), "transactions": int(r["sales"] or 0),
            "refunds": int(r["refunds"] or 0), "revenue_cents": cents(r["sold"]) - cents(r["refunded"])}


def volume_rows(wh: Warehouse, now: datetime) -> list[dict[str, Any]]:
    """Daily and hourly rows of every account with transactions in the windows."""
    if not wh.table_exists(SCHEMA, "pos_transactions"):
        return []
    first_day = (now.astimezone(UTC) - timedelta(days=DAILY_DAYS - 1)).date()
    since = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURLY_HOURS - 1)
    group = "pos_account_id, tenant_id, pos_provider, currency"
    daily = wh.query(f"select {group}, business_date as bucket, {_SUMS} from {SCHEMA}.pos_transactions "
                     f"where {_WHERE} and business_date >= %s group by {group}, business_date", (first_day,))
    hour = "date_trunc('hour', transaction_date at time zone 'UTC')"  # naive UTC on DuckDB and PostgreSQL alike
    hourly = wh.query(f"select {group}, {hour} as bucket, {_SUMS} from {SCHEMA}.pos_transactions "
                      f"where {_WHERE} and transaction_date >= %s group by {group}, {hour}", (since,))
    rows = [_row(r, "day", datetime.combine(r["bucket"], time(), UTC)) for r in daily]
    rows += [_row(r, "hour", r["bucket"].replace(tzinfo=UTC)) for r in hourly]
    return rows
