"""The outbox: a sync log's closing writes its event in the same transaction, once; the payloads
are the spec's (validated against the JSON schemas kept in the repo); ``consecutive_failures``
counts the account's failures since its last success; money is exact; published rows are pruned
after the retention, pending ones never. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from dlt.destinations.exceptions import DestinationConnectionError
from events_support import World, schema, validate

from dlt_sources.common.errors import ApiError, MissingScopes, ReauthorizationRequired
from pos_sync.appstore import session_scope
from pos_sync.appstore.models import PosEventOutbox, PosSyncLog
from pos_sync.appstore.outbox import mark_published, outbox_counts, pending_events, prune_published
from pos_sync.events import payloads
from pos_sync.events.emit import emit_mapping_needed
from pos_sync.events.jsonenc import EventEncodingError, dumps, loads
from pos_sync.ingest.bookkeeping import track_sync

T0 = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def events(world: World, routing_key: str | None = None) -> list[dict]:
    rows = pending_events(1000, settings=world.store.settings)  # type: ignore[attr-defined]
    return [validate(r.routing_key, r.payload) | {"_routing_key": r.routing_key} for r in rows
            if routing_key is None or r.routing_key == routing_key]


def sync(world: World, account: str, status: str = "success", *, minutes: int = 0, seconds: float = 12.4,
         **fields: object) -> str:
    store = world.store
    start = T0 + timedelta(minutes=minutes)
    log_id = store.start_sync_log(account, "incremental")  # type: ignore[attr-defined]
    with session_scope(store.settings) as s:  # type: ignore[attr-defined]
        s.get(PosSyncLog, log_id).sync_started_at = start
    store.finish_sync_log(log_id, status, completed_at=start + timedelta(seconds=seconds), **fields)  # type: ignore[attr-defined]
    return log_id


def test_a_successful_sync_emits_pos_sync_completed_with_the_spec_fields(world: World) -> None:
    log_id = sync(world, world.square, processed=45, fetched=45, failed=0, new_products=3)
    [event] = events(world)
    assert event.pop("_routing_key") == "pos.sync_completed"
    assert event == {
        "event_type": "pos_sync_completed", "event_id": payloads.sync_log_event_id(log_id),
        "tenant_id": world.tenant, "pos_account_id": world.square, "pos_provider": "square",
        "location_name": "VUE Madrid - Centro", "transactions_processed": 45, "transactions_failed": 0,
        "new_products_discovered": 3, "sync_duration_seconds": 12, "timestamp": "2026-03-02T10:30:12Z"}


def test_a_partial_sync_is_a_completed_sync_with_its_failures(world: World) -> None:
    sync(world, world.toast, "partial", processed=40, failed=5)
    [event] = events(world)
    assert event["_routing_key"] == "pos.sync_completed"
    assert (event["transactions_processed"], event["transactions_failed"]) == (40, 5)


def test_closing_a_log_again_or_retrying_emits_no_second_event(world: World) -> None:
    store = world.store
    log_id = sync(world, world.square, processed=1)
    store.finish_sync_log(log_id, "success", processed=1)  # type: ignore[attr-defined]
    store.finish_sync_log(log_id, "failed", error_message="late", error_type="internal_error")  # type: ignore[attr-defined]
    assert len(events(world)) == 1
    # a stale log closed by the next start, then closed by its own run: one event (the first closing)
    stale = store.start_sync_log(world.square, "incremental")  # type: ignore[attr-defined]
    store.start_sync_log(world.square, "incremental")  # type: ignore[attr-defined]
    store.finish_sync_log(stale, "success")  # type: ignore[attr-defined]
    stale_events = [e for e in events(world) if e["event_id"] == payloads.sync_log_event_id(stale)]
    assert len(stale_events) == 1 and stale_events[0]["error_type"] == "interrupted"
    assert len(events(world)) == 2


def test_the_event_is_written_in_the_transaction_of_the_state(world: World) -> None:
    from pos_sync.appstore.sync_logs import finish_sync_log

    store = world.store
    log_id = store.start_sync_log(world.square, "incremental")  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError), session_scope(store.settings) as s:  # type: ignore[attr-defined]
        finish_sync_log(log_id, "success", processed=3, session=s)
        assert s.execute(sa.select(sa.func.count()).select_from(PosEventOutbox)).scalar_one() == 1
        raise RuntimeError("the transaction fails after the log was closed")
    assert events(world) == []  # rolled back together: no event without its state …
    assert store.sync_history(world.square, 1)[0].status == "in_progress"  # type: ignore[attr-defined]
    finish_sync_log(log_id, "success", processed=3, settings=store.settings)  # type: ignore[attr-defined]
    assert [e["transactions_processed"] for e in events(world)] == [3]  # … and no state without its event


def test_consecutive_failures_count_since_the_last_success(world: World) -> None:
    for n in range(3):
        sync(world, world.square, "failed", minutes=n, error_message="OAuth token expired",
             error_type="authentication_failed")
    sync(world, world.toast, "failed", minutes=1, error_message="boom", error_type="internal_error")  # another account
    assert [e["consecutive_failures"] for e in events(world, "pos.error") if e["pos_account_id"] == world.square] \
        == [1, 2, 3]
    sync(world, world.square, "success", minutes=10)
    sync(world, world.square, "failed", minutes=20, error_message="429", error_type="rate_limited")
    last = events(world, "pos.error")[-1]
    assert (last["consecutive_failures"], last["error_type"]) == (1, "rate_limited")
    assert last["action_required"] == payloads.ACTIONS["rate_limited"]
    first = events(world, "pos.error")[0]
    assert first == {
        "_routing_key": "pos.error", "event_type": "pos_error", "event_id": first["event_id"],
        "tenant_id": world.tenant, "pos_account_id": world.square, "pos_provider": "square",
        "error_type": "authentication_failed", "error_message": "OAuth token expired", "consecutive_failures": 1,
        "action_required": "Reconnect POS account", "timestamp": "2026-03-02T10:30:12Z"}


@pytest.mark.parametrize(("error", "error_type", "action"), [
    (ReauthorizationRequired("the refresh token was revoked"), "authentication_failed", "Reconnect POS account"),
    (MissingScopes("ORDERS_READ not granted"), "missing_scopes", payloads.ACTIONS["missing_scopes"]),
    (ApiError("slow down", status=429), "rate_limited", payloads.ACTIONS["rate_limited"]),
    (DestinationConnectionError("DuckDbSqlClient", "raw_square", "IO Error: Could not set lock on file",
                                OSError("IO Error: Could not set lock on file")),
     "warehouse_unavailable", payloads.ACTIONS["warehouse_unavailable"]),
])
def test_a_failing_sync_through_the_bookkeeping_emits_pos_error(world: World, error: Exception, error_type: str,
                                                                 action: str) -> None:
    """The product's sync bookkeeping (``track_sync``, what every run uses) with a real failure."""
    for _ in range(2):
        with pytest.raises(type(error)), track_sync(world.store, world.lightspeed, "incremental",  # type: ignore[arg-type]
                                                    reauth_status="reauth_required"):
            raise error
    errors = events(world, "pos.error")
    assert [(e["error_type"], e["action_required"], e["consecutive_failures"]) for e in errors] \
        == [(error_type, action, 1), (error_type, action, 2)]
    assert all(e["pos_provider"] == "lightspeed" for e in errors)
    assert len({e["event_id"] for e in errors}) == 2


