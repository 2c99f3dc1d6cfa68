"""``pos-sync accounts add lightspeed_r``: an R-Series account's OAuth tokens, its shops discovered."""

from __future__ import annotations

import argparse
from typing import Any

from dlt_sources.common.auth import TokenSet
from dlt_sources.lightspeed_r.helpers import discover_shops, lightspeed_r_tokens, token_account_id
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
    parser.add_argument("--account-id", help="R-Series accountID (default: the token's, from GET /API/V3/Account.json)")
    add_token_arguments(parser, refresh_required=True)
    parser.add_argument("--client-id", help="OAuth app client id, for token refresh (default: LIGHTSPEED_R_CLIENT_ID)")
    parser.add_argument("--client-secret",
                        help="OAuth app client secret, for token refresh ('-': stdin; default: LIGHTSPEED_R_CLIENT_SECRET)")
    parser.add_argument("--base-url", help="API base URL (default: https://api.lightspeedapp.com; tokens are "
                                           "refreshed at https://cloud.lightspeedapp.com unless this is set)")
    parser.add_argument("--location", action="append", metavar="SHOP_ID", help="only this shopID (repeatable)")


def link(args: argparse.Namespace, log: Log) -> dict[str, Any]:
    access_token = secret(args.access_token, "--access-token")
    refresh_token = secret(args.refresh_token, "--refresh-token")
    client_secret = secret(args.client_secret, "--client-secret")
    if not access_token:
        raise LinkError("--access-token is required")
    expires_at = parse_instant(args.expires_at, "--expires-at")
    # no refresh here: a refresh would rotate the refresh token before it is stored
    tokens = lightspeed_r_tokens(TokenSet(access_token, None, expires_at), base_url=args.base_url,
                                 client_id=None, client_secret=None)
    actual = token_account_id(args.base_url, tokens)
    wanted = (args.account_id or "").strip()
    if wanted and wanted != actual:
        raise LinkError(f"these Lightspeed R-Series credentials belong to account {actual}, not {wanted}: "
                        f"use --account-id {actual} (or the named account's own tokens)")
    log(f"discovering Lightspeed R-Series shops of account {actual} ...")
    found = discover_shops(args.base_url, tokens, actual)
    if not found:
        raise LinkError(f"Lightspeed R-Series returned no shops for account {actual}")
    selected = select_locations(found, location_ids(args.location), "shop")
    log(f"account {actual}: {len(found)} shop(s) found, {len(selected)} selected")
    return {
        "provider": "lightspeed_r", "merchant_id": actual, "account_name": args.name or f"Lightspeed R {actual}",
        "base_url": args.base_url, "access_token": access_token, "refresh_token": refresh_token,
        "token_expires_at": expires_at, "client_id": args.client_id, "client_secret": client_secret,
        "extra": {}, "locations": location_rows(selected),
    }


COMMAND = LinkCommand(
    help="Lightspeed Retail R-Series account (API V3; shops discovered from the API)",
    description="Connect a Lightspeed Retail R-Series account (cloud.lightspeedapp.com sign-in, numeric accountID). "
                "Shops are discovered with GET /API/V3/Account/{accountID}/Shop.json; --location restricts the "
                "account to some of them. Access tokens last an hour and refresh tokens rotate on every use: the "
                "syncs store each new one the moment it arrives.",
    add_arguments=add_arguments,
    link=link,
)
