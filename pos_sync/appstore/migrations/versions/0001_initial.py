"""App store: pos_accounts, pos_locations, pos_sync_logs, pos_webhooks.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = True, now: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.func.now() if now else None,
    )


def upgrade() -> None:
    op.create_table(
        "pos_accounts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("account_name", sa.String(255)),
        sa.Column("merchant_id", sa.String(255), nullable=False),
        sa.Column("base_url", sa.String(500)),
        sa.Column("access_token_enc", sa.Text()),
        sa.Column("refresh_token_enc", sa.Text()),
        _ts("token_expires_at"),
        sa.Column("client_id", sa.String(255)),
        sa.Column("client_secret_enc", sa.Text()),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("sync_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("sync_frequency_minutes", sa.Integer(), nullable=False, server_default=sa.text("15")),
        sa.Column("historical_import_days", sa.Integer()),
        _ts("historical_import_done_at"),
        _ts("last_sync_at"),
        _ts("last_successful_sync_at"),
        _ts("next_sync_at"),
        sa.Column("webhook_id", sa.String(255)),
        sa.Column("webhook_url", sa.String(500)),
        sa.Column("webhook_signature_key_enc", sa.Text()),
        sa.Column("status", sa.String(50), nullable=False, server_default="active"),
        sa.Column("error_message", sa.Text()),
        sa.Column("error_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        _ts("last_error_at"),
        _ts("created_at", nullable=False, now=True),
        _ts("updated_at", nullable=False, now=True),
        sa.UniqueConstraint(
            "tenant_id", "pos_provider", "merchant_id", name="uq_pos_accounts_tenant_provider_merchant"
        ),
    )
    op.create_index("idx_pos_accounts_tenant", "pos_accounts", ["tenant_id", "status"])

    op.create_table(
        "pos_locations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column(
            "pos_account_id",
            sa.String(36),
            sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("location_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("currency", sa.String(10)),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        _ts("created_at", nullable=False, now=True),
        sa.UniqueConstraint(
            "tenant_id", "pos_provider", "location_id", name="uq_pos_locations_tenant_provider_location"
        ),
    )
    op.create_index("idx_pos_locations_account", "pos_locations", ["pos_account_id"])

    op.create_table(
        "pos_sync_logs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column(
            "pos_account_id",
            sa.String(36),
            sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sync_type", sa.String(50), nullable=False, server_default="incremental"),
        _ts("sync_started_at", nullable=False),
        _ts("sync_completed_at"),
        sa.Column("sync_duration_seconds", sa.Float()),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("error_message", sa.Text()),
        sa.Column("transactions_fetched", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("transactions_processed", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("transactions_failed", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("new_products_discovered", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("unmapped_products_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("dagster_run_id", sa.String(64)),
        _ts("created_at", nullable=False, now=True),
    )
    op.create_index("idx_pos_sync_logs_account_date", "pos_sync_logs", ["pos_account_id", "sync_started_at"])
    op.create_index("idx_pos_sync_logs_account_status", "pos_sync_logs", ["pos_account_id", "status"])

    op.create_table(
        "pos_webhooks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_account_id", sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE")),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("webhook_event_id", sa.String(255)),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("event_data", JSON, nullable=False),
        _ts("received_at", nullable=False, now=True),
        _ts("processed_at"),
        sa.Column("processing_status", sa.String(50), nullable=False, server_default="pending"),
        sa.Column("error_message", sa.Text()),
        sa.Column("retry_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.UniqueConstraint("pos_provider", "webhook_event_id", name="uq_pos_webhooks_provider_event"),
    )
    op.create_index("idx_pos_webhooks_status", "pos_webhooks", ["processing_status", "received_at"])
    op.create_index("idx_pos_webhooks_account", "pos_webhooks", ["pos_account_id"])


def downgrade() -> None:
    op.drop_table("pos_webhooks")
    op.drop_table("pos_sync_logs")
    op.drop_table("pos_locations")
    op.drop_table("pos_accounts")
