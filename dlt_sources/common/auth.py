"""OAuth access tokens that refresh themselves (``refresh_token`` grant) and tell the caller.

``TokenProvider.get()`` returns a usable access token, refreshing first when it expires within
``refresh_margin``. After a 401 the HTTP session calls :meth:`TokenProvider.handle_unauthorized`
with the token that was rejected: the provider refreshes **at most once per rejected token** (if
another request already refreshed it, the new token is returned without a second refresh). Every
refresh calls ``on_refresh(TokenSet)`` so the caller can persist the new tokens (encrypted, in its
own store: this module never writes anything). A refresh that fails for good raises
:class:`ReauthorizationRequired` with a message telling the operator how to reconnect (a 401 that
cannot be answered by a refresh: its subclass :class:`TokenRejected`).

Token request: ``POST {token_url}`` with ``{client_id, client_secret, grant_type:
"refresh_token", refresh_token}``, as JSON (``token_request_format="json"``, Square
``ObtainToken``, the default) or as an ``application/x-www-form-urlencoded`` form
(``token_request_format="form"``, standard OAuth 2.0, Lightspeed). The answer carries
``access_token``, ``expires_at`` (RFC 3339), ``expires`` (unix seconds) or ``expires_in``
(seconds), and optionally a new ``refresh_token``.

**Rotating refresh tokens** (each refresh returns a new refresh token and revokes the old one,
e.g. Lightspeed X-Series): ``on_refresh`` is called with the new tokens *inside* :meth:`refresh`,
before the new access token is returned to any request, so a caller that persists them there
(atomically) never loses a rotated token to a crash after its first use. A refresh whose answer
is lost (timeout, 5xx after the server rotated) is retried with the same, old refresh token:
whether that works depends on the provider's grace period; if it does not, the refusal raises
:class:`ReauthorizationRequired`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from dlt_sources.common.errors import ReauthorizationRequired, TokenRejected
from dlt_sources.common.http import NoNetrcSession, send_with_retries
from dlt_sources.common.pace import SyncPace
from dlt_sources.common.retry import RetryPolicy

# token endpoints during a sync: retried for a few minutes (a storm must not cost the run its token)
TOKEN_RETRY_POLICY = RetryPolicy(max_elapsed=300.0, timeout=30.0)

log = logging.getLogger(__name__)

DEFAULT_RECONNECT_HINT = (
    "Reconnect the account: run `pos-sync accounts add <provider>` (OAuth) and approve access again; "
    "syncs of this account stay paused until then."
)


@dataclass(frozen=True)
class TokenSet:
    """The tokens of one connected account as the token endpoint last returned them."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    merchant_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def expires_within(self, margin: timedelta, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at - margin <= now


def parse_expiry(body: dict[str, Any], now: datetime) -> datetime | None:
    """``expires_at`` (RFC 3339, Square), ``expires`` (unix seconds, Lightspeed) or ``expires_in``
    (seconds, most others)."""
    if body.get("expires_at"):
        text = str(body["expires_at"]).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(body.get("expires"), int | float) and not isinstance(body.get("expires"), bool):
        return datetime.fromtimestamp(float(body["expires"]), UTC)
    if body.get("expires_in") is not None:
        return now + timedelta(seconds=float(body["expires_in"]))
    return None


