"""``pos-sync accounts add lightspeed``: a store's OAuth tokens, its outlets discovered."""

from __future__ import annotations

import argparse
from typing import Any

from dlt_sources.common.auth import TokenSet
from dlt_sources.lightspeed.helpers import (
    DOMAIN_PREFIX,
    discover_outlets,
    lightspeed_tokens,
    retailer_domain_prefix,
    store_base_url,
)
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
    parser.add_argument("--domain-prefix", required=True, help="store domain prefix (the account's merchant id)")
    add_token_arguments(parser, refresh_required=True)
    parser.add_argument("--client-id", help="OAuth app client id, for token refresh (default: LIGHTSPEED_CLIENT_ID)")
    parser.add_argument("--client-secret",
                        help="OAuth app client secret, for token refresh ('-': stdin; default: LIGHTSPEED_CLIENT_SECRET)")
    parser.add_argument("--base-url", help="API base URL (default: https://{domain_prefix}.retail.lightspeed.app)")
    parser.add_argument("--location", action="append", metavar="OUTLET_ID", help="only this outlet id (repeatable)")


def link(args: argparse.Namespace, log: Log) -> dict[str, Any]:
    access_token = secret(args.access_token, "--access-token")
    refresh_token = secret(args.refresh_token, "--refresh-token")
    client_secret = secret(args.client_secret, "--client-secret")
    if not access_token:
        raise LinkError("--access-token is required")
    prefix = args.domain_prefix.strip().lower()
    if not prefix:
        raise LinkError("--domain-prefix must not be empty")
    if not DOMAIN_PREFIX.fullmatch(prefix):  # it names the store's host: one DNS label
        raise LinkError(f"--domain-prefix {prefix!r} is not a Lightspeed domain prefix (letters, digits and hyphens)")
    expires_at = parse_instant(args.expires_at, "--expires-at")
    base = store_base_url(prefix, args.base_url)
    # no refresh here: a refresh would rotate the store's refresh token before it is stored
    tokens = lightspeed_tokens(TokenSet(access_token, None, expires_at), base_url=base, client_id=None,
                               client_secret=None)
    actual = retailer_domain_prefix(base, tokens)
    if actual != prefix:  # the credentials must be the named store's (its prefix is in the host name)
        raise LinkError(f"these Lightspeed credentials belong to the store {actual!r}, not {prefix!r}: "
                        f"use --domain-prefix {actual} (or the named store's own tokens)")
    log(f"discovering Lightspeed outlets at {base} ...")
    found = discover_outlets(base, tokens)
    if not found:
        raise LinkError("Lightspeed returned no outlets for this access token")
    selected = select_locations(found, location_ids(args.location), "outlet")
    log(f"store {prefix}: {len(found)} outlet(s) found, {len(selected)} selected")
    return {
        "provider": "lightspeed", "merchant_id": prefix, "account_name": args.name or f"Lightspeed {prefix}",
        "base_url": args.base_url, "access_token": access_token, "refresh_token": refresh_token,
        "token_expires_at": expires_at, "client_id": args.client_id, "client_secret": client_secret,
        "extra": {"domain_prefix": prefix}, "locations": location_rows(selected),
    }


COMMAND = LinkCommand(
    help="Lightspeed Retail (X-Series) store (outlets discovered from the API)",
    description="Connect a Lightspeed Retail (X-Series) store. Outlets are discovered with GET /api/2.0/outlets; "
                "--location restricts the account to some of them. Refresh tokens rotate on every use: the syncs "
                "store each new one the moment it arrives.",
    add_arguments=add_arguments,
    link=link,
)
