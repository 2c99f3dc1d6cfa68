"""An account's first load appends its transactional rows (no staging copy, no merge statement);
``pos_sync.warehouse.repeats.drop_repeats`` then leaves the raw tables as dlt's merge would have:
one row per key — the highest ``dedup_sort`` (the newest version), then the later load's — with its
own nested rows, and one copy of a load file's rows copied twice. Checked on DuckDB and PostgreSQL with tables
written by hand, and with the real Lightspeed and Toast sources reading a sale twice (modified while
the import paged the feed): appended + dropped equals what the merge loads."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
from lightspeed_support import LightspeedEnv, ls_http_log, make_ls_env
from toast_support import ToastEnv, page_orders_by, toast_env

from dlt_sources.common.rows import preferred_loader_file_format
from pos_sync.settings import load_settings
from pos_sync.warehouse.pipelines import account_pipeline
from pos_sync.warehouse.repeats import TableFamily, drop_repeats, families
from pos_sync.warehouse.sql import Warehouse

__all__ = ["ls_http_log", "make_ls_env", "toast_env"]  # fixtures

DS = "raw_x"
SALES = TableFamily("sales", ("id", "_pos_account_id"), ("version", "desc"), ("sales__items",))


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    monkeypatch.setenv("POS_HOME", str(tmp_path))
    if request.param == "postgres":
        from support.postgres import use_postgres_warehouse

        use_postgres_warehouse(monkeypatch, request.getfixturevalue("pg_url"))
    else:
        monkeypatch.delenv("POS_WAREHOUSE_URL", raising=False)
    wh = Warehouse(load_settings())
    try:
        yield wh
    finally:
        wh.close()


def _write(wh: Warehouse, sales: list[tuple[Any, ...]], items: list[tuple[Any, ...]]) -> None:
    with wh.transaction():
        wh.execute(f"create schema {DS}")
        wh.execute(f"create table {DS}.sales (id text, _pos_account_id text, version bigint, total numeric(12, 2), "
                   "_dlt_load_id text, _dlt_id text)")
        wh.execute(f"create table {DS}.sales__items (name text, _dlt_root_id text, _dlt_parent_id text, "
                   "_dlt_list_idx bigint, _dlt_id text)")
        for row in sales:
            wh.execute(f"insert into {DS}.sales values (%s, %s, %s, %s, %s, %s)", row)
        for row in items:
            wh.execute(f"insert into {DS}.sales__items values (%s, %s, %s, %s, %s)", row)


def _read(wh: Warehouse) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    sales = sorted(wh.tuples(f"select id, _pos_account_id, version, _dlt_id from {DS}.sales"))
    items = sorted(wh.tuples(f"select name, _dlt_root_id, _dlt_id from {DS}.sales__items"))
    return sales, items


def test_older_copies_of_a_key_and_second_copies_of_a_file_go_the_rest_stays(warehouse: Warehouse) -> None:
    wh = warehouse
    _write(wh, sales=[
        ("s1", "A", 1, 10, "L1", "r1"),  # read twice in one load: version 2 stays
        ("s1", "A", 2, 12, "L1", "r2"),
        ("s2", "A", 5, 20, "L1", "r3"),  # its file copied twice (the same _dlt_id)
        ("s2", "A", 5, 20, "L1", "r3"),
        ("s3", "A", 9, 30, "L1", "r4"),  # an older load's row with a higher version: the newest version stays
        ("s3", "A", 3, 31, "L2", "r5"),
        ("s4", "A", 4, 40, "L1", "r9"),  # the same version in two loads: the later load's stays
        ("s4", "A", 4, 40, "L2", "r10"),
        ("s1", "B", 1, 10, "L1", "r6"),  # another account's repeat: not this account's to touch
        ("s1", "B", 2, 12, "L1", "r7"),
        ("s5", "B", 1, 50, "L3", "r11"),  # another account's file copied twice: its own sync drops it
        ("s5", "B", 1, 50, "L3", "r11"),
    ], items=[
        ("bread", "r1", "r1", 0, "i1"), ("bread", "r2", "r2", 0, "i2"), ("tip", "r2", "r2", 1, "i3"),
        ("cake", "r3", "r3", 0, "i4"), ("cake", "r3", "r3", 0, "i4"),
        ("pie", "r4", "r4", 0, "i5"), ("pie", "r5", "r5", 0, "i6"),
        ("bun", "r6", "r6", 0, "i7"), ("bun", "r7", "r7", 0, "i8"),
        ("roll", "r9", "r9", 0, "i9"), ("roll", "r10", "r10", 0, "i10"),
        ("tart", "r11", "r11", 0, "i11"), ("tart", "r11", "r11", 0, "i11"),
    ])
    dropped = drop_repeats(wh, DS, [SALES], "A")
    assert dropped.read_twice == {f"{DS}.sales": 3, f"{DS}.sales__items": 3}
    assert dropped.copied_twice == {f"{DS}.sales": 1, f"{DS}.sales__items": 1}
    sales, items = _read(wh)
    assert sales == [("s1", "A", 2, "r2"), ("s1", "B", 1, "r6"), ("s1", "B", 2, "r7"), ("s2", "A", 5, "r3"),
                     ("s3", "A", 9, "r4"), ("s4", "A", 4, "r10"), ("s5", "B", 1, "r11"), ("s5", "B", 1, "r11")]
    assert items == [("bread", "r2", "i2"), ("bun", "r6", "i7"), ("bun", "r7", "i8"), ("cake", "r3", "i4"),
                     ("pie", "r4", "i5"), ("roll", "r10", "i10"), ("tart", "r11", "i11"), ("tart", "r11", "i11"),
                     ("tip", "r2", "i3")]
    # idempotent: a second pass finds nothing (and writes nothing)
    assert drop_repeats(wh, DS, [SALES], "A").total() == 0
    assert _read(wh) == (sales, items)
    # account B's own pass: its older copy and its file's second copy
    dropped = drop_repeats(wh, DS, [SALES], "B")
    assert dropped.read_twice == {f"{DS}.sales": 1, f"{DS}.sales__items": 1}
    assert dropped.copied_twice == {f"{DS}.sales": 1, f"{DS}.sales__items": 1}
    assert [s for s in _read(wh)[0] if s[1] == "B"] == [("s1", "B", 2, "r7"), ("s5", "B", 1, "r11")]


def test_without_an_account_every_accounts_repeats_go(warehouse: Warehouse) -> None:
    """The sources called without an account key on the id alone: every account's repeats, every copy."""
    wh = warehouse
    _write(wh, sales=[("s1", "A", 1, 10, "L1", "r1"), ("s1", "A", 2, 12, "L1", "r2"),
                      ("s1", "B", 1, 10, "L1", "r6"), ("s1", "B", 2, 12, "L1", "r7"),
                      ("s5", "B", 1, 50, "L3", "r11"), ("s5", "B", 1, 50, "L3", "r11")],
           items=[("tart", "r11", "r11", 0, "i11"), ("tart", "r11", "r11", 0, "i11")])
    dropped = drop_repeats(wh, DS, [SALES], None)
    assert dropped.read_twice == {f"{DS}.sales": 2}
    assert dropped.copied_twice == {f"{DS}.sales": 1, f"{DS}.sales__items": 1}
    assert _read(wh) == ([("s1", "A", 2, "r2"), ("s1", "B", 2, "r7"), ("s5", "B", 1, "r11")],
                         [("tart", "r11", "i11")])


