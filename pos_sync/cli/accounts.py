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

from pos_sync.cli import CommandError, emit_json, log

_PROVIDER_DEFAULT_NOTE = "(default: the provider's production API)"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _friendly_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn app store / crypto / discovery / database failures into one-line CommandErrors."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import OperationalError

        from pos_sync.appstore import AppStoreError, CryptoError
        from pos_sync.discovery import DiscoveryError

        try:
            return func(args)
        except (AppStoreError, CryptoError, DiscoveryError) as exc:
            raise CommandError(str(exc)) from exc
        except OperationalError as exc:
            from pos_sync.appstore.db import resolve_url, safe_url

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
    from pos_sync.appstore import get_account, upsert_account

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
    from pos_sync.discovery import SQUARE_DEFAULT_BASE_URL, discover_locations, merchant_id_of

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


def _select(found: list[dict[str, Any]], wanted: list[str], what: str) -> list[dict[str, Any]]:
    """The discovered locations ``wanted`` restricts to (all when empty); unknown ids are an error."""
    if not wanted:
        return found
    by_id = {loc["location_id"]: loc for loc in found}
    unknown = [lid for lid in wanted if lid not in by_id]
    if unknown:
        raise CommandError(f"{what}(s) not visible to these credentials: {', '.join(unknown)} "
                           f"(available: {', '.join(sorted(by_id)) or 'none'})")
    return [by_id[lid] for lid in wanted]


def _location_rows(locations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: loc.get(k) for k in ("location_id", "name", "timezone", "currency")} for loc in locations]


@_friendly_errors
def _add_toast(args: argparse.Namespace) -> int:
    from pos_sync.discovery import TOAST_DEFAULT_BASE_URL, discover_locations, toast_login

    client_secret = _secret(args.client_secret, "--client-secret")
    if not client_secret:
        raise CommandError("--client-secret is required")
    wanted = _location_ids(args.location)
    base = (args.base_url or TOAST_DEFAULT_BASE_URL).rstrip("/")
    log(f"logging in to Toast at {base} as machine client {args.client_id} ...")
    token = toast_login(args.client_id, client_secret, base)
    log("looking up the restaurants ..." if wanted else "listing the client's restaurants ...")
    # with GUIDs: exactly those restaurants' details (an unknown or foreign GUID is an error)
    selected = discover_locations("toast", base, token["access_token"], location_ids=wanted or None)
    if not selected:
        raise CommandError("Toast returned no restaurants for this client")
    selected = _select(selected, wanted, "restaurant")
    log(f"{len(selected)} restaurant(s): {', '.join(str(r.get('name') or r['location_id']) for r in selected)}")
    group = next((r["merchant_id"] for r in selected if r.get("merchant_id")), None)
    name = args.name or next((r["business_name"] for r in selected if r.get("business_name")), None)
    return _store(
        args,
        provider="toast",
        merchant_id=args.client_id,
        account_name=name or f"Toast {args.client_id}",
        base_url=args.base_url,
        client_id=args.client_id,
        client_secret=client_secret,
        # the login token is kept (encrypted) and reused by the syncs: Toast limits logins
        access_token=token["access_token"],
        token_expires_at=token["expires_at"],
        extra={"management_group_guid": group} if group else None,
        locations=_location_rows(selected),
    )


@_friendly_errors
def _add_lightspeed(args: argparse.Namespace) -> int:
    from pos_sync.discovery import LIGHTSPEED_DEFAULT_BASE_URL, discover_locations

    access_token = _secret(args.access_token, "--access-token")
    refresh_token = _secret(args.refresh_token, "--refresh-token")
    client_secret = _secret(args.client_secret, "--client-secret")
    if not access_token:
        raise CommandError("--access-token is required")
    prefix = args.domain_prefix.strip().lower()
    if not prefix:
        raise CommandError("--domain-prefix must not be empty")
    base = (args.base_url or LIGHTSPEED_DEFAULT_BASE_URL.format(domain_prefix=prefix)).rstrip("/")
    log(f"discovering Lightspeed outlets at {base} ...")
    found = discover_locations("lightspeed", base, access_token, domain_prefix=prefix)
    if not found:
        raise CommandError("Lightspeed returned no outlets for this access token")
    wanted = _location_ids(args.location)
    selected = _select(found, wanted, "outlet")
    log(f"store {prefix}: {len(found)} outlet(s) found, {len(selected)} selected")
    return _store(
        args,
        provider="lightspeed",
        merchant_id=prefix,
        account_name=args.name or f"Lightspeed {prefix}",
        base_url=args.base_url,
        access_token=access_token,
        refresh_token=refresh_token,
        token_expires_at=_parse_instant(args.expires_at, "--expires-at"),
        client_id=args.client_id,
        client_secret=client_secret,
        extra={"domain_prefix": prefix},
        locations=_location_rows(selected),
    )


# --------------------------------------------------------------------------------------------
# list / remove
# --------------------------------------------------------------------------------------------


def _short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@_friendly_errors
def _list(args: argparse.Namespace) -> int:
    from pos_sync.appstore import list_accounts

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
    from pos_sync.appstore import remove_account

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
        help="Toast machine client (restaurants looked up with its login)",
        description="Connect a Toast machine client (standard API access). The client logs in once (the "
        "token is stored encrypted and reused by the syncs); each --location restaurant GUID is looked up "
        "for its name, time zone and currency. Without --location the restaurants are listed through "
        "Toast's partners API, which only partner clients may call: standard clients pass the GUIDs.",
    )
    toast.add_argument("--client-id", required=True, help="Toast machine client id (also the account's merchant id)")
    toast.add_argument("--client-secret", required=True, help="Toast machine client secret ('-': stdin)")
    toast.add_argument("--base-url", help=f"API base URL {_PROVIDER_DEFAULT_NOTE}")
    toast.add_argument(
        "--location", action="append", metavar="RESTAURANT_GUID",
        help="restaurant GUID (repeatable; default: every restaurant the partners API lists)",
    )
    _common_add_arguments(toast)
    toast.set_defaults(func=_add_toast)

    lightspeed = providers.add_parser(
        "lightspeed",
        help="Lightspeed Retail (X-Series) store (outlets discovered from the API)",
        description="Connect a Lightspeed Retail (X-Series) store. Outlets are discovered with "
        "GET /api/2.0/outlets; --location restricts the account to some of them. Refresh tokens rotate on "
        "every use: the syncs store each new one the moment it arrives.",
    )
    lightspeed.add_argument("--domain-prefix", required=True, help="store domain prefix (the account's merchant id)")
    lightspeed.add_argument("--access-token", required=True, help="OAuth access token ('-': stdin)")
    lightspeed.add_argument("--refresh-token", required=True, help="OAuth refresh token ('-': stdin)")
    lightspeed.add_argument("--expires-at", help="access token expiry, ISO-8601")
    lightspeed.add_argument("--client-id", help="OAuth app client id, for token refresh (default: LIGHTSPEED_CLIENT_ID)")
    lightspeed.add_argument(
        "--client-secret", help="OAuth app client secret, for token refresh ('-': stdin; default: LIGHTSPEED_CLIENT_SECRET)"
    )
    lightspeed.add_argument(
        "--base-url", help="API base URL (default: https://{domain_prefix}.retail.lightspeed.app)"
    )
    lightspeed.add_argument(
        "--location", action="append", metavar="OUTLET_ID", help="only this outlet id (repeatable)"
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
