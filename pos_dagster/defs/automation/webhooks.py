"""``webhook_inbox_sensor``: verified webhook events become targeted syncs within seconds.

Every 2 s (``POS_WEBHOOK_SENSOR_INTERVAL_SECONDS``, read when the definitions load; the daemon's
sensor loop runs every second: ``pos_dagster/lib/run_coordinator.py``) it reads the inbox's oldest pending events (a bounded batch), groups them by account and
requests one ``<provider>_sync`` run per account (run key: the batch, so a tick evaluated twice
launches once), tagged ``pos/webhook-batch``; that run settles its events (processed, or back to
pending with a retry count). An account whose run is queued or starting absorbs new events:
they wait for the next tick rather than a second queued run, and that run, when it succeeds,
settles the account's events that arrived before it started (its sync read them). The sync itself is the
account's incremental sync — the change feed since its last mark, a handful of requests — so an
event never rolls a newer object back: the provider's current state is what lands, and polling
stays the safety net for events that never came. ``oauth.authorization.revoked`` marks the account
disconnected at once. Settled events are pruned after ``POS_WEBHOOK_RETENTION_DAYS``.

**Targeted runs.** An account with no run in flight and no sync requested in the last
:data:`QUIET_AFTER` gets the whole ``<provider>_sync`` (raw, canonical, then what is computed from
it: product stats, demand history). An account in a stream of sales — its sync running, or one
requested a moment ago — gets a *targeted* run instead: the same job's raw and canonical assets
only (``targeted_keys``, with the slices' checks), the part that puts the sale in ``pos.*``; its
downstream assets are owed (the sensor's cursor: account → since when) and requested as one
``webhook-downstream`` run of the account (``downstream_keys``) when the account is quiet again
(no run in flight, no sync requested for :data:`QUIET_AFTER`), or every :data:`DOWNSTREAM_EVERY`
while the stream goes on. So a stream of sales is not a stream of demand-history
materializations, each a forecasting run on the one DuckDB writer between two syncs: the writer's
queue holds the syncs that land sales. A downstream run reads no events (it is not one that
absorbs them). Webhook syncs go first in the run queue (``dagster/priority`` 1, as forecasting
runs) unless a run without that priority has waited :data:`YIELD_AFTER`. See docs/dagster.md."""

import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from pos_dagster.defs.ingest.jobs import downstream_keys, sync_job, sync_job_name, targeted_keys
from pos_dagster.lib.resources import AppStoreResource
from pos_dagster.lib.tags import (
    ACCOUNT,
    ACCOUNT_LABEL,
    PRIORITY,
    PROVIDER,
    TRIGGER,
    WEBHOOK_BATCH,
    WEBHOOK_SCOPE,
    account_label,
)
from pos_sync.providers import registry
from pos_sync.settings import load_settings

if TYPE_CHECKING:  # the app store is the tick's, not imported with the definitions
    from pos_sync.appstore import AccountInfo, AppStore
    from pos_sync.appstore.webhooks import InboxEvent

NEEDS_HUMAN = {"disconnected", "reauth_required"}
# launched but its sync not begun (queued, or its process still booting): it will read new events too
NOT_STARTED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
IN_FLIGHT = [*NOT_STARTED, dg.DagsterRunStatus.STARTED]
STALE_AFTER = timedelta(minutes=15)
DOWNSTREAM = "webhook-downstream"  # the trigger tag of a run of an account's owed downstream assets
DOWNSTREAM_EVERY = timedelta(seconds=120)  # while a stream of events goes on, its downstream runs this often
QUIET_AFTER = timedelta(seconds=15)  # no sync requested for this long: the account's stream has paused
PRIORITY_TAG = next(iter(PRIORITY))  # the run queue takes higher first, then the oldest
YIELD_AFTER = timedelta(seconds=60)  # a run without that priority waits at most this long behind webhook syncs


def _batch_key(account_id: str, events: "list[InboxEvent]") -> str:
    digest = hashlib.sha256("|".join(sorted(e.id for e in events)).encode()).hexdigest()[:16]
    return f"webhook:{account_id}:{digest}"


def _in_flight(instance: dg.DagsterInstance, now: datetime) -> tuple[list[dg.DagsterRun], bool]:
    """The runs of accounts queued, starting or running; and whether a run without the webhook
    syncs' priority has been queued for :data:`YIELD_AFTER` (the next syncs then queue behind it)."""
    records = instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT), limit=5000)
    starved = any(r.dagster_run.status == dg.DagsterRunStatus.QUEUED and PRIORITY_TAG not in r.dagster_run.tags
                  and now - r.create_timestamp >= YIELD_AFTER for r in records)
    return [r.dagster_run for r in records if ACCOUNT in r.dagster_run.tags], starved


def _waiting(runs: list[dg.DagsterRun]) -> set[str]:
    """Accounts with a sync run queued or starting (it will read their new events too); a
    downstream run reads none."""
    return {r.tags[ACCOUNT] for r in runs if r.status in NOT_STARTED and r.tags.get(TRIGGER) != DOWNSTREAM}


def _running(runs: list[dg.DagsterRun]) -> set[str]:
    """Accounts with a sync running: a run requested now waits for it (one writer)."""
    return {r.tags[ACCOUNT] for r in runs if r.status == dg.DagsterRunStatus.STARTED and r.tags.get(TRIGGER) != DOWNSTREAM}


