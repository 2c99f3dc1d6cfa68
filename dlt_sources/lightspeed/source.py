"""Lightspeed Retail (X-Series, API 2.0) → raw tables: sales (+ line items, payments…), products,
product categories, outlets, registers, users, payment types, taxes.

Every stream except categories is a **version change feed**: ``after = <stored version.max>``
(exclusive), pages until ``data`` is empty, merge on ``id``. Refresh tokens rotate on every use
and are handed to the token provider's ``on_refresh`` the moment they arrive (build it with
:func:`lightspeed_tokens`). See ``README.md`` beside this file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import dlt
from dlt.sources import DltResource

from dlt_sources.common.arrow import prepare_arrow_resources
from dlt_sources.common.arrow_nested import (
    NestedTable,
    count_nested_by_root_resource,
    nested_items,
    nested_tables,
)
from dlt_sources.common.auth import TokenProvider
from dlt_sources.common.exact_numbers import Inexact, exact_numbers_of
from dlt_sources.common.incremental import account_state
from dlt_sources.common.pace import SyncPace, attach_pace, building, optional_stream, stops_early, sync_pace
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.prefetch import prefetched
from dlt_sources.common.pseudonymise import Pseudonymize, pseudonymise_resources, row_pseudonymiser
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import MERGE, bulk_disposition, content_hash, merge_key
from dlt_sources.lightspeed.helpers import (
    KnownVersions,
    LightspeedClient,
    Row,
    VersionGuard,
    category_pages,
    destination_known_versions,
    discover_outlets,
    lightspeed_tokens,
    shape_rows,
    store_base_url,
    version_feed,
)
from dlt_sources.lightspeed.settings import (
    CATEGORIES_PAGE_SIZE,
    CATEGORIES_PATH,
    DECIMAL_FIELDS,
    PII_FIELDS,
    RECONNECT_HINT,
    TOKEN_PATH,
    VERSION_STREAMS,
)

__all__ = [
    "RECONNECT_HINT",
    "TOKEN_PATH",
    "destination_known_versions",
    "discover_outlets",
    "lightspeed_source",
    "lightspeed_tokens",
    "store_base_url",
    "sync_pace",
]

MAX_TABLE_NESTING = 2  # sales.line_items[].tax_components[]
OUTLET_SCOPED = ("sales", "outlets", "registers")  # rows carry outlet_id (outlets: id)
# feeds handed to dlt as nested Arrow tables (their lists as dlt child tables, built in Arrow's C++:
# dlt_sources/common/arrow_nested.py), this many rows per set of tables
ARROW_FEEDS = frozenset({"sales"})
ARROW_BATCH_ROWS = 2000
# columns that may be null on every row of a first load (e.g. no return yet) but must exist
COLUMN_HINTS: dict[str, dict[str, Any]] = {
    "sales": {"return_for": {"data_type": "text", "nullable": True},
              "customer_id": {"data_type": "text", "nullable": True},
              "total_price": {"data_type": "decimal", "nullable": True},
              "total_tax": {"data_type": "decimal", "nullable": True}},
    "products": {"variant_parent_id": {"data_type": "text", "nullable": True},
                 "sku": {"data_type": "text", "nullable": True}},
}


class _Sync:
    """What the resources of one source instance share: client, tenant, outlet filter, guard."""

    def __init__(self, client: LightspeedClient, account_id: str, outlet_ids: Sequence[str],
                 guard: VersionGuard) -> None:
        self.client = client
        self.account_id = account_id
        self.outlet_ids = sorted(dict.fromkeys(outlet_ids))
        self.guard = guard
        self.pace = client.session.pace

    def state(self) -> dict[str, Any]:
        """This resource's state for this account (two tenants in one pipeline never share a cursor)."""
        return account_state(self.account_id)

    def _wanted(self, table: str, row: Row) -> bool:
        if not self.outlet_ids or table not in OUTLET_SCOPED:
            return True
        outlet = row.get("id") if table == "outlets" else row.get("outlet_id")
        return outlet in self.outlet_ids

    def feed(self, table: str) -> Iterator[list[Row]]:
        """One version feed's rows, numbers exact (see :meth:`pages`)."""
        for rows, _ in self.pages(table):
            yield rows

    def pages(self, table: str, *, binary_numbers: bool = False) -> Iterator[tuple[list[Row], bool]]:
        """One version feed from the stored high-water mark, ``(rows, exact)`` per page (``exact``:
        numbers ``Decimal``; with ``binary_numbers`` pages may come with orjson's numbers, for the
        Arrow path); the mark moves page by page (dlt commits resource state with the load package,
        so a failed run keeps the previous mark). The next page is fetched while this one is
        processed (``prefetched``: its request needs this page's ``version.max``, so one ahead)."""
        path, params, page_size = VERSION_STREAMS[table]
        state = self.state()
        after = int(state.get("after", 0))
        if table in OUTLET_SCOPED and state.get("outlets") != self.outlet_ids:
            # the outlet filter changed: rows of newly wanted outlets lie behind the mark; read again
            # from the start (the merge and the guard make the re-read harmless)
            before = state.get("outlets")  # [] = every outlet, as self.outlet_ids
            if before and (not self.outlet_ids or not set(self.outlet_ids) <= set(before)):
                after = 0  # widened (to every outlet included); narrowed from every outlet: nothing to re-read
            state["outlets"] = self.outlet_ids
        # the mark is already that of the last page yielded; customers are optional: a token without
        # customers:read still syncs sales (partial, the scope named) with customer columns empty
        reading = (optional_stream(self.pace, "Lightspeed customers", "customer columns") if table == "customers"
                   else stops_early(self.pace, f"Lightspeed {table}"))
        with reading:
            for rows, top, exact in prefetched(version_feed(self.client, path, after, page_size, params,
                                                            binary_numbers=binary_numbers),
                                               name=f"lightspeed-{table}"):
                kept = self.guard.filter(table, [r for r in rows if self._wanted(table, r)])
                if kept:
                    yield shape_rows(kept, self.account_id, exact=exact), exact
                state["after"] = top

    def categories(self) -> Iterator[list[Row]]:
        """Categories have no version: read fully (one page), load only new or changed ones."""
        state = self.state()
        hashes: dict[str, str] = dict(state.get("hashes", {}))
        seen: dict[str, str] = {}
        with stops_early(self.pace, "Lightspeed product_categories") as stop:
            for rows in category_pages(self.client, CATEGORIES_PATH, CATEGORIES_PAGE_SIZE):
                changed = []
                for row in rows:
                    digest = content_hash(row)
                    seen[str(row["id"])] = digest
                    if hashes.get(str(row["id"])) != digest:
                        changed.append(row)
                if changed:
                    yield shape_rows(changed, self.account_id)
        state["hashes"] = hashes | seen if stop.early else seen  # stopped early: the rest keep their hash


