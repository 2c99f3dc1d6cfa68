"""After an account's first load: the raw rows it appended, one per key, as dlt's merge leaves them.

An account's historical import appends its transactional rows (``dlt_sources.common.rows.bulk_disposition``):
dlt copies each load file straight into the raw table, without the staging copy and the merge
statement. Two things can then leave a key in a raw table more than once, and this module removes them:

* **a row read twice**: a sale modified while the import read the feed (Lightspeed's change feed
  lists it again with its new version; Toast's settling pass pages a window again). Of the rows of a
  primary key (which holds the account), the newest version stays — the highest ``dedup_sort``
  value, as dlt's merge keeps within a load; between loads (a window backfill's rows before the
  import) the later load's when the versions tie — and the others go, with their nested rows
  (``_dlt_root_id``);
* **a load file copied twice**: a load that stopped between a copy's commit and dlt marking the job
  done copies that file again when the next run finishes the package; its rows come back with the
  same ``_dlt_id``, one of each stays (DuckDB's ``rowid``, PostgreSQL's ``ctid`` tell the copies
  apart).

:func:`drop_repeats` runs after the first load, after any run that finished a package an earlier
run left pending, and after every run until a sync of the account succeeded whole (a run that died
between its load and the drop); it is idempotent, and writes nothing when nothing repeats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dlt_sources.common.rows import ACCOUNT_COLUMN
from pos_sync.warehouse.sql import Warehouse

ROW_KEY, ROOT_KEY, LOAD_ID = "_dlt_id", "_dlt_root_id", "_dlt_load_id"
CHUNK = 1000  # ids per DELETE … IN (…)


@dataclass(frozen=True)
class TableFamily:
    """A root table of the dataset with a primary key, and its nested tables (all levels)."""

    root: str
    primary_key: tuple[str, ...]
    dedup_sort: tuple[str, str] | None  # (column, "asc" | "desc"): the row dlt's merge keeps
    nested: tuple[str, ...] = ()


@dataclass
class Dropped:
    """Rows removed, per table: ``read_twice`` (older copies of a key and their nested rows) and
    ``copied_twice`` (second copies of a load file's rows)."""

    read_twice: dict[str, int] = field(default_factory=dict)
    copied_twice: dict[str, int] = field(default_factory=dict)

    def total(self) -> int:
        return sum(self.read_twice.values()) + sum(self.copied_twice.values())

    def summary(self) -> str:
        parts = [f"{table} {n}" for table, n in self.read_twice.items() if n]
        parts += [f"{table} {n} (a load file copied twice)" for table, n in self.copied_twice.items() if n]
        return ", ".join(parts) or "none"


def families(schema: Any) -> list[TableFamily]:
    """The dataset's root tables with a primary key (dlt's schema of the pipeline), with their nested tables."""
    from dlt.common.schema.utils import get_columns_names_with_prop, get_dedup_sort_tuple, get_nested_tables

    out = []
    for table in schema.data_tables():
        name = table["name"]
        if table.get("parent"):
            continue
        key = tuple(get_columns_names_with_prop(table, "primary_key"))
        if not key:
            continue
        nested = tuple(t["name"] for t in get_nested_tables(schema.tables, name)[1:])
        out.append(TableFamily(name, key, get_dedup_sort_tuple(table), nested))
    return out


def drop_repeats(wh: Warehouse, dataset: str, tables: Sequence[TableFamily], account_id: str | None,
                 *, copied_twice: bool = True) -> Dropped:
    """Remove the repeated rows of ``account_id`` (every account when None or when a table has no
    account column) from ``dataset``'s ``tables``; ``copied_twice``: also look for a load file's
    rows copied twice (repeated ``_dlt_id`` among the account's rows: a root table's by its account
    column, a nested table's by their root row's; a table the account cannot be told in, whole)."""
    dropped = Dropped()
    columns = _columns_of(wh, dataset)
    _end_reads(wh)
    for family in tables:
        if family.root not in columns:
            continue
        nested = [t for t in family.nested if t in columns]
        if copied_twice:
            scopes = _account_scopes(columns, dataset, family.root, nested, account_id)
            for table in (family.root, *nested):
                n = _drop_second_copies(wh, dataset, table, columns[table], *scopes.get(table, ("", ())))
                if n:
                    dropped.copied_twice[f"{dataset}.{table}"] = n
        for table, n in _drop_older_versions(wh, dataset, family, nested, columns, account_id).items():
            dropped.read_twice[f"{dataset}.{table}"] = n
    return dropped


def _columns_of(wh: Warehouse, dataset: str) -> dict[str, set[str]]:
    """``{table: its columns}`` of every table of ``dataset``, in one read of the catalog."""
    out: dict[str, set[str]] = {}
    for r in wh.query("select table_name, column_name from information_schema.columns where table_schema = %s",
                      (dataset,)):
        out.setdefault(r["table_name"], set()).add(r["column_name"])
    return out


def _end_reads(wh: Warehouse) -> None:
    """PostgreSQL opens a transaction at the first read: ended, so that the checks hold no lock on
    the raw tables (another account's load may alter them) while nothing is to be deleted."""
    if wh.dialect == "postgres":
        wh.commit()


def _q(dataset: str, table: str) -> str:
    return f'"{dataset}"."{table}"'


Scope = tuple[str, tuple[Any, ...]]  # (" and <condition>", its parameters)


def _account_scopes(columns: dict[str, set[str]], dataset: str, root: str, nested: Sequence[str],
                    account_id: str | None) -> dict[str, Scope]:
    """Per table of a family, the condition that keeps the scan for copied files to ``account_id``'s
    rows (none: the whole table, when there is no account or the root table has no account column):
    a load file holds one account's rows, so its second copy is among them. The warehouse's other
    accounts are not read (a first import no longer scans every account's history)."""
    if account_id is None or ACCOUNT_COLUMN not in columns[root]:
        return {}
    scopes: dict[str, Scope] = {root: (f' and "{ACCOUNT_COLUMN}" = %s', (account_id,))}
    for table in nested:
        if ROOT_KEY in columns[table]:
            scopes[table] = (f' and "{ROOT_KEY}" in (select "{ROW_KEY}" from {_q(dataset, root)} '
                             f'where "{ACCOUNT_COLUMN}" = %s)', (account_id,))
    return scopes


def _drop_second_copies(wh: Warehouse, dataset: str, table: str, columns: set[str], scope: str = "",
                        params: tuple[Any, ...] = ()) -> int:
    """Rows whose ``_dlt_id`` another row of the table has (a load file copied twice): all but one.
    ``scope``: `` and <condition>`` limiting the rows looked at (:func:`_account_scopes`)."""
    if ROW_KEY not in columns:
        return 0
    name = _q(dataset, table)
    repeated = wh.scalar(f"select count(*) - count(distinct {ROW_KEY}) from {name} where true{scope}", params)
    _end_reads(wh)
    if not repeated:
        return 0
    physical = "rowid" if wh.dialect == "duckdb" else "ctid"
    with wh.transaction():
        return wh.execute_count(
            f"delete from {name} where {physical} in (select {physical} from (select {physical}, row_number() over "
            f"(partition by {ROW_KEY} order by {physical}) as rn from {name} where {ROW_KEY} in (select {ROW_KEY} "
            f"from {name} where true{scope} group by {ROW_KEY} having count(*) > 1){scope}) s where rn > 1)",
            params + params)


def _drop_older_versions(wh: Warehouse, dataset: str, family: TableFamily, nested: Sequence[str],
                         tables: dict[str, set[str]], account_id: str | None) -> dict[str, int]:
    """Of the root rows sharing a primary key, all but the newest version, with their nested rows
    (``tables``: the dataset's columns per table)."""
    name = _q(dataset, family.root)
    columns = tables[family.root]
    key = ", ".join(f'"{c}"' for c in family.primary_key)
    t_key = ", ".join(f't."{c}"' for c in family.primary_key)
    scoped = account_id is not None and ACCOUNT_COLUMN in columns
    where = f'where "{ACCOUNT_COLUMN}" = %s' if scoped else ""
    params: tuple[Any, ...] = (account_id,) if scoped else ()
    repeated = wh.scalar(f"select count(*) from (select 1 from {name} {where} group by {key} having count(*) > 1) s",
                         params)
    _end_reads(wh)
    if not repeated:
        return {}
    for table in nested:
        if ROOT_KEY not in tables[table]:
            raise RuntimeError(f"{dataset}.{table} has no {ROOT_KEY}: the nested rows of a repeated "
                               f"{family.root} row cannot be told apart; load it with merge")
    # the newest version first (the version guard lets no older one in, whatever the load order), then
    # the later load's, then any; NULLs where dlt's merge puts them on this database (no NULLS clause)
    order = [f't."{family.dedup_sort[0]}" {family.dedup_sort[1]}'] if family.dedup_sort is not None else []
    if LOAD_ID in columns:
        order.append(f't."{LOAD_ID}" desc')
    order.append(f't."{ROW_KEY}" desc')
    older = wh.column(
        f'select "{ROW_KEY}" from (select t."{ROW_KEY}", row_number() over (partition by '
        f"{t_key} order by {', '.join(order)}) as rn from {name} t "
        f"join (select {key} from {name} {where} group by {key} having count(*) > 1) d using ({key})) s "
        f"where rn > 1", params)
    counts: dict[str, int] = {}
    with wh.transaction():
        for chunk in _chunks(older):
            marks = ", ".join(["%s"] * len(chunk))
            for table in nested:
                n = wh.execute_count(f'delete from {_q(dataset, table)} where "{ROOT_KEY}" in ({marks})', chunk)
                counts[table] = counts.get(table, 0) + n
            counts[family.root] = counts.get(family.root, 0) + wh.execute_count(
                f'delete from {name} where "{ROW_KEY}" in ({marks})', chunk)
    return {t: n for t, n in counts.items() if n}


def _chunks(values: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(values), CHUNK):
        yield list(values[i:i + CHUNK])
