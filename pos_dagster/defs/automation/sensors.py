"""``account_sync_sensor``: every account syncs at its own frequency, and Dagster's partitions
follow the app store.

Each tick (every 30 s) it reads the app store once and, per registered provider:

* adds a ``<provider>_accounts`` partition for each new account and deletes those of removed
  accounts;
* turns the sync requests of the API and of consumed events into runs
  (``pos_sync.appstore.sync_requests``; a re-read for a provider without day windows; a
  restatement of remapped POS products);
* requests ``<provider>_sync`` for each enabled account that does not need a human
  (``disconnected``/``reauth_required`` wait for a re-link) and is due: never synced, or its
  ``last_sync_at + sync_frequency_minutes`` has passed on the wall clock (``POS_NOW`` does not
  drive it) — unless a run of that account is already queued or running.

No double launch: the run key is ``<account>:<linked at>:<slot>`` (slot = now ÷ frequency), so a
tick evaluated twice, or two ticks inside one slot, launch one run; the link time makes a store
removed and added again due at once. Why a sensor and not declarative automation: the frequency
is per account and lives in the app store (the API changes it), not in the asset graph; an
``AutomationCondition`` is per asset and cron-shaped, and cannot skip an account waiting for a
human. See ``docs/dagster.md``.
"""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from pos_dagster.defs.ingest.backfills import backfill_job_name, window_backfill
from pos_dagster.defs.ingest.jobs import sync_job, sync_job_name
from pos_dagster.defs.mapping.restate import restate_job, restate_job_name
from pos_dagster.lib.partitions import accounts_partitions_name
from pos_dagster.lib.pools import ensure_writer_limit
from pos_dagster.lib.resources import AppStoreResource
from pos_dagster.lib.tags import (
    ACCOUNT,
    ACCOUNT_LABEL,
    PROVIDER,
    REREAD,
    SYNC_REQUEST,
    TRIGGER,
    account_label,
)
from pos_sync.providers import registry

if TYPE_CHECKING:  # the app store is the tick's, not imported with the definitions
    from pos_sync.appstore import AccountInfo, AppStore

NEEDS_HUMAN = {"disconnected", "reauth_required"}  # every sync would fail until someone re-links
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def is_due(account: "AccountInfo", now: datetime) -> bool:
    if not account.sync_enabled or account.status in NEEDS_HUMAN:
        return False
    last = account.last_sync_at
    return last is None or last + timedelta(minutes=account.sync_frequency_minutes) <= now


def run_key(account: "AccountInfo", now: datetime) -> str:
    slot = int(now.timestamp() // (account.sync_frequency_minutes * 60))
    return f"{account.id}:{int(account.created_at.timestamp())}:{slot}"


def accounts_in_flight(instance: dg.DagsterInstance) -> set[str]:
    """Accounts with a sync run queued or running (daemon-launched or from ``pos-sync sync``)."""
    runs = instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT), limit=5000)
    return {run.tags[ACCOUNT] for run in runs if ACCOUNT in run.tags}


