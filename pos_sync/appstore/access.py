"""What the app store's operations share: a session (their own, or the caller's), loading an
account (tenant-scoped when asked) and argument checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore.db import session_scope
from pos_sync.appstore.errors import AccountNotFound, AppStoreError
from pos_sync.appstore.models import PosAccount
from pos_sync.settings import Settings


@contextmanager
def use_session(session: Session | None, settings: Settings | None, *, readonly: bool = False) -> Iterator[Session]:
    if session is not None:
        yield session
        session.flush()
        return
    with session_scope(settings, readonly=readonly) as own:
        yield own


def load_account(
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


def provider_name(value: str) -> str:
    """A registered provider's name (the provider registry decides which exist)."""
    from pos_sync.providers import registry

    name = value.strip().lower()
    if name not in registry:
        known = ", ".join(registry.names())
        raise AppStoreError(f"unknown POS provider {value!r} (known: {known})")
    return name


def required(value: str | None, what: str) -> str:
    if value is None or not str(value).strip():
        raise AppStoreError(f"{what} is required")
    return str(value).strip()


def positive(value: int, what: str) -> int:
    if int(value) <= 0:
        raise AppStoreError(f"{what} must be a positive integer, got {value}")
    return int(value)


def count(value: int, what: str) -> int:
    if int(value) < 0:
        raise AppStoreError(f"{what} must be >= 0, got {value}")
    return int(value)
