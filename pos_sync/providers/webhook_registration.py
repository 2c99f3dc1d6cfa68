"""Making sure an account's events reach our receiver (``POST /api/v1/pos/accounts/{id}/webhooks/register``).

Each provider keeps its subscriptions its own way (:attr:`WebhookFlow.register`): Square's belong
to the application and are managed with the app's personal access token; a Lightspeed store's
webhooks are created with the store's OAuth token, one per event type; Toast's are configured out
of band by Toast, so registering records the subscription and its secret the partner was given.
What a registration finds or creates is stored by :func:`register_account` (keys encrypted, the
previous key kept while a rotation is in flight)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import requests

from dlt_sources.common.auth import TokenProvider
from dlt_sources.common.errors import PosSourceError, ReauthorizationRequired


class RegistrationFailed(Exception):
    """The provider refused or could not be reached: ``status`` is what the API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RegistrationRequest:
    notification_url: str  # our receiver, as the provider reaches it
    creds: Any  # the account's stored credentials (AccountCredentials: base URL, merchant, extra)
    event_types: tuple[str, ...]
    tokens: TokenProvider | None = None  # the account's (store's) tokens
    app_token: str | None = None  # the application's own token (Square's personal access token)
    given_key: str | None = None  # a secret the provider gave out of band (Toast)
    given_id: str | None = None


@dataclass(frozen=True)
class Registration:
    scope: Literal["app", "account"]  # whose subscription: the application's or the account's
    external_ids: tuple[str, ...]
    event_types: tuple[str, ...]
    signature_key: str | None  # None: the provider signs with the app's client secret
    created: bool  # False: an existing subscription was found (and updated when needed)


Register = Callable[[RegistrationRequest], Registration]


def call(label: str, method: str, url: str, *, token: str | None = None, tokens: TokenProvider | None = None,
         headers: dict[str, str] | None = None, **body: Any) -> Any:
    """One JSON call to a provider: a 401 with the account's tokens refreshes them once; refusals
    and outages become :class:`RegistrationFailed` with the provider's own message."""
    for attempt in (1, 2):
        bearer = token if token is not None else (tokens.get() if tokens else "")
        try:
            response = requests.request(method, url, timeout=15, headers={
                "Authorization": f"Bearer {bearer}", "Accept": "application/json", **(headers or {})}, **body)
        except requests.RequestException as exc:
            raise RegistrationFailed(502, f"{label} could not be reached: {type(exc).__name__}") from None
        if response.status_code == 401 and tokens is not None and attempt == 1:
            try:
                tokens.handle_unauthorized(bearer, "webhook registration", body=response.text)
            except ReauthorizationRequired as exc:
                raise RegistrationFailed(409, f"{label} refused the account's authorization: {exc}") from None
            except PosSourceError as exc:
                raise RegistrationFailed(502, f"{label} could not renew the account's tokens: {exc}") from None
            continue
        break
    if response.status_code >= 400:
        detail = response.text.strip().replace("\n", " ")[:300]
        status = 409 if response.status_code in (401, 403) else 502
        raise RegistrationFailed(status, f"{label} answered {response.status_code} to {method} "
                                         f"{url.split('?')[0]}: {detail}")
    try:
        return response.json()
    except ValueError:
        raise RegistrationFailed(502, f"{label} answered {method} {url} with something that is not JSON") from None
