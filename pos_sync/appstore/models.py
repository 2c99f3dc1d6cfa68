"""SQLAlchemy 2 typed declarative models of the pos-sync app store.

Portable across SQLite (the default, a file under ``POS_HOME``) and PostgreSQL. Conventions:

* primary keys are UUIDs stored as 36-character strings (portable, readable in SQLite);
* every timestamp is a :class:`UTCDateTime`: stored as ``DateTime(timezone=True)`` and always read
  back as a timezone-aware UTC ``datetime`` (SQLite drops the offset; the decorator restores it);
* secrets live only in ``*_enc`` columns, Fernet-encrypted by :mod:`pos_sync.appstore.crypto`,
  and no ``__repr__`` ever shows them;
* JSON columns are ``JSON`` (``JSONB`` on PostgreSQL).

Keep this module and ``migrations/versions`` in sync: ``tests/appstore`` compares the migrated
schema with this metadata on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pos_sync.appstore.columns import (  # noqa: F401  (re-exported: the models' public names)
    ACCOUNT_ID_NAMESPACE,
    AccountStatus,
    JSONType,
    SyncStatus,
    SyncType,
    UTCDateTime,
    WebhookStatus,
    account_id_for,
    aware_utc,
    new_id,
    utcnow,
)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class PosAccount(Base):
    """One connected POS account (a Square merchant, a Toast machine client, a Lightspeed store)."""

    __tablename__ = "pos_accounts"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "pos_provider", "merchant_id", name="uq_pos_accounts_tenant_provider_merchant"),
        sa.Index("idx_pos_accounts_tenant", "tenant_id", "status"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    account_name: Mapped[str | None] = mapped_column(sa.String(255))
    # Square merchant id / Toast client id / Lightspeed domain prefix.
    merchant_id: Mapped[str] = mapped_column(sa.String(255))
    # API base URL; NULL means the provider's production default.
    base_url: Mapped[str | None] = mapped_column(sa.String(500))

    access_token_enc: Mapped[str | None] = mapped_column(sa.Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(sa.Text)
    token_expires_at: Mapped[datetime | None]
    client_id: Mapped[str | None] = mapped_column(sa.String(255))
    client_secret_enc: Mapped[str | None] = mapped_column(sa.Text)
    # Provider-specific, non-secret settings (e.g. {"domain_prefix": "..."} for Lightspeed).
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    sync_enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    sync_frequency_minutes: Mapped[int] = mapped_column(default=15, server_default=sa.text("15"))
    historical_import_days: Mapped[int | None]
    historical_import_done_at: Mapped[datetime | None]
    last_sync_at: Mapped[datetime | None]
    last_successful_sync_at: Mapped[datetime | None]
    next_sync_at: Mapped[datetime | None]

    webhook_id: Mapped[str | None] = mapped_column(sa.String(255))
    webhook_url: Mapped[str | None] = mapped_column(sa.String(500))
    webhook_signature_key_enc: Mapped[str | None] = mapped_column(sa.Text)

    status: Mapped[str] = mapped_column(
        sa.String(50), default=AccountStatus.ACTIVE.value, server_default=AccountStatus.ACTIVE.value
    )
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    error_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    last_error_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=sa.func.now())
    # Set by the database's triggers (migration 0010), never by the code: a new value at every change
    # of the row, its locations or its sync logs; the API's cached reads are validated against it.
    data_version: Mapped[int] = mapped_column(sa.BigInteger, server_default=sa.text("0"))

    locations: Mapped[list[PosLocation]] = relationship(
        back_populates="account",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PosLocation.location_id",
    )

    def __repr__(self) -> str:  # never show secrets
        return (
            f"PosAccount(id={self.id!r}, tenant_id={self.tenant_id!r}, pos_provider={self.pos_provider!r}, "
            f"merchant_id={self.merchant_id!r}, status={self.status!r})"
        )


class PosLocation(Base):
    """A store location of an account (Square location, Toast restaurant GUID, Lightspeed outlet)."""

    __tablename__ = "pos_locations"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "pos_provider", "location_id", name="uq_pos_locations_tenant_provider_location"),
        sa.Index("idx_pos_locations_account", "pos_account_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_account_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"))
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    location_id: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.String(255))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    currency: Mapped[str | None] = mapped_column(sa.String(10))
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())

    account: Mapped[PosAccount] = relationship(back_populates="locations")

    def __repr__(self) -> str:
        return f"PosLocation(id={self.id!r}, pos_provider={self.pos_provider!r}, location_id={self.location_id!r})"


class PosSyncLog(Base):
    """One sync run of one account. ``sync_duration_seconds`` is a float number of seconds."""

    __tablename__ = "pos_sync_logs"
    __table_args__ = (
        # The spec's (pos_account_id, sync_started_at DESC): a B-tree serves "latest first" by
        # scanning backwards, and an ascending index keeps autogenerate comparisons exact.
        sa.Index("idx_pos_sync_logs_account_date", "pos_account_id", "sync_started_at"),
        sa.Index("idx_pos_sync_logs_account_status", "pos_account_id", "status"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_account_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"))
    sync_type: Mapped[str] = mapped_column(
        sa.String(50), default=SyncType.INCREMENTAL.value, server_default=SyncType.INCREMENTAL.value
    )
    sync_started_at: Mapped[datetime]
    sync_completed_at: Mapped[datetime | None]
    sync_duration_seconds: Mapped[float | None] = mapped_column(sa.Float)
    status: Mapped[str] = mapped_column(sa.String(50))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    error_type: Mapped[str | None] = mapped_column(sa.String(50))  # authentication_failed, rate_limited, …
    failed_step: Mapped[str | None] = mapped_column(sa.String(50))  # raw_load, canonical_build, …
    transactions_fetched: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    transactions_processed: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    transactions_failed: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    new_products_discovered: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    unmapped_products_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    dagster_run_id: Mapped[str | None] = mapped_column(sa.String(64))
    api_stats: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # the provider API's requests, retries, waits
    partial_reason: Mapped[str | None] = mapped_column(sa.Text)  # set: the run loaded part of what was due
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())

    def __repr__(self) -> str:
        return (
            f"PosSyncLog(id={self.id!r}, pos_account_id={self.pos_account_id!r}, sync_type={self.sync_type!r}, "
            f"status={self.status!r})"
        )


def _total() -> Mapped[int]:
    return mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))


class PosSyncTotals(Base):
    """Running totals of the closed sync logs of one tenant's provider: the Prometheus counters
    and the cumulative sync duration histogram (``duration_le_<bound>``: syncs that took at most
    that many seconds; ``syncs`` is the +Inf bucket). Updated in the transaction that closes a log
    (:mod:`pos_sync.appstore.metric_totals`), never decreased: pruning logs leaves them as they are."""

    __tablename__ = "pos_sync_totals"

    tenant_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    pos_provider: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    syncs: Mapped[int] = _total()
    transactions_synced: Mapped[int] = _total()
    duration_seconds_sum: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default=sa.text("0"))
    duration_le_5: Mapped[int] = _total()
    duration_le_10: Mapped[int] = _total()
    duration_le_30: Mapped[int] = _total()
    duration_le_60: Mapped[int] = _total()
    duration_le_120: Mapped[int] = _total()
    duration_le_300: Mapped[int] = _total()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=sa.func.now())


class PosSyncErrorTotals(Base):
    """Running count of failed (or partial) syncs of one tenant's provider by kind of error."""

    __tablename__ = "pos_sync_error_totals"

    tenant_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    pos_provider: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    error_type: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    errors: Mapped[int] = _total()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=sa.func.now())


