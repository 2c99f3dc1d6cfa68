"""Benchmark: events published per second from the outbox to the real RabbitMQ on loopback, with
publisher confirms, against two references measured in the same run.

**What is measured** (``--events`` events per measurement, ``--rounds`` interleaved rounds):

* **product** — ``pos_sync.events.publisher.publish_pending``, exactly what ``pos-sync events
  publish --once`` and the Dagster sensor run: connect, then batches of ``--batch`` rows taken
  from the outbox in one transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), published as a
  pipeline (every message sent before the first confirm is awaited), the confirmed rows marked
  published in the same transaction. With the app store on SQLite (a file, WAL) and on
  PostgreSQL (a scratch database on ``--postgres``'s server, dropped at the end).
* **baseline: naive relay** (``--naive-events``) — the usual first outbox relay: take the oldest
  row, publish it, wait for its confirm, mark it published, commit; one event at a time (what
  pika's ``BlockingConnection`` with ``confirm_delivery`` does per message). Same client, same
  messages, same SQLite outbox.
* **ceiling: broker only** — the same messages published with the same pipelined confirms and no
  outbox at all (no database): what the client and the broker can do on this machine.

Every message is a real ``pos.sync_completed`` body (≈ 400 bytes), persistent, ``message_id`` =
its event id, to a durable topic exchange bound to one durable queue (so the broker writes each
message to disk before confirming, as in production with a consumer's queue). The exchange and
queue are unique to the run and deleted at the end; the queue is purged between measurements.
Outbox rows are written before each measurement (not timed) with the app store's own function.

    python -m bench.events [--events 20000] [--naive-events 2000] [--rounds 3] [--batch 500] \\
        [--amqp amqp://guest:guest@127.0.0.1:5672/] [--postgres postgresql://postgres@127.0.0.1:5432/postgres | \\
         --no-postgres] [--out bench/results/events.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika

from bench._common import emit, machine, peak_rss_mib

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def broker_pid() -> int | None:
    """The local RabbitMQ's Erlang VM (to read its CPU time), if this machine runs it."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"beam.smp" in cmdline and b"rabbit" in cmdline:
                return int(entry.name)
    return None


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) of process ``pid`` so far."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(events: int, seconds: float, cpu_seconds: float) -> dict[str, Any]:
    """A measurement: the rate, and this process's CPU per event (the client's share of the work;
    on a shared machine the wall-clock rate also pays for everyone else's load)."""
    return {"events": events, "seconds": round(seconds, 3), "events_per_s": round(events / seconds),
            "client_cpu_ms_per_event": round(cpu_seconds * 1000 / events, 3) if events else None,
            "client_cpu_share": round(cpu_seconds / seconds, 2)}


def settings_for(database_url: str, exchange: str, amqp: str) -> Any:
    from pos_sync.settings import load_settings

    home = Path(tempfile.mkdtemp(prefix="pos-bench-events-"))
    env = {"POS_HOME": str(home), "POS_DATABASE_URL": database_url.replace("{home}", str(home)),
           "RABBITMQ_URL": amqp, "POS_EVENTS_EXCHANGE": exchange}
    return load_settings(env)


def fill_outbox(settings: Any, n: int) -> None:
    """``n`` pending ``pos.sync_completed`` events (one transaction; not timed)."""
    from pos_sync.appstore import session_scope
    from pos_sync.appstore.models import PosEventOutbox
    from pos_sync.events import payloads
    from pos_sync.events.jsonenc import dumps

    now = datetime.now(UTC)
    with session_scope(settings) as s:
        rows = []
        for _ in range(n):
            event_id = str(uuid.uuid4())
            body = payloads.sync_completed(
                event_id=event_id, tenant_id=str(uuid.uuid4()), pos_account_id=str(uuid.uuid4()),
                pos_provider="square", location_name="VUE Madrid - Centro", transactions_processed=45,
                transactions_failed=0, new_products_discovered=3, sync_duration_seconds=12.0, when=now)
            rows.append(PosEventOutbox(event_id=event_id, routing_key=payloads.SYNC_COMPLETED, payload=dumps(body)))
        s.add_all(rows)


def pending(settings: Any) -> int:
    from pos_sync.appstore.outbox import outbox_counts

    return outbox_counts(settings=settings)["pending"]


