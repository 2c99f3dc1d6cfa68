"""``pos-sync accounts add square``: a merchant's token, its locations discovered from Square."""

from __future__ import annotations

import argparse
from typing import Any

from dlt_sources.common.auth import TokenSet
from dlt_sources.square.helpers import discover_locations, merchant_id_of, square_tokens
from dlt_sources.square.settings import DEFAULT_BASE_URL
from pos_sync.providers.linking import (
    LinkCommand,
    LinkError,
    Log,
    add_token_arguments,
    location_ids,
    location_rows,
    parse_instant,
    secret,
)
from pos_sync.providers.linking import select as select_locations


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_token_arguments(parser, refresh_required=False)  # a personal access token has none
    parser.add_argument("--base-url", help="API base URL, e.g. https://connect.squareupsandbox.com "
                                           "(default: the provider's production API)")
    parser.add_argument("--location", action="append", metavar="ID", help="only this location id (repeatable)")


def link(args: argparse.Namespace, log: Log) -> dict[str, Any]:
    access_token = secret(args.access_token, "--access-token")
    refresh_token = secret(args.refresh_token, "--refresh-token")
    if not access_token:
        raise LinkError("--access-token is required")
    expires_at = parse_instant(args.expires_at, "--expires-at")
    base = (args.base_url or DEFAULT_BASE_URL).rstrip("/")
    log(f"discovering Square locations at {base} ...")
    tokens = square_tokens(TokenSet(access_token, refresh_token, expires_at), base_url=base)
    found = discover_locations(base, tokens)
    if not found:
        raise LinkError("Square returned no locations for this access token")
    merchant_id = merchant_id_of(found)
    selected = select_locations(found, location_ids(args.location), "location")
    log(f"merchant {merchant_id}: {len(found)} location(s) found, {len(selected)} selected")
    name = args.name or next((loc["business_name"] for loc in found if loc.get("business_name")), None)
    return {
        "provider": "square", "merchant_id": merchant_id, "account_name": name or f"Square {merchant_id}",
        "base_url": args.base_url, "access_token": access_token, "refresh_token": refresh_token,
        "token_expires_at": expires_at, "locations": location_rows(selected),
    }


COMMAND = LinkCommand(
    help="Square (locations discovered from the API)",
    description="Connect a Square merchant. Locations and the merchant id are discovered with GET /v2/locations; "
                "--location restricts the account to some of them.",
    add_arguments=add_arguments,
    link=link,
)
