"""Sync logs say how the provider's API behaved (``api_stats``: requests, retries, 429s, 5xx,
seconds waited — the run's SyncPace) and why a run is partial (``partial_reason``: the streams
that stopped early when their retry budget ran out; their marks stayed at what was loaded).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("pos_sync_logs") as batch:
        batch.add_column(sa.Column("api_stats", JSON))
        batch.add_column(sa.Column("partial_reason", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("pos_sync_logs") as batch:
        batch.drop_column("partial_reason")
        batch.drop_column("api_stats")
