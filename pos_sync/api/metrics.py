"""The API process's own metrics, and the registry ``GET /metrics`` serves.

Requests and webhook deliveries are this process's own work: they are measured where they happen,
in-process (prometheus_client counters and a histogram, one set per process — Prometheus scrapes
each API instance and sums them; a restart resets them, which ``rate()`` handles). Everything about
syncs is other processes' work and comes from the app store (:class:`AppStoreCollector`).

Label values are bounded: the route is the route's template (``/api/v1/pos/accounts/{account_id}``,
never the path a client typed), ``unmatched`` for any path no route serves; an unusual method is
``other``.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.types import Scope

from pos_sync.metrics import spec
from pos_sync.metrics.collector import AppStoreCollector
from pos_sync.settings import Settings

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

API_REGISTRY = CollectorRegistry()
ProcessCollector(registry=API_REGISTRY)
PlatformCollector(registry=API_REGISTRY)
GCCollector(registry=API_REGISTRY)
REQUESTS = Counter(spec.API_REQUESTS.name, spec.API_REQUESTS.help, spec.API_REQUESTS.labels, registry=API_REGISTRY)
LATENCY = Histogram(spec.API_LATENCY.name, spec.API_LATENCY.help, spec.API_LATENCY.labels,
                    buckets=spec.API_LATENCY_BUCKETS, registry=API_REGISTRY)
WEBHOOKS = Counter(spec.WEBHOOKS_RECEIVED.name, spec.WEBHOOKS_RECEIVED.help, spec.WEBHOOKS_RECEIVED.labels,
                   registry=API_REGISTRY)


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (set by the router), else ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    method = scope["method"] if scope["method"] in METHODS else "other"
    labels = (method, route_template(scope), str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


def count_webhook(provider: str, outcome: str) -> None:
    """One webhook delivery answered: ``accepted``, ``duplicate``, ``unroutable``, the reason it
    was refused (``too_large``, ``no_key``, ``bad_signature``, ``malformed``) or ``store_failed``
    (answered 503: the inbox could not store it)."""
    WEBHOOKS.labels(provider, outcome).inc()


def webhook_counts() -> dict[tuple[str, str], float]:
    """``(provider, outcome)`` → deliveries this process answered since it started."""
    return {(s.labels["pos_provider"], s.labels["outcome"]): s.value
            for family in WEBHOOKS.collect() for s in family.samples if s.name.endswith("_total")}


class _ApiProcessMetrics(Collector):
    def collect(self) -> Iterable[Metric]:
        return API_REGISTRY.collect()


def registry_for(settings: Settings) -> CollectorRegistry:
    """What one app's ``/metrics`` serves: the app store's families and this process's own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AppStoreCollector(settings))
    registry.register(_ApiProcessMetrics())
    return registry