def test_a_nested_table_without_root_key_is_refused_not_guessed(warehouse: Warehouse) -> None:
    wh = warehouse
    with wh.transaction():
        wh.execute(f"create schema {DS}")
        wh.execute(f"create table {DS}.sales (id text, _pos_account_id text, version bigint, _dlt_load_id text, "
                   "_dlt_id text)")
        wh.execute(f"create table {DS}.sales__items (name text, _dlt_parent_id text, _dlt_id text)")
        wh.execute(f"insert into {DS}.sales values ('s1', 'A', 1, 'L1', 'r1'), ('s1', 'A', 2, 'L1', 'r2')")
    with pytest.raises(RuntimeError, match="has no _dlt_root_id"):
        drop_repeats(wh, DS, [SALES], "A", copied_twice=False)
    assert len(wh.tuples(f"select * from {DS}.sales")) == 2


# ------------------------------------------------------------------ real sources, a sale read twice
def _shop(account: str, *, first_load: bool, notes: bool, hints: dict[str, Any] | None = None) -> Any:
    """A source whose sales (keyed on id and account, built in Arrow as the providers' are) carry
    items and, with ``notes``, notes: nested tables of the sales, in the first load appended."""
    from dlt_sources.common.arrow import prepare_arrow_resources
    from dlt_sources.common.arrow_nested import count_nested_by_root_resource, nested_items, nested_tables
    from dlt_sources.common.rows import bulk_disposition

    prepare_arrow_resources(["sales"])  # as the sources do
    count_nested_by_root_resource()
    hints = {"write_disposition": bulk_disposition(first_load), "primary_key": ["id", "_pos_account_id"],
             **(hints or {})}

    @dlt.source(name="shop")
    def shop() -> Any:
        @dlt.resource(name="sales", parallelized=True)  # as the providers' orders: extracted in a thread
        def sales() -> Iterator[Any]:
            state = dlt.current.resource_state()  # a cursor, as the sources keep: restored from the destination
            state["loads"] = state.get("loads", 0) + 1
            rows = [{"id": f"s{i}", "_pos_account_id": account, "version": 1 if first_load else 2,
                     "items": [{"name": "pan"}], **({"notes": [{"text": "sin gluten"}]} if notes else {})}
                    for i in range(3)]
            yield from nested_items(nested_tables(rows, "sales", max_nesting=2), hints)

        return sales

    return shop()


