"""App store operations: plain functions over SQLAlchemy sessions.

Every function takes keyword-only ``session=`` and ``settings=``. Without a session it opens its
own (:func:`~pos_sync.appstore.db.session_scope`, which upgrades the schema to head first)
and commits before returning; with one it only flushes and the caller owns the transaction.

Read functions return frozen dataclasses, never ORM objects, and never secrets except
:func:`account_credentials` (whose ``repr`` hides them anyway).

Tenant isolation: functions that address an account by id take an optional ``tenant_id``; when
given, an account of another tenant is reported as not found (:class:`AccountNotFound`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from pos_sync.appstore import crypto, models
from pos_sync.appstore.db import session_scope
from pos_sync.appstore.models import (
    AccountStatus,
    PosAccount,
    PosLocation,
    PosSyncLog,
    Provider,
    SyncStatus,
    SyncType,
    aware_utc,
    utcnow,
)
from pos_sync.settings import Settings, load_settings

logger = logging.getLogger(__name__)

STALE_SYNC_MESSAGE = "run ended without closing its sync log (killed?)"
PURGE_MODULE = "pos_sync.warehouse.purge"


class AppStoreError(Exception):
    """A user-facing app store failure."""


class AccountNotFound(AppStoreError, LookupError):
    pass


class SyncLogNotFound(AppStoreError, LookupError):
    pass


class LocationConflict(AppStoreError):
    """A location id already belongs to another account of the same tenant and provider."""


class PurgeUnavailable(AppStoreError):
    """``--purge`` was asked for but the warehouse purge hook is not installed."""


class PurgeFailed(AppStoreError):
    """The warehouse purge hook raised; the account was not removed."""


# --------------------------------------------------------------------------------------------
# Returned values
# --------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class LocationInfo:
    location_id: str
    name: str | None
    timezone: str | None
    currency: str | None
    enabled: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "location_id": self.location_id,
            "name": self.name,
            "timezone": self.timezone,
            "currency": self.currency,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class AccountInfo:
    """An account without any secret (safe to print, log and serialise)."""

    id: str
    tenant_id: str
    provider: str
    name: str | None
    merchant_id: str
    base_url: str | None
    client_id: str | None
    extra: dict[str, Any]
    locations: tuple[LocationInfo, ...]
    status: str
    error_message: str | None
    error_count: int
    last_error_at: datetime | None
    sync_enabled: bool
    sync_frequency_minutes: int
    historical_import_days: int | None
    historical_import_done_at: datetime | None
    last_sync_at: datetime | None
    last_successful_sync_at: datetime | None
    next_sync_at: datetime | None
    token_expires_at: datetime | None
    has_access_token: bool
    has_refresh_token: bool
    webhook_id: str | None
    webhook_url: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def location_ids(self) -> list[str]:
        return [loc.location_id for loc in self.locations]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO-8601 timestamps); the shape of ``pos-sync accounts list --json``."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "provider": self.provider,
            "name": self.name,
            "merchant_id": self.merchant_id,
            "base_url": self.base_url,
            "client_id": self.client_id,
            "extra": dict(self.extra),
            "location_ids": self.location_ids,
            "locations": [loc.to_dict() for loc in self.locations],
            "status": self.status,
            "error_message": self.error_message,
            "error_count": self.error_count,
            "last_error_at": _iso(self.last_error_at),
            "sync_enabled": self.sync_enabled,
            "sync_frequency_minutes": self.sync_frequency_minutes,
            "historical_import_days": self.historical_import_days,
            "historical_import_done_at": _iso(self.historical_import_done_at),
            "last_sync_at": _iso(self.last_sync_at),
            "last_successful_sync_at": _iso(self.last_successful_sync_at),
            "next_sync_at": _iso(self.next_sync_at),
            "token_expires_at": _iso(self.token_expires_at),
            "has_access_token": self.has_access_token,
            "has_refresh_token": self.has_refresh_token,
            "webhook_id": self.webhook_id,
            "webhook_url": self.webhook_url,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class AccountCredentials:
    """Decrypted credentials of one account, for the dlt sources. ``repr`` hides the secrets."""

    account_id: str
    tenant_id: str
    provider: str
    merchant_id: str
    base_url: str | None
    client_id: str | None
    token_expires_at: datetime | None
    extra: dict[str, Any]
    location_ids: tuple[str, ...]
    access_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    client_secret: str | None = field(repr=False)
    webhook_signature_key: str | None = field(repr=False)


@dataclass(frozen=True)
class SyncLogInfo:
    id: str
    tenant_id: str
    account_id: str
    sync_type: str
    status: str
    sync_started_at: datetime
    sync_completed_at: datetime | None
    sync_duration_seconds: float | None
    error_message: str | None
    transactions_fetched: int
    transactions_processed: int
    transactions_failed: int
    new_products_discovered: int
    unmapped_products_count: int
    dagster_run_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "account_id": self.account_id,
            "sync_type": self.sync_type,
            "status": self.status,
            "sync_started_at": _iso(self.sync_started_at),
            "sync_completed_at": _iso(self.sync_completed_at),
            "sync_duration_seconds": self.sync_duration_seconds,
            "error_message": self.error_message,
            "transactions_fetched": self.transactions_fetched,
            "transactions_processed": self.transactions_processed,
            "transactions_failed": self.transactions_failed,
            "new_products_discovered": self.new_products_discovered,
            "unmapped_products_count": self.unmapped_products_count,
            "dagster_run_id": self.dagster_run_id,
        }


@dataclass(frozen=True)
class RemovedAccount:
    id: str
    tenant_id: str
    provider: str
    merchant_id: str
    location_ids: tuple[str, ...]
    purged: bool
    purge_result: Any = None


def _account_info(acc: PosAccount) -> AccountInfo:
    return AccountInfo(
        id=acc.id,
        tenant_id=acc.tenant_id,
        provider=acc.pos_provider,
        name=acc.account_name,
        merchant_id=acc.merchant_id,
        base_url=acc.base_url,
        client_id=acc.client_id,
        extra=dict(acc.extra or {}),
        locations=tuple(
            LocationInfo(
                location_id=loc.location_id,
                name=loc.name,
                timezone=loc.timezone,
                currency=loc.currency,
                enabled=loc.enabled,
            )
            for loc in sorted(acc.locations, key=lambda loc: loc.location_id)
        ),
        status=acc.status,
        error_message=acc.error_message,
        error_count=acc.error_count,
        last_error_at=acc.last_error_at,
        sync_enabled=acc.sync_enabled,
        sync_frequency_minutes=acc.sync_frequency_minutes,
        historical_import_days=acc.historical_import_days,
        historical_import_done_at=acc.historical_import_done_at,
        last_sync_at=acc.last_sync_at,
        last_successful_sync_at=acc.last_successful_sync_at,
        next_sync_at=acc.next_sync_at,
        token_expires_at=acc.token_expires_at,
        has_access_token=acc.access_token_enc is not None,
        has_refresh_token=acc.refresh_token_enc is not None,
        webhook_id=acc.webhook_id,
        webhook_url=acc.webhook_url,
        created_at=acc.created_at,
        updated_at=acc.updated_at,
    )


def _log_info(log: PosSyncLog) -> SyncLogInfo:
    return SyncLogInfo(
        id=log.id,
        tenant_id=log.tenant_id,
        account_id=log.pos_account_id,
        sync_type=log.sync_type,
        status=log.status,
        sync_started_at=log.sync_started_at,
        sync_completed_at=log.sync_completed_at,
        sync_duration_seconds=log.sync_duration_seconds,
        error_message=log.error_message,
        transactions_fetched=log.transactions_fetched,
        transactions_processed=log.transactions_processed,
        transactions_failed=log.transactions_failed,
        new_products_discovered=log.new_products_discovered,
        unmapped_products_count=log.unmapped_products_count,
        dagster_run_id=log.dagster_run_id,
    )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@contextmanager
def _use(session: Session | None, settings: Settings | None, *, readonly: bool = False) -> Iterator[Session]:
    if session is not None:
        yield session
        session.flush()
        return
    with session_scope(settings, readonly=readonly) as own:
        yield own


def _load_account(
    session: Session, account_id: str, tenant_id: str | None = None, *, for_update: bool = False
) -> PosAccount:
    stmt = sa.select(PosAccount).where(PosAccount.id == account_id)
    if tenant_id is not None:
        stmt = stmt.where(PosAccount.tenant_id == tenant_id)
    if for_update:
        stmt = stmt.with_for_update()
    acc = session.execute(stmt).scalar_one_or_none()
    if acc is None:
        suffix = f" for tenant {tenant_id}" if tenant_id is not None else ""
        raise AccountNotFound(f"no POS account {account_id}{suffix}")
    return acc


def _provider(value: str) -> str:
    try:
        return Provider(value.strip().lower()).value
    except ValueError:
        known = ", ".join(p.value for p in Provider)
        raise AppStoreError(f"unknown POS provider {value!r} (known: {known})") from None


def _required(value: str | None, what: str) -> str:
    if value is None or not str(value).strip():
        raise AppStoreError(f"{what} is required")
    return str(value).strip()


def _positive(value: int, what: str) -> int:
    if int(value) <= 0:
        raise AppStoreError(f"{what} must be a positive integer, got {value}")
    return int(value)


def _count(value: int, what: str) -> int:
    if int(value) < 0:
        raise AppStoreError(f"{what} must be >= 0, got {value}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------------


def upsert_account(
    *,
    tenant_id: str,
    provider: str,
    merchant_id: str,
    account_name: str | None = None,
    base_url: str | None = None,
    access_token: str | None = None,
    refresh_token: str | None = None,
    token_expires_at: datetime | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    webhook_signature_key: str | None = None,
    extra: Mapping[str, Any] | None = None,
    locations: Sequence[Mapping[str, Any]] | None = None,
    sync_enabled: bool | None = None,
    sync_frequency_minutes: int | None = None,
    historical_import_days: int | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> tuple[str, bool]:
    """Create or update the account ``(tenant_id, provider, merchant_id)``; returns ``(id, created)``.

    Upsert semantics when the account exists: its id is kept; every argument that is not
    ``None`` overwrites the stored value (secrets are re-encrypted), ``None`` keeps it; ``extra``
    is merged key by key; the status goes back to ``active`` with the error cleared (new
    credentials = a reconnect); ``locations``, when given, replaces the account's location set
    (see :func:`set_locations`). New accounts default ``sync_frequency_minutes`` and
    ``historical_import_days`` to the settings' values.
    """
    settings = settings or load_settings()
    tenant_id = _required(tenant_id, "tenant_id")
    provider = _provider(provider)
    merchant_id = _required(merchant_id, "merchant_id")
    if sync_frequency_minutes is not None:
        sync_frequency_minutes = _positive(sync_frequency_minutes, "sync_frequency_minutes")
    if historical_import_days is not None:
        historical_import_days = _count(historical_import_days, "historical_import_days")

    secrets: dict[str, str | None] = {}
    if access_token is not None:
        secrets["access_token_enc"] = crypto.encrypt(access_token, settings)
    if refresh_token is not None:
        secrets["refresh_token_enc"] = crypto.encrypt(refresh_token, settings)
    if client_secret is not None:
        secrets["client_secret_enc"] = crypto.encrypt(client_secret, settings)
    if webhook_signature_key is not None:
        secrets["webhook_signature_key_enc"] = crypto.encrypt(webhook_signature_key, settings)
    plain: dict[str, Any] = {
        "account_name": account_name,
        "base_url": base_url.rstrip("/") if base_url else base_url,
        "token_expires_at": aware_utc(token_expires_at),
        "client_id": client_id,
        "sync_enabled": sync_enabled,
        "sync_frequency_minutes": sync_frequency_minutes,
        "historical_import_days": historical_import_days,
    }
    updates = {k: v for k, v in {**plain, **secrets}.items() if v is not None}

    def find(s: Session) -> PosAccount | None:
        return s.execute(
            sa.select(PosAccount).where(
                PosAccount.tenant_id == tenant_id,
                PosAccount.pos_provider == provider,
                PosAccount.merchant_id == merchant_id,
            )
        ).scalar_one_or_none()

    with _use(session, settings) as s:
        acc = find(s)
        created = False
        if acc is None:
            acc = PosAccount(
                id=models.account_id_for(tenant_id, provider, merchant_id),
                tenant_id=tenant_id,
                pos_provider=provider,
                merchant_id=merchant_id,
                extra=dict(extra or {}),
                # settings' defaults unless given (passing both raised "multiple values" TypeError)
                **{"sync_frequency_minutes": settings.default_sync_frequency_minutes,
                   "historical_import_days": settings.historical_import_days, **updates},
            )
            try:
                with s.begin_nested():
                    s.add(acc)
                    s.flush()
                created = True
            except IntegrityError:  # created concurrently: fall back to the update path
                acc = find(s)
                if acc is None:
                    raise
        if not created:
            for key, value in updates.items():
                setattr(acc, key, value)
            if extra:
                acc.extra = {**(acc.extra or {}), **dict(extra)}
            acc.status = AccountStatus.ACTIVE.value
            acc.error_message = None
            acc.error_count = 0
            s.flush()
        if locations is not None:
            _set_locations(s, acc, locations)
        logger.info("%s %s account %s for tenant %s", "added" if created else "updated", provider, acc.id, tenant_id)
        return acc.id, created


def add_account(**kwargs: Any) -> str:
    """:func:`upsert_account` returning only the account id (same keyword arguments)."""
    account_id, _created = upsert_account(**kwargs)
    return account_id


def find_account(
    tenant_id: str,
    provider: str,
    merchant_id: str,
    *,
    session: Session | None = None,
    settings: Settings | None = None,
) -> AccountInfo | None:
    """The account with this unique key, or None."""
    with _use(session, settings, readonly=True) as s:
        acc = s.execute(
            sa.select(PosAccount)
            .options(selectinload(PosAccount.locations))
            .where(
                PosAccount.tenant_id == tenant_id,
                PosAccount.pos_provider == _provider(provider),
                PosAccount.merchant_id == merchant_id,
            )
        ).scalar_one_or_none()
        return _account_info(acc) if acc is not None else None


def list_accounts(
    tenant_id: str | None = None,
    *,
    provider: str | None = None,
    sync_enabled_only: bool = False,
    session: Session | None = None,
    settings: Settings | None = None,
) -> list[AccountInfo]:
    """Accounts (of one tenant when ``tenant_id`` is given), ordered by tenant, provider, creation."""
    stmt = sa.select(PosAccount).options(selectinload(PosAccount.locations))
    if tenant_id is not None:
        stmt = stmt.where(PosAccount.tenant_id == tenant_id)
    if provider is not None:
        stmt = stmt.where(PosAccount.pos_provider == _provider(provider))
    if sync_enabled_only:
        stmt = stmt.where(PosAccount.sync_enabled.is_(True))
    stmt = stmt.order_by(PosAccount.tenant_id, PosAccount.pos_provider, PosAccount.created_at, PosAccount.id)
    with _use(session, settings, readonly=True) as s:
        return [_account_info(acc) for acc in s.execute(stmt).scalars()]


def get_account(
    account_id: str,
    *,
    tenant_id: str | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> AccountInfo:
    """One account (raises :class:`AccountNotFound`, also when it belongs to another tenant)."""
    with _use(session, settings, readonly=True) as s:
        return _account_info(_load_account(s, account_id, tenant_id))


def account_credentials(
    account_id: str,
    *,
    tenant_id: str | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> AccountCredentials:
    """Decrypted credentials (raises ``CryptoError`` when the key does not match)."""
    settings = settings or load_settings()
    with _use(session, settings, readonly=True) as s:
        acc = _load_account(s, account_id, tenant_id)
        return AccountCredentials(
            account_id=acc.id,
            tenant_id=acc.tenant_id,
            provider=acc.pos_provider,
            merchant_id=acc.merchant_id,
            base_url=acc.base_url,
            client_id=acc.client_id,
            token_expires_at=acc.token_expires_at,
            extra=dict(acc.extra or {}),
            location_ids=tuple(sorted(loc.location_id for loc in acc.locations if loc.enabled)),
            access_token=crypto.decrypt(acc.access_token_enc, settings),
            refresh_token=crypto.decrypt(acc.refresh_token_enc, settings),
            client_secret=crypto.decrypt(acc.client_secret_enc, settings),
            webhook_signature_key=crypto.decrypt(acc.webhook_signature_key_enc, settings),
        )


def save_tokens(
    account_id: str,
    access_token: str,
    refresh_token: str | None = None,
    expires_at: datetime | None = None,
    *,
    session: Session | None = None,
    settings: Settings | None = None,
) -> None:
    """Store refreshed OAuth tokens (the callback the dlt sources call after a refresh).

    Without ``session`` this commits before returning, so a token the provider just rotated is
    never lost. ``refresh_token=None`` keeps the stored refresh token (Square may return the same
    one, Toast has none); ``expires_at`` is stored as given. An account in ``reauth_required``
    goes back to ``active``.
    """
    settings = settings or load_settings()
    if not access_token:
        raise AppStoreError("save_tokens needs an access token")
    access_enc = crypto.encrypt(access_token, settings)
    refresh_enc = crypto.encrypt(refresh_token, settings) if refresh_token else None
    with _use(session, settings) as s:
        acc = _load_account(s, account_id, for_update=True)
        acc.access_token_enc = access_enc
        if refresh_enc is not None:
            acc.refresh_token_enc = refresh_enc
        acc.token_expires_at = aware_utc(expires_at)
        if acc.status == AccountStatus.REAUTH_REQUIRED.value:
            acc.status = AccountStatus.ACTIVE.value
            acc.error_message = None
        acc.updated_at = utcnow()


def _set_locations(s: Session, acc: PosAccount, locations: Sequence[Mapping[str, Any]]) -> list[str]:
    wanted: dict[str, Mapping[str, Any]] = {}
    for loc in locations:
        lid = _required(loc.get("location_id"), "location_id")
        wanted[lid] = loc
    if wanted:
        taken = s.execute(
            sa.select(PosLocation.location_id, PosLocation.pos_account_id).where(
                PosLocation.tenant_id == acc.tenant_id,
                PosLocation.pos_provider == acc.pos_provider,
                PosLocation.location_id.in_(list(wanted)),
                PosLocation.pos_account_id != acc.id,
            )
        ).all()
        if taken:
            desc = ", ".join(f"{lid} (account {other})" for lid, other in taken)
            raise LocationConflict(f"location already attached to another {acc.pos_provider} account: {desc}")
    existing = {loc.location_id: loc for loc in acc.locations}
    for lid, loc_row in existing.items():
        if lid not in wanted:
            acc.locations.remove(loc_row)
    s.flush()
    for lid, loc in wanted.items():
        row = existing.get(lid)
        if row is None:
            row = PosLocation(tenant_id=acc.tenant_id, pos_provider=acc.pos_provider, location_id=lid)
            acc.locations.append(row)
        for key in ("name", "timezone", "currency"):
            if key in loc:
                setattr(row, key, loc[key])
        row.enabled = bool(loc.get("enabled", True))
    s.flush()
    return sorted(wanted)


def set_locations(
    account_id: str,
    locations: Sequence[Mapping[str, Any]],
    *,
    session: Session | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """Replace the account's locations with ``locations`` (dicts with ``location_id`` and optional
    ``name``, ``timezone``, ``currency``, ``enabled``); returns the location ids.

    Existing locations are updated in place (their row ids kept), missing ones deleted, new ones
    added. A location id already attached to another account of the same tenant and provider
    raises :class:`LocationConflict` and changes nothing.
    """
    with _use(session, settings) as s:
        acc = _load_account(s, account_id, for_update=True)
        return _set_locations(s, acc, locations)


def _purge_hook() -> Callable[..., Any]:
    try:
        module = importlib.import_module(PURGE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == PURGE_MODULE:
            raise PurgeUnavailable(
                f"--purge needs {PURGE_MODULE}.purge_account_data, which is not installed in this build; "
                "nothing was removed (remove without --purge to keep the warehouse data)"
            ) from None
        raise
    hook = getattr(module, "purge_account_data", None)
    if not callable(hook):
        raise PurgeUnavailable(f"{PURGE_MODULE} has no purge_account_data(); nothing was removed")
    return hook


def remove_account(
    account_id: str,
    purge: bool = False,
    *,
    tenant_id: str | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> RemovedAccount:
    """Delete the account row (its locations, sync logs and webhooks go by ``ON DELETE CASCADE``).

    ``purge=False`` keeps the account's raw and canonical warehouse data. ``purge=True`` first
    calls ``pos_sync.warehouse.purge.purge_account_data(account_id, provider, location_ids)``
    and only removes the account once it returned: :class:`PurgeUnavailable` when the module is
    missing and :class:`PurgeFailed` when it raised, in both cases with nothing removed.
    """
    with _use(session, settings, readonly=True) as s:
        acc = _load_account(s, account_id, tenant_id)
        provider, tenant, merchant = acc.pos_provider, acc.tenant_id, acc.merchant_id
        location_ids = tuple(sorted(loc.location_id for loc in acc.locations))
    purge_result: Any = None
    if purge:
        hook = _purge_hook()
        try:
            purge_result = hook(account_id, provider, list(location_ids))
        except Exception as exc:
            raise PurgeFailed(f"purging the warehouse data failed, the account was not removed: {exc}") from exc
    with _use(session, settings) as s:
        s.execute(sa.delete(PosAccount).where(PosAccount.id == account_id))
    logger.info("removed %s account %s (purged=%s)", provider, account_id, purge)
    return RemovedAccount(
        id=account_id,
        tenant_id=tenant,
        provider=provider,
        merchant_id=merchant,
        location_ids=location_ids,
        purged=purge,
        purge_result=purge_result,
    )


_ERROR_STATUSES = {AccountStatus.ERROR.value, AccountStatus.REAUTH_REQUIRED.value, AccountStatus.DISCONNECTED.value}


def mark_account_error(
    account_id: str,
    status: str = AccountStatus.ERROR.value,
    message: str | None = None,
    *,
    session: Session | None = None,
    settings: Settings | None = None,
) -> None:
    """Set ``status`` (error | reauth_required | disconnected) and ``error_message``; increments
    ``error_count`` (atomically, in SQL) and sets ``last_error_at``. Never pass a secret in
    ``message``."""
    if status not in _ERROR_STATUSES:
        raise AppStoreError(f"mark_account_error status must be one of {sorted(_ERROR_STATUSES)}, got {status!r}")
    with _use(session, settings) as s:
        now = utcnow()
        result = s.execute(
            sa.update(PosAccount)
            .where(PosAccount.id == account_id)
            .values(
                status=status,
                error_message=message,
                error_count=PosAccount.error_count + 1,
                last_error_at=now,
                updated_at=now,
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise AccountNotFound(f"no POS account {account_id}")


def mark_account_ok(
    account_id: str, *, session: Session | None = None, settings: Settings | None = None
) -> None:
    """Back to ``active``: clears ``error_message`` and ``error_count`` (``last_error_at`` is kept)."""
    with _use(session, settings) as s:
        acc = _load_account(s, account_id, for_update=True)
        acc.status = AccountStatus.ACTIVE.value
        acc.error_message = None
        acc.error_count = 0


# --------------------------------------------------------------------------------------------
# Sync logs
# --------------------------------------------------------------------------------------------


def _close(log: PosSyncLog, status: str, when: datetime, message: str | None) -> None:
    log.status = status
    log.sync_completed_at = when
    log.sync_duration_seconds = max(0.0, (when - log.sync_started_at).total_seconds())
    log.error_message = message


def start_sync_log(
    account_id: str,
    sync_type: str = SyncType.INCREMENTAL.value,
    dagster_run_id: str | None = None,
    *,
    started_at: datetime | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> str:
    """Open an ``in_progress`` sync log and return its id.

    Any log of the same account still ``in_progress`` is first closed as ``failed`` with
    :data:`STALE_SYNC_MESSAGE` (a run that died without closing it). The account row is locked
    meanwhile (``SELECT ... FOR UPDATE`` / SQLite write transaction), so two starts serialise.
    """
    try:
        sync_type = SyncType(sync_type).value
    except ValueError:
        raise AppStoreError(
            f"unknown sync type {sync_type!r} (known: {', '.join(t.value for t in SyncType)})"
        ) from None
    now = aware_utc(started_at) or utcnow()
    with _use(session, settings) as s:
        acc = _load_account(s, account_id, for_update=True)
        stale = s.execute(
            sa.select(PosSyncLog).where(
                PosSyncLog.pos_account_id == acc.id, PosSyncLog.status == SyncStatus.IN_PROGRESS.value
            )
        ).scalars().all()
        for log in stale:
            logger.warning("closing stale sync log %s of account %s as failed", log.id, acc.id)
            _close(log, SyncStatus.FAILED.value, max(now, log.sync_started_at), STALE_SYNC_MESSAGE)
        new = PosSyncLog(
            tenant_id=acc.tenant_id,
            pos_account_id=acc.id,
            sync_type=sync_type,
            sync_started_at=now,
            status=SyncStatus.IN_PROGRESS.value,
            dagster_run_id=dagster_run_id,
        )
        s.add(new)
        s.flush()
        return new.id


def finish_sync_log(
    log_id: str,
    status: str,
    *,
    fetched: int = 0,
    processed: int = 0,
    failed: int = 0,
    new_products: int = 0,
    unmapped_products: int | None = None,
    error_message: str | None = None,
    completed_at: datetime | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> SyncLogInfo:
    """Close a sync log as ``success`` | ``partial`` | ``failed`` with its counters.

    Also updates the account: ``last_sync_at`` = completion time (any outcome);
    ``last_successful_sync_at`` = the *start* of this sync when it succeeded (a safe incremental
    lower bound: everything before it was fetched); ``next_sync_at`` = completion +
    ``sync_frequency_minutes`` when sync is enabled; ``historical_import_done_at`` after a
    successful historical sync. A log already closed (e.g. as stale) is overwritten with the real
    outcome, with a warning.
    """
    allowed = {SyncStatus.SUCCESS.value, SyncStatus.PARTIAL.value, SyncStatus.FAILED.value}
    if status not in allowed:
        raise AppStoreError(f"finish_sync_log status must be one of {sorted(allowed)}, got {status!r}")
    counts = {
        "transactions_fetched": _count(fetched, "fetched"),
        "transactions_processed": _count(processed, "processed"),
        "transactions_failed": _count(failed, "failed"),
        "new_products_discovered": _count(new_products, "new_products"),
    }
    if unmapped_products is not None:
        counts["unmapped_products_count"] = _count(unmapped_products, "unmapped_products")
    now = aware_utc(completed_at) or utcnow()
    with _use(session, settings) as s:
        log = s.get(PosSyncLog, log_id)
        if log is None:
            raise SyncLogNotFound(f"no sync log {log_id}")
        acc = _load_account(s, log.pos_account_id, for_update=True)
        s.refresh(log)
        if log.status != SyncStatus.IN_PROGRESS.value:
            logger.warning("sync log %s was already closed as %s; recording the real outcome", log.id, log.status)
        _close(log, status, max(now, log.sync_started_at), error_message)
        for key, value in counts.items():
            setattr(log, key, value)
        completed = log.sync_completed_at or now
        acc.last_sync_at = completed
        if status == SyncStatus.SUCCESS.value:
            if acc.last_successful_sync_at is None or log.sync_started_at > acc.last_successful_sync_at:
                acc.last_successful_sync_at = log.sync_started_at
            if log.sync_type == SyncType.HISTORICAL.value:
                acc.historical_import_done_at = completed
        if acc.sync_enabled:
            acc.next_sync_at = completed + timedelta(minutes=acc.sync_frequency_minutes)
        s.flush()
        return _log_info(log)


def sync_history(
    account_id: str,
    limit: int = 20,
    *,
    tenant_id: str | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> list[SyncLogInfo]:
    """The account's latest sync logs, newest first."""
    with _use(session, settings, readonly=True) as s:
        _load_account(s, account_id, tenant_id)
        logs = s.execute(
            sa.select(PosSyncLog)
            .where(PosSyncLog.pos_account_id == account_id)
            .order_by(PosSyncLog.sync_started_at.desc(), PosSyncLog.created_at.desc())
            .limit(max(1, int(limit)))
        ).scalars()
        return [_log_info(log) for log in logs]
