"""Instants and local dates, the same for every provider.

**Zone rules come from the ``tzdata`` package** (:func:`zone`), the release pinned in
``constraints.txt``, never from the host's ``/usr/share/zoneinfo``, where Python's ``ZoneInfo(name)``
looks first: a host's tz database is as old as its last OS update (tzdata 2025b on a machine of
2026-12, which still gives America/Vancouver a winter offset that tzdata 2026f no longer has), so
the same sale got another business date on another machine, and another one in the set-based SQL
build, whose DuckDB carries its own (ICU) rules. With the package the rules travel with the
release; ``tests/transforms/test_times.py`` checks that DuckDB's rules agree with it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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


@cache
def zone_names() -> frozenset[str]:
    """Every zone name of the ``tzdata`` package (IANA's spelling; no ``localtime``)."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


class _PackagedZone(ZoneInfo):
    """A zone read from the ``tzdata`` package; pickled as its name (read again on the other side)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return zone, (str(self.key),)


@cache
def zone(name: str) -> ZoneInfo:
    """The zone ``name`` with the ``tzdata`` package's rules (see the module's doc); an unknown
    name raises ``ZoneInfoNotFoundError``, as ``ZoneInfo(name)`` does."""
    if name not in zone_names():
        raise ZoneInfoNotFoundError(f"No time zone found with key {name}")
    with resources.files("tzdata").joinpath("zoneinfo", *name.split("/")).open("rb") as data:
        return _PackagedZone.from_file(data, key=name)
