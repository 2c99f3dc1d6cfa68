"""The HTTP API's tables: tenants and their hashed API keys, pending OAuth states, sync requests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = True, now: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if now else None)


def upgrade() -> None:
    op.create_table(
        "pos_tenants",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        _ts("created_at", nullable=False, now=True),
    )
    op.create_table(
        "pos_api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(255), sa.ForeignKey("pos_tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        _ts("created_at", nullable=False, now=True),
        _ts("revoked_at"),
    )
    op.create_index("idx_pos_api_keys_tenant", "pos_api_keys", ["tenant_id"])
    op.create_table(
        "pos_oauth_states",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("redirect_uri", sa.String(500), nullable=False),
        sa.Column("success_url", sa.String(500)),
        sa.Column("account_id", sa.String(36)),
        _ts("created_at", nullable=False, now=True),
        _ts("expires_at", nullable=False),
        _ts("used_at"),
    )
    op.create_table(
        "pos_sync_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_account_id", sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date()),
        sa.Column("end_date", sa.Date()),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("run_ids", JSON, nullable=False),
        sa.Column("error_message", sa.Text()),
        _ts("requested_at", nullable=False, now=True),
        _ts("launched_at"),
    )
    op.create_index("idx_pos_sync_requests_status", "pos_sync_requests", ["status", "requested_at"])
    op.create_index("idx_pos_sync_requests_account", "pos_sync_requests", ["pos_account_id", "requested_at"])


def downgrade() -> None:
    op.drop_table("pos_sync_requests")
    op.drop_table("pos_oauth_states")
    op.drop_table("pos_api_keys")
    op.drop_table("pos_tenants")