def test_mapping_needed_carries_exact_euros_and_is_emitted_once_per_subject(world: World) -> None:
    store = world.store
    samples = [{"pos_product_name": "Pan Integral Grande", "transaction_count": 8},
               {"pos_product_name": "Croissant Especial", "transaction_count": 12}]
    with session_scope(store.settings) as s:  # type: ignore[attr-defined]
        first = emit_mapping_needed(s, tenant_id=world.tenant, pos_account_id=world.square, unmapped_products_count=5,
                                    unmapped_revenue_euros=Decimal("125.5"), sample_unmapped_products=samples,
                                    subject="sync-log-1", when=T0)
        again = emit_mapping_needed(s, tenant_id=world.tenant, pos_account_id=world.square, unmapped_products_count=5,
                                    unmapped_revenue_euros=Decimal("125.5"), sample_unmapped_products=samples,
                                    subject="sync-log-1", when=T0)
    assert first is not None and again is None
    [row] = pending_events(settings=store.settings)  # type: ignore[attr-defined]
    assert row.routing_key == "pos.mapping_needed"
    assert '"unmapped_revenue_euros":125.50,' in row.payload  # a number literal, to the cent, no float
    body = validate("pos.mapping_needed", row.payload)
    assert body["unmapped_revenue_euros"] == Decimal("125.50")
    assert body["sample_unmapped_products"] == [{"pos_product_name": "Croissant Especial", "transaction_count": 12},
                                                {"pos_product_name": "Pan Integral Grande", "transaction_count": 8}]
    assert (body["event_type"], body["unmapped_products_count"], body["timestamp"]) == \
        ("pos_mapping_needed", 5, "2026-03-02T10:30:00Z")
    with pytest.raises(TypeError), session_scope(store.settings) as s:  # type: ignore[attr-defined]
        emit_mapping_needed(s, tenant_id=world.tenant, pos_account_id=world.square, unmapped_products_count=1,
                            unmapped_revenue_euros=125.5, sample_unmapped_products=[], subject="float")  # type: ignore[arg-type]


def test_event_json_is_exact() -> None:
    text = dumps({"a": Decimal("0.10"), "b": [Decimal("1E+2"), 3, None, True], "c": "ñ\"x"})
    assert text == '{"a":0.10,"b":[100,3,null,true],"c":"ñ\\"x"}'
    assert loads(text)["a"] == Decimal("0.10")
    assert loads(dumps({"big": Decimal("12345678901234567890.01")}))["big"] == Decimal("12345678901234567890.01")
    for bad in (0.1, Decimal("NaN"), object()):
        with pytest.raises(EventEncodingError):
            dumps({"x": bad})


def test_published_events_are_pruned_after_the_retention_pending_ones_never(world: World) -> None:
    store = world.store
    settings = store.settings  # type: ignore[attr-defined]
    for n in range(3):
        sync(world, world.square, minutes=n)
    rows = pending_events(settings=settings)
    old, recent = datetime.now(UTC) - timedelta(days=31), datetime.now(UTC) - timedelta(days=1)
    mark_published([rows[0].id], when=old, settings=settings)
    mark_published([rows[1].id], when=recent, settings=settings)
    with session_scope(settings) as s:  # the pending one is old too: still never pruned
        s.get(PosEventOutbox, rows[2].id).created_at = old
    from pos_sync.events.worker import prune

    assert settings.events_retention_days == 30
    assert prune(settings) == 1
    assert outbox_counts(settings=settings) == {"pending": 1, "published": 1}
    assert prune_published(datetime.now(UTC), settings=settings) == 1
    assert [r.id for r in pending_events(settings=settings)] == [rows[2].id]


def test_every_error_type_the_bookkeeping_names_is_one_the_event_schema_allows() -> None:
    """A failure kind with an action but missing from ``pos.error``'s schema would make its events
    invalid for every consumer that validates them."""
    allowed = set(schema("pos.error")["properties"]["error_type"]["enum"])
    assert set(payloads.ACTIONS) == allowed
