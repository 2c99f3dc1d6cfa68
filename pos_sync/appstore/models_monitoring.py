"""App-store tables the Dagster monitoring assets publish (``sync_health``,
``transaction_volume``) for the API's analytics routes; part of :mod:`pos_sync.appstore.models`'s
metadata (imported there)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from pos_sync.appstore.columns import utcnow
from pos_sync.appstore.models import Base


class PosSyncHealth(Base):
    """One row per account: its sync health as the Dagster ``sync_health`` asset last published it
    (:mod:`pos_sync.appstore.monitoring`). The API reads this table, never the warehouse."""

    __tablename__ = "pos_sync_health"
    __table_args__ = (sa.Index("idx_pos_sync_health_tenant", "tenant_id", "pos_provider"),)

    pos_account_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
                                                primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    account_name: Mapped[str | None] = mapped_column(sa.String(255))
    account_status: Mapped[str] = mapped_column(sa.String(50))
    sync_enabled: Mapped[bool]
    sync_frequency_minutes: Mapped[int]
    last_sync_at: Mapped[datetime | None]  # completion of the latest closed log (any outcome)
    last_sync_status: Mapped[str | None] = mapped_column(sa.String(50))
    last_success_at: Mapped[datetime | None]  # completion of the latest successful log
    newest_source_at: Mapped[datetime | None]  # newest source_updated_at / transaction_date in pos.*
    lag_seconds: Mapped[int | None]  # clock's now − newest_source_at
    error_streak: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    syncs_counted: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))  # closed logs in the window
    rows_synced: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    rows_last_sync: Mapped[int | None]
    sync_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default=sa.text("0"))
    api_requests: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    api_retries: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    api_rate_limited: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    api_server_errors: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    api_transport_errors: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    api_waited_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default=sa.text("0"))
    api_response_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default=sa.text("0"))
    freshness: Mapped[str] = mapped_column(sa.String(20))  # ok | warn | error | disabled
    freshness_age_seconds: Mapped[int | None]  # since the last success (or the link, never synced)
    evaluated_at: Mapped[datetime]  # the clock's "now" the row was computed for
    published_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())


class PosTransactionVolume(Base):
    """Transactions per account and day (business date) or UTC hour, as the Dagster
    ``transaction_volume`` asset last published them; revenue in integer cents, per currency."""

    __tablename__ = "pos_transaction_volume"
    __table_args__ = (sa.Index("idx_pos_transaction_volume_tenant", "tenant_id", "granularity", "bucket_start"),)

    pos_account_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"),
                                                primary_key=True)
    granularity: Mapped[str] = mapped_column(sa.String(10), primary_key=True)  # day | hour
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)  # day: the business date at 00:00 UTC
    currency: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    transactions: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))  # completed sales
    refunds: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))  # completed refunds
    revenue_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))  # sales − refunds
    published_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