async def product(settings: Any, batch: int) -> dict[str, Any]:
    from pos_sync.events.publisher import publish_pending

    started, cpu = time.perf_counter(), time.process_time()
    report = await publish_pending(settings, batch=batch)
    seconds = time.perf_counter() - started
    assert report.error is None and report.pending == 0, report
    return measured(report.published, seconds, time.process_time() - cpu)


async def naive(settings: Any) -> dict[str, Any]:
    """One row at a time: take, publish, await its confirm, mark, commit."""
    from pos_sync.appstore import session_scope
    from pos_sync.appstore.outbox import mark_published, take_pending
    from pos_sync.events.publisher import Publisher

    started, cpu = time.perf_counter(), time.process_time()
    done = 0
    async with Publisher(settings.rabbitmq_url, settings.events_exchange) as publisher:
        while True:
            with session_scope(settings) as s:
                rows = take_pending(1, session=s)
                if not rows:
                    break
                await publisher._send(rows[0])
                mark_published([rows[0].id], session=s)
                done += 1
    return measured(done, time.perf_counter() - started, time.process_time() - cpu)


async def ceiling(settings: Any, n: int, batch: int) -> dict[str, Any]:
    """The same messages, pipelined confirms, no outbox."""
    from pos_sync.appstore.outbox import OutboxEvent
    from pos_sync.events.publisher import Publisher

    from_outbox = []
    now = datetime.now(UTC)
    body = '{"event_type":"pos_sync_completed","event_id":"%s","tenant_id":"%s","pos_account_id":"%s",' \
           '"pos_provider":"square","location_name":"VUE Madrid - Centro","transactions_processed":45,' \
           '"transactions_failed":0,"new_products_discovered":3,"sync_duration_seconds":12,' \
           '"timestamp":"2026-03-02T10:30:12Z"}'
    for i in range(n):
        event_id = str(uuid.uuid4())
        from_outbox.append(OutboxEvent(i, event_id, "pos.sync_completed",
                                       body % (event_id, uuid.uuid4(), uuid.uuid4()), now, None, 0, None))
    async with Publisher(settings.rabbitmq_url, settings.events_exchange) as publisher:
        started, cpu = time.perf_counter(), time.process_time()
        confirmed = 0
        for k in range(0, n, batch):
            ok, failed = await publisher.publish(from_outbox[k:k + batch])
            assert not failed, failed
            confirmed += len(ok)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return measured(confirmed, seconds, cpu)


async def declare(amqp: str, exchange: str, queue: str) -> None:
    connection = await aio_pika.connect(amqp, timeout=10)
    async with connection:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        q = await channel.declare_queue(queue, durable=True)
        await q.bind(ex, "pos.#")


async def purge(amqp: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp, timeout=10)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = int(declared.declaration_result.message_count or 0)
        await declared.purge()
        return count


async def remove(amqp: str, exchange: str, queue: str) -> None:
    connection = await aio_pika.connect(amqp, timeout=10)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


def scratch_pg(admin: str) -> tuple[str, str]:
    import psycopg

    name = f"pos_bench_events_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return name, admin.rsplit("/", 1)[0] + f"/{name}"


