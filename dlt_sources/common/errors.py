"""Errors every POS source raises: each one tells the operator what happened and what to do."""

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


class ReauthorizationRequired(PosSourceError):
    """The stored credentials can no longer be used or refreshed: a human must reconnect the account."""


class MissingScopes(PosSourceError):
    """The token lacks an OAuth scope a stream needs. Raised instead of returning an empty table."""

    def __init__(self, message: str, *, scopes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.scopes = tuple(scopes)


class InvalidCursor(ApiError):
    """The provider rejected a pagination cursor (expired or foreign): restart the query."""
