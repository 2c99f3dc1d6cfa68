"""Reading one account's rows from a ``raw_<provider>`` dataset, with dlt child tables
re-attached to their parents as lists (the shape the pure normalizers take): the warehouse side
of :class:`transforms.build.RawRows`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pos_sync.warehouse.sql import Warehouse

Row = dict[str, Any]
_TIMESTAMPTZ = {"TIMESTAMP WITH TIME ZONE", "timestamp with time zone"}  # DuckDB's, PostgreSQL's spelling


class RawReader:
    ACCOUNT_COLUMN = "_pos_account_id"

    def __init__(self, wh: Warehouse, provider: str, account_id: str) -> None:
        self.wh = wh
        self.dataset = f"raw_{provider}"
        self.account_id = account_id
        self.tables = {r["table_name"] for r in wh.query(
            "select table_name from information_schema.tables where table_schema = %s", (self.dataset,))}
        self._columns: dict[str, dict[str, str]] = {}  # table -> {column: data type}, in the table's order

    def has(self, table: str) -> bool:
        return table in self.tables

    def q(self, table: str) -> str:
        return f'{self.dataset}."{table}"'

    qualified = q

    def column_types(self, table: str) -> dict[str, str]:
        return self._types(table) if self.has(table) else {}

    def keys(self, values: Iterable[str], column: str = "id") -> str:
        return self.wh.temp_key_column(column, values)

    def account_table(self, table: str) -> list[Row]:
        if not self.has(table):
            return []
        return self._read(table, f"select {self.select_list(table, None)} from {self.q(table)} t "
                                 f"where t.{self.ACCOUNT_COLUMN} = %s", (self.account_id,))

    def _read(self, table: str, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The rows of ``sql`` (a :meth:`select_list` of ``table``), its timestamps with time zone as
        aware UTC datetimes."""
        return self.wh.records(sql, params, utc=self._timestamps(table) if self.wh.dialect == "duckdb" else ())

    def _timestamps(self, table: str) -> set[str]:
        return {c for c, t in self._types(table).items() if t in _TIMESTAMPTZ}

    def _types(self, table: str) -> dict[str, str]:
        if table not in self._columns:
            self._columns[table] = self.wh.column_types(self.dataset, table)
        return self._columns[table]

    def changed_ids(self, table: str, key_column: str, loads: Sequence[str]) -> set[str]:
        """Keys of this account's ``table`` rows written by ``loads``."""
        if not loads or not self.has(table):
            return set()
        tmp = self.keys(loads, "load_id")
        return set(self.wh.column(
            f"select distinct t.{key_column} from {self.q(table)} t join {tmp} l on t._dlt_load_id = l.load_id "
            f"where t.{self.ACCOUNT_COLUMN} = %s and t.{key_column} is not null", (self.account_id,)))

    def related_ids(self, table: str, key_column: str, column: str, values: Iterable[str]) -> set[str]:
        """Keys of this account's ``table`` rows whose ``column`` is one of ``values``."""
        values = list(values)
        if not values or not self.has(table):
            return set()
        tmp = self.keys(values)
        return set(self.wh.column(
            f"select distinct t.{key_column} from {self.q(table)} t join {tmp} v on t.{column} = v.id "
            f"where t.{self.ACCOUNT_COLUMN} = %s and t.{key_column} is not null", (self.account_id,)))

    def table_changed(self, table: str, loads: Sequence[str]) -> bool:
        return bool(self.changed_ids(table, "_dlt_id", loads))

    def select_list(self, table: str, columns: Sequence[str] | None, alias: str = "t") -> str:
        """Every column of the table (``alias.*``), or those of ``columns`` the table has (dlt adds a
        column with its first value: one never filled is absent, as its key is from a row read
        whole). On DuckDB a timestamp with time zone is read as the naive UTC timestamp
        (``timezone('UTC', …)``; :meth:`_read` makes it aware again): DuckDB turns a TIMESTAMPTZ into
        a Python datetime in the session's zone at ~5 µs a value, a naive one at ~0.8 µs — most of
        reading Square's orders (three timestamps each) and Toast's checks (up to seven)."""
        types = self._types(table)
        present = list(types) if columns is None else [c for c in columns if c in types]
        if self.wh.dialect != "duckdb":
            return f"{alias}.*" if columns is None else (", ".join(f'{alias}."{c}"' for c in present) or "null as _none")
        return ", ".join(f"timezone('UTC', {alias}.\"{c}\") as \"{c}\"" if types[c] in _TIMESTAMPTZ
                         else f'{alias}."{c}"' for c in present) or "null as _none"

    def roots(self, table: str, key_column: str, ids: Iterable[str],
              columns: Sequence[str] | None = None) -> list[Row]:
        ids = list(ids)
        if not ids or not self.has(table):
            return []
        tmp = self.keys(ids)
        return self._read(table, f"select {self.select_list(table, columns)} from {self.q(table)} t "
                                 f"join {tmp} k on t.{key_column} = k.id where t.{self.ACCOUNT_COLUMN} = %s",
                          (self.account_id,))

    def attach(self, root_table: str, roots: list[Row], children: Mapping[str, tuple[str, str]],
               columns: Mapping[str, Sequence[str]] | None = None) -> list[Row]:
        """Attach child rows (``child_table -> (key in the parent dict, parent table)``, parents
        listed before their children) as lists ordered by ``_dlt_list_idx``; of a child table named
        in ``columns``, only those columns (and the keys that attach it)."""
        if not roots:
            return roots
        nodes: dict[str, dict[str, Row]] = {root_table: {r["_dlt_id"]: r for r in roots}}
        root_keys = self.keys(nodes[root_table])
        for table, (key, parent_table) in children.items():
            if not self.has(table):
                continue
            wanted = (columns or {}).get(table)
            select = self.select_list(table, None if wanted is None else (*wanted, "_dlt_id", "_dlt_parent_id"), "c")
            rows = self._read(table, f"select {select} from {self.q(table)} c join {root_keys} k "
                                     f"on c._dlt_root_id = k.id order by c._dlt_list_idx")
            nodes[table] = {r["_dlt_id"]: r for r in rows}
            grouped: dict[str, list[Row]] = defaultdict(list)
            for r in rows:
                grouped[r["_dlt_parent_id"]].append(r)
            parents = nodes.get(parent_table, {})
            for parent_id, items in grouped.items():
                parent = parents.get(parent_id)
                if parent is not None:
                    parent[key] = items
        return roots
