"""Errors every POS source raises: each one tells the operator what happened and what to do.

Syncs raise :class:`ApiError` (and its :class:`RetriesExhausted`, :class:`InvalidCursor`,
:class:`ServerUnreachable`),
:class:`ReauthorizationRequired` (its :class:`TokenRejected` when the API refused the access token)
and :class:`MissingScopes`. Location discovery (``discover_*`` in each provider's ``helpers``)
raises only :class:`DiscoveryError` and its :class:`DiscoveryUnavailable`. All derive from
:class:`PosSourceError`; no message contains a token or secret.
"""

from __future__ import annotations

from collections.abc import Sequence


class PosSourceError(Exception):
    """Base class of the errors raised by ``dlt_sources``."""


class ApiError(PosSourceError):
    """The provider answered with an error that retrying will not fix."""

    def __init__(self, message: str, *, status: int | None = None, codes: Sequence[str] = (),
                 body: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.codes = tuple(codes)
        self.body = body


class RetriesExhausted(ApiError):
    """Transient failures (429, 5xx, timeouts) outlasted the retry policy (attempts or sleep budget)."""


class ServerUnreachable(ApiError):
    """Nothing listens at a loopback address (connection refused): a local server — the provider
    sandbox — is not running. Raised at once, without retries: waiting out the retry budget would
    not start it. ``url``: what was asked for."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class ReauthorizationRequired(PosSourceError):
    """The stored credentials can no longer be used or refreshed: a human must reconnect the account.

    ``status``/``body``: the HTTP answer that refused them (the API's 401, or the token endpoint's
    refusal of a refresh or login), when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class TokenRejected(ReauthorizationRequired):
    """The API answered 401 to the access token and it could not be renewed (no refresh token or
    client credentials, or still 401 right after a refresh). ``body``: that 401 answer's body."""


class MissingScopes(PosSourceError):
    """The token lacks an OAuth scope a stream needs. Raised instead of returning an empty table."""

    def __init__(self, message: str, *, scopes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.scopes = tuple(scopes)


class InvalidCursor(ApiError):
    """The provider rejected a pagination cursor (expired or foreign): restart the query."""


class DiscoveryError(PosSourceError):
    """Location discovery failed: the provider could not be reached, refused the credentials or a
    permission, or answered something unexpected. The message is one line telling the user what to
    check (whitespace is collapsed); the typed error behind it, if any, is ``__cause__``."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class DiscoveryUnavailable(DiscoveryError):
    """The provider cannot list the locations for these credentials: pass the location ids explicitly."""
