"""What the provider source builders share: where an account's first incremental run starts and
how refreshed OAuth tokens are saved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from dlt_sources.common.auth import TokenSet
from pos_sync import appstore
from pos_sync.appstore import AccountCredentials
from pos_sync.settings import Settings, load_settings


def initial_start_for(creds: AccountCredentials, now: datetime, settings: Settings | None = None) -> datetime:
    """``now`` minus the account's historical import days (default: ``HISTORICAL_IMPORT_DAYS``)."""
    settings = settings or load_settings()
    days = (appstore.get_account(creds.account_id).historical_import_days
            or settings.historical_import_days)
    return now - timedelta(days=days)


def token_saver(account_id: str) -> Callable[[TokenSet], None]:
    """Persists each refreshed token set of ``account_id`` (encrypted, committed at once)."""

    def persist(tokens: TokenSet) -> None:
        appstore.save_tokens(account_id, tokens.access_token, tokens.refresh_token, tokens.expires_at)

    return persist
