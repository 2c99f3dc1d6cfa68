"""Webhooks: where each provider's signing keys live (``pos_webhook_subscriptions``: the app's or an
account's subscription, keys encrypted, the previous key kept while a rotation is in flight), and
which targeted sync took an inbox event (``pos_webhooks.run_key``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pos_webhook_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("pos_account_id", sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE")),
        sa.Column("external_id", sa.String(255)),
        sa.Column("notification_url", sa.String(500), nullable=False),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("signature_key_enc", sa.Text()),
        sa.Column("previous_signature_key_enc", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("idx_pos_webhook_subscriptions_provider", "pos_webhook_subscriptions",
                    ["pos_provider", "pos_account_id"])
    with op.batch_alter_table("pos_webhooks") as batch:
        batch.add_column(sa.Column("run_key", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("pos_webhooks") as batch:
        batch.drop_column("run_key")
    op.drop_table("pos_webhook_subscriptions")
