"""Linking an account from the command line, the part every provider shares.

A provider that can be added with ``pos-sync accounts add <provider>`` describes it with a
:class:`LinkCommand` (its options, and ``link(args, log)`` which checks the credentials with the
provider — discovery, login — and returns the app store fields of the account). Failures a person
can act on raise :class:`LinkError` (one line, never a secret).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Log = Callable[[str], None]


class LinkError(ValueError):
    """The credentials or options cannot make an account (the message says what to fix)."""


@dataclass(frozen=True)
class LinkCommand:
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    link: Callable[[argparse.Namespace, Log], dict[str, Any]]  # -> fields of AppStore.upsert_account


def add_token_arguments(parser: argparse.ArgumentParser, *, refresh_required: bool) -> None:
    """``--access-token``, ``--refresh-token`` and ``--expires-at`` of an OAuth account."""
    parser.add_argument("--access-token", required=True, help="OAuth access token ('-': stdin)")
    parser.add_argument("--refresh-token", required=refresh_required, help="OAuth refresh token ('-': stdin)")
    parser.add_argument("--expires-at", help="access token expiry, ISO-8601 (e.g. 2026-01-31T12:00:00Z)")


def secret(value: str | None, option: str) -> str | None:
    """An option's value; ``-`` reads it from one line of stdin (keeps it out of shell history)."""
    if value != "-":
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise LinkError(f"{option} -: expected the value on stdin, got nothing")
    return line


def parse_instant(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise LinkError(f"{option}: not an ISO-8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def location_ids(values: Sequence[str] | None) -> list[str]:
    """``--location`` values (repeatable, comma-separated too), de-duplicated in order."""
    ids: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if part and part not in ids:
                ids.append(part)
    return ids


def select(found: Sequence[Mapping[str, Any]], wanted: list[str], what: str) -> list[Mapping[str, Any]]:
    """The discovered locations ``wanted`` restricts to (all when empty); unknown ids are an error."""
    if not wanted:
        return list(found)
    by_id = {loc["location_id"]: loc for loc in found}
    unknown = [lid for lid in wanted if lid not in by_id]
    if unknown:
        raise LinkError(f"{what}(s) not visible to these credentials: {', '.join(unknown)} "
                        f"(available: {', '.join(sorted(by_id)) or 'none'})")
    return [by_id[lid] for lid in wanted]


def location_rows(locations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the app store keeps of a discovered location."""
    return [{k: loc.get(k) for k in ("location_id", "name", "timezone", "currency")} for loc in locations]
