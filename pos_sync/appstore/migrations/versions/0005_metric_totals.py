"""Running totals behind the Prometheus counters, so they survive sync log retention.

``pos_sync_totals`` (per tenant and provider: syncs, transactions synced, the sync duration
histogram's sum and cumulative buckets 5/10/30/60/120/300 s) and ``pos_sync_error_totals`` (per
tenant, provider and error type). A sync log adds to them once, in the transaction that first
closes it. Upgrading seeds them from the closed logs already stored, so ``/metrics`` agrees with
the app store from the first scrape.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUCKETS = (5, 10, 30, 60, 120, 300)


def _total(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))


def _updated() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "pos_sync_totals",
        sa.Column("tenant_id", sa.String(255), primary_key=True),
        sa.Column("pos_provider", sa.String(50), primary_key=True),
        _total("syncs"),
        _total("transactions_synced"),
        sa.Column("duration_seconds_sum", sa.Float(), nullable=False, server_default=sa.text("0")),
        *[_total(f"duration_le_{bound}") for bound in BUCKETS],
        _updated(),
    )
    op.create_table(
        "pos_sync_error_totals",
        sa.Column("tenant_id", sa.String(255), primary_key=True),
        sa.Column("pos_provider", sa.String(50), primary_key=True),
        sa.Column("error_type", sa.String(50), primary_key=True),
        _total("errors"),
        _updated(),
    )
    duration = "COALESCE(l.sync_duration_seconds, 0)"
    buckets = ", ".join(f"SUM(CASE WHEN {duration} <= {bound} THEN 1 ELSE 0 END)" for bound in BUCKETS)
    closed = "FROM pos_sync_logs l JOIN pos_accounts a ON a.id = l.pos_account_id WHERE l.status <> 'in_progress'"
    op.execute(
        "INSERT INTO pos_sync_totals (tenant_id, pos_provider, syncs, transactions_synced, duration_seconds_sum, "
        f"{', '.join(f'duration_le_{bound}' for bound in BUCKETS)}) "
        f"SELECT l.tenant_id, a.pos_provider, COUNT(*), SUM(l.transactions_processed), SUM({duration}), {buckets} "
        f"{closed} GROUP BY l.tenant_id, a.pos_provider")
    op.execute(
        "INSERT INTO pos_sync_error_totals (tenant_id, pos_provider, error_type, errors) "
        "SELECT l.tenant_id, a.pos_provider, COALESCE(l.error_type, 'unknown'), COUNT(*) "
        f"{closed} AND l.status IN ('failed', 'partial') "
        "GROUP BY l.tenant_id, a.pos_provider, COALESCE(l.error_type, 'unknown')")


def downgrade() -> None:
    op.drop_table("pos_sync_error_totals")
    op.drop_table("pos_sync_totals")