def _dagster_dlt_run(pipeline: dlt.Pipeline, source: Any) -> None:
    """What dagster-dlt's ``DagsterDltResource.run`` does with the pipeline (dagster_dlt/resource.py):
    drop its working folder when it restores from the destination, its pending packages otherwise."""
    if pipeline.config.restore_from_destination:
        pipeline.drop()
    else:
        pipeline.drop_pending_packages()
    fmt = preferred_loader_file_format(pipeline.destination.destination_type)
    pipeline.run(source, loader_file_format=fmt).raise_on_failed_jobs()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_first_load_logs_no_warning_about_the_dedup_sort_it_keeps(warehouse: Warehouse) -> None:
    """The first load appends sales whose ``version`` keeps its ``dedup_sort`` hint (read by
    ``drop_repeats``); dlt warns that the append ignores it — a ``[WARNING]`` line on every first
    sync of a Lightspeed or Square account. That line, and only that one, is dropped: logged by
    hand on dlt's logger, another warning still comes through, and the same warning does once the
    filter is taken off (what the load logged before)."""
    from dlt_sources.common.rows import AppendIgnoresDedupSort

    dlt_logger = logging.getLogger("dlt")
    records = _Records()
    dlt_logger.addHandler(records)
    try:
        versions = {"columns": {"version": {"data_type": "bigint", "dedup_sort": "desc"}}}
        _dagster_dlt_run(account_pipeline("shop", "mine"), _shop("mine", first_load=True, notes=False, hints=versions))
        assert warehouse.scalar("select count(*) from raw_shop.sales") == 3
        assert [m for m in records.messages if "dedup_sort" in m] == []
        ignored = ('The "dedup_sort" column hint for column "version" in table "sales" with write disposition '
                   '"append" in schema "shop" will be ignored.')
        dlt_logger.warning(ignored)
        dlt_logger.warning("another warning")
        assert records.messages[-1] == "another warning" and ignored not in records.messages
        for f in [f for f in dlt_logger.filters if isinstance(f, AppendIgnoresDedupSort)]:
            dlt_logger.removeFilter(f)
        dlt_logger.warning(ignored)
        assert records.messages[-1] == ignored
    finally:
        dlt_logger.removeHandler(records)
        AppendIgnoresDedupSort.install()


