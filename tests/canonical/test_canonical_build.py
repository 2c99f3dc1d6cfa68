"""The canonical model end to end: the real Square source against the sandbox, the incremental
canonical build (``pos_sync.canonical.build``), and the sandbox ledger as the judge.

* daily figures grouped from ``pos.pos_transactions`` equal every ``daily`` row of the ledger,
  for a plain window and one crossing the European DST change;
* DuckDB and PostgreSQL give identical canonical rows;
* re-running changes nothing; a new raw load is processed once;
* late events (a refund days after its sale, a tip edit) change exactly the affected rows;
* the integrity checks pass on a good build and each one catches its corruption;
* customer data is pseudonymised in the source (raw and ``pos`` hold the same keyed hash) unless the
  tenant opts in to clear storage (``POS_STORE_CUSTOMER_PII_TENANTS``);
* through Dagster: the canonical asset stays quiet without new loads, and the demo reconciles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from canonical_support import (
    BOOKKEEPING,
    DST,
    NORMAL,
    CanonicalEnv,
    assert_rolled_back_then_built,
    changed_rows,
    make_world,
    second_load_pending,
    snapshot,
)
from support.destination import warehouse_query
from support.postgres import use_postgres_warehouse

from transforms.canonical import canonical_id

EnvMaker = Callable[..., CanonicalEnv]


def _sale_id(env: CanonicalEnv, order_id: str) -> str:
    return canonical_id(env.tenant_id, "square", "order", order_id)


def _refund_id(env: CanonicalEnv, refund_id: str) -> str:
    return canonical_id(env.tenant_id, "square", "refund", refund_id)


# ---------------------------------------------------------------------- (a) daily figures = ledger
@pytest.mark.parametrize(("spec", "after_end"), [(NORMAL, timedelta(0)), (DST, timedelta(days=3))],
                         ids=["plain-window", "dst-window"])
def test_daily_figures_reproduce_the_ledger(make_env: EnvMaker, spec: tuple[Any, ...], after_end: timedelta) -> None:
    world = make_world(spec)
    env = make_env(world=world, now=world.window_end_utc + after_end)  # DST: late refunds after the window too
    env.ingest()
    result = env.build()
    assert result.loads == len(env.raw_load_ids()) >= 1
    assert env.reconcile() == []

    truth = [r for r in env.truth()["daily"] if r["provider"] == "square"]
    # the scenario is not trivial: voids, refunds and tips on the ledger's side, every business day
    assert sum(r["void_count"] for r in truth) >= 1
    assert sum(r["refund_count"] for r in truth) >= 2
    assert sum(Decimal(r["tip_amount"]) for r in truth) > 0
    assert {r["business_date"] for r in truth} >= {d.isoformat() for d in world.local_day_range()}
    if spec == DST:
        assert "2026-03-29" in {r["business_date"] for r in truth}  # the day of the change
        assert max(r["business_date"] for r in truth) > world.end.isoformat()  # refunds after the window
    # business dates are the local dates of the UTC times on both sides of the change
    assert env.checks()["business_dates_in_location_zone"] == 0


# ---------------------------------------------------------------------- (b) DuckDB = PostgreSQL
@pytest.mark.postgres
def test_duckdb_and_postgres_give_identical_canonical_rows(make_env: EnvMaker, pg_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(DST)
    env = make_env(world=world, now=world.window_end_utc + timedelta(days=3))
    env.ingest()
    assert env.build().loads >= 1
    duck = snapshot(exclude=BOOKKEEPING)

    use_postgres_warehouse(monkeypatch, pg_url)
    env.forget_local_pipeline_state()  # the same world from scratch into PostgreSQL
    env.ingest()
    assert env.build().loads >= 1
    pg = snapshot(exclude=BOOKKEEPING)
    assert warehouse_query("select count(*) as n from pos.pos_transactions")[0]["n"] == len(pg["pos_transactions"])

    for table in duck:
        assert duck[table], f"{table} is empty: nothing compared"
        assert set(duck[table]) == set(pg[table]), table
        differing = [k for k in duck[table] if duck[table][k] != pg[table][k]]
        assert not differing, (table, differing[:3],
                               [(duck[table][k], pg[table][k]) for k in differing[:1]])
    assert env.reconcile() == []  # PostgreSQL reconciles too


# ---------------------------------------------------------------------- (c) idempotent, once per load
def test_rebuild_changes_nothing_and_a_new_load_is_processed_once(make_env: EnvMaker) -> None:
    world = make_world()
    env = make_env(world=world, now=world.window_start_utc + timedelta(days=1, hours=12))
    env.ingest()
    first = env.build()
    assert first.loads == 1 and first.transactions > 0
    before = snapshot(exclude=frozenset())  # every column, bookkeeping included

    again = env.build()
    assert (again.loads, again.transactions, again.days_recomputed) == (0, 0, 0)
    assert snapshot(exclude=frozenset()) == before

    # a sync with nothing new writes no data rows; whatever load it records is processed once
    env.ingest()
    noop = env.build()
    assert noop.transactions == 0
    assert snapshot() == snapshot_without(before, "updated_at")
    assert env.build().loads == 0

    # new data: one new raw load, processed exactly once
    loads_before = set(env.raw_load_ids())
    env.set_now(world.window_end_utc)
    env.ingest()
    new_loads = set(env.raw_load_ids()) - loads_before
    assert len(new_loads) == 1
    second = env.build()
    assert second.loads == 1 and second.transactions > 0
    assert env.build().loads == 0
    processed = warehouse_query("select load_id from pos.transform_loads where pos_account_id = %s",
                                (env.account_id,))
    ids = [r["load_id"] for r in processed]
    assert len(ids) == len(set(ids)) and set(ids) == set(env.raw_load_ids())
    (new_load,) = new_loads
    stamped = warehouse_query("select count(*) as n from pos.pos_transactions where source_load_id = %s",
                              (new_load,))[0]["n"]
    assert 0 < stamped <= second.transactions
    assert env.reconcile() == []
    assert set(env.checks().values()) == {0}


def snapshot_without(snap: dict[str, Any], column: str) -> dict[str, Any]:
    return {t: {k: {c: v for c, v in row.items() if c != column} for k, row in rows.items()}
            for t, rows in snap.items()}


def test_a_build_that_crashes_leaves_the_tables_and_the_loads_as_they_were(make_env: EnvMaker,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_sync.canonical.writer import CanonicalWriter

    env, before = second_load_pending(make_env)

    def crash(*_: Any) -> int:
        raise RuntimeError("killed mid-build")

    with monkeypatch.context() as patch:
        patch.setattr(CanonicalWriter, "recompute_daily_product_sales", crash)
        with pytest.raises(RuntimeError, match="killed mid-build"):
            env.build()
    # the rows written before the crash were rolled back; the load is still unprocessed: the next build does it
    assert_rolled_back_then_built(env, before)


# ---------------------------------------------------------------------- (d) late events
def test_late_refund_and_tip_edit_change_exactly_the_affected_rows(make_env: EnvMaker) -> None:
    world = make_world()  # NORMAL: seed 8 — a refund a day after its sale, a tip edit overnight
    t1 = datetime(2026, 3, 3, 12, 30, tzinfo=UTC)  # mid-window, while another refund is still pending
    sales = {s.id: s for loc in world.locations for s in world.iter_sales(loc.location_id)}
    late_refunds = [s for s in sales.values() if s.refund is not None and s.closed_at <= t1 < s.refund.created_at]
    late_edits = [s for s in sales.values() if s.tip_edit is not None and s.closed_at <= t1 < s.tip_edit.at]
    pending = [s for s in sales.values() if s.refund is not None and s.refund.created_at <= t1 < s.refund.completed_at]
    assert late_refunds and late_edits and pending, "the world no longer has the late events this test needs"
    t2 = max(max(s.refund.completed_at for s in late_refunds), max(s.tip_edit.at for s in late_edits)) \
        + timedelta(minutes=1)

    env = make_env(world=world, now=t1)
    env.ingest()
    env.build()
    assert env.reconcile() == []
    before = snapshot(exclude=frozenset({"updated_at"}))
    for s in pending:  # in the model, but in no daily figure until it completes
        row = before["pos_transactions"][(_refund_id(env, s.refund.id),)]
        assert (row["transaction_type"], row["status"], row["refunded_transaction_id"]) == \
            ("refund", "pending", _sale_id(env, s.id))

    env.set_now(t2)
    env.ingest()
    result = env.build()
    assert result.loads == 1
    after = snapshot(exclude=frozenset({"updated_at"}))

    # what the world says changed in (t1, t2]
    new_sales = {_sale_id(env, s.id) for s in sales.values() if t1 < s.closed_at <= t2}
    new_refunds = {_refund_id(env, s.refund.id) for s in sales.values()
                   if s.refund is not None and t1 < s.refund.created_at <= t2}
    completed = {_refund_id(env, s.refund.id) for s in sales.values()
                 if s.refund is not None and s.refund.created_at <= t1 < s.refund.completed_at <= t2}
    edited = {_sale_id(env, s.id): s for s in late_edits if s.tip_edit.at <= t2}
    assert edited and completed == {_refund_id(env, s.refund.id) for s in pending}

    new, removed, differ = changed_rows(before["pos_transactions"], after["pos_transactions"])
    assert removed == set()
    assert {k[0] for k in new} == new_sales | new_refunds
    assert {k[0] for k in differ} == set(edited) | completed

    tx = after["pos_transactions"]
    for s in pending:
        assert tx[(_refund_id(env, s.refund.id),)]["status"] == "completed"
    for s in late_refunds:
        row = tx[(_refund_id(env, s.refund.id),)]
        assert (row["transaction_type"], row["status"]) == ("refund", "completed")
        assert row["refunded_transaction_id"] == _sale_id(env, s.id)
        assert (row["refunded_transaction_id"],) in tx
        assert Decimal(row["total_amount"]) == Decimal(s.refund.amount_cents).scaleb(-2) > 0
        # the refunded sale itself is untouched (Square never changes the original order)
        assert tx[(_sale_id(env, s.id),)] == before["pos_transactions"][(_sale_id(env, s.id),)]
    for sale_id, s in edited.items():
        old, now = before["pos_transactions"][(sale_id,)], tx[(sale_id,)]
        delta = Decimal(s.tip_edit.new_tip_cents - s.tenders[0].tip_cents).scaleb(-2)
        assert delta != 0
        assert Decimal(now["tip_amount"]) - Decimal(old["tip_amount"]) == delta
        assert Decimal(now["total_amount"]) - Decimal(old["total_amount"]) == delta
        same = {c for c in old if old[c] == now[c]}
        assert set(old) - same <= {"tip_amount", "total_amount", "source_version", "source_updated_at",
                                   "source_load_id"}, set(old) - same
        # its tender follows; its items do not change
        tenders = [v for v in after["pos_tenders"].values() if v["transaction_id"] == sale_id]
        assert sum(Decimal(v["tip_amount"]) for v in tenders) == Decimal(now["tip_amount"])
    # items and tenders: only rows of new transactions appear, only the edited sales' tenders change
    new_items, removed_items, differ_items = changed_rows(before["pos_transaction_items"],
                                                          after["pos_transaction_items"])
    assert not removed_items and not differ_items
    assert {after["pos_transaction_items"][k]["transaction_id"] for k in new_items} <= new_sales | new_refunds
    new_tenders, removed_tenders, differ_tenders = changed_rows(before["pos_tenders"], after["pos_tenders"])
    assert not removed_tenders
    assert {after["pos_tenders"][k]["transaction_id"] for k in new_tenders} == new_sales
    assert {after["pos_tenders"][k]["transaction_id"] for k in differ_tenders} == set(edited)

    # daily_product_sales moved only on the business days the changes touched
    touched_days = {(tx[k]["location_id"], tx[k]["business_date"]) for k in new | differ}
    _, _, differ_daily = changed_rows(before["daily_product_sales"], after["daily_product_sales"])
    assert {(k[2], k[3]) for k in differ_daily} <= touched_days

    assert env.reconcile() == []
    assert set(env.checks().values()) == {0}


# ---------------------------------------------------------------------- (e) integrity checks
CORRUPTIONS: dict[str, str] = {
    "items_reconcile_with_subtotal": """
        update pos.pos_transaction_items set gross_amount = gross_amount + 0.01 where id = (
          select min(i.id) from pos.pos_transaction_items i join pos.pos_transactions t on t.id = i.transaction_id
          where t.transaction_type = 'sale' and t.status = 'completed')""",
    "tenders_reconcile_with_total": """
        update pos.pos_tenders set amount = amount - 0.01 where id = (
          select min(d.id) from pos.pos_tenders d join pos.pos_transactions t on t.id = d.transaction_id
          where t.transaction_type = 'sale' and t.status = 'completed')""",
    "no_duplicate_transactions": """
        insert into pos.pos_transactions select 'copy-' || id, tenant_id, pos_account_id, pos_provider, location_id,
          pos_transaction_id, transaction_type, status, refunded_transaction_id, transaction_date, business_date,
          subtotal, discount_amount, service_charge_amount, tax_amount, tip_amount, total_amount, currency,
          items_quantity, payment_method, card_brand, card_last_four, cashier_id, cashier_name, device_id,
          device_name, receipt_number, customer_ref, customer_name, customer_email, customer_phone,
          source_version, source_updated_at, source_load_id
        from pos.pos_transactions where id = (
          select min(id) from pos.pos_transactions where transaction_type = 'refund' and status = 'completed')""",
    "every_refund_linked": """
        update pos.pos_transactions set refunded_transaction_id = 'no-such-sale' where id = (
          select min(id) from pos.pos_transactions where transaction_type = 'refund' and status = 'completed')""",
    "business_dates_in_location_zone": """
        update pos.pos_transactions set business_date = business_date + 1 where id = (
          select min(id) from pos.pos_transactions where transaction_type = 'sale' and status = 'completed')""",
    "every_transaction_located": """
        update pos.pos_transactions set location_id = 'no-such-location' where id = (
          select min(id) from pos.pos_transactions where transaction_type = 'sale' and status = 'completed')""",
    "products_seen_in_order": """
        update pos.pos_products set last_seen_at = first_seen_at - interval '1 day'
        where pos_item_id = (select min(pos_item_id) from pos.pos_products)""",
    "daily_feed_reconciles_with_items": """
        update pos.daily_product_sales set net_revenue = net_revenue + 0.01
        where location_id || cast(business_date as varchar) || pos_item_id = (
          select min(location_id || cast(business_date as varchar) || pos_item_id) from pos.daily_product_sales)""",
}


@pytest.mark.parametrize("set_based", [True, False], ids=["set-based-sql", "normaliser"])
def test_a_build_that_would_store_a_transaction_twice_is_refused_whole(make_env: EnvMaker, set_based: bool,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB holds no UNIQUE on the natural keys: the writer's check does, for the rows of the
    set-based SQL and of the normaliser alike. A transaction stored under another id than the build
    derives for it — here planted — makes the build fail with one line and store nothing; without
    it, the build commits."""
    from canonical_support import SetBasedProbe

    from pos_sync.canonical.writer import NaturalKeyRepeated
    from pos_sync.warehouse.sql import Warehouse
    from transforms.canonical import POS_TRANSACTIONS

    probe = SetBasedProbe(monkeypatch, "transforms.square.build")
    probe.switch(set_based)
    env = make_env(world=make_world())
    env.ingest()
    order_id = warehouse_query("select min(id) as id from raw_square.orders")[0]["id"]
    wh = Warehouse()
    try:
        wh.ensure_schema()
        with wh.transaction():
            wh.insert_rows(POS_TRANSACTIONS, [dict.fromkeys(POS_TRANSACTIONS.column_names) | {
                "id": "planted", "tenant_id": env.tenant_id, "pos_provider": "square", "pos_transaction_id": order_id}])
    finally:
        wh.close()
    with pytest.raises(NaturalKeyRepeated) as refused:
        env.build()
    assert bool(probe.calls) is set_based  # the way the build went
    assert f"'{order_id}'" in str(refused.value) and "\n" not in str(refused.value)
    assert warehouse_query("select count(*) as n from pos.pos_transactions")[0]["n"] == 1  # the planted row only
    assert warehouse_query("select count(*) as n from pos.transform_loads")[0]["n"] == 0
    warehouse_query("delete from pos.pos_transactions where id = 'planted'")
    assert env.build().transactions > 0 and env.reconcile() == []


