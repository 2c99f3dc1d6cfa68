"""What a provider's raw asset, canonical slice and window op do for one account, over the
service core (:class:`~pos_sync.ingest.sync.AccountSync`: the account read once, its source built
through the registry; :class:`~pos_sync.ingest.bookkeeping.SyncLog`: one log per run).

One truth about a sync: the raw step opens the run's sync log; when the run also builds the
canonical slice (a ``<provider>_sync`` run), that step closes it after the build and the
integrity checks, so the log and the account's status cover the whole run. A raw step without a
canonical step in its run (a raw-only materialization) closes it itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dlt import DagsterDltResource

from pos_dagster.lib.resources import AppStoreResource, WarehouseResource
from pos_dagster.lib.tables import table_row_counts
from pos_dagster.lib.translator import PosDltTranslator, raw_key
from pos_sync.providers import ProviderSpec

# the service core (the app store, the sync, the pipelines) is imported by the steps that use it, not
# with the definitions that every process of the deployment loads (the code server, each run worker)
if TYPE_CHECKING:
    from pos_sync.appstore import AppStore
    from pos_sync.ingest.sync import AccountSync


def _account_sync(store: AppStore, spec: ProviderSpec, account_id: str, run_id: str) -> AccountSync:
    """The run's account, read once; an unreadable one fails the step with one clear line (and,
    when its credentials cannot be decrypted, a failed sync log and the account marked)."""
    from pos_sync.appstore import CryptoError
    from pos_sync.ingest.bookkeeping import SETUP, SyncLog
    from pos_sync.ingest.sync import AccountSync, AccountUnavailable

    try:
        return AccountSync(store, store.settings, spec, account_id)
    except AccountUnavailable as exc:
        raise dg.Failure(str(exc)) from None
    except CryptoError as exc:
        failure = SyncLog.open(store, account_id, "incremental", run_id).fail(exc, SETUP, spec.reauth_status)
        raise dg.Failure(f"cannot decrypt the credentials of account {account_id}: {failure.message}") from None


def _fail_setup(context: dg.AssetExecutionContext, store: AppStore, spec: ProviderSpec, run: AccountSync,
                exc: BaseException) -> None:
    """A failure before the sync's log is open (the pipeline's questions to the warehouse), recorded as
    any failed sync is: a failed log naming the setup step, the account marked, the webhook batch back
    to pending — not only in Dagster's run."""
    from pos_sync.ingest.bookkeeping import SETUP, SyncLog

    sync_type = "historical" if run.account.historical_import_done_at is None else "incremental"  # as far as known
    SyncLog.open(store, run.account_id, sync_type, context.run_id).fail(exc, SETUP, spec.reauth_status)
    settle_webhooks(context, store, exc)


def settle_webhooks(context: dg.OpExecutionContext | dg.AssetExecutionContext, store: AppStore,
                    error: BaseException | None = None) -> None:
    """The inbox events this run was launched for (tag ``pos/webhook-batch``): processed when it
    succeeded (with the account's pending events that arrived before the run started: its sync
    read them too), back to pending with a retry count when it failed."""
    from pos_dagster.lib.tags import WEBHOOK_BATCH
    from pos_sync.appstore.webhooks import settle_events

    batch = context.run.tags.get(WEBHOOK_BATCH)
    if batch:
        message = None if error is None else (f"{type(error).__name__}: {error}".splitlines()[0])
        covered = None
        record = context.instance.get_run_record_by_id(context.run_id)
        if error is None and record is not None and record.start_time and context.has_partition_key:
            covered = (context.partition_key, datetime.fromtimestamp(record.start_time, UTC))
        settle_events(batch, error=message, covered=covered, settings=store.settings)


def _canonical_follows(context: dg.AssetExecutionContext, spec: ProviderSpec) -> bool:
    """Whether this run also materializes the provider's canonical slice (its step closes the log)."""
    if spec.canonical is None:
        return False
    selection = context.run.asset_selection  # None or empty: the whole job
    keys = selection or context.job_def.asset_layer.executable_asset_keys
    return any(key.path[:2] == ["pos", spec.name] for key in keys)


