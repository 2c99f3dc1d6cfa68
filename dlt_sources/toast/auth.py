"""Toast machine-client credentials: the login (Toast has no refresh grant), the token provider the
source and discovery share, and its factory.

* :func:`toast_tokens` builds the :class:`ToastTokenProvider` a caller hands to ``toast_source``
  and to ``discover_restaurants``: it starts from the stored token (``current``), reuses it while it
  is valid, logs in when it is missing, about to expire or rejected, and hands every new token to
  ``on_refresh`` (persist it there: Toast asks for at most a couple of logins per hour).
* :func:`login` logs in once (account linking) through the same code path and returns the token;
  it raises only ``DiscoveryError`` (one line: bad client id or secret, the wrong environment,
  Toast unreachable). Inside a sync a refused login raises ``ReauthorizationRequired`` instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import requests

from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.discovery import DISCOVERY_RETRY_POLICY, discovery_errors
from dlt_sources.common.errors import ReauthorizationRequired
from dlt_sources.common.http import send_with_retries
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.toast.settings import DEFAULT_BASE_URL, LOGIN_PATH, MACHINE_CLIENT, TOKEN_REFRESH_MARGIN

log = logging.getLogger(__name__)

RECONNECT_HINT = (
    "Check the Toast API client: run `pos-sync accounts add toast --client-id … --client-secret …` with "
    "the credentials Toast issued (the client may have been rotated, or lost access to the restaurant or "
    "a scope); syncs of this account stay paused until then."
)


class ToastTokenProvider(TokenProvider):
    """The machine-client token: ``current`` while valid, else one login, handed to ``on_refresh``.

    Toast has no refresh grant: "refreshing" is logging in again (``POST {base_url}/authentication/
    v1/authentication/login`` with ``clientId``, ``clientSecret``, ``userAccessType=TOAST_MACHINE_CLIENT``).
    The token is renewed ``refresh_margin`` before ``expiresIn`` runs out (at most half of the
    lifetime the last login reported), and at most once per rejected token after a 401
    (:meth:`TokenProvider.handle_unauthorized`). Bad credentials raise
    :class:`ReauthorizationRequired` (with the login answer's ``status`` and ``body``).
    ``login_count`` counts logins.
    """

    def __init__(self, client_id: str, client_secret: str, base_url: str = DEFAULT_BASE_URL, *,
                 current: TokenSet | None = None, on_refresh: Callable[[TokenSet], None] | None = None,
                 policy: RetryPolicy | None = None, refresh_margin: timedelta = TOKEN_REFRESH_MARGIN,
                 clock: Callable[[], datetime] | None = None, session: requests.Session | None = None) -> None:
        super().__init__(
            current.access_token if current else "", refresh_token=MACHINE_CLIENT,
            expires_at=current.expires_at if current else None, client_id=client_id, client_secret=client_secret,
            token_url=base_url.rstrip("/") + LOGIN_PATH, on_refresh=on_refresh, refresh_margin=refresh_margin,
            provider="Toast", reconnect_hint=RECONNECT_HINT, policy=policy, clock=clock, session=session,
        )
        self.configured_margin = refresh_margin

    @property
    def can_refresh(self) -> bool:
        """A machine client can always log in again (there is no refresh token to lose)."""
        return bool(self.client_id and self.client_secret and self.token_url)

    @property
    def login_count(self) -> int:
        return self.refresh_count

    def refresh(self, reason: str = "") -> TokenSet:
        """Log in (there is no refresh grant) and hand the token to ``on_refresh``."""
        with self._lock:
            assert self.token_url is not None
            body = {"clientId": self.client_id, "clientSecret": self.client_secret, "userAccessType": MACHINE_CLIENT}
            log.info("logging in to Toast as machine client %s (%s)", self.client_id, reason or "no token")
            response = send_with_retries(
                lambda: self._session.post(self.token_url, json=body, timeout=self.policy.timeout,  # type: ignore[arg-type]
                                           headers={"Accept": "application/json"}),
                self.policy, "Toast login", pace=self.pace, url=self.token_url,
            )
            try:
                payload = response.json()
            except ValueError:
                payload = {}
            token = payload.get("token") if isinstance(payload, dict) else None
            if response.status_code >= 400 or not isinstance(token, dict) or not token.get("accessToken"):
                raise ReauthorizationRequired(
                    f"Toast refused the machine-client login (HTTP {response.status_code}: "
                    f"{error_detail(payload) or response.text[:300]}). {self.reconnect_hint}",
                    status=response.status_code, body=response.text[:2000],
                )
            now = self._clock()
            expires_in = token.get("expiresIn")
            if expires_in is not None:
                # Toast hands out the same token until shortly before it expires: a login inside our
                # margin may return a token with little time left; use it for half of that time
                # instead of logging in again on every call
                self.refresh_margin = min(self.configured_margin, timedelta(seconds=float(expires_in) / 2))
            new = TokenSet(access_token=str(token["accessToken"]),
                           expires_at=now + timedelta(seconds=float(expires_in)) if expires_in is not None else None,
                           raw={k: v for k, v in token.items() if k != "accessToken"})
            self._tokens = new
            self.refresh_count += 1
            if self.on_refresh is not None:
                self.on_refresh(replace(new))
            return new


def toast_tokens(client_id: str, client_secret: str, base_url: str = DEFAULT_BASE_URL, *,
                 current: TokenSet | None = None, on_refresh: Callable[[TokenSet], None] | None = None,
                 policy: RetryPolicy | None = None) -> ToastTokenProvider:
    """The token provider of one Toast machine client, for ``toast_source`` and ``discover_restaurants``.

    ``current``: the stored token (and its expiry), reused while valid; None: log in at first use.
    ``on_refresh(TokenSet)``: called with every new token (persist it, encrypted, and pass it as
    ``current`` next time). ``policy``: the login's retry bounds.
    """
    return ToastTokenProvider(client_id, client_secret, base_url, current=current, on_refresh=on_refresh,
                              policy=policy)


def login(client_id: str, client_secret: str, base_url: str = DEFAULT_BASE_URL, *,
          policy: RetryPolicy | None = None) -> TokenSet:
    """Log the machine client in once: the token and its expiry (Toast returns the same token until
    shortly before it expires: store it and pass it as ``current`` to :func:`toast_tokens`).

    Raises ``DiscoveryError`` (one line, no secret).
    """
    base = base_url.rstrip("/")
    provider = ToastTokenProvider(client_id, client_secret, base, policy=policy or DISCOVERY_RETRY_POLICY)
    with discovery_errors("Toast", base, rejected=str, refused=login_refused):
        tokens = provider.refresh(reason="login")
    return tokens


def login_refused(exc: ReauthorizationRequired) -> str:
    """The one-line message of a refused login (``exc`` from :meth:`ToastTokenProvider.refresh`)."""
    detail = discovery_detail(exc.body)
    if exc.status in (400, 401, 403):
        return (f"Toast refused the machine-client login (HTTP {exc.status}: {detail}); check the client id "
                "and secret and that they belong to this environment (production vs sandbox)")
    if exc.status is not None and exc.status >= 400:
        return f"Toast login failed: HTTP {exc.status} {detail}"
    return "Toast login answered without an access token"


def error_detail(payload: Any) -> str:
    """Toast's ``ErrorMessage`` as ``status code message developerMessage``."""
    if not isinstance(payload, dict):
        return ""
    parts = [str(payload.get(k)) for k in ("status", "code", "message", "developerMessage") if payload.get(k)]
    return " ".join(parts)


def discovery_detail(body: str | None) -> str:
    """An error body as discovery words it: ``code message developerMessage`` (else its start)."""
    try:
        payload = json.loads(body or "")
    except ValueError:
        return (body or "")[:200].strip()
    if not isinstance(payload, dict):
        return ""
    return " ".join(str(payload[k]) for k in ("code", "message", "developerMessage") if payload.get(k))
