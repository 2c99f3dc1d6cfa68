"""Toast → raw tables: restaurants, orders (checks, selections, payments as child tables), menus.

Orders are read incrementally by ``modifiedDate`` windows (≤ 1 day each) with a lookback, the
restaurants side by side, the marks committed only when every restaurant finished; menus only when
``/menus/v2/metadata`` says they changed; a version guard drops rows the destination already holds.
Money stays exact: every non-integer number is loaded as its decimal text. See ``README.md``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCaseNaming
from dlt.sources import DltResource

from dlt_sources.common.arrow import prepare_arrow_resources
from dlt_sources.common.arrow_json import (
    ARROW_REFUSALS,
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
from dlt_sources.common.incremental import IncrementalSync, iso, window_of
from dlt_sources.common.pace import SyncPace, attach_pace, building, optional_stream, stops_early, sync_pace
from dlt_sources.common.pacing import Pacing
from dlt_sources.common.prefetch import fan_in
from dlt_sources.common.pseudonymise import Pseudonymize, pseudonymise_resources, row_pseudonymiser
from dlt_sources.common.retry import RetryPolicy
from dlt_sources.common.rows import (
    MERGE,
    bulk_disposition,
    content_hash,
    merge_key,
    preferred_loader_file_format,
)
from dlt_sources.toast.auth import ToastTokenProvider, login, toast_tokens
from dlt_sources.toast.helpers import (
    KnownVersions,
    Row,
    ToastClient,
    VersionGuard,
    destination_known_versions,
    discover_restaurants,
    parse_ts,
    restaurant_list,
    shape_menus,
    shape_row,
    toast_ts,
    windows,
)
from dlt_sources.toast.pages import OrdersPage
from dlt_sources.toast.settings import (
    ACCOUNT_COLUMN,
    DEFAULT_BASE_URL,
    DEFAULT_INITIAL_DAYS,
    DEFAULT_LOOKBACK,
    DEVICES_PATH,
    EMPLOYEES_PATH,
    GUARD_COLUMNS,
    MAX_ORDERS_WINDOW,
    MENUS_METADATA_PATH,
    MENUS_PATH,
    ORDERS_BULK_PATH,
    ORDERS_PAGE_SIZE,
    ORDERS_WINDOW_CONCURRENCY,
    PII_FIELDS,
    RESTAURANT_COLUMN,
    RESTAURANT_PATH,
    RESTAURANTS_AT_ONCE,
    SETTLE_ROUNDS,
)

__all__ = [
    "ToastTokenProvider",
    "destination_known_versions",
    "discover_restaurants",
    "login",
    "preferred_loader_file_format",
    "sync_pace",
    "toast_source",
    "toast_tokens",
]

LOG = logging.getLogger(__name__)
MAX_TABLE_NESTING = 5  # orders.checks[].selections[].modifiers[].applied_taxes[]
ORDERS_ARROW_BATCH_ROWS = 1000  # orders per set of nested Arrow tables


class _Sync(IncrementalSync):
    """What the resources of one source instance share: client, clock, restaurants, guard, state."""

    initial_days = DEFAULT_INITIAL_DAYS

    def __init__(self, client: ToastClient, restaurants: list[str], account_id: str | None,
                 window: tuple[datetime, datetime] | None, initial_start: datetime | None, lookback: timedelta,
                 now: datetime | None, guard: VersionGuard) -> None:
        super().__init__(account_id, window, initial_start, lookback, now, guard)
        self.client = client
        self.restaurants = restaurants
        self.pace = client.session.pace

    # -------------------------------------------------------------- streams
    def restaurants_rows(self) -> Iterator[list[Row]]:
        # no early stop: orders are located by their restaurant, so a sync that cannot read one
        # fails (provider_unavailable, retried by MAX_SYNC_RETRIES) instead of building orders
        # without their location; no state: every sync reads them all again
        for guid in self.restaurants:
            payload = self.client.get(RESTAURANT_PATH.format(guid=guid), guid)
            rows = self.guard.filter("restaurants", [shape_row(payload, self.account_id, guid, with_hash=True)])
            if rows:
                yield rows

    def employees(self) -> Iterator[list[Row]]:
        """Every employee of each restaurant (names for ``Order.server``), when the list changed."""
        yield from self._changed_lists("employees", EMPLOYEES_PATH)

    def devices(self) -> Iterator[list[Row]]:
        """Every device of each restaurant (names for ``createdDevice.id``), when the list changed."""
        yield from self._changed_lists("devices", DEVICES_PATH)

    def _changed_lists(self, table: str, path: str) -> Iterator[list[Row]]:
        """A restaurant's whole list (no paging, no change time) is loaded only when its content
        hash differs from the last one loaded (state ``hashes``; window mode: always)."""
        state = self.state() if self.window is None else {}
        hashes: dict[str, str] = dict(state.get("hashes", {}))
        what = {"employees": "cashier names", "devices": "device names"}[table]
        # optional: a client without the labor/device scope still syncs sales (partial, scope named)
        with optional_stream(self.pace, f"Toast {table}", what):
            for guid in self.restaurants:
                payload = self.client.get(path, guid) or []
                digest = content_hash({"rows": payload})
                if hashes.get(guid) == digest:
                    continue
                if rows := [shape_row(r, self.account_id, guid) for r in payload]:
                    yield rows
                hashes[guid] = digest
        if self.window is None:
            state["hashes"] = hashes

    def orders(self) -> Iterator[list[Row] | OrdersPage]:
        """Each restaurant's span since its mark, the restaurants side by side (up to
        :data:`RESTAURANTS_AT_ONCE`: Toast's limits count per restaurant), each in windows of
        :data:`MAX_ORDERS_WINDOW` paged at once (up to :data:`ORDERS_WINDOW_CONCURRENCY`: a window's
        pages follow ``Link`` headers one after the other, so under 429s the longest chain, not the
        order count, bounds the sync), then settled (:meth:`_settle`: orders modified while their
        window was paged)."""
        if self.window is not None:
            yield from self._orders_by_business_date(*self.window)
            return
        state = self.state()
        marks: dict[str, str] = dict(state.get("hwm", {}))
        end = self.now() + timedelta(milliseconds=1)  # endDate is exclusive: include orders modified at `now`
        yield from self._side_by_side([self._restaurant_orders(guid, marks, end) for guid in self.restaurants])
        state["hwm"] = marks  # every restaurant finished or stopped early (its mark: what was read)

    def _restaurant_orders(self, guid: str, marks: dict[str, str], end: datetime) -> Iterator[OrdersPage]:
        """One restaurant's ``ordersBulk`` pages since its mark; sets ``marks[guid]`` to what was read
        once they are all handed on (an early stop moves it by whole windows only)."""
        begin = parse_ts(marks[guid]) - self.lookback if guid in marks else self.initial_start()
        spans = list(windows(min(begin, end), end, MAX_ORDERS_WINDOW))
        started = time.monotonic()
        done: set[int] = set()
        pages: Counter[int] = Counter()
        read: dict[Any, tuple[int | None, Any]] = {}
        unsettled: set[int] | None = None
        with stops_early(self.pace, f"Toast orders of restaurant {guid}") as stop:
            yield from self._page_windows(guid, spans, range(len(spans)), done, pages, read)
            unsettled = yield from self._settle(guid, spans, pages, read, end, started)
        if unsettled is None:  # stopped before they were settled: any read in several pages may have shifted
            unsettled = {i for i, n in pages.items() if n > 1}
        if not stop.early and not unsettled:
            marks[guid] = iso(self.now())  # everything modified up to `now` was read
            return
        # ordersBulk's order inside a window is undocumented: the mark moves by whole windows
        # only, to the end of the last one read to its last page (and settled) with every window before it
        done -= unsettled
        last = 0
        while last in done:
            last += 1
        if last:
            read_up_to = spans[last - 1][1]
            marks[guid] = iso(max(read_up_to, parse_ts(marks[guid])) if guid in marks else read_up_to)

    def _page_windows(self, guid: str, spans: list[tuple[datetime, datetime]], which: Iterable[int],
                      done: set[int], pages: Counter[int],
                      read: dict[Any, tuple[int | None, Any]]) -> Iterator[OrdersPage]:
        """Page the windows ``which`` of ``spans`` at once, yielding their pages; adds each
        window read to its last page to ``done``, counts each one's pages in ``pages`` and notes in
        ``read`` the window and ``modifiedDate`` each order was read with."""
        def window_pages(index: int) -> Iterator[tuple[int, OrdersPage | None]]:
            for page in self._modified_between(guid, *spans[index]):
                yield index, page
            yield index, None  # read to its last page

        for index, page in fan_in([window_pages(i) for i in which], ORDERS_WINDOW_CONCURRENCY, name="toast-orders"):
            if page is None:
                done.add(index)
                continue
            pages[index] += 1
            read.update((g, (index, m)) for g, m in zip(page.values("guid"), page.values("modifiedDate"), strict=True))
            yield page

    def _modified_between(self, guid: str, start: datetime, stop_at: datetime) -> Iterator[OrdersPage]:
        """Every ``ordersBulk`` page of the restaurant's orders modified in [start, stop_at)."""
        params = {"startDate": toast_ts(start), "endDate": toast_ts(stop_at), "pageSize": ORDERS_PAGE_SIZE}
        return self.client.orders_pages(ORDERS_BULK_PATH, guid, params)

    def _settle(self, guid: str, spans: list[tuple[datetime, datetime]], pages: Counter[int],
                read: dict[Any, tuple[int | None, Any]], end: datetime,
                started: float) -> Generator[OrdersPage, None, set[int]]:
        """Page again the windows an order left while they were paged; returns the windows still
        unsettled after :data:`SETTLE_ROUNDS` rounds (none: every order was read).

        ``ordersBulk`` pages by offset over a window's orders sorted by opening time. An order
        modified while its window is paged leaves the window (its ``modifiedDate`` moves past the
        sync's end), the orders after it move up a place, and one of them lands on a page already
        read: never read, and the mark would move past its ``modifiedDate``. Such an order was itself
        read, on a page before — in a window read in more than one page (one request cannot shift),
        with another ``modifiedDate`` than it has now. So the orders modified since the sync's end
        less the lookback (Toast's clock may lag ours) are read, their new versions kept, and each
        window where one of them was read with another ``modifiedDate`` is paged again; a round
        that finds none ends it."""
        again = {window for window, n in pages.items() if n > 1}  # paged, not checked since
        if not again:
            return set()
        since = end - self.lookback
        for _ in range(SETTLE_ROUNDS):
            until = max(since + MAX_ORDERS_WINDOW, end + timedelta(seconds=time.monotonic() - started) + self.lookback)
            again = set()
            for start, stop_at in windows(since, until, MAX_ORDERS_WINDOW):
                for page in self._modified_between(guid, start, stop_at):
                    for g, m in zip(page.values("guid"), page.values("modifiedDate"), strict=True):
                        window, was = read.get(g, (None, m))
                        if window is not None and was != m and pages[window] > 1:
                            again.add(window)  # it left ``window`` after a page of it was read
                        read[g] = (None, m)  # its version now, read here
                    yield page
            if not again:
                return set()
            LOG.info("Toast orders of restaurant %s: orders modified while paged, %d windows read again",
                     guid, len(again))
            for window in again:
                pages[window] = 0
            yield from self._page_windows(guid, spans, sorted(again), set(), pages, read)
        return {window for window in again if pages[window] > 1}  # paged again, not checked since

    def _guarded(self, page: OrdersPage) -> list[Row] | OrdersPage:
        """What the version guard keeps of ``page``: the page whole when it is read into Arrow and
        every order is kept (shaped with its batch: :func:`orders_struct`), else the kept orders as
        shaped dict rows (as the guard sees them: their key and version fields only)."""
        if page.rows is not None:
            spec = GUARD_COLUMNS["orders"]
            kinds = [page.rows.type.field(name).type if page.rows.type.get_field_index(name) >= 0 else pa.null()
                     for name in (spec.key, spec.field)]
            if all(pa.types.is_string(k) or pa.types.is_null(k) for k in kinds):
                probes = [{spec.key: key, spec.field: version}
                          for key, version in zip(page.values(spec.key), page.values(spec.field), strict=True)]
                kept = {id(row) for row in self.guard.filter("orders", probes)}
                if len(kept) == len(probes):
                    return page
                rows = page.dicts()
                return [shape_row(rows[i], self.account_id, page.restaurant)
                        for i, probe in enumerate(probes) if id(probe) in kept]
        return self.guard.filter("orders", [shape_row(o, self.account_id, page.restaurant) for o in page.dicts()])

    def _orders_by_business_date(self, start: datetime, end: datetime) -> Iterator[list[Row] | OrdersPage]:
        """Window mode: each restaurant's business days, the restaurants side by side."""
        first = start.date()
        days = [first + timedelta(days=d) for d in range(max(1, (end.date() - first).days))]

        def restaurant_days(guid: str) -> Iterator[OrdersPage]:
            for day in days:
                params = {"businessDate": _yyyymmdd(day), "pageSize": ORDERS_PAGE_SIZE}
                yield from self.client.orders_pages(ORDERS_BULK_PATH, guid, params)

        with stops_early(self.pace, "Toast orders (window)"):
            yield from self._side_by_side([restaurant_days(guid) for guid in self.restaurants])

    def _side_by_side(self, reads: list[Iterator[OrdersPage]]) -> Iterator[list[Row] | OrdersPage]:
        """The pages of one read per restaurant, up to :data:`RESTAURANTS_AT_ONCE` at once (Toast's
        limits count per restaurant), as the version guard keeps them — in this, the consumer's,
        thread: the guard's counters are not thread-safe."""
        for page in fan_in(reads, RESTAURANTS_AT_ONCE, name="toast-restaurants"):
            if kept := self._guarded(page):
                yield kept

    def menus(self) -> Iterator[list[Row]]:
        """``/menus`` only for restaurants whose ``/metadata`` ``lastUpdated`` changed since the last load."""
        state = self.state() if self.window is None else {}
        seen: dict[str, str] = dict(state.get("last_updated", {}))
        with stops_early(self.pace, "Toast menus"):  # a restaurant's mark moves once its menus are yielded
            for guid in self.restaurants:
                meta = self.client.get(MENUS_METADATA_PATH, guid)
                last_updated = str(meta.get("lastUpdated") or "")
                if last_updated and seen.get(guid) == last_updated:
                    continue
                payload = self.client.get(MENUS_PATH, guid)
                rows = self.guard.filter("menus", [shape_row(shape_menus(payload), self.account_id, guid)])
                if rows:
                    yield rows
                seen[guid] = str(payload.get("lastUpdated") or last_updated)
        if self.window is None:
            state["last_updated"] = seen


