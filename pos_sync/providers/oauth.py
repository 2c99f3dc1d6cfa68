"""What the API needs to link a provider's merchant through OAuth (``ProviderSpec.oauth``): where
its consent page and token endpoint are, which scopes to ask, how the token request is encoded,
and how a granted token becomes an account (identity, locations) — the confidential code flow
with the app's client secret. Toast, which has no merchant OAuth, describes its partner
connection instead (``kind="partner_guid"``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pos_sync.settings import Settings

# (token response, callback query, settings) -> fields of AppStore.upsert_account
Complete = Callable[[Mapping[str, Any], Mapping[str, str], Settings], dict[str, Any]]


@dataclass(frozen=True)
class OAuthFlow:
    kind: Literal["code", "partner_guid"]
    complete: Complete
    base_env: str  # the provider's API/OAuth host variable (e.g. SQUARE_BASE_URL; the sandbox sets it)
    default_base: str
    authorize_path: str = ""
    token_path: str = ""
    authorize_env: str | None = None  # a consent page on another host (Lightspeed's secure.retail.lightspeed.app)
    default_authorize: str | None = None
    token_format: Literal["json", "form"] = "form"
    scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    app_env: tuple[str, str] | None = None  # the OAuth app's client id and secret variables

    def base_url(self, settings: Settings) -> str:
        return (settings.env(self.base_env) or self.default_base).rstrip("/")

    def authorize_url(self, settings: Settings) -> str:
        if self.authorize_env and settings.env(self.authorize_env):
            return str(settings.env(self.authorize_env))
        if settings.env(self.base_env) or not self.default_authorize:
            return self.base_url(settings) + self.authorize_path
        return self.default_authorize

    def client(self, settings: Settings) -> tuple[str, str]:
        client_id, secret = settings.app_credentials(self.app_env)
        if not client_id or not secret:
            names = " and ".join(self.app_env or ("the OAuth app's client id", "secret"))
            raise ValueError(f"the service has no OAuth app for this provider: set {names}")
        return client_id, secret
