"""A Prometheus collector that reads the app store at scrape time.

Syncs run in other processes (Dagster runs, on other hosts too); each closes its sync log in the
app store together with the running totals (:mod:`pos_sync.appstore.metric_totals`). Whichever
process serves ``/metrics`` asks the app store, so the numbers are right whoever did the work,
survive restarts, and there is no second source of truth (docs/metrics.md: why not Prometheus's
multiprocess mode). One scrape is one read-only transaction of a few aggregate queries.

When the app store cannot be read, the families are still described (no samples: Prometheus marks
the series stale rather than seeing zeros) and ``pos_metrics_appstore_up`` is 0.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from pos_sync.appstore.metric_reads import MetricsSnapshot, metrics_snapshot
from pos_sync.metrics import spec
from pos_sync.settings import Settings

logger = logging.getLogger(__name__)

_KINDS: dict[str, type[Metric]] = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily,
                                   "histogram": HistogramMetricFamily}


def empty(family: spec.Family) -> Metric:
    """The family with its name, help text, type and label names, and no samples yet."""
    return _KINDS[family.type](family.name, family.help, labels=list(family.labels))  # type: ignore[call-arg]


def snapshot_families(snap: MetricsSnapshot) -> Iterator[Metric]:
    accounts = empty(spec.ACCOUNTS)
    for tenant, provider, status, n in snap.accounts:
        accounts.add_metric([tenant, provider, status], n)  # type: ignore[attr-defined]
    synced, durations = empty(spec.TRANSACTIONS_SYNCED), empty(spec.SYNC_DURATION)
    for row in snap.sync_totals:
        synced.add_metric([row.tenant_id, row.provider], row.transactions_synced)  # type: ignore[attr-defined]
        buckets = [(floatToGoString(bound), n) for bound, n in row.buckets] + [("+Inf", row.syncs)]
        durations.add_metric([row.tenant_id, row.provider], buckets, row.duration_sum)  # type: ignore[attr-defined]
    errors = empty(spec.SYNC_ERRORS)
    for tenant, provider, error_type, n in snap.errors:
        errors.add_metric([tenant, provider, error_type], n)  # type: ignore[attr-defined]
    unmapped = empty(spec.UNMAPPED_PRODUCTS)
    for tenant, account_id, n in snap.unmapped:
        unmapped.add_metric([tenant, account_id], n)  # type: ignore[attr-defined]
    inbox = empty(spec.WEBHOOK_INBOX)
    for provider, status, n in snap.webhook_inbox:
        inbox.add_metric([provider, status], n)  # type: ignore[attr-defined]
    yield from (accounts, synced, durations, errors, unmapped, inbox)


def _up(value: int) -> Metric:
    up = empty(spec.APPSTORE_UP)
    up.add_metric([], value)  # type: ignore[attr-defined]
    return up


class AppStoreCollector(Collector):
    """The spec's five families and the webhook inbox, from the app store of ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def describe(self) -> Iterable[Metric]:
        return [empty(family) for family in spec.APPSTORE_FAMILIES]

    def collect(self) -> Iterable[Metric]:
        try:
            snap = metrics_snapshot(self.settings)
        except Exception as exc:  # noqa: BLE001 - the API's own series must still be scraped
            logger.warning("metrics: the app store could not be read: %s: %s", type(exc).__name__, exc)
            return [*(empty(f) for f in spec.APPSTORE_FAMILIES if f is not spec.APPSTORE_UP), _up(0)]
        return [*snapshot_families(snap), _up(1)]
