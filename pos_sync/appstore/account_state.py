"""What a sync changes on its account: refreshed tokens (saved the moment they arrive) and the
account's status after a failure or a success."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pos_sync.appstore import crypto
from pos_sync.appstore.access import load_account, use_session
from pos_sync.appstore.errors import AccountNotFound, AppStoreError
from pos_sync.appstore.models import AccountStatus, PosAccount, aware_utc, utcnow
from pos_sync.settings import Settings, load_settings


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
    with use_session(session, settings) as s:
        acc = load_account(s, account_id, for_update=True)
        acc.access_token_enc = access_enc
        if refresh_enc is not None:
            acc.refresh_token_enc = refresh_enc
        acc.token_expires_at = aware_utc(expires_at)
        if acc.status == AccountStatus.REAUTH_REQUIRED.value:
            acc.status = AccountStatus.ACTIVE.value
            acc.error_message = None
        acc.updated_at = utcnow()


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
    with use_session(session, settings) as s:
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
    with use_session(session, settings) as s:
        acc = load_account(s, account_id, for_update=True)
        acc.status = AccountStatus.ACTIVE.value
        acc.error_message = None
        acc.error_count = 0