def _pipeline_of_run(context: dg.AssetExecutionContext, run: AccountSync) -> tuple[Any, str]:
    """The run's pipeline and sync type: the account's own (incremental, or its historical import),
    or for a re-read (tag ``pos/reread``: a provider without day windows asked to re-sync a date
    range) a fresh pipeline of that request, whose empty state reads every change feed from its
    start into the same raw tables (the version guard drops what is already there) and never
    moves the account's cursor."""
    from pos_dagster.lib.tags import REREAD

    request = context.run.tags.get(REREAD)
    if request:
        return run.pipeline(mode="reread_" + "".join(c for c in request if c.isalnum())[:12]), "backfill"
    pipeline = run.pipeline()
    return pipeline, run.sync_type(pipeline)


def sync_account_raw(context: dg.AssetExecutionContext, spec: ProviderSpec, dlt_runner: DagsterDltResource,
                     appstore: AppStoreResource, warehouse: WarehouseResource, now: datetime) -> Iterator[Any]:
    """The partition's incremental sync (its first run is the historical import)."""
    from pos_sync.ingest.sync import load_config
    from pos_sync.warehouse.pipelines import duckdb_kept_open, has_pending_data

    store = appstore.store()
    run = _account_sync(store, spec, context.partition_key, context.run_id)
    if not run.account.sync_enabled:
        context.log.info(f"sync disabled for account {run.account_id}; nothing to do")
        return
    try:
        pipeline, sync_type = _pipeline_of_run(context, run)
        # a package an earlier run left (killed in its load) may have appended part of a first load:
        # dagster-dlt drops it with the working folder, and this run's import merges over those rows
        pending = has_pending_data(pipeline)
    except Exception as exc:  # the warehouse unreachable, or its file held by another program
        _fail_setup(context, store, spec, run, exc)
        raise
    last_step = not _canonical_follows(context, spec)
    first_load = sync_type == "historical" and not pending
    # a first load's repeats are gone once a sync of the account succeeded whole (it got past
    # drop_repeats): until then — a run killed or failed after its load — every run drops them again
    drop_after = first_load or pending or run.account.last_successful_sync_at is None
    try:
        with run.track(sync_type, context.run_id, close=last_step) as stats:
            source = run.source(pipeline, now, first_load=first_load)
            try:
                with load_config(sync_type), duckdb_kept_open(pipeline):  # not closed between load jobs
                    events = list(dlt_runner.run(context=context, dlt_source=source, dlt_pipeline=pipeline,
                                                 dagster_dlt_translator=PosDltTranslator(spec.name),
                                                 **run.run_kwargs()))
                if drop_after:
                    dropped = run.drop_repeats(pipeline)
                    if dropped.total():
                        context.log.info(f"repeated raw rows removed after the load: {dropped.summary()}")
                run.record_counts(pipeline, stats)
            finally:  # the API's behaviour goes into the log whatever the outcome
                pace = run.record_pace(source, stats)
    except Exception as exc:
        settle_webhooks(context, store, exc)
        retry_schema_conflict(context, exc)
        retry_transient(context, store, spec, exc)
        raise
    if last_step:
        settle_webhooks(context, store)
    context.log.info(f"{spec.name} account {run.account_id}: {sync_type} sync loaded {stats.rows_by_table or 'nothing'}")
    if pace is not None:
        context.log.info(f"{spec.label} API: {pace.summary()}")
    if stats.partial_reason:
        context.log.warning(f"partial sync: {stats.partial_reason}")
    yield from with_table_facts(events, spec, warehouse, api_metadata(stats))


# failures another attempt may cure: the provider was down or kept throttling past the retry budget
TRANSIENT = frozenset({"provider_unavailable", "rate_limited"})


def retry_schema_conflict(context: dg.AssetExecutionContext, exc: BaseException) -> None:
    """Another sync of the same provider changed the raw tables' schema at the same moment (PostgreSQL,
    :func:`~pos_sync.warehouse.pipelines.is_schema_conflict`): the step runs again at once — its load
    package is still pending and dlt applies only the schema changes still missing — whatever
    ``MAX_SYNC_RETRIES`` says (nothing is wrong with the provider or the data)."""
    from pos_sync.warehouse.pipelines import (
        SCHEMA_CONFLICT_RETRIES,
        is_schema_conflict,
        schema_conflict_pause,
    )

    if not is_schema_conflict(exc) or context.retry_number >= SCHEMA_CONFLICT_RETRIES:
        return
    context.log.warning("another sync changed the raw tables' schema at the same time: loading again")
    raise dg.RetryRequested(max_retries=SCHEMA_CONFLICT_RETRIES, seconds_to_wait=schema_conflict_pause(context.retry_number)) from exc


