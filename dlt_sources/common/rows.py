"""Raw rows as every POS source loads them: the tenant and content-hash columns, the content hash,
and the loader file format each destination loads fastest."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

Row = dict[str, Any]

ACCOUNT_COLUMN = "_pos_account_id"  # the tenant (app-store account) of every top-level row
CONTENT_HASH_COLUMN = "_pos_content_hash"  # the guard column of rows that carry no version


def merge_key(key: str | Sequence[str], account_id: str | None) -> tuple[str, ...]:
    """A raw table's primary key: ``key`` and, when the rows carry an account, :data:`ACCOUNT_COLUMN`.

    Every account of a provider loads into one ``raw_<provider>`` dataset, and a store two tenants
    linked is two accounts with the same provider objects (the same payment, order, restaurant
    ids): keyed on the provider's id alone, the second account's import replaced the first's rows —
    their ``_pos_account_id`` became the other tenant's, and the first account's builds, guard and
    re-reads no longer found them."""
    keys = (key,) if isinstance(key, str) else tuple(key)
    return (*keys, ACCOUNT_COLUMN) if account_id else keys


MERGE: Any = {"disposition": "merge", "strategy": "delete-insert"}


def bulk_disposition(first_load: bool) -> Any:
    """The write disposition of a source's transactional resources (the ones whose nested tables
    are built in Arrow with their root key): dlt's merge, or — for an account's first load into a
    dataset that holds none of its rows — ``append``: dlt copies the rows straight into the raw
    tables, without the staging copy and the merge statement that dedups it into them (at
    Square chain × 14 the merge was ~3 s of a ~5 s load). A key the source read twice (a sale
    modified while its import read the feed) is then in the table twice: the caller removes the
    older copy after the load (``pos_sync.warehouse.repeats.drop_repeats``), as the merge would
    have. The other resources always merge (dlt gives their nested tables a root key only then).

    The tables keep their ``dedup_sort`` hint for that removal; dlt's load warns that an append
    ignores it, a ``[WARNING]`` line on every first sync that asks nothing of the user:
    :class:`AppendIgnoresDedupSort` drops exactly that line."""
    if first_load:
        AppendIgnoresDedupSort.install()
        return "append"
    return MERGE


class AppendIgnoresDedupSort(logging.Filter):
    """Drops dlt's warning that a ``dedup_sort`` hint is ignored by an ``append`` load (dlt's
    ``verify_schema_merge_disposition``): a first load appends on purpose and the hint is read
    after it (:func:`bulk_disposition`). Every other dlt record passes, that warning for a
    ``replace`` load too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ('"dedup_sort" column hint' in message and 'with write disposition "append"' in message)

    @classmethod
    def install(cls) -> None:
        """On dlt's logger (``dlt``, the one its load logs to), once per process."""
        dlt_logger = logging.getLogger("dlt")
        if not any(isinstance(f, cls) for f in dlt_logger.filters):
            dlt_logger.addFilter(cls())


def content_hash(row: Mapping[str, Any]) -> str:
    """A stable digest of a row's JSON (keys sorted; decimals, datetimes… as their text)."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()[:32]


def preferred_loader_file_format(destination_type: str) -> str | None:
    """The fastest loader format measured here: parquet for DuckDB, csv (COPY) for PostgreSQL."""
    name = destination_type.rsplit(".", 1)[-1]
    return {"duckdb": "parquet", "postgres": "csv"}.get(name)
