"""The webhook inbox keeps a row per tenant an event routes to: a store linked by two tenants got
its events stored for the oldest account only (unique on provider and event id), so the other
tenant's account had no real-time sync. Unique now on (provider, event id, tenant); unroutable
events keep tenant ''. Existing rows already satisfy it.

Deploying: the receiver names the key in its ``INSERT … ON CONFLICT``, so a receiver of the
release before this one fails to store events once this migration ran (and this release's before
it ran): it answers 503, which the providers retry, until every API process runs the same release.
Nothing is lost; replace the API processes together with the migration.

Downgrade: the old key again; of an event stored for several tenants one row is kept (the earliest
received; the rows of one delivery by id).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("uq_pos_webhooks_provider_event", ["pos_provider", "webhook_event_id"])
NEW = ("uq_pos_webhooks_provider_event_tenant", ["pos_provider", "webhook_event_id", "tenant_id"])


def upgrade() -> None:
    with op.batch_alter_table("pos_webhooks") as batch:
        batch.drop_constraint(OLD[0], type_="unique")
        batch.create_unique_constraint(*NEW)


def downgrade() -> None:
    op.execute("""DELETE FROM pos_webhooks WHERE EXISTS (
        SELECT 1 FROM pos_webhooks AS w WHERE w.pos_provider = pos_webhooks.pos_provider
        AND w.webhook_event_id = pos_webhooks.webhook_event_id
        AND (w.received_at < pos_webhooks.received_at OR (w.received_at = pos_webhooks.received_at AND w.id < pos_webhooks.id)))""")
    with op.batch_alter_table("pos_webhooks") as batch:
        batch.drop_constraint(NEW[0], type_="unique")
        batch.create_unique_constraint(*OLD)