class TokenProvider:
    """Holds access/refresh token, expiry, client credentials and token URL; refreshes on demand."""

    def __init__(
        self,
        access_token: str,
        *,
        refresh_token: str | None = None,
        expires_at: datetime | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        on_refresh: Callable[[TokenSet], None] | None = None,
        refresh_margin: timedelta = timedelta(minutes=5),
        provider: str = "Square",
        reconnect_hint: str | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        session: requests.Session | None = None,
        token_request_format: str = "json",
    ) -> None:
        if not access_token and not refresh_token:
            raise ValueError("a TokenProvider needs an access token or a refresh token")
        if token_request_format not in ("json", "form"):
            raise ValueError("token_request_format must be 'json' or 'form'")
        self.token_request_format = token_request_format
        self._tokens = TokenSet(access_token=access_token, refresh_token=refresh_token, expires_at=expires_at)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_url = token_url
        self.on_refresh = on_refresh
        self.refresh_margin = refresh_margin
        self.provider = provider
        self.reconnect_hint = reconnect_hint or DEFAULT_RECONNECT_HINT.replace("<provider>", provider.lower())
        self.policy = policy or TOKEN_RETRY_POLICY
        self.pace: SyncPace | None = None  # the run's counters (set by the ApiSession that uses it)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._session = session or NoNetrcSession()  # token requests carry their credentials in the body
        self._lock = threading.RLock()
        self.refresh_count = 0

    @classmethod
    def static(cls, access_token: str, provider: str = "Square") -> TokenProvider:
        """A provider that never refreshes (personal access token): a 401 means reconnect."""
        return cls(access_token, provider=provider)

    @property
    def tokens(self) -> TokenSet:
        return self._tokens

    @property
    def can_refresh(self) -> bool:
        return bool(self._tokens.refresh_token and self.client_id and self.token_url)

    def get(self) -> str:
        """A valid access token, refreshed first if it expires within ``refresh_margin``."""
        with self._lock:
            tokens = self._tokens
            if (not tokens.access_token or tokens.expires_within(self.refresh_margin, self._clock())) \
                    and self.can_refresh:
                return self.refresh(reason="the access token expires soon").access_token
            if not tokens.access_token:
                raise ReauthorizationRequired(f"No {self.provider} access token is stored. {self.reconnect_hint}")
            return tokens.access_token

    def handle_unauthorized(self, rejected_token: str, reason: str = "", *, body: str | None = None) -> str:
        """After a 401 with ``rejected_token``: refresh once (unless already done) or raise
        :class:`TokenRejected` (``body``: the 401 answer's body, kept on the error)."""
        return self.renew_rejected(rejected_token, reason, body=body)[0]

    def renew_rejected(self, rejected_token: str, reason: str = "", *,
                       body: str | None = None) -> tuple[str, bool]:
        """:meth:`handle_unauthorized`, and whether this call refreshed (False: another caller had
        already replaced ``rejected_token``, e.g. a parallel stream)."""
        with self._lock:
            if self._tokens.access_token != rejected_token:
                return self._tokens.access_token, False  # someone refreshed meanwhile
            if not self.can_refresh:
                raise TokenRejected(
                    f"{self.provider} rejected the access token (401 {reason}) and no refresh token or "
                    f"client credentials are configured to renew it. {self.reconnect_hint}",
                    status=401, body=body,
                )
            return self.refresh(reason=f"401 {reason}".strip()).access_token, True

    def refresh(self, reason: str = "") -> TokenSet:
        """Run the ``refresh_token`` grant; persist via ``on_refresh``; raise if it is refused."""
        with self._lock:
            if not self.can_refresh:
                raise ReauthorizationRequired(
                    f"Cannot refresh the {self.provider} access token: no refresh token, client id or "
                    f"token URL. {self.reconnect_hint}"
                )
            assert self.token_url is not None
            body = {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "grant_type": "refresh_token",
                "refresh_token": self._tokens.refresh_token,
            }
            log.info("refreshing the %s access token (%s)", self.provider, reason or "requested")
            # a transient outage of the token endpoint raises RetriesExhausted (tokens may still be good)
            encoding = {"json": body} if self.token_request_format == "json" else {"data": body}
            response = send_with_retries(
                lambda: self._session.post(self.token_url, timeout=self.policy.timeout,  # type: ignore[arg-type]
                                           headers={"Accept": "application/json"}, **encoding),
                self.policy, f"{self.provider} token refresh", pace=self.pace, url=self.token_url,
            )
            try:
                payload = response.json()
            except ValueError:
                payload = {}
            if response.status_code >= 400 or not payload.get("access_token"):
                detail = _error_detail(payload) or response.text[:300]
                raise ReauthorizationRequired(
                    f"{self.provider} refused to refresh the access token (HTTP {response.status_code}: "
                    f"{detail}); the refresh token was revoked or has expired. {self.reconnect_hint}",
                    status=response.status_code, body=response.text[:2000],
                )
            now = self._clock()
            new = TokenSet(
                access_token=str(payload["access_token"]),
                refresh_token=str(payload.get("refresh_token") or self._tokens.refresh_token),
                expires_at=parse_expiry(payload, now),
                merchant_id=payload.get("merchant_id") or self._tokens.merchant_id,
                raw={k: v for k, v in payload.items() if k not in {"access_token", "refresh_token"}},
            )
            self._tokens = new
            self.refresh_count += 1
            if self.on_refresh is not None:
                self.on_refresh(replace(new))
            return new


def _error_detail(payload: dict[str, Any]) -> str:
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(
            f"{e.get('code', '?')}: {e.get('detail', '')}".strip() for e in errors if isinstance(e, dict)
        )
    if payload.get("error"):
        detail = payload.get("error_description") or payload.get("message") or ""
        return f"{payload.get('error')}: {detail}".strip()
    return ""
