"""Which raw columns a normaliser reads: rows that record every key read from them, and rows cut to
a provider's ``RAW_COLUMNS`` (what its builder reads), for the tests that keep the two in step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Recording(dict[str, Any]):
    """A raw row that notes every key read from it (``get`` or ``[]``) under its raw table's name;
    its child lists (``children``: key in the row -> child table) are recording rows too."""

    def __init__(self, table: str, row: Mapping[str, Any], children: Mapping[str, str],
                 seen: dict[str, set[str]]) -> None:
        super().__init__({k: [Recording(children[k], c, children, seen) for c in v]
                          if k in children and isinstance(v, list) else v for k, v in row.items()})
        self.table, self.children, self.seen = table, children, seen

    def _note(self, key: str) -> None:
        if key not in self.children:  # the child lists are the builder's, not raw columns
            self.seen.setdefault(self.table, set()).add(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self._note(key)
        return super().__getitem__(key)


def project(table: str, row: Mapping[str, Any], children: Mapping[str, str],
            columns: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """``row`` as the builder reads it: only ``columns[table]`` (child lists kept, cut alike)."""
    return {k: ([project(children[k], c, children, columns) for c in v] if k in children else v)
            for k, v in row.items() if k in children or k in columns[table]}


def unlisted(seen: Mapping[str, set[str]], columns: Mapping[str, tuple[str, ...]]) -> dict[str, set[str]]:
    """The keys read of each table that its column list leaves out (empty: none)."""
    return {t: keys - set(columns.get(t, ())) for t, keys in seen.items() if keys - set(columns.get(t, ()))}