def orders_tables(parts: Sequence[list[Row] | OrdersPage], account_id: str | None,
                  pseudonymize: Pseudonymize | None, naming: Callable[[str], str]) -> list[NestedTable]:
    """One batch of orders as nested Arrow tables. When every part is a page read into Arrow
    (:class:`OrdersPage`), shaped and pseudonymised in Arrow (:func:`orders_struct`: the types of
    ``pa.array`` of the shaped dicts); otherwise, or when that path refuses, from dict rows as before."""
    pages = [part for part in parts if isinstance(part, OrdersPage) and part.rows is not None]
    if parts and len(pages) == len(parts):
        try:
            return nested_tables_of(orders_struct(pages, account_id, pseudonymize), "orders",
                                    max_nesting=MAX_TABLE_NESTING, not_null=("guid",), naming=naming)
        except ARROW_REFUSALS:
            pass
    pseudonymise_order = row_pseudonymiser(PII_FIELDS["orders"], pseudonymize)
    rows: list[Row] = []
    for part in parts:
        if isinstance(part, OrdersPage):
            rows.extend(pseudonymise_order(shape_row(o, account_id, part.restaurant)) for o in part.dicts())
        else:
            rows.extend(part)
    return nested_tables(rows, "orders", max_nesting=MAX_TABLE_NESTING, not_null=("guid",), naming=naming)