def test_a_later_sync_merges_even_when_the_destinations_newest_schema_appends(
        warehouse: Warehouse, tmp_path: Path) -> None:
    """Two accounts' first loads appended into one dataset, the other's schema stored last; a sync
    of the first account was killed after it saved, in its working folder, the schema whose tables
    merge again, before the destination stored it. The next sync (run as the raw step runs it,
    through dagster-dlt) merges the sales, their items and their notes — though none come
    with this load — instead of restoring the other account's schema, which appends them (the
    orders' merge then named a staging table dlt had not made; seen in tests/deploy/test_topology.py)."""
    def pipeline(account: str) -> dlt.Pipeline:
        return account_pipeline("shop", account)  # the raw step's: raw_shop, a staging dataset of its own on PostgreSQL

    for account in ("mine", "other"):  # the other's first load stores the dataset's newest schema
        _dagster_dlt_run(pipeline(account), _shop(account, first_load=True, notes=True))
    killed = pipeline("mine")
    schema = killed.default_schema
    assert schema.tables["sales__notes"]["write_disposition"] == "append"
    for table in schema.data_tables():
        table["write_disposition"] = "merge"
    killed.schemas.save_schema(schema)  # … and killed before storing it

    later = pipeline("mine")
    _dagster_dlt_run(later, _shop("mine", first_load=False, notes=False))
    assert {t["name"]: t["write_disposition"] for t in later.default_schema.data_tables()} == {
        "sales": "merge", "sales__items": "merge", "sales__notes": "merge"}
    rows = warehouse.query("select _pos_account_id as account, version, count(*) as n from raw_shop.sales "
                           "group by _pos_account_id, version order by 1, 2")
    assert [(r["account"], r["version"], r["n"]) for r in rows] == [("mine", 2, 3), ("other", 1, 3)]  # replaced
    assert warehouse.scalar("select count(*) from raw_shop.sales__notes n join raw_shop.sales s on "
                            "n._dlt_root_id = s._dlt_id where s._pos_account_id = 'mine'") == 0  # with no notes


