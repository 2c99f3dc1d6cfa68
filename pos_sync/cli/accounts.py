"""``pos-sync accounts``: connect, list and remove POS accounts in the app store.

One ``accounts add <provider>`` per registered provider that has a ``cli_link``
(:mod:`pos_sync.providers.linking`). Secrets given on the command line land in shell history and
``ps``; every secret option also accepts ``-`` to read the value from one line of stdin.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from pos_sync.cli import emit_json, log

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


# imported up front with the collector paused (pos_sync.cli.preload): the app store and its migrations
ADD_PRELOAD = ("pos_sync.appstore", "pos_sync.providers", "alembic.script")


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


def _adder(provider: str) -> Callable[[argparse.Namespace], int]:
    """``accounts add <provider>``: the provider's LinkCommand checks the credentials and says what
    to store; the app store keeps it (encrypted)."""

    def add(args: argparse.Namespace) -> int:
        from pos_sync.appstore import get_account, upsert_account
        from pos_sync.providers import registry

        fields = registry.get(provider).cli_link.link(args, log)
        account_id, created = upsert_account(tenant_id=args.tenant, sync_frequency_minutes=args.sync_frequency_minutes,
                                             historical_import_days=args.historical_days, **fields)
        info = get_account(account_id)
        if args.json:
            emit_json({**info.to_dict(), "created": created})
            return 0
        print(f"{'added' if created else 'updated'} {info.provider} account {info.id} (merchant {info.merchant_id}) "
              f"for tenant {info.tenant_id} with {len(info.location_ids)} location(s): {', '.join(info.location_ids)}")
        return 0

    return add


# --------------------------------------------------------------------------------------------
# list / remove
# --------------------------------------------------------------------------------------------


def _short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


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
    from pos_sync.providers import registry

    for spec in registry:
        if spec.cli_link is None:
            continue
        parser = providers.add_parser(spec.name, help=spec.cli_link.help, description=spec.cli_link.description)
        spec.cli_link.add_arguments(parser)
        _common_add_arguments(parser)
        parser.set_defaults(func=_adder(spec.name), preload=ADD_PRELOAD)

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
