"""Tenants and their API keys. A key is ``pos_`` + 43 random URL-safe characters, shown once; the
app store keeps its SHA-256 (a high-entropy key needs no slow hash) and its first characters, so
keys can be told apart, rotated and revoked."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore import reads
from pos_sync.appstore.access import required, use_session
from pos_sync.appstore.db import read_connection
from pos_sync.appstore.errors import AppStoreError
from pos_sync.appstore.models import PosApiKey, PosTenant, new_id, utcnow
from pos_sync.settings import Settings

KEY_PREFIX = "pos_"


class TenantNotFound(AppStoreError, LookupError):
    pass


@dataclass(frozen=True)
class TenantInfo:
    id: str
    name: str
    created_at: datetime
    active_keys: int


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _new_key(s: Session, tenant_id: str) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    s.add(PosApiKey(tenant_id=tenant_id, key_hash=hash_key(key), prefix=key[:12]))
    s.flush()
    return key


def create_tenant(name: str, tenant_id: str | None = None, *, session: Session | None = None,
                  settings: Settings | None = None) -> tuple[str, str]:
    """A new tenant and its first API key: ``(tenant_id, api_key)``."""
    name = required(name, "the tenant's name")
    with use_session(session, settings) as s:
        tid = tenant_id or new_id()
        if s.get(PosTenant, tid) is not None:
            raise AppStoreError(f"tenant {tid} already exists")
        s.add(PosTenant(id=tid, name=name))
        s.flush()
        return tid, _new_key(s, tid)


def _tenant(s: Session, tenant_id: str) -> PosTenant:
    tenant = s.get(PosTenant, tenant_id)
    if tenant is None:
        raise TenantNotFound(f"no tenant {tenant_id} (create one with `pos-sync tenants add NAME`)")
    return tenant


def _revoke_all(s: Session, tenant_id: str) -> int:
    result = s.execute(sa.update(PosApiKey).where(PosApiKey.tenant_id == tenant_id, PosApiKey.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def rotate_key(tenant_id: str, *, session: Session | None = None, settings: Settings | None = None) -> str:
    """A new key for the tenant; its previous keys stop working at once."""
    with use_session(session, settings) as s:
        _tenant(s, tenant_id)
        _revoke_all(s, tenant_id)
        return _new_key(s, tenant_id)


def revoke_keys(tenant_id: str, *, session: Session | None = None, settings: Settings | None = None) -> int:
    """Revoke every key of the tenant (how many were active)."""
    with use_session(session, settings) as s:
        _tenant(s, tenant_id)
        return _revoke_all(s, tenant_id)


def authenticate(api_key: str, *, session: Session | None = None, settings: Settings | None = None) -> str | None:
    """The tenant id of an active key, else None."""
    if not api_key.startswith(KEY_PREFIX):
        return None
    if session is None:  # one indexed lookup: a connection, not an ORM session
        with read_connection(settings) as conn:
            return reads.tenant_of_key(conn, hash_key(api_key))
    with use_session(session, settings, readonly=True) as s:
        return s.execute(sa.select(PosApiKey.tenant_id).where(PosApiKey.key_hash == hash_key(api_key),
                                                              PosApiKey.revoked_at.is_(None))).scalar_one_or_none()


def tenant_exists(tenant_id: str, *, session: Session | None = None, settings: Settings | None = None) -> bool:
    with use_session(session, settings, readonly=True) as s:
        return s.get(PosTenant, tenant_id) is not None


def list_tenants(*, session: Session | None = None, settings: Settings | None = None) -> list[TenantInfo]:
    with use_session(session, settings, readonly=True) as s:
        active = dict(s.execute(sa.select(PosApiKey.tenant_id, sa.func.count()).where(PosApiKey.revoked_at.is_(None))
                                .group_by(PosApiKey.tenant_id)).all())
        return [TenantInfo(t.id, t.name, t.created_at, int(active.get(t.id, 0)))
                for t in s.execute(sa.select(PosTenant).order_by(PosTenant.created_at)).scalars()]