def retry_transient(context: dg.AssetExecutionContext, store: AppStore, spec: ProviderSpec,
                    exc: BaseException) -> None:
    """``MAX_SYNC_RETRIES``: a sync that failed for a transient reason runs again (Dagster's
    ``RetryRequested``: the same run, a new attempt and a new sync log), after
    ``POS_SYNC_RETRY_DELAY_SECONDS``, doubling each time; anything else (lost authorization,
    missing scopes, bad data) fails at once — another attempt would fail the same way."""
    from pos_sync.ingest.bookkeeping import describe_failure

    settings = store.settings
    kind = describe_failure(exc, spec.reauth_status).error_type
    attempt = context.retry_number
    if kind not in TRANSIENT or attempt >= settings.max_sync_retries:
        return
    wait = settings.sync_retry_delay_seconds * 2 ** attempt
    context.log.warning(f"{kind}: retrying the sync in {wait} s (attempt {attempt + 2} of {settings.max_sync_retries + 1})")
    raise dg.RetryRequested(max_retries=settings.max_sync_retries, seconds_to_wait=wait) from exc


def api_metadata(stats: Any) -> dict[str, Any]:
    """The provider API's behaviour during the run, as materialization metadata."""
    if not stats.api:
        return {}
    keys = ("requests", "retries", "rate_limited", "server_errors", "waited_seconds")
    meta: dict[str, Any] = {f"api_{k}": stats.api[k] for k in keys if k in stats.api}
    if stats.partial_reason:
        meta["partial"] = stats.partial_reason
    return meta


def with_table_facts(events: list[Any], spec: ProviderSpec, warehouse: WarehouseResource,
                     extra: dict[str, Any] | None = None) -> Iterator[Any]:
    """dagster-dlt's materializations with the table's real name (``raw_square.payments``: dlt's
    dataset, where dagster-dlt writes ``<destination>.<schema name>``) and its ``dagster/row_count``."""
    wh = warehouse.connect()
    try:
        rows = table_row_counts(wh, spec.dataset, [e.asset_key.path[-1] for e in events
                                                   if isinstance(e, dg.MaterializeResult) and e.asset_key])
    finally:
        wh.close()
    for event in events:
        if isinstance(event, dg.MaterializeResult) and event.asset_key is not None:
            table = event.asset_key.path[-1]
            metadata = {**(event.metadata or {}), **(extra or {}), "dagster/table_name": f"{spec.dataset}.{table}"}
            if table in rows:
                metadata["dagster/row_count"] = rows[table]
            event = dg.MaterializeResult(asset_key=event.asset_key, metadata=metadata,
                                         check_results=event.check_results, data_version=event.data_version,
                                         tags=event.tags)
        yield event


def sync_account_window(context: dg.OpExecutionContext, spec: ProviderSpec, appstore: AppStoreResource,
                        account_id: str, start: datetime, end: datetime, now: datetime,
                        ) -> Iterator[dg.AssetMaterialization]:
    """A stateless [start, end) window load (historical backfill); never moves the cursor."""
    from pos_sync.ingest.bookkeeping import BACKFILL_WINDOW, track_sync
    from pos_sync.warehouse.pipelines import run_pipeline

    store = appstore.store()
    run = _account_sync(store, spec, account_id, context.run_id)
    pipeline = run.pipeline(mode=f"window_{start:%Y%m%d}")
    with track_sync(store, account_id, "backfill", context.run_id, reauth_status=spec.reauth_status,
                    step=BACKFILL_WINDOW) as stats:
        source = run.source(pipeline, now, start=start, end=end)
        try:
            load_info = run_pipeline(pipeline, source, **run.run_kwargs())
            load_info.raise_on_failed_jobs()
            run.record_counts(pipeline, stats)
        finally:
            run.record_pace(source, stats)
    for name in spec.resources:
        rows = sum(v for t, v in stats.rows_by_table.items() if t == name or t.startswith(f"{name}__"))
        if rows:
            yield dg.AssetMaterialization(
                asset_key=raw_key(spec.name, name), partition=account_id,
                metadata={"window_start": start.isoformat(), "window_end": end.isoformat(), "rows_loaded": rows},
            )

