"""Pieces shared by the POS sources: OAuth token refresh, bounded retries, typed errors."""

from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.errors import (
    ApiError,
    InvalidCursor,
    MissingScopes,
    PosSourceError,
    ReauthorizationRequired,
    RetriesExhausted,
)
from dlt_sources.common.http import ApiSession, send_with_retries
from dlt_sources.common.retry import RetryPolicy, parse_retry_after

__all__ = [
    "ApiError",
    "ApiSession",
    "InvalidCursor",
    "MissingScopes",
    "PosSourceError",
    "ReauthorizationRequired",
    "RetriesExhausted",
    "RetryPolicy",
    "TokenProvider",
    "TokenSet",
    "parse_retry_after",
    "send_with_retries",
]
