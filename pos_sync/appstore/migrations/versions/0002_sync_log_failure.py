"""Sync logs say which step failed and what kind of failure it was.

``error_type`` (``authentication_failed``, ``rate_limited``, ``provider_unavailable``,
``missing_scopes``, ``encryption_key``, ``invalid_data``, …) and ``failed_step`` (``raw_load``,
``canonical_build``, ``integrity_checks``, ``backfill_window``, ``setup``) beside the message.
Existing rows keep NULL (unknown).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pos_sync_logs") as batch:
        batch.add_column(sa.Column("error_type", sa.String(50)))
        batch.add_column(sa.Column("failed_step", sa.String(50)))


def downgrade() -> None:
    with op.batch_alter_table("pos_sync_logs") as batch:
        batch.drop_column("failed_step")
        batch.drop_column("error_type")