class PosWebhook(Base):
    """Webhook inbox: one row per received provider event and tenant it routes to (a store two
    tenants linked: one each), deduplicated on (provider, event id, tenant; '' for unroutable)."""

    __tablename__ = "pos_webhooks"
    __table_args__ = (
        sa.UniqueConstraint("pos_provider", "webhook_event_id", "tenant_id", name="uq_pos_webhooks_provider_event_tenant"),
        sa.Index("idx_pos_webhooks_status", "processing_status", "received_at"),
        sa.Index("idx_pos_webhooks_account", "pos_account_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_account_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE")
    )
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    webhook_event_id: Mapped[str | None] = mapped_column(sa.String(255))
    event_type: Mapped[str] = mapped_column(sa.String(100))
    event_data: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    processed_at: Mapped[datetime | None]
    processing_status: Mapped[str] = mapped_column(
        sa.String(50), default=WebhookStatus.PENDING.value, server_default=WebhookStatus.PENDING.value
    )
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    retry_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    run_key: Mapped[str | None] = mapped_column(sa.String(200))  # the targeted sync that took it

    def __repr__(self) -> str:
        return (
            f"PosWebhook(id={self.id!r}, pos_provider={self.pos_provider!r}, "
            f"webhook_event_id={self.webhook_event_id!r}, processing_status={self.processing_status!r})"
        )