def test_checks_pass_on_a_good_build_and_each_catches_its_corruption(make_env: EnvMaker) -> None:
    from pos_sync.canonical.checks_sql import CHECKS
    from pos_sync.warehouse.sql import Warehouse

    assert set(CORRUPTIONS) == set(CHECKS)  # every check is shown able to fail
    world = make_world()
    env = make_env(world=world)
    env.ingest()
    env.build()
    assert env.checks() == dict.fromkeys(CHECKS, 0)

    wh = Warehouse()
    try:
        for name, sql in CORRUPTIONS.items():
            with pytest.raises(_Rollback), wh.transaction():
                wh.execute(sql)
                found = {n: fn(wh) for n, fn in CHECKS.items()}
                assert found[name] == 1, (name, found)
                assert {n: v for n, v in found.items() if n != name} == dict.fromkeys(set(CHECKS) - {name}, 0), name
                raise _Rollback
            assert {n: fn(wh) for n, fn in CHECKS.items()} == dict.fromkeys(CHECKS, 0)  # rolled back
    finally:
        wh.close()


class _Rollback(Exception):
    """Raised inside ``Warehouse.transaction()`` to undo a corruption."""


# ---------------------------------------------------------------------- (f) PII
def test_customer_ids_are_pseudonymised_unless_clear_storage_is_asked(make_env: EnvMaker,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_sync.warehouse.purge import purge_account_data
    from transforms.pii import is_pseudonym, make_pseudonymizer, normalise_email, normalise_phone

    world = make_world()
    env = make_env(world=world)
    env.ingest()
    clear_ids = {c.id for customers in world.customers.values() for c in customers}
    raw_ids = {r["customer_id"] for r in warehouse_query(
        "select distinct customer_id from raw_square.orders where customer_id is not null")}
    assert len(raw_ids) >= 3
    # hashed in the source, before the raw load, with the canonical layer's key
    hash_id = make_pseudonymizer(b"canonical-test-key")
    assert raw_ids <= {hash_id(c) for c in clear_ids}

    env.build()
    refs = {r["customer_ref"] for r in warehouse_query(
        "select distinct customer_ref from pos.pos_transactions where customer_ref is not null")}
    assert all(ref.startswith("h:") and len(ref) == 34 for ref in refs)
    assert refs == raw_ids  # not hashed twice: the same reference in both layers
    assert not refs & clear_ids
    # the customer's profile (ListCustomers, hashed in the source alike) fills name, e-mail and phone
    key = b"canonical-test-key"
    hash_email = make_pseudonymizer(key, normalise=normalise_email)
    hash_phone = make_pseudonymizer(key, normalise=normalise_phone)
    profiles = {hash_id(c.id): c for customers in world.customers.values() for c in customers}
    columns = "customer_ref, customer_name, customer_email, customer_phone"
    rows = warehouse_query(f"select {columns} from pos.pos_transactions where customer_ref is not null")
    assert rows and not warehouse_query(f"select {columns} from pos.pos_transactions where customer_ref is null "
                                        "and coalesce(customer_name, customer_email, customer_phone) is not null")
    for row in rows:
        c = profiles[row["customer_ref"]]
        assert (row["customer_email"], row["customer_phone"]) == (hash_email(c.email), hash_phone(c.phone))
        assert row["customer_name"] == hash_id(f"{hash_id(c.given_name)} {hash_id(c.family_name)}")

    # the tenant opts in to clear storage: a fresh import keeps the ids as sent, in raw and pos
    monkeypatch.setenv("POS_STORE_CUSTOMER_PII_TENANTS", f"another-tenant, {world.tenant_id}")
    from pos_sync import appstore

    purge_account_data(env.account_id, "square", tuple(appstore.get_account(env.account_id).location_ids))
    env.ingest()
    clear_raw = {r["customer_id"] for r in warehouse_query(
        "select distinct customer_id from raw_square.orders where customer_id is not null")}
    assert clear_raw and clear_raw <= clear_ids
    env.build()
    clear = {r["customer_ref"] for r in warehouse_query(
        "select distinct customer_ref from pos.pos_transactions where customer_ref is not null")}
    assert clear == clear_raw and not any(is_pseudonym(c) for c in clear)
    by_id = {c.id: c for customers in world.customers.values() for c in customers}
    rows = warehouse_query(f"select {columns} from pos.pos_transactions where customer_ref is not null")
    assert rows and all(
        (r["customer_name"], r["customer_email"], r["customer_phone"]) == (
            f"{by_id[r['customer_ref']].given_name} {by_id[r['customer_ref']].family_name}",
            normalise_email(by_id[r["customer_ref"]].email), normalise_phone(by_id[r["customer_ref"]].phone))
        for r in rows)


# ---------------------------------------------------------------------- (g) Dagster and the demo
def _canonical_materializations(instance: Any, run_id: str) -> list[str]:
    import dagster as dg

    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    keys = ["/".join(e.dagster_event.event_specific_data.materialization.asset_key.path) for e in events]
    return [k for k in keys if k.startswith("pos/")]


def _check_evaluations(instance: Any, run_id: str) -> dict[str, bool]:
    import dagster as dg

    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data.passed
            for e in events}