def drop_pg(admin: str, name: str) -> None:
    import psycopg

    from pos_sync.appstore import dispose_engines

    dispose_engines()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def cpu_bound(result: dict[str, Any]) -> dict[str, int | None]:
    client, broker = result["client_cpu_ms_per_event_median"], result["broker_cpu_ms_per_event_median"]
    if not client or not broker:
        return {"sequential": None, "parallel": None}
    return {"sequential": round(1000 / (client + broker)), "parallel": round(1000 / max(client, broker))}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["events_per_s"] for r in runs]
    return {"events_per_s_median": round(statistics.median(rates)), "events_per_s_best": max(rates),
            "events_per_s_worst": min(rates),
            "client_cpu_ms_per_event_median": statistics.median(r["client_cpu_ms_per_event"] for r in runs),
            "broker_cpu_ms_per_event_median": statistics.median(r.get("broker_cpu_ms_per_event") or 0 for r in runs),
            "rounds": runs}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    measured_on = machine()
    beam = broker_pid()  # the broker's CPU per event, when it runs here (≈ 0 of it is the outbox's)
    tag = uuid.uuid4().hex[:8]
    exchange, queue = f"pos-bench-{tag}", f"pos-bench-{tag}-sales"
    await declare(args.amqp, exchange, queue)
    targets: dict[str, Any] = {"product_sqlite": settings_for("sqlite:///{home}/appstore.sqlite", exchange, args.amqp),
                               "naive_sqlite": settings_for("sqlite:///{home}/appstore.sqlite", exchange, args.amqp)}
    pg_name = None
    if args.postgres:
        pg_name, pg_url = scratch_pg(args.postgres)
        targets["product_postgres"] = settings_for(pg_url, exchange, args.amqp)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in [*targets, "ceiling_broker_only"]}
    delivered: dict[str, int] = {}
    try:
        for round_no in range(args.rounds):
            order = list(results)
            order = order[round_no % len(order):] + order[:round_no % len(order)]  # interleaved
            for name in order:
                load = round(os.getloadavg()[0], 2)
                broker_cpu = process_cpu(beam)
                if name == "ceiling_broker_only":
                    run = await ceiling(targets["product_sqlite"], args.events, args.batch)
                else:
                    settings = targets[name]
                    fill_outbox(settings, args.naive_events if name.startswith("naive") else args.events)
                    run = await (naive(settings) if name.startswith("naive") else product(settings, args.batch))
                    assert pending(settings) == 0
                run["load_average_1m_at_start"] = load
                after = process_cpu(beam)
                if broker_cpu is not None and after is not None and run["events"]:
                    run["broker_cpu_ms_per_event"] = round((after - broker_cpu) * 1000 / run["events"], 3)
                delivered[name] = delivered.get(name, 0) + await purge(args.amqp, queue)
                assert delivered[name] == sum(r["events"] for r in results[name]) + run["events"], \
                    "every confirmed event is in the queue, once"
                results[name].append(run)
                print(f"round {round_no + 1} {name}: {run['events_per_s']} events/s ({run['events']} in "
                      f"{run['seconds']} s, client CPU {run['client_cpu_ms_per_event']} ms/event, load {load})",
                      flush=True)
    finally:
        await remove(args.amqp, exchange, queue)
        if pg_name:
            drop_pg(args.postgres, pg_name)
    document: dict[str, Any] = {
        "benchmark": "events",
        "machine": {**measured_on, "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "parameters": {"events": args.events, "naive_events": args.naive_events, "rounds": args.rounds,
                       "batch": args.batch, "client": f"aio-pika {aio_pika.__version__}",
                       "message": "pos.sync_completed, ~400 bytes, persistent, durable topic exchange → 1 durable "
                                  "queue"},
        "results": {name: summary(runs) for name, runs in results.items()},
        "peak_rss_mib": peak_rss_mib(),
    }
    product_rate = document["results"]["product_sqlite"]["events_per_s_median"]
    document["comparison"] = {
        "product_sqlite_vs_naive": round(product_rate / document["results"]["naive_sqlite"]["events_per_s_median"], 1),
        "product_sqlite_share_of_ceiling": round(
            product_rate / document["results"]["ceiling_broker_only"]["events_per_s_median"], 2),
        "product_sqlite_share_of_ceiling_per_round": [  # the same round: the same load
            round(p["events_per_s"] / c["events_per_s"], 2)
            for p, c in zip(results["product_sqlite"], results["ceiling_broker_only"], strict=True)],
        # what the measured CPU per event allows on an otherwise idle machine (a projection, not a
        # measurement): client and broker one after the other, or each on its own core
        "product_sqlite_cpu_bound_events_per_s": cpu_bound(document["results"]["product_sqlite"]),
        "goal_events_per_s": 2000,
        "goal_met_sqlite": product_rate >= 2000,
    }
    if "product_postgres" in document["results"]:
        pg_rate = document["results"]["product_postgres"]["events_per_s_median"]
        document["comparison"]["goal_met_postgres"] = pg_rate >= 2000
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--naive-events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--amqp", default=AMQP_URL)
    parser.add_argument("--postgres", default=PG_ADMIN)
    parser.add_argument("--no-postgres", dest="postgres", action="store_const", const=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from pos_sync.events.amqp import run

    emit(run(main_async(args)), args.out)


if __name__ == "__main__":
    main()