class PosTenant(Base):
    """A customer of the service (a bakery chain). Accounts may name tenants the CLI never created
    (``accounts add --tenant T``); the API authenticates tenants that exist here."""

    __tablename__ = "pos_tenants"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())


class PosApiKey(Base):
    """A tenant's API key, stored as its SHA-256 (the key itself is shown once, at creation)."""

    __tablename__ = "pos_api_keys"
    __table_args__ = (sa.Index("idx_pos_api_keys_tenant", "tenant_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(255), sa.ForeignKey("pos_tenants.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))  # the key's first characters, to tell keys apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    revoked_at: Mapped[datetime | None]


class PosOAuthState(Base):
    """A pending OAuth authorization: random, single-use, bound to a tenant, expiring (stored hashed)."""

    __tablename__ = "pos_oauth_states"

    state_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    redirect_uri: Mapped[str] = mapped_column(sa.String(500))
    success_url: Mapped[str | None] = mapped_column(sa.String(500))
    account_id: Mapped[str | None] = mapped_column(sa.String(36))  # a reconnect names its account
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PosSyncRequest(Base):
    """A sync asked for through the API; the Dagster sensor turns it into runs within seconds."""

    __tablename__ = "pos_sync_requests"
    __table_args__ = (sa.Index("idx_pos_sync_requests_status", "status", "requested_at"),
                      sa.Index("idx_pos_sync_requests_account", "pos_account_id", "requested_at"),
                      # a consumed message asks once per account, however often it is redelivered
                      sa.Index("uq_pos_sync_requests_event_account", "event_id", "pos_account_id", unique=True))

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(255))
    pos_account_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("pos_accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(20))  # sync | historical | reread
    start_date: Mapped[date | None] = mapped_column(sa.Date)
    end_date: Mapped[date | None] = mapped_column(sa.Date)  # inclusive
    status: Mapped[str] = mapped_column(sa.String(20), default="pending", server_default="pending")
    run_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    launched_at: Mapped[datetime | None]
    event_id: Mapped[str | None] = mapped_column(sa.String(64))  # the consumed message that asked (NULL: the API)
    pos_product_ids: Mapped[list[str] | None] = mapped_column(JSONType)  # a restatement: the POS products remapped


class PosWebhookSubscription(Base):
    """Where a provider's webhooks for us are configured and the key that signs them (encrypted):
    the app's (Square, Toast; ``pos_account_id`` NULL) or a store's (Lightspeed)."""

    __tablename__ = "pos_webhook_subscriptions"
    __table_args__ = (sa.Index("idx_pos_webhook_subscriptions_provider", "pos_provider", "pos_account_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    pos_provider: Mapped[str] = mapped_column(sa.String(50))
    pos_account_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("pos_accounts.id",
                                                                                     ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))  # the provider's subscription id
    notification_url: Mapped[str] = mapped_column(sa.String(500))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    signature_key_enc: Mapped[str | None] = mapped_column(sa.Text)
    previous_signature_key_enc: Mapped[str | None] = mapped_column(sa.Text)  # still accepted after a rotation
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=sa.func.now())


class PosEventOutbox(Base):
    """The transactional outbox: events written in the transaction of the state they describe,
    published to RabbitMQ afterwards (``published_at`` set only after the broker confirmed)."""

    __tablename__ = "pos_events_outbox"
    __table_args__ = (sa.UniqueConstraint("event_id", name="uq_pos_events_outbox_event_id"),
                      sa.Index("idx_pos_events_outbox_pending", "published_at", "id"))

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)  # publishing order
    event_id: Mapped[str] = mapped_column(sa.String(36))  # the message id consumers dedup on
    routing_key: Mapped[str] = mapped_column(sa.String(100))
    payload: Mapped[str] = mapped_column(sa.Text)  # the JSON body, byte for byte what is published
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_attempt_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return (f"PosEventOutbox(event_id={self.event_id!r}, routing_key={self.routing_key!r}, "
                f"published_at={self.published_at!r})")


# the tables of other concerns, in their own modules: imported here so that one ``Base.metadata``
# (migrations, schema tests) and ``from pos_sync.appstore.models import X`` cover every table
from pos_sync.appstore.models_catalog import (  # noqa: E402, F401
    BakeryProduct,
    PosCategoryMapping,
    PosProductMapping,
    PosProductStats,
)
from pos_sync.appstore.models_monitoring import PosSyncHealth, PosTransactionVolume  # noqa: E402, F401

