"""Incremental canonical build of one account.

Processes only raw loads it has not seen (dlt load ids recorded in ``pos.transform_loads``):
the provider's builder (``transforms/<provider>/build.py``, from the provider registry) reads the
objects those loads touched and hands their canonical rows to the one writer
(:class:`~pos_sync.canonical.writer.CanonicalWriter`: deterministic ids, re-running replaces,
never duplicates; on a thread of its own, :mod:`~pos_sync.canonical.background`, while the builder
reads and normalises the next batch; a build of many objects on DuckDB normalises them in the
warehouse's SQL instead, :meth:`~pos_sync.canonical.writer.CanonicalWriter.write_set_based`, where the
provider has a set-based form: docs/canonical.md); ``daily_product_sales`` is recomputed for the affected (location, business
date) pairs only, and the loads are recorded — all in one transaction, so a crash leaves the
canonical tables as they were and the loads unprocessed. Cost grows with new data, not history.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pos_sync.canonical.background import BackgroundWriter
from pos_sync.canonical.raw_io import RawReader
from pos_sync.canonical.writer import CanonicalWriter
from pos_sync.privacy import pii_key
from pos_sync.settings import Settings, load_settings
from pos_sync.warehouse.sql import Warehouse
from transforms.build import Builder, BuildJob
from transforms.canonical import SCHEMA, TRANSFORM_LOADS

LOG = logging.getLogger(__name__)


@dataclass
class BuildResult:
    account_id: str
    provider: str
    loads: int = 0
    transactions: int = 0
    items: int = 0
    tenders: int = 0
    products: int = 0  # catalog rows the build read (when the catalog changed)
    locations: int = 0  # location rows written (every build writes the account's locations)
    new_products: int = 0  # POS products first seen in this build
    new_versions: int = 0  # new versions of known products (renamed, re-priced, archived, deleted)
    days_recomputed: int = 0
    daily_rows: int = 0  # daily_product_sales rows written for those days
    memory_limit_raised_to: int | None = None  # bytes: DuckDB's memory_limit the build needed (retried)
    memory_limit_sized_to: int | None = None  # bytes: raised before the build for the key indexes it loads
    seconds: float = 0.0
    affected_days: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "affected_days"}


def unprocessed_loads(wh: Warehouse, provider: str, processed: set[str]) -> list[str]:
    """Completed loads of the provider's raw dataset this account's build has not processed; loads of
    other accounts sharing the dataset are included: they touch none of this account's rows and
    are simply recorded as processed."""
    dataset = f"raw_{provider}"
    if not wh.table_exists(dataset, "_dlt_loads"):
        return []
    rows = wh.query(f"select load_id from {dataset}._dlt_loads where status = 0 order by load_id")
    return [r["load_id"] for r in rows if r["load_id"] not in processed]


def _out_of_memory(wh: Warehouse, exc: BaseException) -> bool:
    """Whether DuckDB ran out of its ``memory_limit``: in a statement, or in the commit
    (:func:`_commit_ran_out`)."""
    if wh.dialect != "duckdb":
        return False
    import duckdb

    return isinstance(exc, duckdb.OutOfMemoryException) or _commit_ran_out(exc)


# the buffer manager's words when it cannot get memory: "could not allocate block of size …",
# "failed to allocate data of size …", "failed to pin block of size …", each with "(x MiB/y MiB used)"
_NO_MEMORY = re.compile(r"(allocate|pin) (block|data) of size .*/.* used\)", re.S)


def _commit_ran_out(exc: BaseException) -> bool:
    """A commit that ran out of memory: DuckDB raises a ``TransactionException`` ("Failed to commit:
    could not allocate block …"), not an ``OutOfMemoryException``, and invalidates the database —
    nothing of the transaction is written, and the connection can run nothing more."""
    import duckdb

    return (isinstance(exc, duckdb.TransactionException) and "Failed to commit" in str(exc)
            and bool(_NO_MEMORY.search(str(exc))))


def _reopened(wh: Warehouse, settings: Settings, limit: int) -> Warehouse:
    """A new connection to the warehouse in place of one whose database DuckDB invalidated (a commit
    that ran out of memory), with the ``memory_limit`` (bytes) the failed attempt had."""
    with suppress(Exception):  # (closing an invalidated connection may raise; nothing is left to lose)
        wh.close()
    fresh = Warehouse(settings)
    fresh.set_memory_limit(limit)
    return fresh


def _builder_of(provider: str) -> Builder:
    from pos_sync.providers import registry

    builder = registry.get(provider).canonical
    if builder is None:
        raise ValueError(f"no canonical build for provider {provider!r} yet")
    return builder


def release_arrow_memory() -> None:
    """Hand back to the system what Arrow's allocator (mimalloc) keeps of buffers already freed —
    the raw import's, when the build runs in the sync's process — before DuckDB takes its own
    memory for the build: 108 MiB of a chain × 90 days Lightspeed sync (its RSS before the build
    545 → 437 MiB). Nothing when Arrow is not loaded."""
    if (pyarrow := sys.modules.get("pyarrow")) is not None:
        pyarrow.default_memory_pool().release_unused()


def build_account(account_id: str, provider: str, tenant_id: str, settings: Settings | None = None, *,
                  builder: Builder | None = None, mappings: Mapping[str, str] | None = None) -> BuildResult:
    """Process every raw load of ``provider`` this account's canonical build has not seen yet
    (``builder``: the provider's, from the registry, unless given; ``mappings``: the tenant's
    ``{pos_item_id: bakery_product_id}`` of this provider, which the items written carry)."""
    settings = settings or load_settings()
    build = builder or _builder_of(provider)
    started = time.monotonic()
    result = BuildResult(account_id=account_id, provider=provider)
    wh = Warehouse(settings)
    try:
        wh.ensure_schema()
        processed = {r["load_id"] for r in wh.query(
            f"select load_id from {SCHEMA}.transform_loads where pos_account_id = %s and pos_provider = %s",
            (account_id, provider))}
        raw_loads = unprocessed_loads(wh, provider, processed)
        if raw_loads:
            release_arrow_memory()
            now = datetime.now(UTC)
            job = BuildJob(tenant_id=tenant_id, account_id=account_id, loads=tuple(raw_loads),
                           first_build=not processed, pii_key=pii_key(settings),
                           keep_pii_clear=settings.keeps_customer_pii(tenant_id), now=now)
            # the key indexes of the history already built are loaded whole: room for them first
            result.memory_limit_sized_to = wh.fit_memory_limit_to_keys()
            if result.memory_limit_sized_to:
                LOG.info("canonical build of account %s: memory_limit %d MiB for the key indexes of the "
                         "warehouse's history (POS_WAREHOUSE_MEMORY_LIMIT %s)", account_id,
                         result.memory_limit_sized_to >> 20, settings.warehouse_memory_limit)
            while True:
                limit = wh.memory_limit_bytes() if wh.dialect == "duckdb" else 0
                try:
                    with wh.transaction():
                        writer = CanonicalWriter(wh, account_id, provider, mappings)
                        # writes on a thread of their own, reads on a second connection (background.py)
                        with closing(wh.companion()) as reads, BackgroundWriter(writer) as sink:
                            build(RawReader(reads, provider, account_id), sink, job)
                        writer.check_natural_keys()  # (DuckDB: no UNIQUE constraint holds them)
                        result.days_recomputed = writer.recompute_daily_product_sales()
                        wh.insert_rows(TRANSFORM_LOADS, [
                            {"pos_account_id": account_id, "pos_provider": provider, "load_id": load_id,
                             "processed_at": now, "transactions": writer.transactions}
                            for load_id in raw_loads
                        ])
                    break
                except Exception as exc:
                    # one transaction, rolled back whole: a build that outgrew POS_WAREHOUSE_MEMORY_LIMIT
                    # (a long history's key indexes) runs again with twice the memory, not fails
                    if not _out_of_memory(wh, exc):
                        raise
                    if _commit_ran_out(exc):
                        # its database invalidated: the next attempt on a new connection, from the limit the
                        # commit ran out at (the attempt's, or what its writer raised it to for the keys)
                        wh = _reopened(wh, settings, max(limit, writer.memory_limit_sized_to or 0))
                    if (raised := wh.raise_memory_limit()) is None:
                        raise
                    result.memory_limit_raised_to = raised
            if writer.memory_limit_sized_to:  # room for the keys the build's inserts added
                result.memory_limit_sized_to = writer.memory_limit_sized_to
                LOG.info("canonical build of account %s: memory_limit %d MiB for the key indexes of its %d "
                         "keys and the warehouse's history (POS_WAREHOUSE_MEMORY_LIMIT %s)", account_id,
                         writer.memory_limit_sized_to >> 20, writer.keys_written, settings.warehouse_memory_limit)
            if result.memory_limit_raised_to:
                LOG.warning("canonical build of account %s needed more than POS_WAREHOUSE_MEMORY_LIMIT (%s): "
                            "built again with %d MiB; set POS_WAREHOUSE_MEMORY_LIMIT to at least that for this "
                            "warehouse", account_id, settings.warehouse_memory_limit,
                            result.memory_limit_raised_to >> 20)
            result.loads = len(raw_loads)
            result.transactions, result.items = writer.transactions, writer.items
            result.tenders, result.products, result.locations = writer.tenders, writer.products, writer.locations
            result.daily_rows = writer.daily_rows
            result.new_products, result.new_versions = writer.new_products, writer.new_versions
            result.affected_days = sorted((d[2], str(d[3])) for d in writer.days)
    finally:
        wh.close()
    result.seconds = round(time.monotonic() - started, 3)
    return result
