"""Square → raw tables: locations, payments, refunds, orders (+ nested), catalog, team members, customers.

Incremental by ``updated_at`` with a lookback, per location, committed only when every location
finished; a stateless window mode for backfills; a version guard that drops rows the destination
already holds in the same or a newer version. See ``README.md`` beside this file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from dlt_sources.common.arrow import arrow_batches, prepare_arrow_resources
from dlt_sources.common.arrow_json import (
    ARROW_REFUSALS,
    JsonPage,
    Refused,
    add_after_first_keys,
    concat,
    first_object_keys,
)
from dlt_sources.common.arrow_json import pseudonymise as pseudonymise_struct
from dlt_sources.common.arrow_nested import (
    NestedTable,
    count_nested_by_root_resource,
    nested_items,
    nested_tables,
    nested_tables_of,
)
from dlt_sources.common.auth import TokenProvider
from dlt_sources.common.incremental import IncrementalSync, window_of
from dlt_sources.common.pace import SyncPace, attach_pace, building, optional_stream, stops_early, sync_pace
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.prefetch import fan_in
from dlt_sources.common.pseudonymise import Pseudonymize, pseudonymise_resources, row_pseudonymiser
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import MERGE, bulk_disposition, merge_key, preferred_loader_file_format
from dlt_sources.square.helpers import (
    KnownVersions,
    Row,
    SquareClient,
    VersionGuard,
    destination_known_versions,
    discover_locations,
    iso,
    max_ts_of,
    merchant_id_of,
    parse_ts,
    restartable_json_pages,
    restartable_pages,
    shape_rows,
    square_tokens,
)
from dlt_sources.square.settings import (
    ACCOUNT_COLUMN,
    ARROW_BATCH_ROWS,
    ARROW_TABLES,
    CATALOG_OBJECT_TYPES,
    CATALOG_PAGE_SIZE,
    CREATED_AT_FLOOR,
    CUSTOMERS_PAGE_SIZE,
    DEFAULT_BASE_URL,
    DEFAULT_INITIAL_DAYS,
    DEFAULT_LOOKBACK,
    ENDPOINTS,
    GUARD_COLUMNS,
    JSON_COLUMNS,
    LOCATION_CONCURRENCY,
    MIN_SLICE,
    ORDER_STATES,
    ORDERS_ARROW_BATCH_ROWS,
    ORDERS_LOCATION_BATCH,
    ORDERS_PAGE_SIZE,
    PAYMENTS_PAGE_SIZE,
    PII_FIELDS,
    QUERY_SLICES,
    REFUNDS_PAGE_SIZE,
    SLICED_STREAMS,
    SQUARE_VERSION,
    TEAM_MEMBERS_PAGE_SIZE,
    TIMESTAMP_COLUMNS,
    TOKEN_PATH,
)

__all__ = [
    "SQUARE_VERSION",
    "TOKEN_PATH",
    "destination_known_versions",
    "discover_locations",
    "merchant_id_of",
    "preferred_loader_file_format",
    "query_slices",
    "resume_mark",
    "square_source",
    "square_tokens",
    "sync_pace",
]

MAX_TABLE_NESTING = 4  # orders.returns[].return_line_items[].applied_taxes[].applied_money


class _Sync(IncrementalSync):
    """What the resources of one source instance share: client, clock, locations, guard, state keys."""

    initial_days = DEFAULT_INITIAL_DAYS

    def __init__(self, client: SquareClient, location_ids: Sequence[str], account_id: str | None,
                 window: tuple[datetime, datetime] | None, initial_start: datetime | None,
                 lookback: timedelta, now: datetime | None, guard: VersionGuard,
                 location_concurrency: int = LOCATION_CONCURRENCY) -> None:
        super().__init__(account_id, window, initial_start, lookback, now, guard)
        self.client = client
        self.pace = client.session.pace
        self.location_concurrency = location_concurrency
        self._location_ids = list(dict.fromkeys(location_ids))
        self._locations_payload: dict[str, Any] | None = None
        self._lock = threading.RLock()  # the resources run in parallel (dlt worker threads)

    # -------------------------------------------------------------- bounds
    def begin_for(self, locations: Sequence[str], hwm: dict[str, str]) -> datetime:
        """Query start: the oldest high-water mark of ``locations`` minus the lookback (never after now)."""
        if any(loc not in hwm for loc in locations):
            begin = self.initial_start()
        else:
            begin = min(parse_ts(hwm[loc]) for loc in locations) - self.lookback
        return min(begin, self.now())

    # -------------------------------------------------------------- helpers
    def locations_payload(self) -> dict[str, Any]:
        with self._lock:  # asked once, whichever resource needs it first
            if self._locations_payload is None:
                self._locations_payload = self.client.get(ENDPOINTS["locations"])
            return self._locations_payload

    def location_ids(self) -> list[str]:
        with self._lock:
            if not self._location_ids:  # not given: every location of the merchant
                self._location_ids = [str(loc["id"]) for loc in self.locations_payload().get("locations", [])]
            return self._location_ids

    def prepare(self, table: str, rows: list[Row]) -> list[Row]:
        return self.guard.filter(table, shape_rows(table, rows, self.account_id))

    # -------------------------------------------------------------- streams
    def list_by_location(self, table: str, page_size: int) -> Iterator[list[Row]]:
        """ListPayments / ListPaymentRefunds, one ``location_id`` per query (see README); up to
        ``location_concurrency`` locations are paged at once, their pages interleaved. A long
        payments span (a first sync) is cut into up to :data:`QUERY_SLICES` ``updated_at`` slices
        per location, paged at once too: a cursor chain is sequential, so its length, not the row
        count, bounds how fast a rate-limited sync can go."""
        if self.window is not None:
            yield from self._list_window(table, page_size, *self.window)
            return
        path = ENDPOINTS[table]
        now = self.now()
        state = self.state()
        hwm: dict[str, str] = dict(state.get("hwm", {}))
        slices_of = query_slices if table in SLICED_STREAMS else (lambda begin, end: [(begin, end)])

        def slice_pages(loc: str, index: int, begin: datetime, end: datetime,
                        last: bool) -> Iterator[tuple[str, int, list[Row] | None]]:
            def request(since: datetime) -> tuple[dict[str, Any], None]:
                return {"location_id": loc, "begin_time": iso(CREATED_AT_FLOOR), "updated_at_begin_time": iso(since),
                        "updated_at_end_time": iso(end), "sort_field": "UPDATED_AT", "sort_order": "ASC",
                        "limit": page_size}, None
            for rows, _ in restartable_pages(self.client, "GET", path, table, request, begin, "updated_at"):
                if not last:  # a row at the slice's end belongs to the next slice (which starts there)
                    rows = [r for r in rows if not r.get("updated_at") or parse_ts(r["updated_at"]) < end]
                yield loc, index, rows
            yield loc, index, None  # this slice was read to its end

        queries = []
        slices: dict[str, int] = {}
        for loc in self.location_ids():
            cuts = slices_of(self.begin_for([loc], hwm), now)
            slices[loc] = len(cuts)
            queries += [slice_pages(loc, i, b, e, i == len(cuts) - 1) for i, (b, e) in enumerate(cuts)]
        seen: dict[tuple[str, int], datetime | None] = {}
        done: set[tuple[str, int]] = set()
        parallel = self.location_concurrency * (QUERY_SLICES if table in SLICED_STREAMS else 1)
        with stops_early(self.pace, f"Square {table}"):
            for loc, index, rows in fan_in(queries, parallel, name=f"square-{table}"):
                if rows is None:
                    done.add((loc, index))
                    continue
                seen[(loc, index)] = _max_ts(seen.get((loc, index)), rows, "updated_at")
                if out := self.prepare(table, rows):
                    yield out
        for loc, count in slices.items():
            _advance(hwm, [loc], resume_mark([seen.get((loc, i)) for i in range(count)],
                                             [(loc, i) in done for i in range(count)]))
        state["hwm"] = hwm

    def _list_window(self, table: str, page_size: int, start: datetime, end: datetime) -> Iterator[list[Row]]:
        path = ENDPOINTS[table]

        def window_pages(loc: str) -> Iterator[tuple[str, list[Row]]]:
            def window_request(begin: datetime) -> tuple[dict[str, Any], None]:
                return {"location_id": loc, "begin_time": iso(begin), "end_time": iso(end),
                        "sort_field": "CREATED_AT", "sort_order": "ASC", "limit": page_size}, None
            for rows, _ in restartable_pages(self.client, "GET", path, table, window_request, start, "created_at"):
                yield loc, [r for r in rows if start <= parse_ts(r["created_at"]) < end]

        with stops_early(self.pace, f"Square {table} (window)"):
            for _, rows in fan_in([window_pages(loc) for loc in self.location_ids()], self.location_concurrency,
                                  name=f"square-{table}"):
                if out := self.prepare(table, rows):
                    yield out

    def _guard_page(self, table: str, page: JsonPage) -> list[int] | None:
        """The positions of ``page``'s objects the version guard keeps (it sees their key and
        version fields only: all it reads of a row). None: those fields are not text or integers
        in Arrow (a number with a fraction would come back as another Python type than from
        ``orjson``): take the dict path."""
        spec = GUARD_COLUMNS[table]
        assert page.rows is not None
        for name in (spec.key, spec.field):
            at = page.rows.type.get_field_index(name)
            kind = page.rows.type.field(at).type if at >= 0 else pa.null()
            if not (pa.types.is_string(kind) or pa.types.is_int64(kind) or pa.types.is_null(kind)):
                return None
        probes = [{spec.key: key, spec.field: version}
                  for key, version in zip(page.values(spec.key), page.values(spec.field), strict=True)]
        kept = {id(row) for row in self.guard.filter(table, probes)}
        return [i for i, row in enumerate(probes) if id(row) in kept]

    def prepare_kept(self, table: str, page: JsonPage, kept: Sequence[int]) -> list[Row]:
        """The dict rows of ``page`` the guard kept (:meth:`_guard_page`), shaped as :meth:`prepare` shapes them."""
        rows = page.dicts()
        return shape_rows(table, [rows[i] for i in kept], self.account_id)

    def orders(self) -> Iterator[list[Row] | JsonPage]:
        """SearchOrders over batches of ≤ 10 locations, every state, sorted ascending. Each page
        comes as the guard-kept dict rows (:meth:`prepare`) or, whole, as a :class:`JsonPage` read
        into Arrow (every object kept, not shaped yet: :func:`orders_struct`)."""
        path = ENDPOINTS["orders"]
        window = self.window
        field = "created_at" if window is not None else "updated_at"
        end = window[1] if window is not None else self.now()
        state = self.state() if window is None else {}
        hwm: dict[str, str] = dict(state.get("hwm", {}))
        with stops_early(self.pace, "Square orders"):
            locations = self.location_ids()
            for batch in [locations[i : i + ORDERS_LOCATION_BATCH] for i in range(0, len(locations),
                                                                                  ORDERS_LOCATION_BATCH)]:
                def request(begin: datetime, batch: list[str] = batch) -> tuple[None, dict[str, Any]]:
                    return None, {
                        "location_ids": batch,
                        "query": {
                            "filter": {
                                "state_filter": {"states": list(ORDER_STATES)},
                                "date_time_filter": {field: {"start_at": iso(begin), "end_at": iso(end)}},
                            },
                            "sort": {"sort_field": field.upper(), "sort_order": "ASC"},
                        },
                        "limit": ORDERS_PAGE_SIZE,
                    }
                begin = window[0] if window is not None else self.begin_for(batch, hwm)
                seen: datetime | None = None
                try:
                    for page in restartable_json_pages(self.client, path, "orders", request, begin, field):
                        kept = self._guard_page("orders", page) if window is None and page.rows is not None else None
                        if kept is None:  # the dict path
                            rows = page.dicts()
                            if window is not None:
                                rows = [r for r in rows if window[0] <= parse_ts(r["created_at"]) < window[1]]
                            seen = _max_ts(seen, rows, "updated_at")
                            if out := self.prepare("orders", rows):
                                yield out
                            continue
                        seen = max_ts_of(seen, page.values("updated_at"))
                        if kept:
                            yield page if len(kept) == len(page) else self.prepare_kept("orders", page, kept)
                finally:  # sorted ascending over the whole batch: every location was read up to `seen`
                    _advance(hwm, batch, seen)
        if window is None:
            state["hwm"] = hwm  # every batch finished or stopped early: each mark = the rows it yielded

    def catalog(self) -> Iterator[list[Row]]:
        """SearchCatalogObjects from the last ``latest_time`` (exclusive) minus the lookback, tombstones included."""
        path = ENDPOINTS["catalog"]
        state = self.state() if self.window is None else {}
        previous = state.get("latest_time")
        begin = parse_ts(previous) - self.lookback if previous else None
        latest = parse_ts(previous) if previous else None

        def request(_: datetime) -> tuple[None, dict[str, Any]]:
            body: dict[str, Any] = {"object_types": list(CATALOG_OBJECT_TYPES), "include_deleted_objects": True,
                                    "limit": CATALOG_PAGE_SIZE}
            if begin is not None:
                body["begin_time"] = iso(begin)
            return None, body

        # results are not sorted by time: an INVALID_CURSOR restart re-runs the whole query, and a
        # query that stopped early keeps the previous latest_time (what it loaded is merged again)
        with stops_early(self.pace, "Square catalog") as stop:
            for rows, payload in restartable_pages(self.client, "POST", path, "objects", request,
                                                   begin or datetime.min.replace(tzinfo=UTC), ""):
                if payload.get("latest_time"):
                    latest = max(filter(None, (latest, parse_ts(payload["latest_time"]))))
                latest = _max_ts(latest, rows, "updated_at")
                if out := self.prepare("catalog", rows):
                    yield out
        if self.window is None and latest is not None and not stop.early:
            state["latest_time"] = iso(latest)

    def team_members(self) -> Iterator[list[Row]]:
        with stops_early(self.pace, "Square team_members"):  # no state: read in full every sync
            for rows, _ in self.client.pages("POST", ENDPOINTS["team_members"], "team_members",
                                             body={"limit": TEAM_MEMBERS_PAGE_SIZE}):
                if out := self.prepare("team_members", rows):
                    yield out

    def customers(self, pseudonymise_row: Callable[[Row], Row]) -> Iterator[list[Row]]:
        """ListCustomers in full every sync (the profiles behind orders' ``customer_id``; no state).

        Optional: a token without CUSTOMERS_READ still syncs sales (the stream is skipped, the run
        partial, the scope named) with the canonical customer columns empty. Personal fields are
        pseudonymised here, before the version guard, so it looks up the (hashed) ids the
        destination holds and drops the unchanged profiles."""
        with optional_stream(self.pace, "Square customers", "customer columns"):
            for rows, _ in self.client.pages("GET", ENDPOINTS["customers"], "customers",
                                             params={"limit": CUSTOMERS_PAGE_SIZE}):
                if out := self.prepare("customers", [pseudonymise_row(row) for row in rows]):
                    yield out

    def locations(self) -> Iterator[list[Row]]:
        # no early stop: every transaction names its location, so a sync that cannot read them
        # fails (provider_unavailable, retried by MAX_SYNC_RETRIES) instead of building
        # transactions without their location
        rows = list(self.locations_payload().get("locations", []))
        if out := self.prepare("locations", rows):
            yield out


def orders_tables(parts: Sequence[list[Row] | JsonPage], account_id: str | None,
                  pseudonymize: Pseudonymize | None) -> list[NestedTable]:
    """One batch of orders as nested Arrow tables. Pages read into Arrow (:class:`JsonPage`) are
    shaped and pseudonymised in Arrow (:mod:`dlt_sources.common.arrow_json`: the same types as
    ``pa.array`` of their dicts); a batch with dict rows in it (a page the reader or the guard
    left to dicts), or one the Arrow path refuses, is built from dicts, as before."""
    pages = [part.rows for part in parts if isinstance(part, JsonPage) and part.rows is not None]
    if parts and len(pages) == len(parts) and isinstance(parts[0], JsonPage):
        try:
            struct = orders_struct(pages, parts[0].body, account_id, pseudonymize)
            return nested_tables_of(struct, "orders", max_nesting=MAX_TABLE_NESTING)
        except ARROW_REFUSALS:
            pass
    pseudonymise_order = row_pseudonymiser(PII_FIELDS["orders"], pseudonymize)
    rows: list[Row] = []
    for part in parts:
        if isinstance(part, JsonPage):
            rows.extend(pseudonymise_order(row) for row in shape_rows("orders", part.dicts(), account_id))
        else:
            rows.extend(part)
    return nested_tables(rows, "orders", max_nesting=MAX_TABLE_NESTING)


def orders_struct(pages: Sequence[pa.StructArray], first_body: bytes, account_id: str | None,
                  pseudonymize: Pseudonymize | None) -> pa.StructArray:
    """The pages' orders as ``pa.array`` types their shaped, pseudonymised dicts (:func:`shape_rows`
    adds the tenant column last to each dict: after the first order's keys in the batch's fields)."""
    struct = concat(pages)
    if ACCOUNT_COLUMN in struct.type.names:
        raise Refused(f"the API's objects have a {ACCOUNT_COLUMN} field")
    if account_id is not None:  # None: a null column, which the nested tables leave out
        keys = first_object_keys(first_body, "orders")
        if keys is None:
            raise Refused("no first order in the first page")
        struct = add_after_first_keys(struct, list(dict.fromkeys(keys)), ACCOUNT_COLUMN, account_id)
    if pseudonymize is not None:
        struct = pseudonymise_struct(struct, PII_FIELDS["orders"], pseudonymize)
    return struct


def resume_mark(newest: Sequence[datetime | None], finished: Sequence[bool]) -> datetime | None:
    """Where a location's next sync may resume, from its slices in time order: the newest row of
    the slices up to and including the first one not read to its end (each slice's rows come sorted
    ascending, so everything before that row was read; rows at that instant, and those of later
    slices, are read again next time and merged). ``newest[i]``: slice i's newest row (None: none
    read); ``finished[i]``: it was read to its end. None: nothing to move the mark to."""
    mark: datetime | None = None
    for seen, complete in zip(newest, finished, strict=True):
        if seen is not None and (mark is None or seen > mark):
            mark = seen
        if not complete:
            break
    return mark


def query_slices(begin: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """``[begin, end)`` cut into equal slices of at least :data:`MIN_SLICE`, at most :data:`QUERY_SLICES`
    (one slice, the span itself, when it is shorter than two: an incremental sync)."""
    count = max(1, min(QUERY_SLICES, int((end - begin) / MIN_SLICE)))
    step = (end - begin) / count
    cuts = [begin + step * i for i in range(count)] + [end]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _max_ts(current: datetime | None, rows: list[Row], field: str) -> datetime | None:
    return max_ts_of(current, [row.get(field) for row in rows])


def _advance(hwm: dict[str, str], locations: Sequence[str], seen: datetime | None) -> None:
    """Move each location's high-water mark to ``seen`` (never backwards)."""
    if seen is None:
        return
    for loc in locations:
        if loc not in hwm or parse_ts(hwm[loc]) < seen:
            hwm[loc] = iso(seen)