def orders_struct(pages: Sequence[OrdersPage], account_id: str | None,
                  pseudonymize: Pseudonymize | None) -> pa.StructArray:
    """The pages' orders as ``pa.array`` types their shaped (:func:`shape_row`: the tenant and the
    restaurant columns last in each dict, after the page's first order's keys), pseudonymised dicts."""
    shaped = []
    for page in pages:
        assert page.rows is not None
        if {ACCOUNT_COLUMN, RESTAURANT_COLUMN} & set(page.rows.type.names):
            raise Refused("the API's objects have a column of the tenant or the restaurant")
        keys = first_object_keys(b'{"orders":' + page.body + b"}", "orders")
        if keys is None:
            raise Refused("no first order in the page")
        keys = list(dict.fromkeys(keys))
        rows = page.rows
        if account_id is not None:  # None: a null column, which the nested tables leave out
            rows = add_after_first_keys(rows, keys, ACCOUNT_COLUMN, account_id)
            keys.append(ACCOUNT_COLUMN)
        shaped.append(add_after_first_keys(rows, keys, RESTAURANT_COLUMN, page.restaurant))
    struct = concat(shaped)
    if pseudonymize is not None:
        struct = pseudonymise_struct(struct, PII_FIELDS["orders"], pseudonymize)
    return struct


