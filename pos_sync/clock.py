"""The connector's notion of "now": real UTC time, or ``POS_NOW`` (RFC 3339) when injected.

Injecting the clock lets a sandbox world in the past be synced as if it were current.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime


def parse_rfc3339(value: str) -> datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp needs a UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def utcnow() -> datetime:
    injected = os.environ.get("POS_NOW")
    if injected:
        return parse_rfc3339(injected)
    return datetime.now(UTC)