def arrow_tables(rows: list[Row], table: str, binary: bool) -> list[NestedTable]:
    """One batch of a feed's rows as nested Arrow tables. ``binary``: every row's numbers are
    orjson's of a page ``exact_numbers.binary_numbers_are_exact`` accepted (the rows of
    :func:`shape_rows` with ``exact=False``): the tables are built from them with the decimals
    rebuilt exactly (``arrow_nested``'s ``exact_numbers``); where that would not give what the
    ``Decimal`` rows give (``Inexact``), or some page of the batch was parsed with ``Decimal``, from
    copies of the rows with their numbers made ``Decimal`` — the tables are the same either way."""
    if binary:
        try:
            return nested_tables(rows, table, max_nesting=MAX_TABLE_NESTING, exact_numbers=DECIMAL_FIELDS)
        except Inexact:
            pass
    return nested_tables([exact_numbers_of(row, DECIMAL_FIELDS) for row in rows], table,
                         max_nesting=MAX_TABLE_NESTING)


# section: the config section dlt named after the package when the source lived in its __init__.py
@dlt.source(name="lightspeed", section="lightspeed", max_table_nesting=MAX_TABLE_NESTING)
def lightspeed_source(
    token_provider: TokenProvider,
    domain_prefix: str,
    outlet_ids: Sequence[str],
    *,
    base_url: str | None = None,
    account_id: str | None = None,
    now: datetime | None = None,
    known_versions: KnownVersions | None = None,
    retry_policy: RetryPolicy | None = None,
    pacing: Pacing | None = None,
    pace: SyncPace | None = None,
    pseudonymize: Pseudonymize | None = None,
    first_load: bool = False,
) -> Sequence[DltResource]:
    """The Lightspeed X-Series source of one store (domain prefix = account).

    Args:
        token_provider: the store's tokens, refreshed with rotating refresh tokens; every new
            :class:`TokenSet` goes to its ``on_refresh`` inside the refresh, before the new access
            token is used: persist the rotated refresh token there, atomically. Build it with
            :func:`lightspeed_tokens` (the same ``base_url``).
        domain_prefix: the store's domain prefix (``{domain_prefix}.retail.lightspeed.app``).
        outlet_ids: outlets whose sales, outlet and register rows are loaded; empty = all. The
            feeds are store-wide: rows of other outlets are skipped (their versions still count),
            and widening the list later re-reads those feeds from the start.
        base_url: the store's base URL (default ``https://{domain_prefix}.retail.lightspeed.app``;
            the sandbox: ``http://127.0.0.1:<port>/lightspeed``); ``/api/2.0`` and
            ``/api/1.0/token`` are appended.
        account_id: tenant id written to every top-level row as ``_pos_account_id`` and keying the
            state (default: ``domain_prefix``).
        now: accepted for the common call shape of the POS sources; the change feed needs no
            time bound, so it is not used.
        known_versions: ``(table, ids) -> {id: stored version}`` for the optional guard, e.g.
            ``destination_known_versions(pipeline, account_id=...)``.
        retry_policy: HTTP retry bounds (default: ``SYNC_RETRY_POLICY``, a budget of minutes per
            request; see ``dlt_sources.common.retry``).
        pacing: client-side pacing (default :data:`settings.LIGHTSPEED_PACING`: a 429's request waits
            until its ``Retry-After`` date, every request with it after 4 in a row; when
            ``X-RateLimit-Remaining`` reaches 0, or the requests in flight booked what was left,
            every request waits until ``X-RateLimit-Reset``; a client-side limit such as ``RateLimit(300 * registers
            + 50, 300)`` can be added, none by default: the store's register count is not known here).
        pace: the run's counters (default: a new :class:`SyncPace`, read back with
            ``dlt_sources.common.pace.sync_pace(source)``). When a request's retry budget runs out
            the feed stops early at its last loaded page and ``pace.partial`` is True (see README).
        pseudonymize: ``(value, kind) -> pseudonym`` (the service passes ``transforms.pii.Pseudonymizer``
            with its key): the personal fields of ``settings.PII_FIELDS`` are replaced before dlt
            sees them (``dlt_sources.common.pseudonymise``). None: loaded as sent (clear storage).
        first_load: the account's first load into a dataset without its rows: the sales feed is
            appended, not merged (``dlt_sources.common.rows.bulk_disposition``); the caller drops the
            older copy of a sale read twice after the load.

    Raises (from the resources, wrapped by dlt in ``PipelineStepFailed``):
        ReauthorizationRequired: the tokens can no longer be refreshed (message says what to do);
            no state moves past what was loaded.

    The body makes no network call: resources fetch lazily.
    """
    del now
    base = store_base_url(domain_prefix, base_url)
    client = LightspeedClient(base, token_provider, policy=retry_policy, pacing=pacing, pace=building(pace))
    sync = _Sync(client, account_id or domain_prefix, outlet_ids, VersionGuard(known_versions))
    merge: Any = MERGE
    key = merge_key("id", sync.account_id)  # every row carries the account (the domain prefix without one)

    def feed_resource(table: str) -> DltResource:
        columns: Any = {"version": {"data_type": "bigint", "dedup_sort": "desc"},
                        "deleted_at": {"data_type": "timestamp", "nullable": True},
                        **COLUMN_HINTS.get(table, {})}
        if table in ARROW_FEEDS:
            return arrow_feed_resource(table, columns)

        def rows() -> Iterator[list[Row]]:
            yield from sync.feed(table)
        rows.__name__ = table
        return dlt.resource(rows, name=table, write_disposition=merge, primary_key=key, columns=columns,
                            parallelized=True)

    def arrow_feed_resource(table: str, columns: Any) -> DltResource:
        """The feed as nested Arrow tables: the table hints go with the root table (on the resource
        dlt would give them to the child tables too); personal fields pseudonymised on the dicts."""
        prepare_arrow_resources([table])
        count_nested_by_root_resource()
        disposition = bulk_disposition(first_load)
        hints = {"write_disposition": disposition, "primary_key": key, "columns": columns}
        pseudonymise_row = row_pseudonymiser(PII_FIELDS.get(table, {}), pseudonymize)

        def tables() -> Iterator[Any]:
            pending: list[Row] = []
            binary = True  # every pending row's numbers are orjson's (no page needed the Decimal parse)
            for rows, exact in sync.pages(table, binary_numbers=True):
                pending.extend(pseudonymise_row(row) for row in rows)
                binary = binary and not exact
                if len(pending) >= ARROW_BATCH_ROWS:
                    yield from nested_items(arrow_tables(pending, table, binary), hints)
                    pending, binary = [], True
            if pending:
                yield from nested_items(arrow_tables(pending, table, binary), hints)
        tables.__name__ = table
        return dlt.resource(tables, name=table, write_disposition=disposition, parallelized=True)

    @dlt.resource(name="product_categories", write_disposition=merge, primary_key=key,
                  columns={"parent_category_id": {"data_type": "text", "nullable": True}}, parallelized=True)
    def product_categories() -> Iterator[list[Row]]:
        yield from sync.categories()

    # the resources run in parallel on dlt's extract pool (EXTRACT__WORKERS threads, set in
    # dlt_sources.common.tuning): the longest feeds first, so that they do not wait for a thread while the short ones run
    return pseudonymise_resources([
        feed_resource("sales"), feed_resource("products"), feed_resource("customers"),
        feed_resource("outlets"), feed_resource("registers"), feed_resource("users"),
        feed_resource("payment_types"), feed_resource("taxes"), product_categories,
    ], {k: v for k, v in PII_FIELDS.items() if k not in ARROW_FEEDS}, pseudonymize)


attach_pace(lightspeed_source)