def _assert_table_metadata(instance: Any, run_id: str) -> None:
    """Raw and canonical materializations name their real table and carry its row count and
    columns; each check sits on the table it is about, the ones guarding figures blocking."""
    import dagster as dg

    from pos_sync.canonical.checks_sql import BLOCKING, CHECK_TABLES
    from transforms.canonical import TABLES

    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    meta = {"/".join(m.asset_key.path): m.metadata
            for m in (e.dagster_event.event_specific_data.materialization for e in events)}
    for table in ("payments", "orders", "catalog"):
        raw = meta[f"raw/square/{table}"]
        assert raw["dagster/table_name"].value == f"raw_square.{table}"
        rows = warehouse_query(f"select count(*) as n from raw_square.{table}")[0]["n"]
        assert raw["dagster/row_count"].value == rows > 0, table
    columns = {t.name: t.column_names for t in TABLES}
    for table in columns.keys() - {"transform_loads"}:
        canonical = meta[f"pos/square/{table}"]
        rows = warehouse_query(f"select count(*) as n from pos.{table} where pos_provider = 'square'")[0]["n"]
        assert canonical["dagster/row_count"].value == rows > 0, table
        assert [c.name for c in canonical["dagster/column_schema"].schema.columns] == columns[table]
    from pos_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = {k.name: graph.get_check_spec(k) for k in graph.asset_check_keys if k.asset_key.path[1:2] == ["square"]}
    assert {n: c.key.asset_key.path[-1] for n, c in checks.items()} == {**CHECK_TABLES,
                                                                        "unmapped_revenue_share": "product_stats"}
    assert {n for n, c in checks.items() if c.blocking} == BLOCKING


