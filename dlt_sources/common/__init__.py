"""Pieces shared by the POS sources: OAuth token refresh, bounded retries, typed errors, the shape
of a discovered location."""

from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.discovery import Location
from dlt_sources.common.errors import (
    ApiError,
    DiscoveryError,
    DiscoveryUnavailable,
    InvalidCursor,
    MissingScopes,
    PosSourceError,
    ReauthorizationRequired,
    RetriesExhausted,
    TokenRejected,
)
from dlt_sources.common.http import ApiSession, send_with_retries
from dlt_sources.common.retry import RetryPolicy, parse_retry_after

__all__ = [
    "ApiError",
    "ApiSession",
    "DiscoveryError",
    "DiscoveryUnavailable",
    "InvalidCursor",
    "Location",
    "MissingScopes",
    "PosSourceError",
    "ReauthorizationRequired",
    "RetriesExhausted",
    "RetryPolicy",
    "TokenProvider",
    "TokenRejected",
    "TokenSet",
    "parse_retry_after",
    "send_with_retries",
]
