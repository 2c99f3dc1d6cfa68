"""The sandbox ledger's ``objects`` rows against what was loaded. Which SQL counts which object
is each provider's knowledge (its support module); this is the comparison around it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

Rows = list[tuple[Any, ...]]


def counts_per_location(query: Callable[[str], Rows],
                        queries: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """{location: {key: n}} from ``queries`` (key -> SQL giving (location, n) rows); zeros left out."""
    out: dict[str, dict[str, int]] = {}
    for key, sql in queries.items():
        for location, n in query(sql):
            if n:
                out.setdefault(str(location), {})[key] = int(n)
    return out


def expected_objects(truth: dict[str, Any], provider: str, keys: Iterable[str]) -> dict[str, dict[str, int]]:
    """{location: {key: n}} of the ledger's ``objects`` rows of ``provider``; zeros left out."""
    wanted = tuple(keys)
    return {
        row["location_id"]: {k: row[k] for k in wanted if row[k]}
        for row in truth["objects"]
        if row["location_id"] is not None and row["provider"] == provider
    }
