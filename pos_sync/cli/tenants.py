"""``pos-sync tenants``: create tenants and manage their API keys (the key is printed once; the app
store keeps its hash)."""

from __future__ import annotations

import argparse

from pos_sync.cli import emit_json


def _add(args: argparse.Namespace) -> int:
    from pos_sync.appstore.tenants import create_tenant

    tenant_id, key = create_tenant(args.name, args.id)
    if args.json:
        emit_json({"tenant_id": tenant_id, "name": args.name, "api_key": key})
    else:
        print(f"tenant {tenant_id} ({args.name}); API key (shown once, keep it safe): {key}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from pos_sync.appstore.tenants import rotate_key

    key = rotate_key(args.tenant)
    if args.json:
        emit_json({"tenant_id": args.tenant, "api_key": key})
    else:
        print(f"new API key of tenant {args.tenant} (the previous ones stopped working): {key}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from pos_sync.appstore.tenants import revoke_keys

    count = revoke_keys(args.tenant)
    if args.json:
        emit_json({"tenant_id": args.tenant, "revoked": count})
    else:
        print(f"revoked {count} API key(s) of tenant {args.tenant}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from pos_sync.appstore.tenants import list_tenants

    tenants = list_tenants()
    if args.json:
        emit_json([{"tenant_id": t.id, "name": t.name, "created_at": t.created_at.isoformat(),
                    "active_keys": t.active_keys} for t in tenants])
        return 0
    for t in tenants:
        print(f"{t.id}  {t.name}  ({t.active_keys} active key(s))")
    if not tenants:
        print("no tenants")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tenants = subparsers.add_parser("tenants", help="tenants and their API keys",
                                    description="Create tenants and rotate or revoke their API keys.")
    actions = tenants.add_subparsers(dest="tenants_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a tenant and print its API key once")
    add.add_argument("name", help="the tenant's name (e.g. the bakery chain)")
    add.add_argument("--id", help="the tenant id to use (default: a new UUID)")
    add.add_argument("--json", action="store_true", help='print {"tenant_id", "api_key"} as JSON')
    add.set_defaults(func=_add)
    listing = actions.add_parser("list", help="list tenants (never keys)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
    key = actions.add_parser("key", help="rotate or revoke a tenant's API keys")
    key_actions = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    for name, func, text in (("rotate", _rotate, "issue a new key; the previous ones stop working"),
                             ("revoke", _revoke, "revoke every key of the tenant")):
        parser = key_actions.add_parser(name, help=text)
        parser.add_argument("tenant", metavar="TENANT_ID")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(func=func)
