"""``pos-sync accounts``: connect, list and remove POS accounts in the app store.

Secrets given on the command line land in shell history and ``ps``; every secret option also
accepts ``-`` to read the value from one line of stdin.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pos_dagster.cli import CommandError, emit_json, log

_PROVIDER_DEFAULT_NOTE = "(default: the provider's production API)"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _friendly_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn app store / crypto / discovery / database failures into one-line CommandErrors."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import OperationalError

        from pos_dagster.appstore import AppStoreError, CryptoError
        from pos_dagster.discovery import DiscoveryError

        try:
            return func(args)
        except (AppStoreError, CryptoError, DiscoveryError) as exc:
            raise CommandError(str(exc)) from exc
        except OperationalError as exc:
            from pos_dagster.appstore.db import resolve_url, safe_url

            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
            raise CommandError(f"cannot use the app store at {safe_url(resolve_url())}: {reason}") from exc

    return wrapper


def _secret(value: str | None, option: str) -> str | None:
    if value != "-":
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise CommandError(f"{option} -: expected the value on stdin, got nothing")
    return line


def _parse_instant(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CommandError(f"{option}: not an ISO-8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _location_ids(values: Sequence[str] | None) -> list[str]:
    ids: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if part and part not in ids:
                ids.append(part)
    return ids


def _common_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, help="tenant id the account belongs to")
    parser.add_argument("--name", help="display name of the account")
    parser.add_argument(
        "--sync-frequency-minutes", type=int, default=None,
        help="minutes between incremental syncs (default: DEFAULT_SYNC_FREQUENCY_MINUTES, 15)",
    )
    parser.add_argument(
        "--historical-days", type=int, default=None,
        help="days of history to import on the first sync (default: HISTORICAL_IMPORT_DAYS, 90)",
    )
    parser.add_argument("--json", action="store_true", help="print the account as one JSON document")


def _store(args: argparse.Namespace, **fields: Any) -> int:
    from pos_dagster.appstore import get_account, upsert_account

    account_id, created = upsert_account(
        tenant_id=args.tenant,
        sync_frequency_minutes=args.sync_frequency_minutes,
        historical_import_days=args.historical_days,
        **fields,
    )
    info = get_account(account_id)
    if args.json:
        emit_json({**info.to_dict(), "created": created})
        return 0
    verb = "added" if created else "updated"
    print(
        f"{verb} {info.provider} account {info.id} (merchant {info.merchant_id}) for tenant {info.tenant_id} "
        f"with {len(info.location_ids)} location(s): {', '.join(info.location_ids)}"
    )
    return 0


# --------------------------------------------------------------------------------------------
# add
# --------------------------------------------------------------------------------------------


@_friendly_errors
def _add_square(args: argparse.Namespace) -> int:
    from pos_dagster.discovery import SQUARE_DEFAULT_BASE_URL, discover_locations, merchant_id_of

    access_token = _secret(args.access_token, "--access-token")
    refresh_token = _secret(args.refresh_token, "--refresh-token")
    if not access_token:
        raise CommandError("--access-token is required")
    expires_at = _parse_instant(args.expires_at, "--expires-at")
    base = (args.base_url or SQUARE_DEFAULT_BASE_URL).rstrip("/")
    log(f"discovering Square locations at {base} ...")
    found = discover_locations("square", base, access_token)
    if not found:
        raise CommandError("Square returned no locations for this access token")
    merchant_id = merchant_id_of(found)
    wanted = _location_ids(args.location)
    if wanted:
        by_id = {loc["location_id"]: loc for loc in found}
        unknown = [lid for lid in wanted if lid not in by_id]
        if unknown:
            raise CommandError(
                f"location(s) not visible to this access token: {', '.join(unknown)} "
                f"(available: {', '.join(sorted(by_id))})"
            )
        selected = [by_id[lid] for lid in wanted]
    else:
        selected = found
    log(f"merchant {merchant_id}: {len(found)} location(s) found, {len(selected)} selected")
    name = args.name or next((loc["business_name"] for loc in found if loc.get("business_name")), None)
    return _store(
        args,
        provider="square",
        merchant_id=merchant_id,
        account_name=name or f"Square {merchant_id}",
        base_url=args.base_url,
        access_token=access_token,
        refresh_token=refresh_token,
        token_expires_at=expires_at,
        locations=[
            {k: loc.get(k) for k in ("location_id", "name", "timezone", "currency")} for loc in selected
        ],
    )


@_friendly_errors
def _add_toast(args: argparse.Namespace) -> int:
    client_secret = _secret(args.client_secret, "--client-secret")
    locations = _location_ids(args.location)
    if not locations:
        raise CommandError("--location is required for Toast (location discovery is not available yet)")
    return _store(
        args,
        provider="toast",
        merchant_id=args.client_id,
        account_name=args.name or f"Toast {args.client_id}",
        base_url=args.base_url,
        client_id=args.client_id,
        client_secret=client_secret,
        locations=[{"location_id": lid} for lid in locations],
    )


@_friendly_errors
def _add_lightspeed(args: argparse.Namespace) -> int:
    access_token = _secret(args.access_token, "--access-token")
    refresh_token = _secret(args.refresh_token, "--refresh-token")
    locations = _location_ids(args.location)
    if not locations:
        raise CommandError("--location is required for Lightspeed (location discovery is not available yet)")
    prefix = args.domain_prefix.strip().lower()
    if not prefix:
        raise CommandError("--domain-prefix must not be empty")
    return _store(
        args,
        provider="lightspeed",
        merchant_id=prefix,
        account_name=args.name or f"Lightspeed {prefix}",
        base_url=args.base_url,
        access_token=access_token,
        refresh_token=refresh_token,
        token_expires_at=_parse_instant(args.expires_at, "--expires-at"),
        extra={"domain_prefix": prefix},
        locations=[{"location_id": lid} for lid in locations],
    )


# --------------------------------------------------------------------------------------------
# list / remove
# --------------------------------------------------------------------------------------------


def _short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@_friendly_errors
def _list(args: argparse.Namespace) -> int:
    from pos_dagster.appstore import list_accounts

    accounts = list_accounts(args.tenant)
    if args.json:
        emit_json([acc.to_dict() for acc in accounts])
        return 0
    if not accounts:
        print("no POS accounts" + (f" for tenant {args.tenant}" if args.tenant else ""))
        return 0
    header = ("ID", "TENANT", "PROVIDER", "NAME", "MERCHANT", "LOCATIONS", "STATUS", "EVERY", "LAST SYNC", "LAST OK")
    rows = [
        (
            acc.id,
            acc.tenant_id,
            acc.provider,
            acc.name or "-",
            acc.merchant_id,
            ",".join(acc.location_ids) or "-",
            acc.status + (f" ({acc.error_count} errors)" if acc.error_count else ""),
            f"{acc.sync_frequency_minutes}m" + ("" if acc.sync_enabled else " (off)"),
            _short_time(acc.last_sync_at),
            _short_time(acc.last_successful_sync_at),
        )
        for acc in accounts
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


@_friendly_errors
def _remove(args: argparse.Namespace) -> int:
    from pos_dagster.appstore import remove_account

    if args.purge:
        log(f"purging warehouse data of account {args.account_id} ...")
    removed = remove_account(args.account_id, purge=args.purge, tenant_id=args.tenant)
    warehouse = "purged" if removed.purged else "kept"
    if args.json:
        emit_json(
            {
                "id": removed.id,
                "tenant_id": removed.tenant_id,
                "provider": removed.provider,
                "merchant_id": removed.merchant_id,
                "location_ids": list(removed.location_ids),
                "removed": True,
                "purged": removed.purged,
                "warehouse_data": warehouse,
                "purge_result": removed.purge_result,
            }
        )
        return 0
    print(
        f"removed {removed.provider} account {removed.id} (merchant {removed.merchant_id}, "
        f"{len(removed.location_ids)} location(s)) from the app store"
    )
    if removed.purged:
        print("its raw and canonical warehouse data was purged")
    else:
        print("its raw and canonical warehouse data was KEPT (re-run with --purge to delete it as well)")
    return 0


# --------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    accounts = subparsers.add_parser(
        "accounts",
        help="connect, list and remove POS accounts",
        description="Manage the POS accounts stored (tokens encrypted) in the app store.",
    )
    actions = accounts.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="connect a POS account (adding an existing one updates it)",
        description=(
            "Connect a POS account. Accounts are unique per (tenant, provider, merchant): adding an "
            "existing one updates its credentials, re-activates it and replaces its locations. "
            "Secret options accept '-' to read the value from stdin."
        ),
    )
    providers = add.add_subparsers(dest="provider", metavar="PROVIDER", required=True)

    square = providers.add_parser(
        "square",
        help="Square (locations discovered from the API)",
        description="Connect a Square merchant. Locations and the merchant id are discovered with "
        "GET /v2/locations; --location restricts the account to some of them.",
    )
    square.add_argument("--access-token", required=True, help="OAuth or personal access token ('-': stdin)")
    square.add_argument("--refresh-token", help="OAuth refresh token ('-': stdin)")
    square.add_argument("--expires-at", help="access token expiry, ISO-8601 (e.g. 2026-01-31T12:00:00Z)")
    square.add_argument("--base-url", help=f"API base URL, e.g. https://connect.squareupsandbox.com {_PROVIDER_DEFAULT_NOTE}")
    square.add_argument("--location", action="append", metavar="ID", help="only this location id (repeatable)")
    _common_add_arguments(square)
    square.set_defaults(func=_add_square)

    toast = providers.add_parser(
        "toast",
        help="Toast machine client (--location required)",
        description="Connect a Toast machine client. Location discovery is not available for Toast yet: "
        "pass every restaurant GUID with --location.",
    )
    toast.add_argument("--client-id", required=True, help="Toast machine client id (also the account's merchant id)")
    toast.add_argument("--client-secret", required=True, help="Toast machine client secret ('-': stdin)")
    toast.add_argument("--base-url", help=f"API base URL {_PROVIDER_DEFAULT_NOTE}")
    toast.add_argument(
        "--location", action="append", metavar="RESTAURANT_GUID", required=True,
        help="restaurant GUID (repeatable; required: Toast location discovery is not available yet)",
    )
    _common_add_arguments(toast)
    toast.set_defaults(func=_add_toast)

    lightspeed = providers.add_parser(
        "lightspeed",
        help="Lightspeed Retail (X-Series) store (--location required)",
        description="Connect a Lightspeed Retail (X-Series) store. Location discovery is not available "
        "for Lightspeed yet: pass every outlet id with --location.",
    )
    lightspeed.add_argument("--domain-prefix", required=True, help="store domain prefix (the account's merchant id)")
    lightspeed.add_argument("--access-token", required=True, help="OAuth access token ('-': stdin)")
    lightspeed.add_argument("--refresh-token", required=True, help="OAuth refresh token ('-': stdin)")
    lightspeed.add_argument("--expires-at", help="access token expiry, ISO-8601")
    lightspeed.add_argument(
        "--base-url", help="API base URL (default: https://{domain_prefix}.retail.lightspeed.app)"
    )
    lightspeed.add_argument(
        "--location", action="append", metavar="OUTLET_ID", required=True,
        help="outlet id (repeatable; required: Lightspeed location discovery is not available yet)",
    )
    _common_add_arguments(lightspeed)
    lightspeed.set_defaults(func=_add_lightspeed)

    list_parser = actions.add_parser(
        "list", help="list POS accounts (never shows tokens)", description="List POS accounts; tokens are never shown."
    )
    list_parser.add_argument("--tenant", help="only this tenant's accounts")
    list_parser.add_argument("--json", action="store_true", help="print one JSON list of accounts")
    list_parser.set_defaults(func=_list)

    remove = actions.add_parser(
        "remove",
        help="remove a POS account (warehouse data kept unless --purge)",
        description=(
            "Remove a POS account, its locations and sync logs from the app store. Its raw and "
            "canonical warehouse data is KEPT unless --purge is given."
        ),
    )
    remove.add_argument("account_id", metavar="ID", help="account id (see 'accounts list')")
    remove.add_argument("--tenant", help="refuse unless the account belongs to this tenant")
    remove.add_argument(
        "--purge", action="store_true",
        help="also delete the account's raw and canonical warehouse data (nothing is removed if that fails)",
    )
    remove.add_argument("--json", action="store_true", help="print the result as one JSON document")
    remove.set_defaults(func=_remove)
