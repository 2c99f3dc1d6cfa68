"""The app store bound to one set of settings: what the Dagster resources, the CLI and the API
hand around instead of reading the environment in every call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pos_sync.appstore import account_state, accounts, oauth_states, sync_logs, sync_requests, tenants
from pos_sync.appstore.values import AccountCredentials, AccountInfo, RemovedAccount, SyncLogInfo
from pos_sync.settings import Settings


class AppStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # ------------------------------------------------------------------ accounts
    def upsert_account(self, **fields: Any) -> tuple[str, bool]:
        return accounts.upsert_account(settings=self.settings, **fields)

    def get_account(self, account_id: str, *, tenant_id: str | None = None) -> AccountInfo:
        return accounts.get_account(account_id, tenant_id=tenant_id, settings=self.settings)

    def list_accounts(self, tenant_id: str | None = None, *, provider: str | None = None,
                      sync_enabled_only: bool = False) -> list[AccountInfo]:
        return accounts.list_accounts(tenant_id, provider=provider, sync_enabled_only=sync_enabled_only,
                                      settings=self.settings)

    def account_credentials(self, account_id: str, *, tenant_id: str | None = None) -> AccountCredentials:
        return accounts.account_credentials(account_id, tenant_id=tenant_id, settings=self.settings)

    def load_for_sync(self, account_id: str) -> tuple[AccountInfo, AccountCredentials]:
        return accounts.load_for_sync(account_id, settings=self.settings)

    def update_account(self, account_id: str, **changes: Any) -> AccountInfo:
        return accounts.update_account(account_id, settings=self.settings, **changes)

    def set_locations(self, account_id: str, locations: Sequence[Mapping[str, Any]]) -> list[str]:
        return accounts.set_locations(account_id, locations, settings=self.settings)

    def remove_account(self, account_id: str, purge: bool = False, *, tenant_id: str | None = None) -> RemovedAccount:
        return accounts.remove_account(account_id, purge, tenant_id=tenant_id, settings=self.settings)

    # ------------------------------------------------------------------ what a sync changes
    def save_tokens(self, account_id: str, access_token: str, refresh_token: str | None = None,
                    expires_at: datetime | None = None) -> None:
        account_state.save_tokens(account_id, access_token, refresh_token, expires_at, settings=self.settings)

    def mark_account_error(self, account_id: str, status: str, message: str | None) -> None:
        account_state.mark_account_error(account_id, status, message, settings=self.settings)

    def mark_account_ok(self, account_id: str) -> None:
        account_state.mark_account_ok(account_id, settings=self.settings)

    # ------------------------------------------------------------------ sync logs
    def start_sync_log(self, account_id: str, sync_type: str, dagster_run_id: str | None = None) -> str:
        return sync_logs.start_sync_log(account_id, sync_type, dagster_run_id, settings=self.settings)

    def finish_sync_log(self, log_id: str, status: str, **fields: Any) -> SyncLogInfo:
        return sync_logs.finish_sync_log(log_id, status, settings=self.settings, **fields)

    def record_sync_counts(self, log_id: str, *, api_stats: dict[str, Any] | None = None,
                           partial_reason: str | None = None, **counters: int | None) -> None:
        sync_logs.record_sync_counts(log_id, settings=self.settings, api_stats=api_stats,
                                     partial_reason=partial_reason, **counters)

    def open_log_of_run(self, account_id: str, dagster_run_id: str) -> str | None:
        return sync_logs.open_log_of_run(account_id, dagster_run_id, settings=self.settings)

    def last_log_of_run(self, account_id: str, dagster_run_id: str) -> str | None:
        return sync_logs.last_log_of_run(account_id, dagster_run_id, settings=self.settings)

    def sync_history(self, account_id: str, limit: int = 20, *, offset: int = 0,
                     tenant_id: str | None = None) -> list[SyncLogInfo]:
        return sync_logs.sync_history(account_id, limit, offset=offset, tenant_id=tenant_id, settings=self.settings)

    # ------------------------------------------------------------------ tenants, OAuth states, sync requests
    def create_tenant(self, name: str, tenant_id: str | None = None) -> tuple[str, str]:
        return tenants.create_tenant(name, tenant_id, settings=self.settings)

    def rotate_key(self, tenant_id: str) -> str:
        return tenants.rotate_key(tenant_id, settings=self.settings)

    def revoke_keys(self, tenant_id: str) -> int:
        return tenants.revoke_keys(tenant_id, settings=self.settings)

    def authenticate(self, api_key: str) -> str | None:
        return tenants.authenticate(api_key, settings=self.settings)

    def tenant_exists(self, tenant_id: str) -> bool:
        return tenants.tenant_exists(tenant_id, settings=self.settings)

    def issue_state(self, tenant_id: str, provider: str, redirect_uri: str, success_url: str | None = None,
                    account_id: str | None = None) -> str:
        return oauth_states.issue_state(tenant_id, provider, redirect_uri, success_url, account_id,
                                        settings=self.settings)

    def consume_state(self, state: str, provider: str) -> oauth_states.OAuthState:
        return oauth_states.consume_state(state, provider, settings=self.settings)

    def request_sync(self, account_id: str, tenant_id: str, kind: str = "sync", start: date | None = None,
                     end: date | None = None) -> sync_requests.SyncRequestInfo:
        return sync_requests.request_sync(account_id, tenant_id, kind, start, end, settings=self.settings)

    def pending_sync_requests(self, limit: int = 100) -> list[sync_requests.SyncRequestInfo]:
        return sync_requests.pending_sync_requests(limit, settings=self.settings)

    def settle_sync_request(self, request_id: str, *, run_ids: list[str] | None = None,
                            error: str | None = None) -> None:
        sync_requests.settle_sync_request(request_id, run_ids=run_ids, error=error, settings=self.settings)

    def latest_sync_requests(self, account_id: str, tenant_id: str, limit: int = 5,
                             ) -> list[sync_requests.SyncRequestInfo]:
        return sync_requests.latest_sync_requests(account_id, tenant_id, limit, settings=self.settings)
