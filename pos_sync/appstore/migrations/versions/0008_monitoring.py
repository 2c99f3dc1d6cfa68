"""Monitoring tables the Dagster assets publish and the analytics API reads: ``pos_sync_health``
(one row per account: last success, lag, error streak, rows per sync, the provider API's pace,
freshness) and ``pos_transaction_volume`` (transactions and revenue in cents per account and
business day or UTC hour).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pos_sync_health",
        sa.Column("pos_account_id", sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("account_name", sa.String(255)),
        sa.Column("account_status", sa.String(50), nullable=False),
        sa.Column("sync_enabled", sa.Boolean(), nullable=False),
        sa.Column("sync_frequency_minutes", sa.Integer(), nullable=False),
        sa.Column("last_sync_at", TS),
        sa.Column("last_sync_status", sa.String(50)),
        sa.Column("last_success_at", TS),
        sa.Column("newest_source_at", TS),
        sa.Column("lag_seconds", sa.Integer()),
        sa.Column("error_streak", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("syncs_counted", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("rows_synced", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("rows_last_sync", sa.Integer()),
        sa.Column("sync_seconds", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("api_requests", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("api_retries", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("api_rate_limited", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("api_server_errors", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("api_transport_errors", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("api_waited_seconds", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("api_response_seconds", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("freshness", sa.String(20), nullable=False),
        sa.Column("freshness_age_seconds", sa.Integer()),
        sa.Column("evaluated_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("idx_pos_sync_health_tenant", "pos_sync_health", ["tenant_id", "pos_provider"])
    op.create_table(
        "pos_transaction_volume",
        sa.Column("pos_account_id", sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("granularity", sa.String(10), primary_key=True),
        sa.Column("bucket_start", TS, primary_key=True),
        sa.Column("currency", sa.String(10), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("refunds", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("revenue_cents", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("published_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("idx_pos_transaction_volume_tenant", "pos_transaction_volume",
                    ["tenant_id", "granularity", "bucket_start"])


def downgrade() -> None:
    op.drop_index("idx_pos_transaction_volume_tenant", table_name="pos_transaction_volume")
    op.drop_table("pos_transaction_volume")
    op.drop_index("idx_pos_sync_health_tenant", table_name="pos_sync_health")
    op.drop_table("pos_sync_health")
