"""``pos-sync privacy erase``: GDPR erasure of one person (``--customer VALUE [--tenant T]``) or of
a whole tenant (``--tenant T``) in the raw datasets, the canonical tables and the app store
(:mod:`pos_sync.privacy.erase`). The value is never printed or logged: the report counts rows."""

from __future__ import annotations

import argparse

from pos_sync.cli import CommandError, emit_json


def _erase(args: argparse.Namespace) -> int:
    from pos_sync.privacy.erase import ErasureError, erase_customer, erase_tenant

    if args.customer is None and args.tenant is None:
        raise CommandError("say whom to erase: --customer VALUE (an e-mail, phone or customer id) and/or --tenant T")
    try:
        if args.customer is not None:
            report = erase_customer(args.customer, args.tenant)
            what = "the customer" + (f" in tenant {args.tenant}" if args.tenant else " in every tenant")
        else:
            report = erase_tenant(args.tenant)
            what = f"tenant {args.tenant}"
    except ErasureError as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        emit_json({"erased": what, **report.as_dict()})
        return 0
    rows = sum(report.warehouse.values())
    print(f"erased {what}: {rows} warehouse row(s) in {len(report.warehouse)} table(s), "
          f"{sum(report.appstore.values())} app store row(s), {report.files} dlt working file(s)")
    for table, count in sorted(report.warehouse.items()):
        print(f"  {table}: {count}")
    for table, count in sorted(report.appstore.items()):
        print(f"  app store {table}: {count}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    privacy = subparsers.add_parser("privacy", help="GDPR: erase a person or a tenant",
                                    description="Personal data is pseudonymised by default (docs/privacy.md); "
                                                "these commands erase it.")
    actions = privacy.add_subparsers(dest="privacy_command", metavar="ACTION", required=True)
    erase = actions.add_parser(
        "erase", help="erase one person (--customer) or a whole tenant (--tenant)",
        description="--customer VALUE: anonymise every raw and canonical row that refers to the person "
                    "(an e-mail, phone or customer id, in clear; hashed with the key) and delete the app "
                    "store rows that carry it; with --tenant, only in that tenant. --tenant alone: delete "
                    "all of the tenant's data everywhere (raw rows of its accounts, pos rows, app store).")
    erase.add_argument("--customer", metavar="VALUE", help="an e-mail, phone number or customer id, in clear")
    erase.add_argument("--tenant", metavar="T", help="the tenant (alone: erase the whole tenant)")
    erase.add_argument("--json", action="store_true", help="print the erasure report as JSON")
    erase.set_defaults(func=_erase)
