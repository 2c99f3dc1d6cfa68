"""One sync run of one account, without Dagster.

:class:`AccountSync` reads the account and its decrypted credentials once, names its dlt pipeline
(one per account and mode, so cursors never mix), says whether the run is the historical import
or continues a history, builds the provider's source through the registry (credentials, the
connector's clock, where the first read starts, a saver for refreshed tokens) and keeps the sync
log (:func:`~pos_sync.ingest.bookkeeping.track_sync`). The Dagster assets and ops are thin
wrappers around it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import dlt

from dlt_sources.common import RetryPolicy, SyncPace, sync_pace
from dlt_sources.common.auth import TokenProvider, TokenSet
from dlt_sources.common.tuning import SMALL_LOAD, scoped_dlt_config
from pos_sync.appstore import AccountNotFound, AppStore
from pos_sync.ingest.bookkeeping import SyncStats, track_sync
from pos_sync.privacy import source_pseudonymizer
from pos_sync.providers import ProviderSpec, SourceRequest, TokenRequest
from pos_sync.settings import Settings
from pos_sync.warehouse.pipelines import account_pipeline, has_sync_state, loader_file_format
from pos_sync.warehouse.repeats import Dropped, drop_repeats, families
from pos_sync.warehouse.sql import Warehouse


def load_config(sync_type: str) -> AbstractContextManager[None]:
    """dlt's settings around a sync's load: an incremental sync is small — normalised in-process
    (:data:`~dlt_sources.common.tuning.SMALL_LOAD`), no worker booted for a few rows; a historical
    import or a re-read keeps the defaults."""
    return scoped_dlt_config(SMALL_LOAD if sync_type == "incremental" else {})


class AccountUnavailable(LookupError):
    """The account is not in the app store (removed?) or belongs to another provider."""


class AccountSync:
    def __init__(self, store: AppStore, settings: Settings, spec: ProviderSpec, account_id: str) -> None:
        try:
            self.account, self.creds = store.load_for_sync(account_id)
        except AccountNotFound:
            raise AccountUnavailable(f"no POS account {account_id} in the app store (removed?)") from None
        if self.account.provider != spec.name:
            raise AccountUnavailable(f"account {account_id} is a {self.account.provider} account, not {spec.name}")
        self.store = store
        self.settings = settings
        self.spec = spec
        self.account_id = account_id

    def pipeline(self, mode: str = "incremental") -> dlt.Pipeline:
        return account_pipeline(self.spec.name, self.account_id, mode, self.settings)

    def sync_type(self, pipeline: dlt.Pipeline) -> str:
        """``historical`` for the account's first regular sync (even after backfill windows, which
        never move the cursor), else ``incremental`` — also for a store re-linked under the same
        id, whose pipeline kept its cursor."""
        if self.account.historical_import_done_at is None and not has_sync_state(pipeline):
            return "historical"
        return "incremental"

    def source(self, pipeline: dlt.Pipeline, now: datetime, start: datetime | None = None,
               end: datetime | None = None, *, first_load: bool = False) -> Any:
        """A fresh source for one run: incremental, or a stateless ``[start, end)`` window; personal
        data pseudonymised in it unless the tenant keeps it clear (:mod:`pos_sync.privacy`).
        ``first_load``: the account's historical import with nothing pending — its transactional
        rows are appended (:meth:`drop_repeats` after the load)."""
        days = self.account.historical_import_days or self.settings.historical_import_days
        return self.spec.build_source(SourceRequest(
            creds=self.creds, token_provider=self.token_provider(), pipeline=pipeline, now=now,
            initial_start=now - timedelta(days=days), start=start, end=end,
            retry_policy=RetryPolicy(max_elapsed=float(self.settings.sync_retry_budget_seconds),
                                     timeout=float(self.settings.http_timeout_seconds)),
            pseudonymize=source_pseudonymizer(self.settings, self.account.tenant_id), first_load=first_load))

    def drop_repeats(self, pipeline: dlt.Pipeline) -> Dropped:
        """After a first load (appended) or a run that finished a pending package: the account's raw
        rows one per key, as dlt's merge leaves them (:mod:`pos_sync.warehouse.repeats`)."""
        wh = Warehouse(self.settings)
        try:
            # the schema as the run stored it (in the Dagster step the live object listed no data tables)
            schema = pipeline.schemas.load_schema(pipeline.default_schema_name)
            return drop_repeats(wh, pipeline.dataset_name, families(schema), self.account_id)
        finally:
            wh.close()

    def token_provider(self) -> TokenProvider:
        """The account's tokens through the provider's one credentials seam; refreshed ones saved."""
        app_id, app_secret = self.settings.app_credentials(self.spec.app_env)
        return self.spec.tokens(TokenRequest(creds=self.creds, save_tokens=self.save_tokens,
                                             app_client_id=app_id, app_client_secret=app_secret))

    def save_tokens(self, tokens: TokenSet) -> None:
        """Persist a refreshed token set (encrypted, committed before the source uses it)."""
        self.store.save_tokens(self.account_id, tokens.access_token, tokens.refresh_token, tokens.expires_at)

    def track(self, sync_type: str, run_id: str | None, *, close: bool = True) -> AbstractContextManager[SyncStats]:
        """The run's sync log around its raw load (``close``: this step is the run's last)."""
        return track_sync(self.store, self.account_id, sync_type, run_id, reauth_status=self.spec.reauth_status,
                          close=close)

    def run_kwargs(self) -> dict[str, Any]:
        """``pipeline.run`` options of this warehouse (the loader file format)."""
        fmt = loader_file_format(self.settings)
        return {"loader_file_format": fmt} if fmt else {}

    def record_pace(self, source: Any, stats: SyncStats) -> SyncPace | None:
        """How the provider's API behaved during the run (``sync_pace`` of the source the run
        built): counters into ``stats``, and a partial reason when streams stopped early."""
        try:
            pace = sync_pace(source)
        except ValueError:  # a source without a SyncPace (a provider that does not count)
            return None
        stats.api = pace.as_dict()
        if pace.partial:
            early = [f"{stop.stream} ({stop.reason})" for stop in pace.stopped_early if not stop.skipped]
            skipped = [f"{stop.stream} ({stop.reason})" for stop in pace.stopped_early if stop.skipped]
            stats.partial_reason = "; ".join(
                ([f"stopped early, the rest follows in the next sync: {'; '.join(early)}"] if early else [])
                + ([f"skipped for a missing permission: {'; '.join(skipped)}"] if skipped else []))
        return pace

    def record_counts(self, pipeline: dlt.Pipeline, stats: SyncStats) -> None:
        """Rows the run normalised, per table; rows of its transaction tables count as transactions
        fetched (a sale counts once: Square's orders are not counted beside their payments).
        ``processed`` is the canonical build's to set: transactions that reached ``pos.*``."""
        trace = pipeline.last_trace
        info = trace.last_normalize_info if trace is not None else None
        counts = dict(info.row_counts) if info is not None else {}
        for table, rows in counts.items():
            if table.startswith("_dlt"):
                continue
            stats.add_rows(table, int(rows))
            if table in self.spec.transaction_tables:
                stats.fetched += int(rows)
