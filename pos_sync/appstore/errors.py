"""The app store's user-facing failures (each message is one line a person can act on)."""

from __future__ import annotations


class AppStoreError(Exception):
    """A user-facing app store failure."""


class AccountNotFound(AppStoreError, LookupError):
    pass


class SyncLogNotFound(AppStoreError, LookupError):
    pass


class LocationConflict(AppStoreError):
    """A location id already belongs to another account of the same tenant and provider."""


class PurgeUnavailable(AppStoreError):
    """``--purge`` was asked for but the warehouse purge hook is not installed."""


class PurgeFailed(AppStoreError):
    """The warehouse purge hook raised; the account was not removed."""