# section: the config section dlt named after the package when the source lived in its __init__.py
@dlt.source(name="square", section="square", max_table_nesting=MAX_TABLE_NESTING)
def square_source(
    token_provider: TokenProvider,
    location_ids: Sequence[str],
    *,
    base_url: str = DEFAULT_BASE_URL,
    account_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    initial_start: datetime | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    now: datetime | None = None,
    known_versions: Callable[[str, list[str]], dict[str, Any]] | KnownVersions | None = None,
    retry_policy: RetryPolicy | None = None,
    location_concurrency: int = LOCATION_CONCURRENCY,
    pacing: Pacing | None = None,
    pace: SyncPace | None = None,
    pseudonymize: Pseudonymize | None = None,
    first_load: bool = False,
) -> Sequence[DltResource]:
    """The Square source of one merchant (account).

    Args:
        token_provider: the account's access token, refreshing itself (OAuth) and handing every
            new token set to its ``on_refresh``: build it with :func:`square_tokens`.
        location_ids: locations to sync; empty = every location the merchant has.
        base_url: API base (production, ``settings.SANDBOX_BASE_URL`` or an emulator).
        account_id: tenant id written to every row as ``_pos_account_id`` and keying the state.
        start, end: both or neither. Given: **window mode**, stateless, rows created in [start, end).
        initial_start: where the first incremental run starts (default now − 90 days).
        lookback: re-read window before each high-water mark (Square is eventually consistent).
        now: the run's upper bound (injected clock); default: real UTC now at first use.
        known_versions: ``(table, ids) -> {id: stored updated_at / version / hash}`` for the
            version guard, e.g. ``destination_known_versions(pipeline, account_id=...)``; None: no guard.
        retry_policy: HTTP retry bounds (default: ``SYNC_RETRY_POLICY``, a budget of minutes per
            request; see ``dlt_sources.common.retry``).
        location_concurrency: locations whose payments/refunds are paged at the same time
            (each in its own thread and HTTP connection; 1 = one after the other); a long payments
            span pages up to ``QUERY_SLICES`` slices of each of them at once too.
        pacing: client-side pacing (default :data:`settings.SQUARE_PACING`: Square documents no
            limits, so only the waits after 429s: a 429's own request, and every thread of the
            client once 4 come in a row).
        pace: the run's counters (default: a new :class:`SyncPace`, read back with
            ``dlt_sources.common.pace.sync_pace(source)``). When a request's retry budget runs out
            the stream stops early, keeps what it loaded and ``pace.partial`` is True (see README).
        pseudonymize: ``(value, kind) -> pseudonym`` (the service passes ``transforms.pii.Pseudonymizer``
            with its key): the personal fields of ``settings.PII_FIELDS`` are replaced before dlt
            sees them (``dlt_sources.common.pseudonymise``). None: loaded as sent (clear storage).
        first_load: the account's first load into a dataset without its rows: payments, refunds and orders are
            appended, not merged (``dlt_sources.common.rows.bulk_disposition``); the caller drops the
            older copy of a row read twice after the load.

    The body makes no network call: resources fetch lazily.
    """
    prepare_arrow_resources(ARROW_TABLES)  # payments, refunds and orders come as Arrow tables
    count_nested_by_root_resource()  # orders' child tables reach dlt's extract as nested Arrow tables
    window = window_of(start, end, parse_ts)
    client = SquareClient(base_url, token_provider, policy=retry_policy, pacing=pacing, pace=building(pace))
    sync = _Sync(client, location_ids, account_id, window,
                 parse_ts(initial_start) if initial_start else None, lookback,
                 parse_ts(now) if now else None, VersionGuard(known_versions), location_concurrency)

    merge: Any = MERGE
    bulk: Any = bulk_disposition(first_load)
    key = merge_key("id", account_id)

    @dlt.resource(name="locations", write_disposition=merge, primary_key=key, parallelized=True)
    def locations() -> Iterator[list[Row]]:
        yield from sync.locations()

    def arrow_columns(table: str) -> dict[str, tuple[str, ...]]:
        return {"json_columns": JSON_COLUMNS[table], "timestamp_columns": TIMESTAMP_COLUMNS[table], "not_null": ("id",)}

    def hints(table: str, guard_column: str) -> dict[str, Any]:
        """The guard column sorts duplicates newest first; :data:`JSON_COLUMNS` stay JSON."""
        return {guard_column: {"dedup_sort": "desc"},
                **{column: {"data_type": "json"} for column in JSON_COLUMNS.get(table, ())}}

    @dlt.resource(name="payments", write_disposition=bulk, primary_key=key, columns=hints("payments", "updated_at"),
                  parallelized=True)
    def payments() -> Iterator[pa.Table]:
        yield from arrow_batches(sync.list_by_location("payments", PAYMENTS_PAGE_SIZE), ARROW_BATCH_ROWS,
                                 **arrow_columns("payments"))

    @dlt.resource(name="refunds", write_disposition=bulk, primary_key=key, columns=hints("refunds", "updated_at"),
                  parallelized=True)
    def refunds() -> Iterator[pa.Table]:
        yield from arrow_batches(sync.list_by_location("refunds", REFUNDS_PAGE_SIZE), ARROW_BATCH_ROWS,
                                 **arrow_columns("refunds"))

    # orders with their lists as nested Arrow tables (orders__line_items, …__modifiers, …): the
    # table hints go with the root table (on the resource dlt would give them to the child tables)
    orders_hints = {"write_disposition": bulk, "primary_key": key, "columns": {"version": {"dedup_sort": "desc"}}}
    pseudonymise_order = row_pseudonymiser(PII_FIELDS["orders"], pseudonymize)

    @dlt.resource(name="orders", write_disposition=bulk, parallelized=True)
    def orders() -> Iterator[Any]:
        pending: list[list[Row] | JsonPage] = []
        count = 0
        for part in sync.orders():
            # dict rows are pseudonymised here, pages read into Arrow when their batch is built
            pending.append(part if isinstance(part, JsonPage) else [pseudonymise_order(row) for row in part])
            count += len(part)
            if count >= ORDERS_ARROW_BATCH_ROWS:
                yield from nested_items(orders_tables(pending, sync.account_id, pseudonymize), orders_hints)
                pending, count = [], 0
        if pending:
            yield from nested_items(orders_tables(pending, sync.account_id, pseudonymize), orders_hints)

    @dlt.resource(name="catalog", write_disposition=merge, primary_key=key,
                  columns={"version": {"dedup_sort": "desc"}}, parallelized=True)
    def catalog() -> Iterator[list[Row]]:
        yield from sync.catalog()

    @dlt.resource(name="team_members", write_disposition=merge, primary_key=key,
                  columns={"updated_at": {"dedup_sort": "desc"}}, parallelized=True)
    def team_members() -> Iterator[list[Row]]:
        yield from sync.team_members()

    @dlt.resource(name="customers", write_disposition=merge, primary_key=key,
                  columns={"updated_at": {"dedup_sort": "desc"}}, parallelized=True)
    def customers() -> Iterator[list[Row]]:
        yield from sync.customers(row_pseudonymiser(PII_FIELDS["customers"], pseudonymize))

    # orders and customers are pseudonymised as dict rows above (orders before they become Arrow
    # tables, customers before the version guard)
    # the resources run in parallel on dlt's extract pool (EXTRACT__WORKERS threads, set in
    # dlt_sources.common.tuning): the longest first
    return pseudonymise_resources([payments, orders, customers, locations, refunds, catalog, team_members],
                                  {k: v for k, v in PII_FIELDS.items() if k not in ("orders", "customers")},
                                  pseudonymize)


attach_pace(square_source)
