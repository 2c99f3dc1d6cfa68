"""The API's hot reads — the API key lookup, the tenant's accounts with their locations, an
account's sync history — as Core selects on one connection the caller holds, returning plain
dicts shaped like the API's answers (``AccountOut``, ``SyncLogOut``: same keys, same order, native
values; timestamps aware UTC through the columns' own type).

No ORM session and no ORM objects: these are the reads a dashboard polls, and building ORM
entities was most of their cost. Same rows, same order and same tenant scoping as
:func:`~pos_sync.appstore.accounts.list_accounts`, :func:`~pos_sync.appstore.sync_logs.sync_history`
and :func:`~pos_sync.appstore.tenants.authenticate` (``tests/api/test_api_reads.py`` compares them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pos_sync.appstore.errors import AccountNotFound
from pos_sync.appstore.models import PosAccount, PosApiKey, PosLocation, PosSyncLog

_A = PosAccount.__table__.c
_L = PosLocation.__table__.c
_S = PosSyncLog.__table__.c

_KEY = sa.select(PosApiKey.__table__.c.tenant_id).where(
    PosApiKey.__table__.c.key_hash == sa.bindparam("key_hash"), PosApiKey.__table__.c.revoked_at.is_(None))

_ACCOUNTS = (
    sa.select(_A.id, _A.tenant_id, _A.pos_provider, _A.account_name, _A.merchant_id, _A.base_url, _A.client_id,
              _A.extra, _A.status, _A.error_message, _A.error_count, _A.last_error_at, _A.sync_enabled,
              _A.sync_frequency_minutes, _A.historical_import_days, _A.historical_import_done_at,
              _A.last_sync_at, _A.last_successful_sync_at, _A.next_sync_at, _A.token_expires_at,
              (_A.access_token_enc.is_not(None)).label("has_access_token"),
              (_A.refresh_token_enc.is_not(None)).label("has_refresh_token"),
              _A.webhook_id, _A.webhook_url, _A.created_at, _A.updated_at)
    .where(_A.tenant_id == sa.bindparam("tenant_id"))
    .order_by(_A.pos_provider, _A.created_at, _A.id)
)
_LOCATIONS = (
    sa.select(_L.pos_account_id, _L.location_id, _L.name, _L.timezone, _L.currency, _L.enabled)
    .join(PosAccount.__table__, _A.id == _L.pos_account_id)
    .where(_A.tenant_id == sa.bindparam("tenant_id"))
    .order_by(_L.pos_account_id, _L.location_id)
)
_ACCOUNT_OF_TENANT = sa.select(_A.id).where(_A.id == sa.bindparam("account_id"),
                                            _A.tenant_id == sa.bindparam("tenant_id"))
_HISTORY = (
    sa.select(_S.id, _S.pos_account_id, _S.sync_type, _S.status, _S.sync_started_at, _S.sync_completed_at,
              _S.sync_duration_seconds, _S.error_message, _S.error_type, _S.failed_step, _S.transactions_fetched,
              _S.transactions_processed, _S.transactions_failed, _S.new_products_discovered,
              _S.unmapped_products_count, _S.dagster_run_id, _S.api_stats, _S.partial_reason)
    .where(_S.pos_account_id == sa.bindparam("account_id"))
    .order_by(_S.sync_started_at.desc(), _S.created_at.desc())
    .offset(sa.bindparam("offset"))
    .limit(sa.bindparam("limit"))
)
_LOG_KEYS = ("id", "account_id", "sync_type", "status", "sync_started_at", "sync_completed_at",
             "sync_duration_seconds", "error_message", "error_type", "failed_step", "transactions_fetched",
             "transactions_processed", "transactions_failed", "new_products_discovered", "unmapped_products_count",
             "dagster_run_id", "api_stats", "partial_reason")


def tenant_of_key(conn: Connection, key_hash: str) -> str | None:
    """The tenant of an active (not revoked) API key, by the key's hash; else None."""
    return conn.execute(_KEY, {"key_hash": key_hash}).scalar_one_or_none()


def account_dicts(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's accounts, ordered by provider, creation and id, each with its locations (by
    location id) and never a secret: the ``GET /api/v1/pos/accounts`` answer."""
    locations: dict[str, list[dict[str, Any]]] = {}
    for account_id, location_id, name, timezone, currency, enabled in conn.execute(
            _LOCATIONS, {"tenant_id": tenant_id}):
        locations.setdefault(account_id, []).append(
            {"location_id": location_id, "name": name, "timezone": timezone, "currency": currency,
             "enabled": bool(enabled)})
    out = []
    for r in conn.execute(_ACCOUNTS, {"tenant_id": tenant_id}):
        locs = locations.get(r[0], [])
        out.append({
            "id": r[0], "tenant_id": r[1], "provider": r[2], "name": r[3], "merchant_id": r[4], "base_url": r[5],
            "client_id": r[6], "extra": dict(r[7] or {}), "location_ids": [loc["location_id"] for loc in locs],
            "locations": locs, "status": r[8], "error_message": r[9], "error_count": r[10], "last_error_at": r[11],
            "sync_enabled": bool(r[12]), "sync_frequency_minutes": r[13], "historical_import_days": r[14],
            "historical_import_done_at": r[15], "last_sync_at": r[16], "last_successful_sync_at": r[17],
            "next_sync_at": r[18], "token_expires_at": r[19], "has_access_token": bool(r[20]),
            "has_refresh_token": bool(r[21]), "webhook_id": r[22], "webhook_url": r[23], "created_at": r[24],
            "updated_at": r[25]})
    return out


def history_dicts(conn: Connection, account_id: str, tenant_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
    """The account's sync logs, newest first (:class:`AccountNotFound` when it is not the
    tenant's): the items of ``GET /api/v1/pos/sync/{account_id}/history``."""
    if conn.execute(_ACCOUNT_OF_TENANT, {"account_id": account_id, "tenant_id": tenant_id}).first() is None:
        raise AccountNotFound(f"no POS account {account_id} for tenant {tenant_id}")
    rows = conn.execute(_HISTORY, {"account_id": account_id, "offset": max(0, int(offset)),
                                   "limit": max(1, int(limit))})
    return [dict(zip(_LOG_KEYS, row, strict=True)) for row in rows]
