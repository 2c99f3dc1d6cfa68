"""Group commit of the webhook receivers (``pos_sync.api.inbox_writer``), on the real app driven by
httpx, its lifespan running, on a SQLite and a PostgreSQL app store.

The writer's first batch is held on its thread (:class:`Plug`, which then calls the real batch
function) while the deliveries under test queue up, so they are stored in one batch: copies of one
event in that batch are stored once with the right outcome each; a batch whose commits fail
answers every request 503 and stores nothing (the retry stores them); a bad event fails alone;
the app's end stores and answers every queued event."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from api_support import Api, add_account, make_api

NOTIFY = "https://pos.example.com/api/v1/pos/webhooks/square"
SQUARE_KEY = "sq-signature-key"
URL = "/api/v1/pos/webhooks/square"


@pytest.fixture(params=["sqlite", "postgres"])
def hooks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    for api in make_api(monkeypatch, request.param, request):
        from pos_sync.appstore.webhooks import save_subscription

        save_subscription("square", NOTIFY, ["payment.updated"], signature_key=SQUARE_KEY)
        yield api


def square_event(merchant: str, event_id: str, payment: str = "P1") -> bytes:
    return json.dumps({"merchant_id": merchant, "type": "payment.updated", "event_id": event_id,
                       "created_at": "2026-03-02T10:00:00Z",
                       "data": {"type": "payment", "id": payment, "object": {"payment": {"id": payment}}}}).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SQUARE_KEY.encode(), NOTIFY.encode() + body, hashlib.sha256).digest()
    return {"x-square-hmacsha256-signature": base64.b64encode(digest).decode(), "content-type": "application/json"}


class Plug:
    """Holds the writer's first batch on the writer's thread until :meth:`release`, then lets it
    (and every later batch) run the real batch store; records each batch's event ids."""

    def __init__(self, writer: Any) -> None:
        self.writer, self.batches, self.gate = writer, [], threading.Event()
        self.batches: list[list[str]]
        real: Callable[[Any], Any] = writer._store_batch

        def held(events: Any) -> Any:
            self.batches.append([e.event_id for e in events])
            if len(self.batches) == 1:
                self.gate.wait(60)
            return real(events)

        writer._store_batch = held

    def release(self) -> None:
        self.gate.set()