def _yyyymmdd(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


# section: the config section dlt named after the package when the source lived in its __init__.py
@dlt.source(name="toast", section="toast", max_table_nesting=MAX_TABLE_NESTING)
def toast_source(
    token_provider: TokenProvider,
    restaurant_guids: Sequence[str],
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
    pacing: Pacing | None = None,
    pace: SyncPace | None = None,
    pseudonymize: Pseudonymize | None = None,
    first_load: bool = False,
) -> Sequence[DltResource]:
    """The Toast source of one API client (account) and its restaurants.

    Args:
        token_provider: the machine client's token, reused while valid, renewed by a login (Toast
            has no refresh grant) and handed to its ``on_refresh`` so it is reused across runs and
            restaurants (Toast asks for at most a couple of logins per hour): build it with
            :func:`toast_tokens`.
        restaurant_guids: restaurants to sync (``Toast-Restaurant-External-ID`` values); at least one.
        base_url: API host (production, ``settings.SANDBOX_BASE_URL`` or the emulator).
        account_id: tenant id written to every row as ``_pos_account_id`` and keying the state.
        start, end: both or neither. Given: **window mode**, stateless: orders whose ``businessDate``
            is a day from ``start``'s date up to ``end``'s date (exclusive; at least one day; the
            dates of the UTC instants), restaurants, and menus when changed.
        initial_start: where the first incremental run starts (default now − 90 days).
        lookback: re-read window before each restaurant's mark.
        now: the run's upper bound (injected clock); default: real UTC now at first use.
        known_versions: ``(table, keys) -> {key: stored guard value}`` for the version guard, e.g.
            ``destination_known_versions(pipeline, account_id=...)``; None: no guard.
        retry_policy: HTTP retry bounds (default: ``SYNC_RETRY_POLICY``, a budget of minutes per
            request; see ``dlt_sources.common.retry``).
        pacing: client-side pacing (default :data:`settings.TOAST_PACING`: Toast's documented 20
            requests per second and 10 000 per 15 minutes per restaurant, ``/menus`` once a second,
            ``/ordersBulk`` five times a second, a 429's request held until its ``Retry-After``, every request with it after 4 in a row).
        pace: the run's counters (default: a new :class:`SyncPace`, read back with
            ``dlt_sources.common.pace.sync_pace(source)``). When a request's retry budget runs out
            the stream stops early, keeps what it loaded and ``pace.partial`` is True (see README).
        pseudonymize: ``(value, kind) -> pseudonym`` (the service passes ``transforms.pii.Pseudonymizer``
            with its key): the personal fields of ``settings.PII_FIELDS`` are replaced before dlt
            sees them (``dlt_sources.common.pseudonymise``). None: loaded as sent (clear storage).
        first_load: the account's first load into a dataset without its rows: orders are
            appended, not merged (``dlt_sources.common.rows.bulk_disposition``); the caller drops the
            older copy of a row read twice after the load.

    The body makes no network call: resources fetch lazily.
    """
    window = window_of(start, end, parse_ts)
    restaurants = restaurant_list(restaurant_guids)
    client = ToastClient(base_url, token_provider, policy=retry_policy, pacing=pacing,
                         pace=building(pace))
    sync = _Sync(client, restaurants, account_id, window, parse_ts(initial_start) if initial_start else None,
                 lookback, parse_ts(now) if now else None, VersionGuard(known_versions))

    merge: Any = MERGE
    bulk: Any = bulk_disposition(first_load)

    @dlt.resource(name="restaurants", write_disposition=merge, primary_key=merge_key("guid", account_id),
                  parallelized=True)
    def restaurants_resource() -> Iterator[list[Row]]:
        yield from sync.restaurants_rows()

    # orders with their lists as nested Arrow tables (orders__checks, …__selections, …): dlt's child
    # tables built in Arrow's C++ (dlt_sources/common/arrow_nested.py), keys in dlt's snake_case;
    # the table hints go with the root table, personal fields are pseudonymised on the dicts first
    prepare_arrow_resources(["orders"])
    count_nested_by_root_resource()
    orders_hints = {"write_disposition": bulk, "primary_key": merge_key("guid", account_id),
                    "columns": {"modified_date": {"dedup_sort": "desc"}}}
    pseudonymise_order = row_pseudonymiser(PII_FIELDS["orders"], pseudonymize)
    naming = SnakeCaseNaming().normalize_identifier

    def order_tables(parts: list[list[Row] | OrdersPage]) -> Iterator[Any]:
        return nested_items(orders_tables(parts, account_id, pseudonymize, naming), orders_hints)

    @dlt.resource(name="orders", write_disposition=bulk, parallelized=True)
    def orders() -> Iterator[Any]:
        # dict rows are pseudonymised here, pages read into Arrow when their batch is built
        pending: list[list[Row] | OrdersPage] = []
        count = 0
        for part in sync.orders():
            pending.append(part if isinstance(part, OrdersPage) else [pseudonymise_order(row) for row in part])
            count += len(part)
            if count >= ORDERS_ARROW_BATCH_ROWS:
                yield from order_tables(pending)
                pending, count = [], 0
        if pending:
            yield from order_tables(pending)

    @dlt.resource(name="menus", write_disposition=merge, primary_key=merge_key("restaurant_guid", account_id),
                  columns={"last_updated": {"dedup_sort": "desc"}}, parallelized=True)
    def menus() -> Iterator[list[Row]]:
        yield from sync.menus()

    @dlt.resource(name="employees", write_disposition=merge,
                  primary_key=merge_key(("_pos_restaurant_guid", "guid"), account_id),
                  columns={c: {"data_type": "text", "nullable": True} for c in ("chosen_name", "phone_number")},
                  parallelized=True)
    def employees() -> Iterator[list[Row]]:
        yield from sync.employees()

    @dlt.resource(name="devices", write_disposition=merge,
                  primary_key=merge_key(("_pos_restaurant_guid", "serial_number"), account_id),
                  parallelized=True)
    def devices() -> Iterator[list[Row]]:
        yield from sync.devices()

    # the resources run in parallel on dlt's extract pool (EXTRACT__WORKERS threads, set in
    # dlt_sources.common.tuning): the longest first
    return pseudonymise_resources([orders, restaurants_resource, menus, employees, devices],
                                  {k: v for k, v in PII_FIELDS.items() if k != "orders"}, pseudonymize)


attach_pace(toast_source)
