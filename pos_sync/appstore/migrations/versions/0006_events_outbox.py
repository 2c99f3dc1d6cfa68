"""Events: the transactional outbox (``pos_events_outbox``: events written in the transaction of
the state they describe, published to RabbitMQ after it) and the consumed message a sync request
answers (``pos_sync_requests.event_id``, unique per account: a redelivered message asks once).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pos_events_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("routing_key", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("event_id", name="uq_pos_events_outbox_event_id"),
    )
    op.create_index("idx_pos_events_outbox_pending", "pos_events_outbox", ["published_at", "id"])
    with op.batch_alter_table("pos_sync_requests") as batch:
        batch.add_column(sa.Column("event_id", sa.String(64)))
    op.create_index("uq_pos_sync_requests_event_account", "pos_sync_requests", ["event_id", "pos_account_id"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_pos_sync_requests_event_account", table_name="pos_sync_requests")
    with op.batch_alter_table("pos_sync_requests") as batch:
        batch.drop_column("event_id")
    op.drop_index("idx_pos_events_outbox_pending", table_name="pos_events_outbox")
    op.drop_table("pos_events_outbox")