def test_sync_job_skips_the_canonical_asset_without_new_loads(make_env: EnvMaker) -> None:
    import dagster as dg

    from pos_sync.canonical.checks_sql import CHECKS

    world = make_world()
    env = make_env(world=world)
    with dg.DagsterInstance.ephemeral() as instance:
        first = env.sync(instance)
        assert first["status"] == "success", first
        assert sorted(_canonical_materializations(instance, first["run_id"])) == sorted(
            f"pos/square/{t}" for t in ("pos_transactions", "pos_transaction_items", "pos_tenders", "pos_products",
                                 "pos_locations", "daily_product_sales", "product_stats"))
        # the integrity checks pass; nothing is mapped yet, so the unmapped-revenue check warns
        assert _check_evaluations(instance, first["run_id"]) == {**dict.fromkeys(CHECKS, True),
                                                                 "unmapped_revenue_share": False}
        assert env.reconcile() == []
        _assert_table_metadata(instance, first["run_id"])
        before = snapshot(exclude=frozenset())

        second = env.sync(instance)
        assert second["status"] == "success", second
        assert _canonical_materializations(instance, second["run_id"]) == []
        assert snapshot(exclude=frozenset()) == before

        # the checks run alone ("Execute checks" in the UI): no build, no materialization, no sync log
        from pos_dagster.definitions import defs
        from pos_sync.appstore import AppStore
        from pos_sync.settings import load_settings

        logs_before = len(AppStore(load_settings()).sync_history(env.account_id, 50))
        keys = [k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key.path[1:2] == ["square"]]
        from pos_dagster.defs.ingest.jobs import sync_job_name

        job = defs.resolve_job_def(sync_job_name("square")).get_subset(asset_selection=set(),
                                                                       asset_check_selection=set(keys))
        alone = job.execute_in_process(instance=instance, partition_key=env.account_id)
        assert alone.success
        assert _canonical_materializations(instance, alone.run_id) == []
        assert _check_evaluations(instance, alone.run_id) == {**dict.fromkeys(CHECKS, True),
                                                              "unmapped_revenue_share": False}
        assert len(AppStore(load_settings()).sync_history(env.account_id, 50)) == logs_before


