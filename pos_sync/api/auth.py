"""Who is calling: a tenant, from ``Authorization: Bearer <api key>`` (``pos-sync tenants add``) or a
JWT from the platform's auth service (``POS_JWT_SECRET`` for HS256 or ``POS_JWT_PUBLIC_KEY`` for
RS256; the tenant in its ``tenant_id`` claim), verified with joserfc (Authlib's JOSE library).
Short-lived signed links
(the browser pages of OAuth linking, which cannot send a header) carry the tenant in a JWT signed
with the service's own secret."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, RSAKey
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy.engine import Connection

from pos_sync.api.problems import Problem
from pos_sync.appstore import AppStore, reads
from pos_sync.appstore.tenants import KEY_PREFIX, hash_key
from pos_sync.settings import Settings

KEY_HINT = "send Authorization: Bearer <API key from `pos-sync tenants add`, or a JWT of the platform>"
LINK_TTL_SECONDS = 600
_CLAIMS = JWTClaimsRegistry(leeway=30, exp={"essential": True})


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, f"missing credentials: {KEY_HINT}")
    return token.strip()


def _verify(token: str, key: OctKey | RSAKey, algorithm: str) -> dict[str, Any]:
    decoded = jwt.decode(token, key, algorithms=[algorithm])
    _CLAIMS.validate(decoded.claims)
    return dict(decoded.claims)


def _jwt_tenant(token: str, settings: Settings) -> str:
    try:
        if settings.jwt_secret:
            claims = _verify(token, OctKey.import_key(settings.jwt_secret.encode()), "HS256")
        elif settings.jwt_public_key:
            claims = _verify(token, RSAKey.import_key(settings.jwt_public_key), "RS256")
        else:
            raise Problem(401, f"unknown API key: {KEY_HINT}")
    except (JoseError, ValueError) as exc:
        raise Problem(401, f"the JWT was refused ({type(exc).__name__}): {KEY_HINT}") from None
    tenant = claims.get("tenant_id")
    if not tenant:
        raise Problem(401, "the JWT has no tenant_id claim")
    return str(tenant)


def tenant_of(request: Request, store: AppStore) -> str:
    """The calling tenant (401 when the credentials are missing, unknown, revoked or invalid)."""
    token = bearer(request)
    if token.startswith(KEY_PREFIX):
        tenant = store.authenticate(token)
        if tenant is None:
            raise Problem(401, f"unknown or revoked API key: {KEY_HINT}")
        return tenant
    return _jwt_tenant(token, store.settings)


def tenant_on(conn: Connection, token: str, settings: Settings) -> str:
    """:func:`tenant_of` on a connection the caller holds (the route's own): an API key is looked
    up on every request, so a revoked or rotated-out key is refused at once."""
    if token.startswith(KEY_PREFIX):
        tenant = reads.tenant_of_key(conn, hash_key(token))
        if tenant is None:
            raise Problem(401, f"unknown or revoked API key: {KEY_HINT}")
        return tenant
    return _jwt_tenant(token, settings)


def service_secret(settings: Settings) -> bytes:
    """``POS_API_SECRET``, else a secret generated once into ``$POS_HOME/api.key`` (mode 0600)."""
    if settings.api_secret:
        return settings.api_secret.encode()
    path = Path(settings.pos_home) / "api.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def sign_link(settings: Settings, tenant_id: str, **claims: Any) -> str:
    """A short-lived (10 min) token that stands for the tenant in a browser link."""
    payload = {"tenant_id": tenant_id, "purpose": "link", "exp": int(time.time()) + LINK_TTL_SECONDS, **claims}
    return jwt.encode({"alg": "HS256"}, payload, OctKey.import_key(service_secret(settings)))


def link_claims(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of a link token (Problem 401 when forged or expired)."""
    try:
        claims = _verify(token, OctKey.import_key(service_secret(settings)), "HS256")
    except (JoseError, ValueError):
        raise Problem(401, "this link is invalid or expired (links last 10 minutes): open it again from the "
                           "dashboard") from None
    if claims.get("purpose") != "link" or not claims.get("tenant_id"):
        raise Problem(401, "this link is not a pos-sync link")
    return dict(claims)
