"""Product mapping: the tenant's own catalog (``bakery_products``), POS category → bakery
category (``pos_category_mappings``), POS product → bakery product (``pos_product_mappings``:
manual, auto or rejected, unique per tenant, provider and POS product), the per-account POS
product figures a Dagster asset publishes after each canonical build (``pos_product_stats``), and
the POS products a restatement request names (``pos_sync_requests.pos_product_ids``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())]


def upgrade() -> None:
    op.create_table(
        "bakery_products",
        sa.Column("tenant_id", sa.String(255), primary_key=True),
        sa.Column("bakery_product_id", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sku", sa.String(100)),
        sa.Column("category", sa.String(255)),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_stamps(),
    )
    op.create_table(
        "pos_category_mappings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("pos_category", sa.String(255), nullable=False),
        sa.Column("bakery_category", sa.String(255), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("tenant_id", "pos_provider", "pos_category",
                            name="uq_pos_category_mappings_tenant_provider_category"),
    )
    op.create_table(
        "pos_product_mappings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("pos_product_id", sa.String(255), nullable=False),
        sa.Column("bakery_product_id", sa.String(255)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("confidence", sa.Float()),
        sa.Column("created_by", sa.String(255)),
        sa.Column("updated_by", sa.String(255)),
        *_stamps(),
        sa.UniqueConstraint("tenant_id", "pos_provider", "pos_product_id",
                            name="uq_pos_product_mappings_tenant_provider_product"),
    )
    op.create_index("idx_pos_product_mappings_bakery_product", "pos_product_mappings",
                    ["tenant_id", "bakery_product_id"])
    op.create_table(
        "pos_product_stats",
        sa.Column("pos_account_id", sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("pos_product_id", sa.String(255), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("pos_provider", sa.String(50), nullable=False),
        sa.Column("name", sa.String(500)),
        sa.Column("sku", sa.String(100)),
        sa.Column("category", sa.String(255)),
        sa.Column("currency", sa.String(3)),
        sa.Column("revenue_cents_7d", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("revenue_cents_30d", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("transactions_7d", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("transactions_30d", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_seen", sa.Date()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("idx_pos_product_stats_tenant_product", "pos_product_stats",
                    ["tenant_id", "pos_provider", "pos_product_id"])
    with op.batch_alter_table("pos_sync_requests") as batch:
        batch.add_column(sa.Column("pos_product_ids", JSON))


def downgrade() -> None:
    with op.batch_alter_table("pos_sync_requests") as batch:
        batch.drop_column("pos_product_ids")
    op.drop_index("idx_pos_product_stats_tenant_product", table_name="pos_product_stats")
    op.drop_table("pos_product_stats")
    op.drop_index("idx_pos_product_mappings_bakery_product", table_name="pos_product_mappings")
    op.drop_table("pos_product_mappings")
    op.drop_table("pos_category_mappings")
    op.drop_table("bakery_products")