def _pipelines(tmp_path: Path, make: Callable[..., dlt.Pipeline]) -> Callable[[str], dlt.Pipeline]:
    """Pipelines of one source, each into a DuckDB file of its own (``<name>.duckdb``)."""
    return lambda name: make(name, destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")))


def _warehouse_of(pipeline: dlt.Pipeline) -> Warehouse:
    """The product's Warehouse on the test pipeline's DuckDB file (:func:`_pipelines`)."""
    import duckdb

    path = Path(pipeline.pipelines_dir).parent / f"{pipeline.pipeline_name}.duckdb"
    assert path.exists()
    return Warehouse(load_settings(), duckdb_connection=duckdb.connect(str(path)))


def _root_key(pipeline: dlt.Pipeline, root: str) -> str:
    """The root table's primary key columns as ``r.<column>`` (the root joined as ``r``)."""
    from dlt.common.schema.utils import get_columns_names_with_prop

    return ", ".join(f"r.{c}" for c in get_columns_names_with_prop(pipeline.default_schema.tables[root], "primary_key"))


def _content(pipeline: dlt.Pipeline) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's rows without dlt's random ids and load ids: root rows as they are, nested
    rows with their root row's primary key in place of the ids."""
    from support.destination import query

    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in pipeline.default_schema.data_tables():
        name = table["name"]
        columns = [c for c in table["columns"] if not c.startswith("_dlt")]
        root = name.split("__", 1)[0]
        if "__" not in name:
            sql = f"select {', '.join(columns)} from {name}"
        else:
            cols = ", ".join(f"c.{c}" for c in [*columns, "_dlt_list_idx"])
            sql = f"select {_root_key(pipeline, root)}, {cols} from {name} c join {root} r on c._dlt_root_id = r._dlt_id"
        out[name] = sorted(query(pipeline, sql), key=repr)
    return out


def _shape(pipeline: dlt.Pipeline) -> dict[str, list[tuple[Any, ...]]]:
    """Root tables as they are; of each nested table, how many rows hang under each root row (its
    primary key): an order that Toast served twice with the same ``modifiedDate`` keeps either copy's
    child rows, in the merge as here (dlt's merge ranks such ties in no set order)."""
    from support.destination import query

    out: dict[str, list[tuple[Any, ...]]] = {}
    for name, rows in _content(pipeline).items():
        if "__" not in name:
            out[name] = rows
            continue
        root = name.split("__", 1)[0]
        key = _root_key(pipeline, root)
        out[name] = sorted(query(pipeline, f"select {key}, count(*) from {name} c join {root} r "
                                           f"on c._dlt_root_id = r._dlt_id group by {key}"), key=repr)
    return out


def _paged_runs(env: Any, fired: list[bool], start: datetime, later_clock: datetime,
                default_page_size: Callable[[], None]) -> tuple[Callable[[dlt.Pipeline, bool], None],
                                                               Callable[[dlt.Pipeline], None]]:
    """``run``: the first load from ``start`` (appended or merged), whose handler must have moved the
    clock mid-paging (``fired``); ``later``: a sync at ``later_clock`` at the source's default page
    size, no clock jump."""
    def run(pipeline: dlt.Pipeline, first_load: bool) -> None:
        fired.clear()
        env.world.set_now(start)
        env.run(pipeline, first_load=first_load)
        assert fired

    def later(pipeline: dlt.Pipeline) -> None:
        fired.append(True)  # no clock jump
        default_page_size()
        env.world.set_now(later_clock)
        env.run(pipeline)

    return run, later


def _assert_same(appended: dict[str, list[Any]], merged: dict[str, list[Any]]) -> None:
    """``appended == merged``; when not, the message names each table's rows found on one side only
    (pytest's own diff of two large dicts is cut short before it reaches them)."""
    if appended == merged:
        return
    differences = {}
    for table in sorted(set(appended) | set(merged)):
        a, m = appended.get(table, []), merged.get(table, [])
        if a != m:
            only_a, only_m = [r for r in a if r not in m], [r for r in m if r not in a]
            differences[table] = {"appended only": only_a[:5], "merged only": only_m[:5],
                                  "rows": (len(a), len(m))}
    raise AssertionError(f"appended + dropped differs from merged: {differences}")


def _append_then_drop_equals_merge(run: Callable[[dlt.Pipeline, bool], None], later: Callable[[dlt.Pipeline], None],
                                   make_pipeline: Callable[[str], dlt.Pipeline], root: str, account: str,
                                   content: Callable[[dlt.Pipeline], Any] | None = None) -> int:
    """The first load appended and its repeats dropped equals the same load merged (``run``: one
    load of the source, appended or not; the same reads both times); so do both after a ``later``
    sync that brings changes of rows the first load appended (merged into them, not added).
    ``content``: what is compared of the tables the first load appended (default :func:`_content`)."""
    merged = make_pipeline("merged")
    run(merged, False)
    appended = make_pipeline("appended")
    run(appended, True)
    assert appended.default_schema.tables[root]["write_disposition"] == "append"
    # the tables the first load appended: the others (devices, menus…) merge in both pipelines, and
    # what differs there is when each read them (a device's last check-in follows the sandbox clock,
    # which the paging moves at a moment the pipelines' threads do not share)
    schema = appended.default_schema
    appended_families = families(schema)
    tables = {name for family in appended_families if schema.tables[family.root]["write_disposition"] == "append"
              for name in (family.root, *family.nested)}
    read = content or _content

    def compared(pipeline: dlt.Pipeline) -> dict[str, Any]:
        return {name: rows for name, rows in read(pipeline).items() if name in tables}

    wh = _warehouse_of(appended)
    try:
        dropped = drop_repeats(wh, appended.dataset_name, appended_families, account)
    finally:
        wh.close()
    assert dropped.read_twice.get(f"{appended.dataset_name}.{root}"), "no row was read twice: nothing tested"
    _assert_same(compared(appended), compared(merged))
    rows = _content(appended)[root]
    for pipeline in (merged, appended):
        later(pipeline)
    assert appended.default_schema.tables[root]["write_disposition"] == "merge"
    _assert_same(compared(appended), compared(merged))
    after = _content(appended)[root]
    assert not set(rows) <= set(after), "the later sync changed no row of the first load: nothing tested"
    from support.destination import query

    key = _root_key(appended, root)
    assert query(appended, f"select {key} from {root} r group by {key} having count(*) > 1") == []  # replaced, not added
    return sum(dropped.read_twice.values())


def test_lightspeed_sale_modified_while_the_feed_is_paged(make_ls_env: Callable[..., LightspeedEnv],
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dlt_sources.lightspeed import source as ls_source_module
    from pos_sandbox.lightspeed import LightspeedEmulator

    monkeypatch.setitem(ls_source_module.VERSION_STREAMS, "sales", ("/sales", {}, 20))  # many pages
    edited: set[str] = set()
    fired: list[bool] = []
    original = LightspeedEmulator.list_sales

    async def list_sales(self: LightspeedEmulator, request: Any) -> Any:
        """The real handler; the first page that holds a sale tipped later moves the clock past the
        tip edits: those sales change while the feed is paged."""
        response = await original(self, request)
        if not fired and any(sale_id in bytes(response.body).decode() for sale_id in edited):
            fired.append(True)
            self.world.set_now(mid)
        return response

    monkeypatch.setattr(LightspeedEmulator, "list_sales", list_sales)  # before the sandbox serves
    env = make_ls_env(scale="small", days=2)
    world = env.world
    now2 = world.window_end_utc + timedelta(days=7)
    tips = [(s.tip_edit.at, s.closed_at, s.id) for loc in world.locations for s in world.iter_sales(loc.location_id)
            if s.tip_edit is not None]

    def tipped_after(t: datetime) -> list[tuple[datetime, str]]:
        return sorted((at, sale_id) for at, closed, sale_id in tips if t < at and closed <= t)

    now1 = max((at - timedelta(seconds=1) for at, _, _ in tips), key=lambda t: len(tipped_after(t)))
    tipped = tipped_after(now1)
    assert len(tipped) >= 2
    mid = tipped[len(tipped) // 2 - 1][0]  # tips up to it happen while the first load pages, the rest later
    edited.update(sale_id for at, sale_id in tipped if at <= mid)

    run, later = _paged_runs(env, fired, now1, now2, lambda: monkeypatch.setitem(
        ls_source_module.VERSION_STREAMS, "sales", ("/sales", {}, 1000)))
    read_twice = _append_then_drop_equals_merge(run, later, _pipelines(tmp_path, env.pipeline), "sales",
                                                env.account["account_id"])
    assert read_twice >= len(edited)


def test_toast_orders_paged_again_by_the_settling_pass(toast_env: Callable[..., ToastEnv],
                                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dlt_sources.toast import source as toast_source_module
    from pos_sandbox.toast import ToastEmulator

    many_pages = page_orders_by(monkeypatch, 5)
    late = timedelta(hours=6)
    edited: set[str] = set()
    fired: list[bool] = []
    original = ToastEmulator.orders_bulk

    async def orders_bulk(self: ToastEmulator, request: Any) -> Any:
        """The real handler; the first page with a next page that holds an order tipped in the next
        hours moves the clock past those tips: the orders change while their windows are paged."""
        response = await original(self, request)
        if not fired and 'rel="next"' in response.headers.get("link", "") and any(
                guid in bytes(response.body).decode() for guid in edited):
            fired.append(True)
            self.world.set_now(self.world.now + late)
        return response

    monkeypatch.setattr(ToastEmulator, "orders_bulk", orders_bulk)  # before the sandbox serves
    env = toast_env(days=3, **many_pages)
    world = env.world
    sales = [s for loc in world.locations for s in world.iter_sales(loc.location_id)]
    edits = sorted(s.tip_edit.at for s in sales if s.tip_edit)
    assert edits
    t0 = edits[len(edits) // 2] - timedelta(seconds=1)
    edited.update(s.id for s in sales if s.tip_edit and t0 < s.tip_edit.at <= t0 + late and s.closed_at <= t0)
    assert edited

    run, later = _paged_runs(env, fired, t0, world.window_end_utc + timedelta(days=7),
                             lambda: monkeypatch.setattr(toast_source_module, "ORDERS_PAGE_SIZE", 100))
    _append_then_drop_equals_merge(run, later, _pipelines(tmp_path, env.pipeline), "orders",
                                   env.account["account_id"], content=_shape)