def _settle_now(store: "AppStore", account_id: str, events: "list[InboxEvent]", error: str | None) -> None:
    from pos_sync.appstore.webhooks import claim_events, settle_events

    key = _batch_key(account_id, events) + ":settled"
    claim_events([e.id for e in events], key, settings=store.settings)
    settle_events(key, error=error, settings=store.settings)


def evaluate(instance: dg.DagsterInstance, store: "AppStore", now: datetime) -> list[dg.RunRequest]:
    """One tick without the downstream bookkeeping: the sync runs it requests."""
    return evaluate_tick(instance, store, now, None)[0]


def evaluate_tick(instance: dg.DagsterInstance, store: "AppStore", now: datetime,
                  cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    """One tick: the runs it requests (a sync per account with pending events, whole or targeted;
    a downstream run per account owed one and due) and the next cursor (the accounts owed a
    downstream run, and when each account's last sync was requested while that is recent)."""
    from pos_sync.appstore.webhooks import claim_events, pending_events, prune_events, requeue_stale

    requeue_stale(now - STALE_AFTER, settings=store.settings)
    state = json.loads(cursor) if cursor else {}
    owed: dict[str, str] = dict(state.get("owed", {}))
    recent = {a: at for a, at in dict(state.get("recent", {})).items()  # last sync requested (a stream)
              if now - datetime.fromisoformat(at) < QUIET_AFTER}
    by_account: dict[str, list[InboxEvent]] = defaultdict(list)
    for event in pending_events(settings=store.settings):
        if event.account_id:
            by_account[event.account_id].append(event)
    accounts = {a.id: a for a in store.list_accounts()}
    flying, starved = _in_flight(instance, now) if by_account or owed or recent else ([], False)
    waiting, running = _waiting(flying), _running(flying)
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
        spec = registry.get(account.provider)
        targeted = (account_id in running or account_id in recent) and bool(downstream_keys(spec))
        recent[account_id] = now.isoformat()
        if targeted:  # its downstream waits for a quiet moment
            owed.setdefault(account_id, now.isoformat())
        else:  # the whole job: nothing owed any more
            owed.pop(account_id, None)
        runs.append(dg.RunRequest(run_key=key, job_name=sync_job_name(account.provider), partition_key=account_id,
                                  asset_selection=targeted_keys(spec) if targeted else None,
                                  tags={ACCOUNT: account_id, PROVIDER: account.provider, TRIGGER: "webhook",
                                        ACCOUNT_LABEL: account_label(account), WEBHOOK_BATCH: key,
                                        WEBHOOK_SCOPE: "targeted" if targeted else "full",
                                        # first in the queue, unless another run waited too long
                                        **({} if starved else PRIORITY)}))
    runs += _downstream(owed, accounts, flying, set(recent), now)
    if now.minute == 0 and now.second < 10:  # about once an hour
        prune_events(now - timedelta(days=store.settings.webhook_retention_days), settings=store.settings)
    return runs, json.dumps({"owed": owed, "recent": recent}, sort_keys=True)


def _downstream(owed: dict[str, str], accounts: "dict[str, AccountInfo]", flying: list[dg.DagsterRun],
                recent: set[str], now: datetime) -> list[dg.RunRequest]:
    """The owed accounts' downstream runs that are due (``owed`` loses them): the account is quiet
    (no run of it in flight, no sync requested for :data:`QUIET_AFTER`), or owed for
    :data:`DOWNSTREAM_EVERY` and no downstream run of it in flight."""
    busy = {r.tags[ACCOUNT] for r in flying}
    behind = {r.tags[ACCOUNT] for r in flying if r.tags.get(TRIGGER) == DOWNSTREAM}
    runs = []
    for account_id, since in sorted(owed.items()):
        account = accounts.get(account_id)
        if account is None:
            del owed[account_id]
            continue
        quiet = account_id not in busy and account_id not in recent
        overdue = now - datetime.fromisoformat(since) >= DOWNSTREAM_EVERY and account_id not in behind
        if not (quiet or overdue):
            continue
        del owed[account_id]
        runs.append(dg.RunRequest(run_key=f"{DOWNSTREAM}:{account_id}:{since}", job_name=sync_job_name(account.provider),
                                  partition_key=account_id,
                                  asset_selection=downstream_keys(registry.get(account.provider)),
                                  tags={ACCOUNT: account_id, PROVIDER: account.provider, TRIGGER: DOWNSTREAM,
                                        ACCOUNT_LABEL: account_label(account)}))
    return runs


def webhook_inbox_sensor() -> dg.SensorDefinition:
    interval = load_settings().webhook_sensor_interval_seconds

    @dg.sensor(name="webhook_inbox_sensor", minimum_interval_seconds=interval, default_status=dg.DefaultSensorStatus.RUNNING,
               jobs=[sync_job(spec) for spec in registry],
               description="Turns verified webhook events into one targeted sync per account within seconds.")
    def _sensor(context: dg.SensorEvaluationContext, appstore: AppStoreResource) -> dg.SensorResult:
        runs, cursor = evaluate_tick(context.instance, appstore.store(), datetime.now(UTC), context.cursor)
        return dg.SensorResult(run_requests=runs, cursor=cursor)

    return _sensor


@dg.definitions
def defs() -> dg.Definitions:
    if not any(spec.webhooks is not None for spec in registry):
        return dg.Definitions()
    return dg.Definitions(sensors=[webhook_inbox_sensor()])