async def until(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running_app() -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A fresh app (its own inbox writer) with its lifespan started; httpx in-process."""
    from pos_sync.api.app import create_app

    app = create_app()
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield app, client


async def plugged_batch(app: Any, client: httpx.AsyncClient, bodies: list[bytes],
                        merchant: str = "M1") -> tuple[Plug, list[httpx.Response]]:
    """A plug event (of ``merchant``'s account) held in the writer's first batch, then ``bodies``
    delivered concurrently and queued; released: they are the second batch. The responses, in
    ``bodies``' order."""
    plug = Plug(app.state.webhook_writer)
    first = square_event(merchant, "plug-event")
    plugged = asyncio.create_task(client.post(URL, content=first, headers=signed(first)))
    await until(lambda: len(plug.batches) == 1, "the plug batch")
    sent = [asyncio.create_task(client.post(URL, content=b, headers=signed(b))) for b in bodies]
    await until(lambda: app.state.webhook_writer.queued == len(bodies), "the deliveries to queue")
    plug.release()
    assert (await plugged).json() == {"status": "accepted"}
    return plug, list(await asyncio.gather(*sent))


def test_copies_of_an_event_in_one_batch_are_stored_once_each_with_its_outcome(hooks: Api) -> None:
    from pos_sync.api.metrics import webhook_counts
    from pos_sync.appstore.webhooks import inbox_counts, pending_events

    account = add_account(hooks, provider="square", merchant="M1")
    before = webhook_counts()

    async def scenario() -> None:
        async with running_app() as (app, client):
            old = square_event("M1", "ev-old")  # already in the inbox before the batch
            assert (await client.post(URL, content=old, headers=signed(old))).json() == {"status": "accepted"}
            a, b = square_event("M1", "ev-a", "PA"), square_event("M1", "ev-b", "PB")
            stranger = square_event("NOT-OURS", "ev-x")
            bodies = [a, b, a, old, stranger, a, b, stranger] + [square_event("M1", f"ev-{n}") for n in range(8)]
            plug, responses = await plugged_batch(app, client, bodies)
            assert [len(ids) for ids in plug.batches] == [1, len(bodies)]  # they were one batch
            outcome = [r.json()["status"] for r in responses]
            assert all(r.status_code == 200 for r in responses)
            by_body: dict[bytes, list[str]] = {}
            for body, status in zip(bodies, outcome, strict=True):
                by_body.setdefault(body, []).append(status)
            assert sorted(by_body[a]) == ["accepted", "duplicate", "duplicate"]
            assert sorted(by_body[b]) == ["accepted", "duplicate"]
            assert by_body[old] == ["duplicate"]
            assert sorted(by_body[stranger]) == ["duplicate", "unroutable"]
            assert outcome[8:] == ["accepted"] * 8

    asyncio.run(scenario())
    assert inbox_counts() == {"pending": 1 + 1 + 2 + 8, "unroutable": 1}  # plug, old, a and b, the eight
    assert {e.account_id for e in pending_events()} == {account}
    counted = {k[1]: n - before.get(k, 0) for k, n in webhook_counts().items() if k[0] == "square"}
    assert counted["accepted"] == 12 and counted["duplicate"] == 5 and counted["unroutable"] == 1


def test_a_failed_commit_answers_its_batch_503_stores_nothing_and_the_retry_stores(hooks: Api) -> None:
    from sqlalchemy import event

    from pos_sync.appstore.db import get_engine
    from pos_sync.appstore.webhooks import inbox_counts
    from pos_sync.settings import load_settings

    add_account(hooks, provider="square", merchant="M1")
    failing = threading.Event()

    def refuse_commit(conn: Any) -> None:  # the inbox writer's commits fail while set (disk full, failover, …)
        if failing.is_set() and threading.current_thread().name.startswith("webhook-inbox"):
            raise RuntimeError("injected: the database refused the commit")

    engine = get_engine(load_settings())
    event.listen(engine, "commit", refuse_commit)
    bodies = [square_event("M1", f"ev-{n}") for n in range(6)]
    try:
        async def scenario() -> None:
            async with running_app() as (app, client):
                plug = Plug(app.state.webhook_writer)
                first = square_event("M1", "plug-event")
                plugged = asyncio.create_task(client.post(URL, content=first, headers=signed(first)))
                await until(lambda: len(plug.batches) == 1, "the plug batch")
                failing.set()
                sent = [asyncio.create_task(client.post(URL, content=b, headers=signed(b))) for b in bodies]
                await until(lambda: app.state.webhook_writer.queued == len(bodies), "the deliveries to queue")
                plug.release()
                refused = [await plugged] + list(await asyncio.gather(*sent))
                assert [r.status_code for r in refused] == [503] * 7
                for r in refused:
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.json()["status"] == 503 and "Traceback" not in r.text
                failing.clear()
                assert inbox_counts() == {}  # nothing half-stored
                again = await asyncio.gather(*(client.post(URL, content=b, headers=signed(b))
                                               for b in [first, *bodies]))
                assert [r.json() for r in again] == [{"status": "accepted"}] * 7  # stored now, not duplicates

        asyncio.run(scenario())
    finally:
        event.remove(engine, "commit", refuse_commit)
    assert inbox_counts() == {"pending": 7}


class BrokenLog:
    """A logger whose every line raises, as structlog did on a closed stream."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        def fail(*args: Any, **kwargs: Any) -> None:
            raise ValueError("I/O operation on closed file.")
        return fail


def test_a_bug_in_a_batch_with_a_failing_log_answers_503_and_the_writer_goes_on(
        hooks: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    import pos_sync.api.inbox_writer as inbox_writer
    from pos_sync.appstore.webhooks import inbox_counts

    add_account(hooks, provider="square", merchant="M1")
    monkeypatch.setattr(inbox_writer, "log", BrokenLog())
    first, second = square_event("M1", "ev-1"), square_event("M1", "ev-2")

    async def scenario() -> None:
        async with running_app() as (app, client):
            writer = app.state.webhook_writer
            real = writer._write

            async def buggy(batch: Any) -> None:
                raise RuntimeError("injected: a bug in the batch write")

            writer._write = buggy
            refused = await asyncio.wait_for(client.post(URL, content=first, headers=signed(first)), 20)
            assert refused.status_code == 503 and "Traceback" not in refused.text
            assert writer.accepting  # its task survived the failing log line
            writer._write = real
            for body in (first, second):
                stored = await asyncio.wait_for(client.post(URL, content=body, headers=signed(body)), 20)
                assert stored.json() == {"status": "accepted"}

    asyncio.run(scenario())
    assert inbox_counts() == {"pending": 2}


def test_a_bad_event_does_not_fail_its_neighbours(hooks: Api) -> None:
    """A NUL in a JSON string: PostgreSQL's jsonb refuses it (SQLite stores it). The batch fails
    there; each event is stored again on its own, and only the bad one is answered 503."""
    from pos_sync.appstore.webhooks import inbox_counts

    add_account(hooks, provider="square", merchant="M1")
    postgres = hooks.store.settings.database_url.startswith("postgres")
    bad = square_event("M1", "ev-bad", "P\u0000NUL")
    bodies = [square_event("M1", "ev-1"), bad, square_event("M1", "ev-2"), square_event("M1", "ev-1")]

    async def scenario() -> list[int]:
        async with running_app() as (app, client):
            plug, responses = await plugged_batch(app, client, bodies)
            assert [len(ids) for ids in plug.batches] == [1, 4]
            assert responses[0].json() == {"status": "accepted"} and responses[2].json() == {"status": "accepted"}
            assert responses[3].json() == {"status": "duplicate"}  # the retry event by event keeps outcomes right
            return [r.status_code for r in responses]

    statuses = asyncio.run(scenario())
    assert statuses[1] == (503 if postgres else 200)
    assert inbox_counts() == {"pending": 3 if postgres else 4}


def test_the_apps_end_stores_and_answers_every_queued_event(hooks: Api) -> None:
    from pos_sync.appstore.webhooks import inbox_counts

    add_account(hooks, provider="square", merchant="M1")
    bodies = [square_event("M1", f"ev-{n}") for n in range(20)]

    async def scenario() -> None:
        from pos_sync.api.app import create_app

        app = create_app()
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            writer = app.state.webhook_writer
            plug = Plug(writer)
            first = square_event("M1", "plug-event")
            plugged = asyncio.create_task(client.post(URL, content=first, headers=signed(first)))
            await until(lambda: len(plug.batches) == 1, "the plug batch")
            sent = [asyncio.create_task(client.post(URL, content=b, headers=signed(b))) for b in bodies]
            await until(lambda: writer.queued == len(bodies), "the deliveries to queue")
            ending = asyncio.create_task(lifespan.__aexit__(None, None, None))  # the app stops, events queued
            await until(lambda: not writer.accepting, "the writer to stop taking events")
            assert not ending.done()  # waiting for the queued events
            plug.release()
            await ending
            assert writer.queued == 0 and inbox_counts() == {"pending": 21}  # stored before the app ended
            answered = [await plugged] + list(await asyncio.gather(*sent))
            assert [r.json() for r in answered] == [{"status": "accepted"}] * 21

    asyncio.run(scenario())


def test_webhooks_off_start_no_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_WEBHOOKS", "false")
    from fastapi.testclient import TestClient

    from pos_sync.api.app import create_app

    app = create_app()
    with TestClient(app, raise_server_exceptions=False) as client:
        assert app.state.webhook_writer is None
        body = square_event("M1", "ev-1")
        assert client.post(URL, content=body, headers=signed(body)).status_code == 404


def test_kept_routes_never_miss_a_new_account_and_a_removed_one_is_routed_again(hooks: Api) -> None:
    """The writer keeps routing answers for a few seconds: an event they do not route is routed
    from the app store (an account linked a moment ago gets its events), and an account removed
    while its route is kept makes the batch fail on the foreign key — its events are then stored
    one by one, routed afresh (unroutable now), their neighbours unharmed."""
    from pos_sync.appstore.webhooks import inbox_counts, pending_events

    first = add_account(hooks, provider="square", merchant="M1")

    async def scenario() -> None:
        async with running_app() as (app, client):
            async def post(body: bytes) -> str:
                return (await client.post(URL, content=body, headers=signed(body))).json()["status"]

            assert await post(square_event("M1", "ev-1")) == "accepted"  # M1's route now kept
            assert await post(square_event("M2", "ev-2")) == "unroutable"  # no M2 account yet
            second = add_account(hooks, provider="square", merchant="M2")
            assert await post(square_event("M2", "ev-3")) == "accepted"  # linked a moment ago
            hooks.store.remove_account(first)  # its route is still kept
            plug, responses = await plugged_batch(app, client, [square_event("M1", "ev-4"), square_event("M2", "ev-5")],
                                                  merchant="M2")
            assert [len(ids) for ids in plug.batches] == [1, 2]
            assert [r.json()["status"] for r in responses] == ["unroutable", "accepted"]
            assert {e.account_id for e in pending_events()} == {second}

    asyncio.run(scenario())
    assert inbox_counts() == {"pending": 3, "unroutable": 2}  # ev-3, ev-5, the plug; ev-2, ev-4 (ev-1 went with M1)
