"""Accounts: create or update (a reconnect), find, list, read credentials, save refreshed tokens,
set locations, remove (optionally purging the warehouse), and the status a sync leaves.

Every function takes keyword-only ``session=`` and ``settings=``. Without a session it opens its
own (:func:`~pos_sync.appstore.db.session_scope`, which upgrades the schema to head first) and
commits before returning; with one it only flushes and the caller owns the transaction.
Functions that address an account by id take an optional ``tenant_id``; when given, an account of
another tenant is reported as not found (:class:`AccountNotFound`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from pos_sync.appstore import crypto, models
from pos_sync.appstore.access import count, load_account, positive, provider_name, required, use_session
from pos_sync.appstore.errors import (
    AppStoreError,
    LocationConflict,
    PurgeFailed,
    PurgeUnavailable,
)
from pos_sync.appstore.models import AccountStatus, PosAccount, PosLocation, aware_utc, utcnow
from pos_sync.appstore.values import AccountCredentials, AccountInfo, RemovedAccount, account_info
from pos_sync.settings import Settings, load_settings

logger = logging.getLogger(__name__)

PURGE_MODULE = "pos_sync.warehouse.purge"


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
    tenant_id = required(tenant_id, "tenant_id")
    provider = provider_name(provider)
    merchant_id = required(merchant_id, "merchant_id")
    if sync_frequency_minutes is not None:
        sync_frequency_minutes = positive(sync_frequency_minutes, "sync_frequency_minutes")
    if historical_import_days is not None:
        historical_import_days = count(historical_import_days, "historical_import_days")

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

    with use_session(session, settings) as s:
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
    with use_session(session, settings, readonly=True) as s:
        acc = s.execute(
            sa.select(PosAccount)
            .options(selectinload(PosAccount.locations))
            .where(
                PosAccount.tenant_id == tenant_id,
                PosAccount.pos_provider == provider_name(provider),
                PosAccount.merchant_id == merchant_id,
            )
        ).scalar_one_or_none()
        return account_info(acc) if acc is not None else None


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
        stmt = stmt.where(PosAccount.pos_provider == provider_name(provider))
    if sync_enabled_only:
        stmt = stmt.where(PosAccount.sync_enabled.is_(True))
    stmt = stmt.order_by(PosAccount.tenant_id, PosAccount.pos_provider, PosAccount.created_at, PosAccount.id)
    with use_session(session, settings, readonly=True) as s:
        return [account_info(acc) for acc in s.execute(stmt).scalars()]


def get_account(
    account_id: str,
    *,
    tenant_id: str | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> AccountInfo:
    """One account (raises :class:`AccountNotFound`, also when it belongs to another tenant)."""
    with use_session(session, settings, readonly=True) as s:
        return account_info(load_account(s, account_id, tenant_id))


def _credentials(acc: PosAccount, settings: Settings) -> AccountCredentials:
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


def account_credentials(
    account_id: str,
    *,
    tenant_id: str | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> AccountCredentials:
    """Decrypted credentials (raises ``CryptoError`` when the key does not match)."""
    settings = settings or load_settings()
    with use_session(session, settings, readonly=True) as s:
        return _credentials(load_account(s, account_id, tenant_id), settings)


def load_for_sync(
    account_id: str, *, session: Session | None = None, settings: Settings | None = None
) -> tuple[AccountInfo, AccountCredentials]:
    """The account and its decrypted credentials in one read (what one sync needs)."""
    settings = settings or load_settings()
    with use_session(session, settings, readonly=True) as s:
        acc = load_account(s, account_id)
        return account_info(acc), _credentials(acc, settings)


def _set_locations(s: Session, acc: PosAccount, locations: Sequence[Mapping[str, Any]]) -> list[str]:
    wanted: dict[str, Mapping[str, Any]] = {}
    for loc in locations:
        lid = required(loc.get("location_id"), "location_id")
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
    with use_session(session, settings) as s:
        acc = load_account(s, account_id, for_update=True)
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
    with use_session(session, settings, readonly=True) as s:
        acc = load_account(s, account_id, tenant_id)
        provider, tenant, merchant = acc.pos_provider, acc.tenant_id, acc.merchant_id
        location_ids = tuple(sorted(loc.location_id for loc in acc.locations))
    purge_result: Any = None
    if purge:
        hook = _purge_hook()
        try:
            purge_result = hook(account_id, provider, list(location_ids))
        except Exception as exc:
            raise PurgeFailed(f"purging the warehouse data failed, the account was not removed: {exc}") from exc
    with use_session(session, settings) as s:
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


def update_account(
    account_id: str,
    *,
    tenant_id: str | None = None,
    account_name: str | None = None,
    sync_frequency_minutes: int | None = None,
    sync_enabled: bool | None = None,
    enabled_location_ids: Sequence[str] | None = None,
    session: Session | None = None,
    settings: Settings | None = None,
) -> AccountInfo:
    """Change what a person may change: the name, the sync frequency, whether it syncs, and which of
    its known locations are synced (``enabled_location_ids``: exactly those; an unknown id is an
    error and changes nothing). ``None`` keeps a value."""
    with use_session(session, settings) as s:
        acc = load_account(s, account_id, tenant_id, for_update=True)
        if enabled_location_ids is not None:
            known = {loc.location_id for loc in acc.locations}
            unknown = sorted(set(enabled_location_ids) - known)
            if unknown:
                raise AppStoreError(f"unknown location id(s) for this account: {', '.join(unknown)} "
                                    f"(known: {', '.join(sorted(known)) or 'none'})")
            for loc in acc.locations:
                loc.enabled = loc.location_id in set(enabled_location_ids)
        if account_name is not None:
            acc.account_name = required(account_name, "name")
        if sync_frequency_minutes is not None:
            acc.sync_frequency_minutes = positive(sync_frequency_minutes, "sync_frequency_minutes")
        if sync_enabled is not None:
            acc.sync_enabled = bool(sync_enabled)
        acc.updated_at = utcnow()
        s.flush()
        s.refresh(acc)
        return account_info(acc)
