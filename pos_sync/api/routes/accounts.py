"""POS account management: list, connect, read, update, disconnect, reconnect — each scoped to the
calling tenant (another tenant's account is a 404, never its data). Secrets are never returned."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, status
from starlette.responses import Response

from pos_sync.api import read_cache
from pos_sync.api.deps import Store, Tenant, Token
from pos_sync.api.problems import Problem
from pos_sync.api.read_cache import json_response
from pos_sync.api.schemas import (
    AccountCreate,
    AccountOut,
    AccountUpdate,
    Removed,
    WebhookRegistrationIn,
    WebhookRegistrationOut,
)
from pos_sync.appstore import AppStore
from pos_sync.providers import UnknownProvider, registry

router = APIRouter(prefix="/api/v1/pos/accounts", tags=["accounts"])
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _out(info: Any) -> AccountOut:
    return AccountOut.model_validate(info.to_dict())


def _link_args(body: AccountCreate) -> argparse.Namespace:
    """The body as the provider's LinkCommand reads its options (the CLI's ``accounts add``)."""
    secrets = {"access_token": body.access_token, "refresh_token": body.refresh_token,
               "client_secret": body.client_secret}
    if any(value == "-" for value in secrets.values()):
        raise Problem(422, "a secret cannot be '-'")
    if body.base_url and urlsplit(body.base_url).hostname not in LOOPBACK:
        # the service calls it with the token it is given, at every sync: a provider's address is the
        # operator's (<PROVIDER>_BASE_URL), a tenant names only a sandbox on this machine
        raise Problem(422, "base_url may only name a sandbox on this machine (127.0.0.1, localhost); a provider's "
                           "address is the operator's setting (e.g. SQUARE_BASE_URL)")
    return argparse.Namespace(
        **secrets, client_id=body.client_id, domain_prefix=body.domain_prefix, base_url=body.base_url,
        expires_at=body.expires_at.isoformat() if body.expires_at else None, name=body.name,
        location=list(body.restaurant_guids or body.location_ids or []) or None)


def _check_required(provider: str, args: argparse.Namespace) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    registry.get(provider).cli_link.add_arguments(parser)
    missing = [a.dest for a in parser._actions if a.required and getattr(args, a.dest, None) in (None, "", [])]
    if missing:
        raise Problem(422, f"a {provider} account needs {', '.join(missing)}")


@router.get("", response_model=list[AccountOut], summary="List connected POS accounts")
async def list_accounts(request: Request, token: Token) -> Response:
    # the dashboard's busiest read: on the event loop, one query for the key and the accounts' data
    # versions, the kept answer when they did not change (pos_sync/api/read_cache.py; no docstring:
    # it would change the OpenAPI description)
    return json_response(await read_cache.of(request).accounts(token))


@router.post("", response_model=AccountOut, status_code=status.HTTP_201_CREATED, summary="Connect a new POS account",
             responses={409: {}, 422: {}, 502: {}})
def create_account(body: AccountCreate, store: Store, tenant: Tenant) -> AccountOut:
    try:
        spec = registry.get(body.provider.strip().lower())
    except UnknownProvider as exc:
        raise Problem(422, str(exc)) from None
    if spec.cli_link is None:
        raise Problem(422, f"{spec.label} accounts cannot be connected with credentials here")
    args = _link_args(body)
    _check_required(spec.name, args)
    fields = _link(spec.cli_link, args)
    account_id, _ = store.upsert_account(tenant_id=tenant, sync_frequency_minutes=body.sync_frequency_minutes,
                                         historical_import_days=body.historical_days, **fields)
    store.request_sync(account_id, tenant)  # its first (historical) sync, queued
    return _out(store.get_account(account_id, tenant_id=tenant))


def _link(command: Any, args: argparse.Namespace) -> dict[str, Any]:
    from dlt_sources.common.errors import DiscoveryError

    try:
        return dict(command.link(args, lambda _message: None))
    except DiscoveryError as exc:
        raise Problem(502, str(exc)) from None


@router.get("/{account_id}", response_model=AccountOut, summary="Get account details", responses={404: {}})
def get_account(account_id: str, store: Store, tenant: Tenant) -> AccountOut:
    return _out(store.get_account(account_id, tenant_id=tenant))


@router.put("/{account_id}", response_model=AccountOut, summary="Update account", responses={404: {}, 422: {}})
def update_account(account_id: str, body: AccountUpdate, store: Store, tenant: Tenant) -> AccountOut:
    info = store.update_account(account_id, tenant_id=tenant, account_name=body.name,
                                sync_frequency_minutes=body.sync_frequency_minutes, sync_enabled=body.sync_enabled,
                                enabled_location_ids=body.location_ids)
    return _out(info)


@router.delete("/{account_id}", response_model=Removed, summary="Disconnect account (purge=true: erase its data)",
               responses={404: {}})
def delete_account(account_id: str, store: Store, tenant: Tenant,
                   purge: bool = Query(False, description="also erase its raw and canonical data")) -> Removed:
    removed = store.remove_account(account_id, purge, tenant_id=tenant)
    return Removed(id=removed.id, provider=removed.provider, removed=True, purged=removed.purged,
                   warehouse_data="purged" if removed.purged else "kept")


@router.post("/{account_id}/reconnect", response_model=AccountOut, summary="Refresh OAuth tokens",
             responses={404: {}, 409: {"description": "the authorization is gone: the merchant must consent again"}})
def reconnect(account_id: str, request: Request, store: Store, tenant: Tenant) -> AccountOut:
    """Refresh the account's tokens now (Toast: log the machine client in again). When the provider
    refuses, the answer is a 409 with the link the merchant follows to consent again."""
    from dlt_sources.common.errors import PosSourceError, ReauthorizationRequired
    from pos_sync.ingest.sync import AccountSync

    account = store.get_account(account_id, tenant_id=tenant)
    spec = registry.get(account.provider)
    run = AccountSync(store, store.settings, spec, account_id)
    try:
        run.token_provider().refresh(reason="reconnect requested")
    except ReauthorizationRequired as exc:
        store.mark_account_error(account_id, spec.reauth_status, str(exc))
        raise Problem(409, f"{spec.label} refused to renew the authorization: the merchant must consent again",
                      authorize_url=_reconnect_url(request, store, tenant, spec.name, account_id)) from None
    except PosSourceError as exc:
        raise Problem(502, f"{spec.label} could not be reached to renew the tokens: {exc}") from None
    store.mark_account_ok(account_id)
    return _out(store.get_account(account_id, tenant_id=tenant))


@router.post("/{account_id}/webhooks/register", response_model=WebhookRegistrationOut,
             summary="Make sure the account's webhooks reach this service",
             responses={404: {}, 409: {}, 422: {}, 502: {}})
def register_webhooks(account_id: str, request: Request, store: Store, tenant: Tenant,
                      body: WebhookRegistrationIn | None = None) -> WebhookRegistrationOut:
    """Square: the application's subscription to the receiver (found or created with
    ``SQUARE_APP_ACCESS_TOKEN``); Lightspeed: the store's webhooks (its OAuth token); Toast: the
    subscription Toast set up out of band, with its signing secret. Safe to call again."""
    from pos_sync.ingest.webhooks import register_account
    from pos_sync.providers.webhook_registration import RegistrationFailed

    if not store.settings.enable_webhooks:
        raise Problem(404, "webhooks are turned off here (ENABLE_WEBHOOKS=false)")
    store.get_account(account_id, tenant_id=tenant)  # 404 for another tenant's account
    public = store.settings.public_url or _loopback_base(request)
    if public is None:  # never where a request's Host header points: the subscription carries every merchant's events
        raise Problem(409, "set POS_PUBLIC_URL to the address the providers reach this service at: webhooks are "
                           "registered there, not at the host a request names")
    try:
        done = register_account(store, account_id, tenant, public,
                                 signature_key=body.signature_key if body else None,
                                 subscription_id=body.subscription_id if body else None)
    except RegistrationFailed as exc:
        raise Problem(exc.status, str(exc)) from None
    return WebhookRegistrationOut(**done)


def _loopback_base(request: Request) -> str | None:
    """The request's base URL when it is a loopback address (a service run on one machine, the
    sandbox's), else None."""
    return str(request.base_url) if request.base_url.hostname in LOOPBACK else None


def _reconnect_url(request: Request, store: AppStore, tenant: str, provider: str, account_id: str) -> str | None:
    from pos_sync.api.auth import sign_link

    spec = registry.get(provider)
    if spec.oauth is None:
        return None
    link = sign_link(store.settings, tenant, account_id=account_id)
    return str(request.url_for("oauth_authorize", provider=provider).include_query_params(link=link))
