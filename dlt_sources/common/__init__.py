"""Pieces shared by the POS sources: OAuth token refresh, retries bounded by time, client pacing,
the run's retry counters (:class:`SyncPace`, :func:`sync_pace`), typed errors, the shape of a
discovered location."""

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
from dlt_sources.common.pace import EarlyStop, SyncPace, sync_pace
from dlt_sources.common.pacing import Pacing, RateLimit
from dlt_sources.common.retry import SYNC_RETRY_POLICY, RetryPolicy, parse_retry_after

__all__ = [
    "ApiError",
    "ApiSession",
    "DiscoveryError",
    "DiscoveryUnavailable",
    "EarlyStop",
    "InvalidCursor",
    "Location",
    "MissingScopes",
    "Pacing",
    "PosSourceError",
    "RateLimit",
    "ReauthorizationRequired",
    "RetriesExhausted",
    "RetryPolicy",
    "SYNC_RETRY_POLICY",
    "SyncPace",
    "TokenProvider",
    "TokenRejected",
    "TokenSet",
    "parse_retry_after",
    "send_with_retries",
    "sync_pace",
]
