"""``pos-sync events``: publish the outbox to RabbitMQ, consume the commands queue, show the outbox.

``publish`` and ``consume`` run until interrupted (``--once``: what is there now, then exit).
An unreachable broker is one line; ``--once`` then exits 1 with the events kept in the outbox.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pos_sync.cli import CommandError, emit_json, log

if TYPE_CHECKING:
    from pos_sync.events.consumer import Outcome
    from pos_sync.settings import Settings


def _publish(args: argparse.Namespace) -> int:
    from pos_sync.events.amqp import run
    from pos_sync.events.publisher import NOT_CONFIGURED, publish_pending
    from pos_sync.events.worker import prune, publish_forever
    from pos_sync.settings import load_settings

    settings = load_settings()
    if not args.once:
        run(publish_forever(settings, log, batch=args.batch))
        return 0
    report = run(publish_pending(settings, batch=args.batch))
    pruned = prune(settings)
    if args.json:
        emit_json({**report.to_dict(), "pruned": pruned})
    if report.error == NOT_CONFIGURED:
        log(f"events: {NOT_CONFIGURED} ({report.pending} pending)")
        return 0
    if report.error:
        raise CommandError(f"{report.error}; {report.pending} event(s) kept in the outbox")
    if not args.json:
        log(f"events: published {report.published} event(s) to {settings.events_exchange}"
            + (f", pruned {pruned} older than {settings.events_retention_days} days" if pruned else ""))
    return 0


def _consume(args: argparse.Namespace) -> int:
    from pos_sync.events.amqp import run
    from pos_sync.events.worker import consume_forever
    from pos_sync.settings import load_settings

    settings = load_settings()
    if settings.rabbitmq_url is None:
        raise CommandError("RABBITMQ_URL is not set: there is no broker to consume from")
    if not args.once:
        run(consume_forever(settings, log))
        return 0
    outcomes = run(_drain(settings))
    if args.json:
        emit_json([{"routing_key": o.routing_key, "message_id": o.message_id, "dead_lettered": o.poison,
                    "requests": [r.to_dict() for r in o.handled.created] if o.handled else []} for o in outcomes])
    else:
        for outcome in outcomes:
            log(f"events: {outcome.line()}")
        log(f"events: {len(outcomes)} message(s) from {settings.commands_queue}")
    return 0


async def _drain(settings: Settings) -> list[Outcome]:
    from pos_sync.events.consumer import CommandConsumer

    assert settings.rabbitmq_url is not None
    async with CommandConsumer(settings.rabbitmq_url, settings) as consumer:
        return await consumer.drain()


def _status(args: argparse.Namespace) -> int:
    from pos_sync.appstore.outbox import outbox_counts, pending_events
    from pos_sync.settings import load_settings

    settings = load_settings()
    counts = outbox_counts(settings=settings)
    oldest = pending_events(1, settings=settings)
    document = {**counts, "broker": "configured" if settings.rabbitmq_url else "not configured (RABBITMQ_URL)",
                "oldest_pending": oldest[0].created_at.isoformat() if oldest else None,
                "last_error": oldest[0].last_error if oldest else None}
    if args.json:
        emit_json(document)
    else:
        print(f"{counts['pending']} pending, {counts['published']} published; broker {document['broker']}"
              + (f"; oldest pending {document['oldest_pending']}" if oldest else "")
              + (f"; last error: {document['last_error']}" if document["last_error"] else ""))
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    events = subparsers.add_parser("events", help="events to and from RabbitMQ (outbox, commands queue)",
                                   description="Publish the outbox of events to RabbitMQ (RABBITMQ_URL) and turn "
                                               "consumed messages into sync requests. See docs/events.md.")
    actions = events.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    publish = actions.add_parser("publish", help="publish pending events (a worker; --once: then exit)")
    publish.add_argument("--once", action="store_true", help="publish what is pending now, then exit")
    publish.add_argument("--batch", type=_positive, default=500, help="events per batch (default 500)")
    publish.add_argument("--json", action="store_true", help="with --once: print the report as JSON")
    publish.set_defaults(func=_publish)
    consume = actions.add_parser("consume", help="turn consumed messages into sync requests (a worker)")
    consume.add_argument("--once", action="store_true", help="process the messages waiting now, then exit")
    consume.add_argument("--json", action="store_true", help="with --once: print what each message did as JSON")
    consume.set_defaults(func=_consume)
    status = actions.add_parser("status", help="how many events are pending and published")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)
