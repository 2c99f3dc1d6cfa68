"""``pos-sync accounts add toast``: a machine client logs in once; its restaurants are looked up."""

from __future__ import annotations

import argparse
from typing import Any

from dlt_sources.toast.helpers import discover_restaurants, login, toast_tokens
from dlt_sources.toast.settings import DEFAULT_BASE_URL
from pos_sync.providers.linking import LinkCommand, LinkError, Log, location_ids, location_rows, secret
from pos_sync.providers.linking import select as select_locations


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", required=True, help="Toast machine client id (also the account's merchant id)")
    parser.add_argument("--client-secret", required=True, help="Toast machine client secret ('-': stdin)")
    parser.add_argument("--base-url", help="API base URL (default: the provider's production API)")
    parser.add_argument("--location", action="append", metavar="RESTAURANT_GUID",
                        help="restaurant GUID (repeatable; default: every restaurant the partners API lists)")


def link(args: argparse.Namespace, log: Log) -> dict[str, Any]:
    client_secret = secret(args.client_secret, "--client-secret")
    if not client_secret:
        raise LinkError("--client-secret is required")
    wanted = location_ids(args.location)
    base = (args.base_url or DEFAULT_BASE_URL).rstrip("/")
    log(f"logging in to Toast at {base} as machine client {args.client_id} ...")
    token = login(args.client_id, client_secret, base)
    log("looking up the restaurants ..." if wanted else "listing the client's restaurants ...")
    # with GUIDs: exactly those restaurants' details (an unknown or foreign GUID is an error)
    found = discover_restaurants(base, toast_tokens(args.client_id, client_secret, base, current=token),
                                 wanted or None)
    if not found:
        raise LinkError("Toast returned no restaurants for this client")
    selected = select_locations(found, wanted, "restaurant")
    log(f"{len(selected)} restaurant(s): {', '.join(str(r.get('name') or r['location_id']) for r in selected)}")
    group = next((r["merchant_id"] for r in selected if r.get("merchant_id")), None)
    name = args.name or next((r["business_name"] for r in selected if r.get("business_name")), None)
    return {
        "provider": "toast", "merchant_id": args.client_id, "account_name": name or f"Toast {args.client_id}",
        "base_url": args.base_url, "client_id": args.client_id, "client_secret": client_secret,
        # the login token is kept (encrypted) and reused by the syncs: Toast limits logins
        "access_token": token.access_token, "token_expires_at": token.expires_at,
        "extra": {"management_group_guid": group} if group else None, "locations": location_rows(selected),
    }


COMMAND = LinkCommand(
    help="Toast machine client (restaurants looked up with its login)",
    description="Connect a Toast machine client (standard API access). The client logs in once (the token is "
                "stored encrypted and reused by the syncs); each --location restaurant GUID is looked up for its "
                "name, time zone and currency. Without --location the restaurants are listed through Toast's "
                "partners API, which only partner clients may call: standard clients pass the GUIDs.",
    add_arguments=add_arguments,
    link=link,
)
