"""Registering an account's webhooks: the provider's flow finds or creates the subscription to
our receiver, and what it found is stored (URL, ids, event types; keys encrypted, the previous one
kept while a rotation is in flight)."""

from __future__ import annotations

from typing import Any

from pos_sync.appstore import AppStore
from pos_sync.appstore.webhooks import save_subscription, signature_keys
from pos_sync.ingest.sync import AccountSync
from pos_sync.providers import registry
from pos_sync.providers.webhook_registration import RegistrationFailed, RegistrationRequest

RECEIVER_PATH = "/api/v1/pos/webhooks/{provider}"
# set by the operator for the registration that replaces a provider-wide signing secret (Toast's)
APP_KEY_CHANGE_ENV = "POS_ALLOW_APP_WEBHOOK_KEY_CHANGE"


def register_account(store: AppStore, account_id: str, tenant_id: str, public_base: str, *,
                     signature_key: str | None = None, subscription_id: str | None = None) -> dict[str, Any]:
    """Make sure ``account_id``'s events reach ``public_base`` + the provider's receiver path.
    Raises :class:`RegistrationFailed` (with the status the API answers) when it cannot."""
    account = store.get_account(account_id, tenant_id=tenant_id)
    spec = registry.get(account.provider)
    flow = spec.webhooks
    if flow is None or flow.register is None:
        raise RegistrationFailed(422, f"{spec.label} sends no webhooks here")
    run = AccountSync(store, store.settings, spec, account_id)
    url = public_base.rstrip("/") + RECEIVER_PATH.format(provider=spec.name)
    app_token = store.settings.env(flow.app_token_env) if flow.app_token_env else None
    result = flow.register(RegistrationRequest(
        notification_url=url, creds=run.creds, event_types=flow.event_types,
        tokens=run.token_provider() if spec.credential_kind == "oauth" else None, app_token=app_token,
        given_key=signature_key, given_id=subscription_id))
    if result.scope == "app" and result.signature_key is not None:
        known = [key for _url, key in signature_keys(spec.name, settings=store.settings)]
        if known and result.signature_key not in known and not store.settings.env(APP_KEY_CHANGE_ENV):
            # one key signs every merchant's events: a merchant's account does not get to replace it
            raise RegistrationFailed(409, f"{spec.label}'s signing secret is this service's, the same for every "
                                          "merchant, and one is registered already: the service's operator "
                                          f"replaces it (a registration with {APP_KEY_CHANGE_ENV}=true)")
    save_subscription(spec.name, url, result.event_types, account_id=account_id if result.scope == "account" else None,
                      external_id=",".join(result.external_ids) or None, signature_key=result.signature_key,
                      settings=store.settings)
    return {"account_id": account_id, "provider": spec.name, "notification_url": url, "scope": result.scope,
            "subscription_ids": list(result.external_ids), "event_types": list(result.event_types),
            "created": result.created, "signature": "app client secret" if result.signature_key is None
            else "subscription key (stored encrypted)"}
