"""``webhook_inbox_sensor``: verified webhook events become targeted syncs within seconds.

Every 5 s (``POS_WEBHOOK_SENSOR_INTERVAL_SECONDS``, read when the definitions load) it reads the inbox's oldest pending events (a bounded batch), groups them by account and
requests one ``<provider>_sync`` run per account (run key: the batch, so a tick evaluated twice
launches once), tagged ``pos/webhook-batch``; that run settles its events (processed, or back to
pending with a retry count). An account whose run is queued or starting absorbs new events:
they wait for the next tick rather than a second queued run, and that run, when it succeeds,
settles the account's events that arrived before it started (its sync read them). The sync itself is the
account's incremental sync — the change feed since its last mark, a handful of requests — so an
event never rolls a newer object back: the provider's current state is what lands, and polling
stays the safety net for events that never came. ``oauth.authorization.revoked`` marks the account
disconnected at once. Settled events are pruned after ``POS_WEBHOOK_RETENTION_DAYS``."""

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import dagster as dg

from pos_dagster.defs.ingest.jobs import sync_job, sync_job_name
from pos_dagster.lib.resources import AppStoreResource
from pos_dagster.lib.tags import ACCOUNT, ACCOUNT_LABEL, PROVIDER, TRIGGER, WEBHOOK_BATCH, account_label
from pos_sync.appstore import AppStore
from pos_sync.appstore.webhooks import (
    InboxEvent,
    claim_events,
    pending_events,
    prune_events,
    requeue_stale,
    settle_events,
)
from pos_sync.providers import registry
from pos_sync.settings import load_settings

NEEDS_HUMAN = {"disconnected", "reauth_required"}
# launched but its sync not begun (queued, or its process still booting): it will read new events too
NOT_STARTED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
STALE_AFTER = timedelta(minutes=15)


def _batch_key(account_id: str, events: list[InboxEvent]) -> str:
    digest = hashlib.sha256("|".join(sorted(e.id for e in events)).encode()).hexdigest()[:16]
    return f"webhook:{account_id}:{digest}"


def _waiting(instance: dg.DagsterInstance) -> set[str]:
    """Accounts with a sync run queued or starting (it will read their new events too)."""
    return {r.tags[ACCOUNT] for r in instance.get_runs(dg.RunsFilter(statuses=NOT_STARTED), limit=5000)
            if ACCOUNT in r.tags}


def _settle_now(store: AppStore, account_id: str, events: list[InboxEvent], error: str | None) -> None:
    key = _batch_key(account_id, events) + ":settled"
    claim_events([e.id for e in events], key, settings=store.settings)
    settle_events(key, error=error, settings=store.settings)


def evaluate(instance: dg.DagsterInstance, store: AppStore, now: datetime) -> list[dg.RunRequest]:
    requeue_stale(now - STALE_AFTER, settings=store.settings)
    by_account: dict[str, list[InboxEvent]] = defaultdict(list)
    for event in pending_events(settings=store.settings):
        if event.account_id:
            by_account[event.account_id].append(event)
    accounts = {a.id: a for a in store.list_accounts()}
    waiting = _waiting(instance) if by_account else set()
    runs = []
    for account_id, events in by_account.items():
        account = accounts.get(account_id)
        if account is None:
            continue
        revoked = [e for e in events if e.event_type == "oauth.authorization.revoked"]
        if revoked:
            store.mark_account_error(account_id, registry.get(account.provider).reauth_status,
                                     "the merchant revoked pos-sync's access: connect the account again")
            _settle_now(store, account_id, events, None)
            continue
        if account.status in NEEDS_HUMAN or not account.sync_enabled:
            _settle_now(store, account_id, events, f"the account is {account.status}: nothing to sync until "
                                                   "it is connected again" if account.sync_enabled else
                                                   "syncing is turned off for this account")
            continue
        if account_id in waiting:
            continue
        key = _batch_key(account_id, events)
        claim_events([e.id for e in events], key, settings=store.settings)
        runs.append(dg.RunRequest(run_key=key, job_name=sync_job_name(account.provider), partition_key=account_id,
                                  tags={ACCOUNT: account_id, PROVIDER: account.provider, TRIGGER: "webhook",
                                        ACCOUNT_LABEL: account_label(account), WEBHOOK_BATCH: key}))
    if now.minute == 0 and now.second < 10:  # about once an hour
        prune_events(now - timedelta(days=store.settings.webhook_retention_days), settings=store.settings)
    return runs


def webhook_inbox_sensor() -> dg.SensorDefinition:
    interval = load_settings().webhook_sensor_interval_seconds

    @dg.sensor(name="webhook_inbox_sensor", minimum_interval_seconds=interval, default_status=dg.DefaultSensorStatus.RUNNING,
               jobs=[sync_job(spec) for spec in registry],
               description="Turns verified webhook events into one targeted sync per account within seconds.")
    def _sensor(context: dg.SensorEvaluationContext, appstore: AppStoreResource) -> dg.SensorResult:
        return dg.SensorResult(run_requests=evaluate(context.instance, appstore.store(), datetime.now(UTC)))

    return _sensor


@dg.definitions
def defs() -> dg.Definitions:
    if not any(spec.webhooks is not None for spec in registry):
        return dg.Definitions()
    return dg.Definitions(sensors=[webhook_inbox_sensor()])
