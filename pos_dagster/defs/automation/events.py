"""``events_outbox_sensor``: the outbox's events go to RabbitMQ within seconds.

Every 10 s it publishes what is pending (``pos_sync.events.publisher.publish_pending``: batches
with publisher confirms, at most 20 batches of 500 per tick; a row is marked published only after
its confirm) and, once an hour,
prunes published events older than ``POS_EVENTS_RETENTION_DAYS``. It requests no runs: each tick
ends with a skip reason saying what it did. Without ``RABBITMQ_URL`` the events stay in the outbox
and it says so once; an unreachable broker is said once per outage (the events stay, each row
records the attempt and the error) and once when it is back. The cursor keeps what was said and
when it last pruned. ``pos-sync events publish`` is the same without Dagster; both may run (rows
are locked while a batch is in flight)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from pos_dagster.lib.resources import AppStoreResource
from pos_sync.settings import Settings

if TYPE_CHECKING:
    from pos_sync.events.publisher import PublishReport

PRUNE_EVERY = timedelta(hours=1)
MAX_BATCHES_PER_TICK = 20  # 10 000 events: a tick stays well inside the sensor's time limit


def _cursor(text: str | None) -> dict[str, str]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def evaluate(settings: Settings, cursor: str | None, now: datetime,
             say: dg.DagsterLogManager | None = None) -> tuple[str, str, PublishReport]:
    """One tick: (skip reason, next cursor, report). The publisher (aio-pika and its AMQP stack) is
    imported here, by the tick, not with the definitions: every process that loads them — each
    run worker, ``pos-sync sync`` — would otherwise import it for nothing (~0.1 s under load)."""
    from pos_sync.events.amqp import run
    from pos_sync.events.publisher import NOT_CONFIGURED, publish_pending
    from pos_sync.events.worker import prune

    state = _cursor(cursor)
    report = run(publish_pending(settings, max_batches=MAX_BATCHES_PER_TICK))
    said = state.get("said")
    if report.error is not None and said != report.error:
        if say is not None:
            (say.info if report.error == NOT_CONFIGURED else say.warning)(
                f"{report.error}; {report.pending} event(s) kept in the outbox")
        state["said"] = report.error
    elif report.error is None and said is not None:
        if say is not None and said != NOT_CONFIGURED:
            say.info("RabbitMQ is reachable again; the events kept in the outbox are published")
        state.pop("said")
    pruned = 0
    last = state.get("pruned_at")
    if last is None or now - datetime.fromisoformat(last) >= PRUNE_EVERY:
        pruned = prune(settings)
        state["pruned_at"] = now.isoformat()
    text = (f"{report.error}; {report.pending} event(s) kept in the outbox" if report.error else
            f"published {report.published} event(s)" + (f", {report.pending} still pending" if report.pending else ""))
    if pruned:
        text += f"; pruned {pruned} published event(s) older than {settings.events_retention_days} days"
    return text, json.dumps(state, sort_keys=True), report


def events_outbox_sensor() -> dg.SensorDefinition:
    @dg.sensor(name="events_outbox_sensor", minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Publishes the outbox's events (pos.sync_completed, pos.error, pos.mapping_needed) to "
                           "RabbitMQ's topic exchange with publisher confirms, and prunes published ones after "
                           "POS_EVENTS_RETENTION_DAYS. Without RABBITMQ_URL the events stay in the outbox.")
    def _sensor(context: dg.SensorEvaluationContext, appstore: AppStoreResource) -> dg.SkipReason:
        text, cursor, _ = evaluate(appstore.store().settings, context.cursor, datetime.now(UTC), context.log)
        context.update_cursor(cursor)
        return dg.SkipReason(text)

    return _sensor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[events_outbox_sensor()])