# ---------------------------------------------------------------------- reconcile: minor units
def test_canonical_daily_writes_each_currencys_minor_units() -> None:
    """A zero-decimal currency reconciles too (the ledger writes JPY ``1250``, EUR ``12.50``)."""
    from datetime import date

    from pos_sandbox.ledger import DailyRow
    from pos_sync.canonical.reconcile import canonical_daily, compare_daily
    from pos_sync.warehouse.sql import Warehouse
    from transforms.canonical import POS_TRANSACTIONS

    def row(n: int, location: str, currency: str, total: str) -> dict[str, Any]:
        amount = Decimal(total)
        return dict.fromkeys(POS_TRANSACTIONS.column_names) | {
            "id": f"t{n}", "tenant_id": "tenant", "pos_provider": "square", "location_id": location,
            "pos_transaction_id": f"o{n}", "transaction_type": "sale", "status": "completed",
            "transaction_date": datetime(2026, 3, 2, 10, tzinfo=UTC), "business_date": date(2026, 3, 2),
            "subtotal": amount, "discount_amount": Decimal(0), "service_charge_amount": Decimal(0),
            "tax_amount": Decimal(0), "tip_amount": Decimal(0), "total_amount": amount, "currency": currency}

    wh = Warehouse()
    try:
        wh.ensure_schema()
        wh.insert_rows(POS_TRANSACTIONS, [row(1, "LJ", "JPY", "1250"), row(2, "LE", "EUR", "12.50")])
        actual = canonical_daily(wh, "tenant")
    finally:
        wh.close()
    ledger = [DailyRow("square", "LJ", date(2026, 3, 2), "JPY", sales_count=1, gross=1250, total=1250).as_json(),
              DailyRow("square", "LE", date(2026, 3, 2), "EUR", sales_count=1, gross=1250, total=1250).as_json()]
    assert compare_daily(ledger, actual) == []
    assert {r["location_id"]: r["total_amount"] for r in actual} == {"LJ": "1250", "LE": "12.50"}


