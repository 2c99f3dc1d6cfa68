"""Instants and local dates, the same for every provider."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo


def as_utc(value: Any) -> datetime | None:
    """An RFC 3339 text or a datetime (naive = UTC) as an aware UTC datetime; None/"" → None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is UTC:  # already (the raw reads give UTC): the same instant and zone
            return value
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def local_date(when: datetime | None, zone: ZoneInfo) -> date | None:
    """The calendar date of ``when`` in ``zone`` (the business date of providers without one)."""
    return None if when is None else when.astimezone(zone).date()
