"""One error handler for the whole CLI: every known failure becomes one line a person can act
on; anything else is one line too, with the full trace only under ``--debug`` or ``POS_DEBUG=1``."""

from __future__ import annotations

from pathlib import Path


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""


def _database(exc: BaseException) -> str | None:
    """The app store's database failures (SQLite and PostgreSQL), in words."""
    import sqlalchemy.exc as sa_exc

    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    from pos_sync.appstore.db import resolve_url, safe_url

    try:
        where = safe_url(resolve_url())
    except Exception:  # noqa: BLE001 - the settings may be what is broken
        where = "the configured database"
    reason = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
    lowered = reason.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return f"the app store at {where} is read-only ({reason}): make the file and its folder writable"
    if "malformed" in lowered or "not a database" in lowered:
        return (f"the app store at {where} is corrupted ({reason}): restore it from a backup, or move it away to "
                "start again with no accounts")
    if "unable to open" in lowered:
        return f"cannot open the app store at {where} ({reason}): check that its folder exists and is writable"
    if isinstance(exc, sa_exc.OperationalError):
        return f"cannot use the app store at {where}: {reason}"
    return f"the app store at {where} refused the operation: {reason}"


def explain(exc: BaseException) -> str | None:
    """One line for a failure pos-sync knows, None for anything else."""
    from dlt_sources.common.errors import PosSourceError
    from pos_sync.appstore import AppStoreError, CryptoError
    from pos_sync.events.amqp import BrokerUnavailable
    from pos_sync.providers.linking import LinkError
    from pos_sync.settings import SettingsError
    from pos_sync.warehouse.sql import WarehouseUnavailable

    if isinstance(exc, WarehouseUnavailable):
        return f"the warehouse cannot be opened: {_first_line(exc)}"
    if isinstance(exc, SettingsError | AppStoreError | LinkError | PosSourceError | BrokerUnavailable):
        return _first_line(exc)
    if isinstance(exc, CryptoError):
        return f"cannot decrypt the stored credentials: {_first_line(exc)}"
    if isinstance(exc, PermissionError):
        name = exc.filename or ""
        return f"cannot write {name}: permission denied (POS_HOME and its files must be writable by this user)"
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot use {Path(str(exc.filename))}: {exc.strerror or exc}"
    return _database(exc)