def test_daily_product_sales_recomputed_in_batches_of_location_days_is_the_same(
        make_env: EnvMaker, monkeypatch: pytest.MonkeyPatch) -> None:
    """``daily_product_sales`` is recomputed ``DAYS_PER_QUERY`` location-days per query (bounded
    DuckDB hash tables on a long first build): one location-day per query gives the very rows of
    one query for all, and they reconcile with the ledger."""
    from pos_sync.canonical import writer
    from pos_sync.warehouse.sql import Warehouse

    env = make_env()
    env.ingest()
    whole = env.build()
    assert whole.days_recomputed > 2 and whole.days_recomputed <= writer.DAYS_PER_QUERY  # one query
    before = snapshot()["daily_product_sales"]
    assert before

    wh = Warehouse()
    wh.execute("DROP SCHEMA pos CASCADE")
    wh.commit()
    wh.close()
    monkeypatch.setattr(writer, "DAYS_PER_QUERY", 1)
    queries: list[str] = []
    original = Warehouse.execute_count

    def counting(self: Warehouse, sql: str, params: Any = ()) -> int:
        if "INSERT INTO pos.daily_product_sales" in sql:
            queries.append(sql)
        return original(self, sql, params)

    monkeypatch.setattr(Warehouse, "execute_count", counting)
    batched = env.build()
    assert batched.days_recomputed == whole.days_recomputed == len(queries)  # one query a location-day
    assert batched.daily_rows == whole.daily_rows == len(before)  # the rows written, counted per query
    assert snapshot()["daily_product_sales"] == before
    assert env.reconcile() == []