def requested_runs(instance: dg.DagsterInstance, store: "AppStore",
                   accounts: "dict[str, AccountInfo]") -> list[dg.RunRequest]:
    """Runs for the sync requests the API or a consumed message wrote: one ``<provider>_sync`` run
    for a sync, one ``<provider>_historical_backfill`` run per day for a historical import, one
    ``<provider>_sync`` run tagged ``pos/reread`` for a re-read (a provider without day windows
    asked to re-sync a date range: its whole change feed, through a fresh pipeline), one
    ``<provider>_mapping_restate`` run for a restatement (a mapping changed). A request whose runs
    exist (found by their ``pos/sync-request`` tag on a later tick) is settled with their ids;
    until then it is asked for again under the same run keys, which Dagster launches once."""
    runs: list[dg.RunRequest] = []
    for request in store.pending_sync_requests():
        account = accounts.get(request.account_id)
        if account is None:
            store.settle_sync_request(request.id, error="the account was removed")
            continue
        tags = {ACCOUNT: account.id, PROVIDER: account.provider, ACCOUNT_LABEL: account_label(account),
                TRIGGER: "event" if request.event_id else "api", SYNC_REQUEST: request.id}
        if request.kind == "restate":  # a mapping changed: that account's rows of those POS products
            wanted = [dg.RunRequest(run_key=f"request:{request.id}", job_name=restate_job_name(account.provider),
                                    partition_key=account.id, tags=tags)]
        elif request.kind in ("sync", "reread"):
            if request.kind == "reread":  # no day windows: the whole change feed again, through a fresh pipeline
                tags[REREAD] = request.id
            wanted = [dg.RunRequest(run_key=f"request:{request.id}", job_name=sync_job_name(account.provider),
                                    partition_key=account.id, tags=tags)]
        else:
            days = [request.start_date + timedelta(days=n)  # type: ignore[operator]
                    for n in range((request.end_date - request.start_date).days + 1)]  # type: ignore[operator]
            wanted = [dg.RunRequest(run_key=f"request:{request.id}:{day}", job_name=backfill_job_name(account.provider),
                                    partition_key=dg.MultiPartitionKey({"account": account.id, "date": day.isoformat()}),
                                    tags=tags) for day in days]
        launched = instance.get_runs(dg.RunsFilter(tags={SYNC_REQUEST: request.id}))
        if len(launched) >= len(wanted):
            store.settle_sync_request(request.id, run_ids=sorted(run.run_id for run in launched))
        else:
            runs += wanted
    return runs


def evaluate(instance: dg.DagsterInstance, accounts: "list[AccountInfo]", now: datetime,
             store: "AppStore | None" = None) -> dg.SensorResult:
    partition_requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    runs: list[dg.RunRequest] = []
    busy = accounts_in_flight(instance)
    for spec in registry:
        name = accounts_partitions_name(spec.name)
        mine = {a.id: a for a in accounts if a.provider == spec.name}
        existing = set(instance.get_dynamic_partitions(name))
        if new := sorted(set(mine) - existing):
            partition_requests.append(dg.AddDynamicPartitionsRequest(name, new))
        if gone := sorted(existing - set(mine)):
            partition_requests.append(dg.DeleteDynamicPartitionsRequest(name, gone))
        runs += [
            dg.RunRequest(run_key=run_key(account, now), job_name=sync_job_name(spec.name), partition_key=account.id,
                          tags={ACCOUNT: account.id, PROVIDER: spec.name, ACCOUNT_LABEL: account_label(account),
                                TRIGGER: "new-account" if account.last_sync_at is None else "due"})
            for account in mine.values() if account.id not in busy and is_due(account, now)
        ]
    if store is not None:
        runs += requested_runs(instance, store, {a.id: a for a in accounts})
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=partition_requests)


def account_sync_sensor() -> dg.SensorDefinition:
    @dg.sensor(name="account_sync_sensor", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
               jobs=[sync_job(spec) for spec in registry] + [window_backfill(spec) for spec in registry
                                                              if spec.windows is not None]
                    + [restate_job(spec) for spec in registry if spec.canonical is not None],
               description="Keeps each provider's account partitions in step with the app store and requests "
                           "a sync for every account whose sync frequency has elapsed.")
    def _sensor(context: dg.SensorEvaluationContext, appstore: AppStoreResource) -> dg.SensorResult:
        # wall-clock time, not the connector's clock (POS_NOW): frequencies are measured against
        # the app store's last_sync_at, which is wall-clock
        store = appstore.store()
        ensure_writer_limit(context.instance)  # a UI Materialize waits for the DuckDB writer too
        return evaluate(context.instance, store.list_accounts(), datetime.now(UTC), store)

    return _sensor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[account_sync_sensor()])
